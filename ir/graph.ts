// A graph: named inputs, named outputs, and every node the outputs reach.

import type { Node } from './node.ts';
import { CONST_OP, INPUT_OP } from './node.ts';

export interface GraphOutput {
  readonly name: string;
  readonly node: Node;
}

/** Facts about where a graph came from, printed as a comment header and kept by passes. */
export interface GraphMeta {
  readonly source?: string;
  readonly producer?: string;
  readonly opset?: number;
}

export class Graph {
  readonly name: string;
  readonly inputs: readonly Node[];
  readonly outputs: readonly GraphOutput[];
  readonly meta: GraphMeta;
  #order: readonly Node[] | undefined;

  constructor(name: string, inputs: readonly Node[], outputs: readonly GraphOutput[], meta: GraphMeta = {}) {
    for (const i of inputs) {
      if (i.op !== INPUT_OP) throw new Error(`graph input '${i.name ?? i.id}' is a ${i.op} node`);
    }
    this.name = name;
    this.inputs = inputs;
    this.outputs = outputs;
    this.meta = meta;
  }

  /** Every node reachable from the outputs, inputs before users, graph inputs first. */
  nodes(): readonly Node[] {
    this.#order ??= topoOrder(this.inputs, this.outputs.map((o) => o.node));
    return this.#order;
  }

  /** The same graph with other outputs (and optionally inputs). */
  with(fields: { outputs?: readonly GraphOutput[]; inputs?: readonly Node[]; name?: string; meta?: GraphMeta }): Graph {
    return new Graph(fields.name ?? this.name, fields.inputs ?? this.inputs, fields.outputs ?? this.outputs, fields.meta ?? this.meta);
  }
}

/**
 * Deterministic post-order: the graph inputs in their order, then a depth-first walk from
 * each output visiting a node's inputs left to right. Constants are placed just before
 * their first user, so a printed graph reads top to bottom. Iterative, so 10^5-node graphs
 * do not overflow the stack.
 */
export function topoOrder(inputs: readonly Node[], roots: readonly Node[]): Node[] {
  const order: Node[] = [];
  const done = new Set<Node>();
  for (const i of inputs) {
    done.add(i);
    order.push(i);
  }
  const emit = (n: Node): void => {
    for (const i of n.inputs) {
      if (i.op === CONST_OP && !done.has(i)) {
        done.add(i);
        order.push(i);
      }
    }
    done.add(n);
    order.push(n);
  };
  const stack: { node: Node; next: number }[] = [];
  for (const root of roots) {
    if (done.has(root)) continue;
    if (root.op === CONST_OP || root.inputs.length === 0) {
      emit(root);
      continue;
    }
    stack.push({ node: root, next: 0 });
    const onStack = new Set<Node>([root]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.node.inputs.length) {
        const child = top.node.inputs[top.next++]!;
        if (done.has(child) || child.op === CONST_OP) continue;
        if (onStack.has(child)) throw new Error(`cycle through node ${child.id} (${child.op})`);
        onStack.add(child);
        stack.push({ node: child, next: 0 });
      } else {
        stack.pop();
        onStack.delete(top.node);
        emit(top.node);
      }
    }
  }
  return order;
}

/** For each node, the nodes that use it (in topological order of the users). */
export function usersOf(graph: Graph): Map<Node, Node[]> {
  const users = new Map<Node, Node[]>();
  for (const n of graph.nodes()) {
    for (const i of n.inputs) {
      let list = users.get(i);
      if (list === undefined) users.set(i, (list = []));
      if (!list.includes(n)) list.push(n);
    }
  }
  return users;
}
