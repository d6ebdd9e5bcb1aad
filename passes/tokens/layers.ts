// The token path through a raised encoder, as token pruning needs it: per layer, the hidden
// state that enters it, its attention probabilities and keep mask, and its activation; and
// the hidden state that leaves the last layer (the pooler's input).

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { modelShape } from '../ig3d/model-shape.ts';

export interface TokenLayer {
  readonly layer: number;
  /** The hidden state [B, S, D] that enters the layer. */
  readonly input: Node;
  readonly softmax: Node;
  /** The keep mask [B, 1, 1, S] of the layer's softmax. */
  readonly mask: Node;
  /** The layer's activation (Gelu or GeluMix); undefined when it has none. */
  readonly activation: Node | undefined;
}

export interface TokenPath {
  readonly layers: readonly TokenLayer[];
  /** The hidden state that leaves the last layer. */
  readonly output: Node;
}

const ACTIVATIONS = new Set(['Gelu', 'GeluMix']);

/** Reads the token path of a raised BERT-like graph; `pass` names the caller in errors. */
export function tokenPath(graph: Graph, pass: string): TokenPath {
  const shape = modelShape(graph, pass);
  const layers: TokenLayer[] = [];
  for (let l = 0; l < shape.layers; l++) {
    const a = shape.attention.get(l);
    if (a === undefined) throw new Ig3dcError('usage', `${pass}: layer ${l} has no attention (all heads pruned); token importance needs every layer's attention`);
    const scores = a.softmax.inputs[0]!;
    const q = scores.op === 'AttentionScores' ? scores.inputs[0] : undefined;
    const proj = q?.op === 'SplitHeads' ? q.inputs[0] : undefined;
    if (proj?.op !== 'Linear') throw new Ig3dcError('usage', `${pass}: layer ${l}: expected AttentionSoftmax <- AttentionScores <- SplitHeads <- Linear (run raise-bert first)`);
    const activation = graph.nodes().find((n) => ACTIVATIONS.has(n.op) && n.loc.layer === l);
    layers.push({ layer: l, input: proj.inputs[0]!, softmax: a.softmax, mask: a.softmax.inputs[1]!, activation });
  }
  const pooler = graph.nodes().find((n) => n.op === 'Pooler');
  if (pooler === undefined) throw new Ig3dcError('usage', `${pass}: no Pooler op: token pruning keeps [CLS] for a pooled classifier (run raise-bert first)`);
  for (let l = 1; l < layers.length; l++) {
    if (layers[l]!.mask !== layers[0]!.mask) throw new Ig3dcError('usage', `${pass}: layer ${l} uses another keep mask than layer 0; was prune-tokens applied already?`);
  }
  return { layers, output: pooler.inputs[0]! };
}
