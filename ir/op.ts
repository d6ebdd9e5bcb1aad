// The op table: every IR op is one OpDef, data plus two functions (type rule, evaluator).
//
// The table drives node construction (attribute validation, defaults, type inference), the
// printer (which attributes to show), the parser and the verifier. Ops are registered by
// name; ir/ops/index.ts registers the built-in ones, and a user pass may register its own.

import { Ig3dcError } from './diagnostics.ts';
import type { Attrs, AttrValue } from './node.ts';
import type { Tensor } from './tensor.ts';
import type { ElemType, Shape, ValueType, Visibility } from './types.ts';

export type AttrKind = 'int' | 'float' | 'string' | 'bool' | 'ints' | 'floats' | 'strings';

export interface AttrSpec {
  readonly kind: AttrKind;
  /** Absent: the attribute is required. */
  readonly default?: AttrValue;
  readonly doc?: string;
}

/** What a type rule returns; visibility is derived separately. */
export interface InferredType {
  readonly elem: ElemType;
  readonly shape: Shape;
}

export interface OpDef {
  readonly name: string;
  /** One line, shown by `ig3dc ops` and in docs. */
  readonly summary: string;
  /** Number of inputs: [min, max]; max Infinity for variadic ops. */
  readonly arity: readonly [number, number];
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  /**
   * Type rule: element type and shape of the result. Throws `typeError(...)` with a message
   * saying what was expected; the caller adds the node's place.
   */
  infer(inputs: readonly ValueType[], attrs: Attrs): InferredType;
  /**
   * Visibility of the result. Default: the join of the inputs' visibilities (secret if any
   * input is secret). Ops whose result depends only on static facts (Shape) override it.
   */
  visibility?(inputs: readonly ValueType[], attrs: Attrs): Visibility;
  /** Float64 reference semantics. Inputs are never elided. */
  evaluate(inputs: readonly Tensor[], attrs: Attrs, out: ValueType): Tensor;
}

/** Throw from a type rule or evaluator: what was expected, without the place. */
export function typeError(message: string): never {
  throw new Ig3dcError('shape', message);
}

export function evalError(message: string): never {
  throw new Ig3dcError('eval', message);
}

const registry = new Map<string, OpDef>();

export function registerOp(def: OpDef): void {
  if (registry.has(def.name)) throw new Error(`op '${def.name}' is registered twice`);
  registry.set(def.name, def);
}

export function findOp(name: string): OpDef | undefined {
  return registry.get(name);
}

export function allOps(): OpDef[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Checks attributes against the op's spec and returns them with defaults filled in.
 * Throws an Ig3dcError('shape') naming the attribute and what was expected.
 */
export function completeAttrs(def: OpDef, attrs: Attrs): Attrs {
  const out: Record<string, AttrValue> = {};
  for (const [key, value] of Object.entries(attrs)) {
    const spec = def.attrs[key];
    if (spec === undefined) {
      const known = Object.keys(def.attrs);
      typeError(`${def.name} has no attribute '${key}'${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
    }
    if (!attrMatches(spec.kind, value)) {
      typeError(`${def.name} attribute '${key}' must be ${describeKind(spec.kind)}, got ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  for (const [key, spec] of Object.entries(def.attrs)) {
    if (key in out) continue;
    if (spec.default === undefined) typeError(`${def.name} requires attribute '${key}' (${describeKind(spec.kind)})`);
    out[key] = spec.default;
  }
  return out;
}

export function attrMatches(kind: AttrKind, v: AttrValue): boolean {
  switch (kind) {
    case 'int':
      return typeof v === 'number' && Number.isInteger(v);
    case 'float':
      return typeof v === 'number';
    case 'string':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'ints':
      return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x));
    case 'floats':
      return Array.isArray(v) && v.every((x) => typeof x === 'number');
    case 'strings':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

export function describeKind(kind: AttrKind): string {
  switch (kind) {
    case 'int':
      return 'an integer';
    case 'float':
      return 'a number';
    case 'string':
      return 'a string';
    case 'bool':
      return 'true or false';
    case 'ints':
      return 'a list of integers';
    case 'floats':
      return 'a list of numbers';
    case 'strings':
      return 'a list of strings';
  }
}

// Typed attribute accessors for type rules and evaluators (attrs are complete by then).
export function intAttr(attrs: Attrs, key: string): number {
  return attrs[key] as number;
}
export function floatAttr(attrs: Attrs, key: string): number {
  return attrs[key] as number;
}
export function intsAttr(attrs: Attrs, key: string): readonly number[] {
  return attrs[key] as readonly number[];
}
export function stringAttr(attrs: Attrs, key: string): string {
  return attrs[key] as string;
}
export function boolAttr(attrs: Attrs, key: string): boolean {
  return attrs[key] as boolean;
}
