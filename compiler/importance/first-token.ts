// A raised BERT computes the last encoder layer for every token, but its pooler reads only
// token 0 ([CLS]). This rewrite computes the row-wise ops that feed nothing but the pooler
// (the last layer after its attention: output projection, residual, LayerNorms, FFN) for
// that one row, slicing the full-size values where they enter. The logits are unchanged;
// each perturbed forward and backward pass through the last layer gets about S times cheaper.

import { build } from '../../ir/build.ts';
import type { Graph } from '../../ir/graph.ts';
import { usersOf } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { CONST_OP, INPUT_OP } from '../../ir/node.ts';
import { shapesEqual } from '../../ir/types.ts';

/** Ops that act on each token row independently (input 0 is the [B, S, D] activation). */
const ROW_WISE = new Set(['LayerNorm', 'Gelu', 'GeluMix', 'Linear', 'Relu', 'Tanh']);

function isRowWise(n: Node): boolean {
  if (n.type.shape.length !== 3) return false;
  if (ROW_WISE.has(n.op)) {
    const x = n.inputs[0]!;
    return x.type.shape.length === 3 && x.type.shape[1] === n.type.shape[1] && n.inputs.slice(1).every((i) => i.type.shape.length <= 2);
  }
  return n.op === 'Add' && n.inputs.every((i) => shapesEqual(i.type.shape, n.type.shape));
}

/** Rebuilds every node downstream of the replaced ones (nodes keep their attributes and locations). */
export function substitute(graph: Graph, replaced: ReadonlyMap<Node, Node>): Graph {
  const map = new Map(replaced);
  for (const n of graph.nodes()) {
    if (map.has(n) || n.op === INPUT_OP || n.op === CONST_OP) continue;
    if (!n.inputs.some((i) => map.has(i))) continue;
    map.set(n, build(n.op, n.inputs.map((i) => map.get(i) ?? i), n.attrs, n.loc));
  }
  return graph.with({ outputs: graph.outputs.map((o) => ({ name: o.name, node: map.get(o.node) ?? o.node })) });
}

/** The graph with the pooler's row-wise inputs computed for token 0 only (unchanged if there is no Pooler). */
export function firstTokenOnly(graph: Graph): Graph {
  const pooler = graph.nodes().find((n) => n.op === 'Pooler');
  if (pooler === undefined) return graph;
  const users = usersOf(graph);
  const order = graph.nodes();
  // a node is computed for row 0 only when it is row-wise and every user reads only row 0
  const rowOnly = new Set<Node>();
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!isRowWise(n)) continue;
    const us = users.get(n) ?? [];
    const fine = us.length > 0 && us.every((u) => (u === pooler && u.inputs[0] === n && !u.inputs.slice(1).includes(n)) || (rowOnly.has(u) && (u.op === 'Add' || (u.inputs[0] === n && !u.inputs.slice(1).includes(n)))));
    if (fine && !graph.outputs.some((o) => o.node === n)) rowOnly.add(n);
  }
  const x = pooler.inputs[0]!;
  if (!rowOnly.has(x)) return graph;
  const memo = new Map<Node, Node>();
  const row0 = (n: Node): Node => {
    let r = memo.get(n);
    if (r !== undefined) return r;
    if (rowOnly.has(n)) {
      const ins = n.op === 'Add' ? n.inputs.map(row0) : [row0(n.inputs[0]!), ...n.inputs.slice(1)];
      r = build(n.op, ins, n.attrs, n.loc);
    } else {
      r = build('Slice', [n], { starts: [0], ends: [1], axes: [1] }, n.loc);
    }
    memo.set(n, r);
    return r;
  };
  const trimmed = build('Pooler', [row0(x), ...pooler.inputs.slice(1)], pooler.attrs, pooler.loc);
  return substitute(graph, new Map([[pooler, trimmed]]));
}
