// The attention structure of a raised model, as the IG-3D passes need it: how many encoder
// layers, which (original) heads each layer still has, and how many it had before pruning.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import type { ModelHeads } from './annotations.ts';

export interface AttentionLayer {
  readonly layer: number;
  readonly softmax: Node;
  /** The original ids of the heads the layer still has. */
  readonly heads: readonly number[];
  /**
   * Heads of the unpruned layer: hidden size / head size (BERT projects D -> D = H*d), read
   * from the query projection; undefined when the block does not have that form.
   */
  readonly originalHeads: number | undefined;
}

export interface ModelShape extends ModelHeads {
  /** Layers that still have attention, by layer (a layer whose heads were all pruned has none). */
  readonly attention: ReadonlyMap<number, AttentionLayer>;
}

/**
 * Reads the shape from the graph: layers = 1 + the largest `loc.layer` of any op (so a layer
 * whose attention was pruned away still counts), heads from the AttentionSoftmax ops.
 * `pass` names the pass in errors.
 */
export function modelShape(graph: Graph, pass: string): ModelShape {
  let maxLayer = -1;
  const attention = new Map<number, AttentionLayer>();
  for (const n of graph.nodes()) {
    if (n.loc.layer !== undefined) maxLayer = Math.max(maxLayer, n.loc.layer);
    if (n.op !== 'AttentionSoftmax') continue;
    const layer = n.loc.layer;
    if (layer === undefined) {
      throw new Ig3dcError('usage', `${pass}: AttentionSoftmax has no encoder layer (run raise-bert first, which sets the layer of every op)`, n.loc.name !== undefined ? { node: n.loc.name } : {});
    }
    if (attention.has(layer)) throw new Ig3dcError('usage', `${pass}: layer ${layer} has two AttentionSoftmax ops; expected one attention block per layer`, n.loc.name !== undefined ? { node: n.loc.name } : {});
    attention.set(layer, { layer, softmax: n, heads: n.attrs['heads'] as readonly number[], originalHeads: originalHeads(n) });
  }
  if (attention.size === 0 && maxLayer < 0) {
    throw new Ig3dcError('usage', `${pass}: the model has no raised attention (no AttentionSoftmax op with a layer); run raise-bert first`);
  }
  const counts = new Set<number>();
  for (const a of attention.values()) if (a.originalHeads !== undefined) counts.add(a.originalHeads);
  const heads = counts.size === 1 ? [...counts][0] : undefined;
  return { layers: maxLayer + 1, heads, attention };
}

/** D / d from AttentionSoftmax <- AttentionScores <- SplitHeads <- Linear(x [.., D]). */
function originalHeads(softmax: Node): number | undefined {
  const scores = softmax.inputs[0];
  const q = scores?.op === 'AttentionScores' ? scores.inputs[0] : undefined;
  const proj = q?.op === 'SplitHeads' ? q.inputs[0] : undefined;
  if (proj?.op !== 'Linear' || q === undefined) return undefined;
  const x = proj.inputs[0]!;
  const D = x.type.shape[x.type.shape.length - 1]!;
  const d = q.type.shape[3]!;
  return d > 0 && D % d === 0 ? D / d : undefined;
}
