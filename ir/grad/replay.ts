// Re-running part of a graph: after the values of some nodes are replaced, only the nodes
// downstream of them change. A Replay lists those once; each run evaluates just them,
// reading every other value from a cached full forward pass.

import type { Graph } from '../graph.ts';
import type { Node } from '../node.ts';
import type { Tensor } from '../tensor.ts';
import { evaluateNode } from '../evaluate.ts';

export class Replay {
  readonly from: readonly Node[];
  readonly #order: readonly Node[];

  constructor(graph: Graph, from: readonly Node[]) {
    this.from = from;
    const changed = new Set<Node>(from);
    const order: Node[] = [];
    for (const n of graph.nodes()) {
      if (changed.has(n)) continue;
      if (n.inputs.some((i) => changed.has(i))) {
        changed.add(n);
        order.push(n);
      }
    }
    this.#order = order;
  }

  /** Number of ops a run evaluates. */
  get size(): number {
    return this.#order.length;
  }

  /**
   * New values of the downstream nodes (and the overrides themselves), given new values for
   * the `from` nodes; `base` supplies every unchanged value.
   */
  run(base: ReadonlyMap<Node, Tensor>, overrides: ReadonlyMap<Node, Tensor>): Map<Node, Tensor> {
    const values = new Map<Node, Tensor>(overrides);
    const get = (n: Node): Tensor => values.get(n) ?? base.get(n)!;
    for (const n of this.#order) values.set(n, evaluateNode(n, n.inputs.map(get)));
    return values;
  }
}
