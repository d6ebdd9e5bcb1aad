// Passes: named, parameterized graph-to-graph transformations, registered with a summary.
//
// Most passes are a set of rewrite rules (`rewritePass`); a pass may also carry a policy
// (e.g. which heads to prune, from an importance file) that its rules consult.

import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { type Rule, rewriteGraph } from './rewrite.ts';

export type PassOptionValue = number | boolean | string | readonly number[];

export type PassOptionSpec =
  | { readonly kind: 'number'; readonly default?: number; readonly min?: number; readonly max?: number; readonly doc: string }
  | { readonly kind: 'int'; readonly default?: number; readonly min?: number; readonly max?: number; readonly doc: string }
  | { readonly kind: 'bool'; readonly default?: boolean; readonly doc: string }
  | { readonly kind: 'string'; readonly default?: string; readonly doc: string }
  | { readonly kind: 'enum'; readonly values: readonly string[]; readonly default?: string; readonly doc: string }
  | { readonly kind: 'numbers'; readonly default?: readonly number[]; readonly doc: string };

export type PassOptions = Readonly<Record<string, PassOptionValue>>;

/** What a pass can reach besides the graph: inputs the user gave the pipeline, and a log. */
export interface PassContext {
  /** Files and data named on the command line (e.g. an importance annotation), by key. */
  readonly resources: ReadonlyMap<string, unknown>;
  /** Notes for the user (e.g. what a pass could not recognize). */
  note(pass: string, message: string): void;
}

export interface Pass {
  readonly name: string;
  /** One line, shown by `ig3dc passes`. */
  readonly summary: string;
  readonly options: Readonly<Record<string, PassOptionSpec>>;
  /** The rewrite rules it applies, when they are fixed (listed by `ig3dc passes`). */
  readonly rules?: readonly Rule[];
  /** Options arrive complete: defaults filled, kinds and ranges checked. */
  run(graph: Graph, options: PassOptions, ctx: PassContext): Graph;
}

/** A pass that applies a fixed rule set (rules may depend on the options) to a fixed point. */
export function rewritePass(spec: {
  name: string;
  summary: string;
  options?: Readonly<Record<string, PassOptionSpec>>;
  rules: readonly Rule[] | ((options: PassOptions, ctx: PassContext) => readonly Rule[]);
}): Pass {
  return {
    name: spec.name,
    summary: spec.summary,
    options: spec.options ?? {},
    ...(typeof spec.rules === 'function' ? {} : { rules: spec.rules }),
    run(graph, options, ctx) {
      const rules = typeof spec.rules === 'function' ? spec.rules(options, ctx) : spec.rules;
      return rewriteGraph(graph, rules).graph;
    },
  };
}

const registry = new Map<string, Pass>();

const PASS_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Makes a pass available to pipelines by its name. Registering an existing name is an error. */
export function registerPass(pass: Pass): void {
  if (!PASS_NAME.test(pass.name)) throw new Ig3dcError('usage', `pass name '${pass.name}' is not a valid name (letters, digits, '_', '.', '-'; not starting with a digit)`);
  if (registry.has(pass.name)) throw new Ig3dcError('usage', `pass '${pass.name}' is registered twice`);
  for (const key of Object.keys(pass.options)) {
    if (!PASS_NAME.test(key)) throw new Ig3dcError('usage', `pass '${pass.name}': option name '${key}' is not a valid name`);
  }
  registry.set(pass.name, pass);
}

/** Typed access to a pass option (options arrive complete and checked, so a default makes it present). */
export function numberOption(options: PassOptions, key: string): number {
  const v = options[key];
  if (typeof v !== 'number') throw new Ig3dcError('usage', `option '${key}' is not set to a number`);
  return v;
}

export function findPass(name: string): Pass | undefined {
  return registry.get(name);
}

export function allPasses(): Pass[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}
