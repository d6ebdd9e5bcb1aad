// After raising: each Linear's role from where its output goes, and each op's encoder layer
// from the structure (the residual LayerNorms delimit layers), never from node names.

import type { Graph } from '../../ir/graph.ts';
import type { Loc, Node } from '../../ir/node.ts';
import { CONST_OP, INPUT_OP } from '../../ir/node.ts';
import { mapGraph } from './map-graph.ts';

const GELU_OPS = new Set(['Gelu', 'GeluMix']);

/**
 * Roles the structure gives Linears that have none yet: query/key/value feed the heads of
 * AttentionScores/AttentionContext, attention-output reads MergeHeads, ffn-in/ffn-out sit
 * around the activation, classifier reads the Pooler or is the graph's output.
 */
export function linearRoles(graph: Graph): Map<Node, string> {
  const roles = new Map<Node, string>();
  const assign = (n: Node | undefined, role: string): void => {
    if (n?.op === 'Linear' && n.attrs['role'] === '' && !roles.has(n)) roles.set(n, role);
  };
  const projected = (heads: Node | undefined): Node | undefined => (heads?.op === 'SplitHeads' ? heads.inputs[0] : undefined);
  for (const n of graph.nodes()) {
    if (n.op === 'AttentionScores') {
      assign(projected(n.inputs[0]), 'query');
      assign(projected(n.inputs[1]), 'key');
    } else if (n.op === 'AttentionContext') {
      assign(projected(n.inputs[1]), 'value');
    } else if (GELU_OPS.has(n.op)) {
      assign(n.inputs[0], 'ffn-in');
    } else if (n.op === 'Linear') {
      const x = n.inputs[0]!.op;
      if (x === 'MergeHeads') assign(n, 'attention-output');
      else if (GELU_OPS.has(x)) assign(n, 'ffn-out');
      else if (x === 'Pooler') assign(n, 'classifier');
    }
  }
  for (const o of graph.outputs) assign(o.node, 'classifier');
  return roles;
}

/**
 * The encoder layer of every op: with ln(n) = max over inputs of ln(input) + [input is a
 * LayerNorm], an op with ln(n) = k >= 1 is in layer floor((k-1)/2) (post-LN BERT: the
 * embeddings end at one LayerNorm, each layer has two) while that is below the number of
 * layers; the embeddings, the mask, the pooler and the classifier have none. The number of
 * layers comes from the LayerNorms, which every layer keeps, not from the attention softmaxes,
 * which a layer whose heads were all pruned has lost.
 */
export function encoderLayers(graph: Graph): Map<Node, number> {
  const count = (op: string): number => graph.nodes().filter((n) => n.op === op).length;
  const layers = Math.max(count('AttentionSoftmax'), Math.floor((count('LayerNorm') - 1) / 2));
  const ln = new Map<Node, number>();
  const out = new Map<Node, number>();
  for (const n of graph.nodes()) {
    let k = 0;
    for (const i of n.inputs) k = Math.max(k, (ln.get(i) ?? 0) + (i.op === 'LayerNorm' ? 1 : 0));
    ln.set(n, k);
    if (n.op === CONST_OP || n.op === INPUT_OP || k < 1) continue;
    const layer = Math.floor((k - 1) / 2);
    if (layer < layers) out.set(n, layer);
  }
  return out;
}

/** The graph with Linear roles filled in and every op's loc.layer set (or cleared) structurally. */
export function annotateBert(graph: Graph): Graph {
  const roles = linearRoles(graph);
  const layers = encoderLayers(graph);
  return mapGraph(graph, (n) => {
    if (n.op === CONST_OP) return undefined;
    const role = roles.get(n);
    const loc = withLayer(n.loc, layers.get(n));
    return role !== undefined ? { attrs: { ...n.attrs, role }, loc } : { loc };
  });
}

function withLayer(loc: Loc, layer: number | undefined): Loc {
  const { layer: _old, ...rest } = loc;
  return layer === undefined ? rest : { ...rest, layer };
}
