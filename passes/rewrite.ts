// Rewrite rules and the one driver that applies them to a fixed point.
//
// A rule is data: a name that reads "X to Y", a one-line doc (`x*1 -> x`), a pattern and a
// replacement callback that builds the new subgraph from the captures (or declines with
// undefined). The driver walks the graph bottom-up, rebuilds a node when its inputs
// changed, tries the rules at each node until none applies, and repeats whole sweeps until
// nothing changes (tinygrad's graph_rewrite, MLIR's greedy driver).

import { build } from '../ir/build.ts';
import { Ig3dcError, isIg3dcError } from '../ir/diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import type { Attrs, Loc, Node } from '../ir/node.ts';
import { CONST_OP, INPUT_OP, constNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { type ElemType, formatType, shapesEqual } from '../ir/types.ts';
import { type Captures, type Pattern, match, rootOps } from './pattern.ts';

/** What a replacement callback may use: node construction that defaults to the matched root's loc. */
export interface RewriteContext {
  /** The node the pattern matched. */
  readonly root: Node;
  /**
   * Builds a node (type inferred, attributes checked); `loc` defaults to the root's, so
   * replacements keep their source location. The new node is itself rewritten by the rules.
   */
  build(op: string, inputs: readonly Node[], attrs?: Attrs, loc?: Loc): Node;
  /** A public scalar constant, e.g. the `c` of `x + c` (element type default: the root's). */
  scalar(value: number, elem?: ElemType): Node;
}

export interface Rule {
  /** Reads "X to Y": `MulByOneToInput`, `DecomposedLayerNormToLayerNorm`. */
  readonly name: string;
  /** One line: what it rewrites into what, e.g. `x * 1 -> x`. */
  readonly doc: string;
  readonly pattern: Pattern;
  readonly rewrite: (captures: Captures, ctx: RewriteContext) => Node | undefined;
  /**
   * Whether the replacement may have another shape or element type than the root (e.g.
   * pruning heads shrinks a projection). Default false: the driver checks it is the same.
   */
  readonly changesType?: boolean;
}

export function rule(name: string, doc: string, pattern: Pattern, rewrite: Rule['rewrite'], options: { changesType?: boolean } = {}): Rule {
  return { name, doc, pattern, rewrite, ...options };
}

export interface RewriteResult {
  readonly graph: Graph;
  /** How often each rule fired. */
  readonly applied: ReadonlyMap<string, number>;
  readonly sweeps: number;
}

export interface RewriteOptions {
  /** Whole-graph sweeps before giving up on reaching a fixed point (default 32). */
  readonly maxSweeps?: number;
  /** Rewrites while settling one node (nested ones included) before the driver decides the rules loop (default 256). */
  readonly maxRewritesPerNode?: number;
}

/** The rules that fired, most recent last, shortened for a message: `A -> B -> A -> B ...`. */
function trailText(trail: readonly string[]): string {
  const last = trail.slice(-8);
  return `${trail.length > last.length ? '... -> ' : ''}${last.join(' -> ')}`;
}

function nodeLabel(n: Node): string {
  return `${n.op}${n.loc.name !== undefined ? ` '${n.loc.name}'` : ''}`;
}

function placeOf(n: Node): { node?: string } {
  return n.loc.name !== undefined ? { node: n.loc.name } : {};
}

/** Applies `rules` to the graph until none matches anywhere. */
export function rewriteGraph(graph: Graph, rules: readonly Rule[], options: RewriteOptions = {}): RewriteResult {
  const maxSweeps = options.maxSweeps ?? 32;
  const maxPerNode = options.maxRewritesPerNode ?? 256;
  const rulesFor = indexRules(rules);
  const applied = new Map<string, number>();
  let current = graph;
  let lastSweepRules: string[] = [];
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    const memo = new Map<Node, Node>();
    const firedThisSweep: string[] = [];
    // rules fired while settling the current top-level node (nested builds included)
    let trail: string[] = [];

    const rebuilt = (n: Node): Node => {
      const inputs = n.inputs.map((i) => memo.get(i) ?? i);
      if (inputs.every((x, k) => x === n.inputs[k])) return n;
      try {
        return build(n.op, inputs, n.attrs, n.loc);
      } catch (e) {
        if (isIg3dcError(e)) {
          throw new Ig3dcError('verify', `${nodeLabel(n)} no longer type-checks after a rewrite changed its inputs: ${e.detail}`, placeOf(n));
        }
        throw e;
      }
    };

    // Tries every rule at `n` until none applies; new nodes a replacement creates are
    // themselves settled (their inputs already are).
    const settle = (start: Node): Node => {
      let n = start;
      for (;;) {
        const candidates = rulesFor(n.op);
        let next: Node | undefined;
        for (const r of candidates) {
          const caps = match(r.pattern, n);
          if (caps === undefined) continue;
          // counted before the callback runs: a rule that rebuilds its own root recurses inside it
          const mark = trail.length;
          trail.push(r.name);
          if (trail.length > maxPerNode) {
            throw new Ig3dcError(
              'verify',
              `rewrite rules loop at ${nodeLabel(start)}: more than ${maxPerNode} rewrites without reaching a fixed point (${trailText(trail)})`,
              placeOf(start),
            );
          }
          const out = applyRule(r, caps, n);
          if (out === undefined || out === n) {
            trail.splice(mark, 1);
            continue;
          }
          if (!r.changesType && (out.type.elem !== n.type.elem || !shapesEqual(out.type.shape, n.type.shape))) {
            throw new Ig3dcError(
              'verify',
              `rule ${r.name} replaced ${nodeLabel(n)} of type ${formatType(n.type)} with ${out.op} of type ${formatType(out.type)}; a rule that changes types must say changesType: true`,
              placeOf(n),
            );
          }
          applied.set(r.name, (applied.get(r.name) ?? 0) + 1);
          firedThisSweep.push(r.name);
          next = out;
          break;
        }
        if (next === undefined) return n;
        n = next;
      }
    };

    const applyRule = (r: Rule, caps: Captures, n: Node): Node | undefined => {
      const ctx: RewriteContext = {
        root: n,
        build: (op, inputs, attrs = {}, loc = n.loc) => settle(build(op, inputs, attrs, loc)),
        scalar: (value, elem = n.type.elem) => constNode(Tensor.scalar(elem, elem === 'i64' || elem === 'u64' || elem === 'ring64' ? BigInt(value) : value), { elem, shape: [], vis: 'public' }, n.loc),
      };
      try {
        return r.rewrite(caps, ctx);
      } catch (e) {
        // a loop detected deeper already names the rules; other errors get the rule's name
        if (isIg3dcError(e) && !e.detail.startsWith('rewrite rules loop') && !e.detail.startsWith('rule ')) {
          throw new Ig3dcError(e.kind, `rule ${r.name} at ${nodeLabel(n)}: ${e.detail}`, { ...placeOf(n), ...e.place });
        }
        throw e;
      }
    };

    for (const n of current.nodes()) {
      if (n.op === INPUT_OP) continue;
      trail = [];
      const r = settle(n.op === CONST_OP ? n : rebuilt(n));
      if (r !== n) memo.set(n, r);
    }
    if (memo.size === 0) return { graph: current, applied, sweeps: sweep };
    current = current.with({ outputs: current.outputs.map((o) => ({ name: o.name, node: memo.get(o.node) ?? o.node })) });
    // Every node was settled against every rule: a sweep that fired nothing is a fixed point.
    if (firedThisSweep.length === 0) return { graph: current, applied, sweeps: sweep };
    lastSweepRules = firedThisSweep;
  }
  const names = [...new Set(lastSweepRules)];
  throw new Ig3dcError('verify', `rewrite rules did not reach a fixed point in ${maxSweeps} sweeps (still firing: ${names.join(', ')})`);
}

/** The rules whose pattern can match at a node of each op, in the order given (earlier rules win). */
function indexRules(rules: readonly Rule[]): (op: string) => readonly Rule[] {
  const roots = rules.map((r) => rootOps(r.pattern));
  const cache = new Map<string, Rule[]>();
  return (op) => {
    let list = cache.get(op);
    if (list === undefined) cache.set(op, (list = rules.filter((_, k) => roots[k] === undefined || roots[k]!.includes(op))));
    return list;
  };
}
