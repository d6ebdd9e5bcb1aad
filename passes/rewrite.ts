// Rewrite rules and the one driver that applies them to a fixed point.
//
// A rule is data: a name that reads "X to Y", a one-line doc (`x*1 -> x`), a pattern and a
// replacement callback that builds the new subgraph from the captures (or declines with
// undefined). The driver walks the graph bottom-up, rebuilds a node when its inputs
// changed, tries the rules at each node until none applies, and repeats whole sweeps until
// nothing changes (tinygrad's graph_rewrite, MLIR's greedy driver).

import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Graph } from '../ir/graph.ts';
import type { Attrs, Loc, Node } from '../ir/node.ts';
import { CONST_OP, INPUT_OP } from '../ir/node.ts';
import { shapesEqual } from '../ir/types.ts';
import { type Captures, type Pattern, match } from './pattern.ts';

/** What a replacement callback may use: node construction that defaults to the matched root's loc. */
export interface RewriteContext {
  /** The node the pattern matched. */
  readonly root: Node;
  /** Builds a node; `loc` defaults to the root's, so replacements keep their source location. */
  build(op: string, inputs: readonly Node[], attrs?: Attrs, loc?: Loc): Node;
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
  /** Whole-graph sweeps before giving up on reaching a fixed point. */
  readonly maxSweeps?: number;
  /** Rewrites at one node before the driver decides the rules loop. */
  readonly maxRewritesPerNode?: number;
}

/** Applies `rules` to the graph until none matches anywhere. */
export function rewriteGraph(graph: Graph, rules: readonly Rule[], options: RewriteOptions = {}): RewriteResult {
  const maxSweeps = options.maxSweeps ?? 32;
  const maxPerNode = options.maxRewritesPerNode ?? 1000;
  const byOp = indexRules(rules);
  const applied = new Map<string, number>();
  let current = graph;
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    let fired = 0;
    const memo = new Map<Node, Node>();

    const rebuilt = (n: Node): Node => {
      const inputs = n.inputs.map((i) => memo.get(i) ?? i);
      if (inputs.every((x, k) => x === n.inputs[k])) return n;
      return build(n.op, inputs, n.attrs, n.loc);
    };

    // Tries every rule at `n` until none applies; new nodes a replacement creates are
    // themselves rewritten (their inputs already are).
    const settle = (start: Node): Node => {
      let n = start;
      for (let count = 0; ; count++) {
        if (count > maxPerNode) {
          throw new Error(`rewrite rules loop at ${n.op} ${n.loc.name ?? ''}: more than ${maxPerNode} rewrites at one node`);
        }
        const candidates = [...(byOp.get(n.op) ?? []), ...(byOp.get('*') ?? [])];
        let next: Node | undefined;
        for (const r of candidates) {
          const caps = match(r.pattern, n);
          if (caps === undefined) continue;
          const ctx: RewriteContext = {
            root: n,
            build: (op, inputs, attrs = {}, loc = n.loc) => settle(build(op, inputs, attrs, loc)),
          };
          const out = r.rewrite(caps, ctx);
          if (out === undefined || out === n) continue;
          if (!r.changesType && (out.type.elem !== n.type.elem || !shapesEqual(out.type.shape, n.type.shape))) {
            throw new Ig3dcError(
              'verify',
              `rule ${r.name} replaced ${n.op} of type ${n.type.elem}[${n.type.shape.join(',')}] with ${out.op} of type ${out.type.elem}[${out.type.shape.join(',')}]`,
              n.loc.name !== undefined ? { node: n.loc.name } : {},
            );
          }
          applied.set(r.name, (applied.get(r.name) ?? 0) + 1);
          fired++;
          next = out;
          break;
        }
        if (next === undefined) return n;
        n = next;
      }
    };

    for (const n of current.nodes()) {
      if (n.op === INPUT_OP) continue;
      const r = settle(n.op === CONST_OP ? n : rebuilt(n));
      if (r !== n) memo.set(n, r);
    }
    if (fired === 0 && memo.size === 0) return { graph: current, applied, sweeps: sweep };
    current = current.with({ outputs: current.outputs.map((o) => ({ name: o.name, node: memo.get(o.node) ?? o.node })) });
    if (fired === 0) return { graph: current, applied, sweeps: sweep };
  }
  throw new Error(`rewrite rules did not reach a fixed point in ${maxSweeps} sweeps`);
}

function indexRules(rules: readonly Rule[]): Map<string, Rule[]> {
  const byOp = new Map<string, Rule[]>();
  for (const r of rules) {
    const keys = r.pattern.kind === 'op' ? r.pattern.ops : r.pattern.kind === 'const' ? [CONST_OP] : ['*'];
    for (const k of keys) {
      let list = byOp.get(k);
      if (list === undefined) byOp.set(k, (list = []));
      list.push(r);
    }
  }
  return byOp;
}
