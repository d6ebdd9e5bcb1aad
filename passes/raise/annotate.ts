// After raising: each Linear's role from where its output goes, and each op's encoder layer
// from the structure (the residual LayerNorms delimit layers), never from node names.

import type { Graph } from '../../ir/graph.ts';
import type { Loc, Node } from '../../ir/node.ts';
import { CONST_OP, INPUT_OP } from '../../ir/node.ts';
import { isFloatType } from '../../ir/types.ts';
import { mapGraph } from './map-graph.ts';

const GELU_OPS = new Set(['Gelu', 'GeluMix']);

/**
 * Roles the structure gives Linears that have none yet: query/key/value feed the heads of
 * AttentionScores/AttentionContext, attention-output reads MergeHeads, ffn-in/ffn-out sit
 * around the activation, classifier reads the Pooler or is the graph's output,
 * patch-embedding reads an image input rearranged into patches.
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
      else if (readsPatches(n.inputs[0]!)) assign(n, 'patch-embedding');
    }
  }
  for (const o of graph.outputs) assign(o.node, 'classifier');
  return roles;
}

/** x is a graph input rearranged into patches (Reshape / Transpose / Slice of pixels only). */
function readsPatches(x: Node): boolean {
  let n = x;
  while (n.op === 'Reshape' || n.op === 'Transpose' || n.op === 'Slice') n = n.inputs[0]!;
  return n.op === INPUT_OP && n !== x && isFloatType(n.type.elem);
}

/**
 * The encoder layer of every op: with ln(n) = max over inputs of ln(input) + [input is a
 * LayerNorm], an op with ln(n) = k >= 1 is in layer floor((k-1)/2) (post-LN BERT: the
 * embeddings end at one LayerNorm, each layer has two) while that is below the number of
 * attention softmaxes; the embeddings, the mask, the pooler and the classifier have none.
 * Pre-LN (ViT: each layer's first LayerNorm reads the residual stream, which also feeds the
 * residual Add) is the same count except that a LayerNorm, at k = 2l or 2l + 1, opens or
 * splits layer l = floor(k/2), and the final LayerNorm (k = 2L) belongs to none. The number
 * of layers comes from the LayerNorms too (2L + 1 in both forms), which every layer keeps,
 * not only from the attention softmaxes, which a layer whose heads were all pruned has lost.
 */
export function encoderLayers(graph: Graph): Map<Node, number> {
  const count = (op: string): number => graph.nodes().filter((n) => n.op === op).length;
  const layers = Math.max(count('AttentionSoftmax'), Math.floor((count('LayerNorm') - 1) / 2));
  const preLn = isPreLayerNorm(graph);
  const ln = new Map<Node, number>();
  const out = new Map<Node, number>();
  for (const n of graph.nodes()) {
    let k = 0;
    for (const i of n.inputs) k = Math.max(k, (ln.get(i) ?? 0) + (i.op === 'LayerNorm' ? 1 : 0));
    ln.set(n, k);
    if (n.op === CONST_OP || n.op === INPUT_OP) continue;
    if (preLn && n.op === 'LayerNorm') {
      if (Math.floor(k / 2) < layers) out.set(n, Math.floor(k / 2));
      continue;
    }
    if (k < 1) continue;
    const layer = Math.floor((k - 1) / 2);
    if (layer < layers) out.set(n, layer);
  }
  return out;
}

/** Whether the first LayerNorm's input also feeds an Add (the residual of a pre-LN layer). */
export function isPreLayerNorm(graph: Graph): boolean {
  const first = graph.nodes().find((n) => n.op === 'LayerNorm');
  if (first === undefined) return false;
  const x = first.inputs[0]!;
  return graph.nodes().some((n) => n.op === 'Add' && n.inputs.includes(x));
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
