// Rebuilding a graph with changed attributes or locations: nodes are immutable, so a node
// whose attrs or loc change is rebuilt, and so is every user of a rebuilt node.

import { build } from '../../ir/build.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Attrs, Loc, Node } from '../../ir/node.ts';
import { INPUT_OP, rawNode } from '../../ir/node.ts';

export interface NodeUpdate {
  /** New attributes (complete or not: they are validated and completed again). */
  readonly attrs?: Attrs;
  readonly loc?: Loc;
}

/**
 * The graph with `update(node)` applied to every node it reaches (graph inputs excepted: they
 * are the graph's interface). Types stay as they are: an attribute change must not change
 * the op's type (the verifier would catch it).
 */
export function mapGraph(graph: Graph, update: (node: Node) => NodeUpdate | undefined): Graph {
  const memo = new Map<Node, Node>();
  for (const n of graph.nodes()) {
    if (n.op === INPUT_OP) continue;
    const inputs = n.inputs.map((i) => memo.get(i) ?? i);
    const u = update(n);
    const loc = u?.loc !== undefined && !locsEqual(u.loc, n.loc) ? u.loc : n.loc;
    const inputsChanged = inputs.some((x, k) => x !== n.inputs[k]);
    if (u?.attrs !== undefined) {
      memo.set(n, build(n.op, inputs, u.attrs, loc));
    } else if (inputsChanged || loc !== n.loc) {
      const { id: _id, ...fields } = n;
      memo.set(n, rawNode({ ...fields, inputs, loc }));
    }
  }
  if (memo.size === 0) return graph;
  return graph.with({ outputs: graph.outputs.map((o) => ({ name: o.name, node: memo.get(o.node) ?? o.node })) });
}

function locsEqual(a: Loc, b: Loc): boolean {
  return a.name === b.name && a.layer === b.layer;
}
