// Reverse-mode differentiation of an IR graph.
//
// A GradientPlan is made once per (graph, wrt, seed nodes): the nodes that lie on a path
// from some `wrt` node to some seed node, in reverse topological order, and for each of
// them which inputs need a gradient. Running it on the forward values of one input walks
// only those nodes, asks each op's rule (table.ts) for the needed input gradients and
// sums them per node. Nothing upstream of `wrt` and no weight gradient is computed unless
// asked for.

import { Ig3dcError } from '../diagnostics.ts';
import type { Graph } from '../graph.ts';
import type { Node } from '../node.ts';
import { CONST_OP, INPUT_OP } from '../node.ts';
import type { Tensor } from '../tensor.ts';
import { evaluate } from '../evaluate.ts';
import { isFloatType } from '../types.ts';
import { findVjp } from './table.ts';

/** A node the backward pass visits, and which of its inputs need a gradient. */
export interface BackwardStep {
  readonly node: Node;
  readonly needs: readonly boolean[];
}

/**
 * The nodes on a path from some `wrt` node to some seed node, in reverse topological
 * order, each with the inputs that lie on such a path (float values only: integers carry
 * no gradient). `hasRule` says whether an op can be differentiated; a node on the path
 * without a rule is an error naming it.
 */
export function backwardSteps(graph: Graph, wrt: readonly Node[], seeds: readonly Node[], hasRule: (op: string) => boolean): BackwardStep[] {
  const order = graph.nodes();
  // descendants of wrt
  const below = new Set<Node>(wrt.filter((n) => isFloatType(n.type.elem)));
  for (const n of order) {
    if (below.has(n) || !isFloatType(n.type.elem)) continue;
    if (n.inputs.some((i) => below.has(i))) below.add(n);
  }
  // ancestors of the seeds among them
  const active = new Set<Node>();
  for (const s of seeds) if (below.has(s)) active.add(s);
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!active.has(n)) continue;
    for (const i of n.inputs) if (below.has(i)) active.add(i);
  }
  const steps: BackwardStep[] = [];
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!active.has(n) || n.op === INPUT_OP || n.op === CONST_OP) continue;
    const needs = n.inputs.map((i) => active.has(i));
    if (!needs.some((x) => x)) continue;
    if (!hasRule(n.op)) {
      throw new Ig3dcError('unsupported', `no gradient rule for op ${n.op}, which lies between the differentiated values and the output`, n.loc.name !== undefined ? { node: n.loc.name } : {});
    }
    steps.push({ node: n, needs });
  }
  return steps;
}

export class GradientPlan {
  readonly wrt: readonly Node[];
  readonly seeds: readonly Node[];
  readonly #steps: readonly BackwardStep[];
  readonly #wrtSet: ReadonlySet<Node>;

  constructor(graph: Graph, wrt: readonly Node[], seeds: readonly Node[]) {
    this.wrt = wrt;
    this.seeds = seeds;
    this.#wrtSet = new Set(wrt);
    this.#steps = backwardSteps(graph, wrt, seeds, (op) => findVjp(op) !== undefined);
  }

  /** Number of ops the backward pass visits. */
  get size(): number {
    return this.#steps.length;
  }

  /**
   * d(sum over seeds of <seed gradient, seed value>)/d(wrt) for the forward values given by
   * `value`; a wrt node no seed depends on gets zeros.
   */
  run(value: (n: Node) => Tensor, seedGrads: ReadonlyMap<Node, Float64Array>): Map<Node, Float64Array> {
    const grads = new Map<Node, Float64Array>();
    for (const [n, g] of seedGrads) grads.set(n, g.slice());
    for (const { node, needs } of this.#steps) {
      const g = grads.get(node);
      if (g === undefined) continue;
      const vjp = findVjp(node.op)!;
      const inputs = node.inputs.map(value);
      const out = vjp({ node, inputs, output: value(node), grad: g, needs });
      if (!this.#wrtSet.has(node)) grads.delete(node);
      node.inputs.forEach((i, k) => {
        const gi = out[k];
        if (!needs[k] || gi === undefined) return;
        const prev = grads.get(i);
        if (prev === undefined) grads.set(i, gi);
        else for (let j = 0; j < prev.length; j++) prev[j]! += gi[j]!;
      });
    }
    const result = new Map<Node, Float64Array>();
    for (const w of this.wrt) result.set(w, grads.get(w) ?? new Float64Array(w.type.shape.reduce((a, d) => a * d, 1)));
    return result;
  }
}

/** Every node's value (inputs, constants and intermediates), for a backward pass. */
export function forwardValues(graph: Graph, inputs: ReadonlyMap<string, Tensor>): Map<Node, Tensor> {
  const values = new Map<Node, Tensor>();
  evaluate(graph, inputs, { onValue: (n, v) => values.set(n, v) });
  return values;
}

/** The gradient of one output element (or of <seed, output>) with respect to `wrt`, in one call. */
export function gradientOf(graph: Graph, values: ReadonlyMap<Node, Tensor>, output: Node, seed: Float64Array, wrt: readonly Node[]): Map<Node, Float64Array> {
  const plan = new GradientPlan(graph, wrt, [output]);
  return plan.run((n) => values.get(n)!, new Map([[output, seed]]));
}
