// Integrated gradients of one layer's heads as a single graph, for a fast float engine:
// the model bound to [R, n] (one row per path point), with the layer's head outputs scaled
// per row and head (head_scale [R, H, 1, 1]) and the backward pass built into the graph, so
// one run gives dF/dO(l, h) at every alpha of every head of the layer.
//
//   inputs:  the model's inputs [R, n], head_scale [R, H, 1, 1], seed [R, classes]
//   outputs: logits [R, classes]; context = O(l) of row 0 [1, H, n, d] (unscaled);
//            grad = d<seed, logits>/d(O(l) * head_scale) [R, H, n, d]

import { build } from '../../ir/build.ts';
import { Graph } from '../../ir/graph.ts';
import { inputNode } from '../../ir/node.ts';
import { gradientNodes } from '../../ir/grad/index.ts';
import { substitute } from './first-token.ts';
import type { BoundModel } from './model.ts';

export const HEAD_SCALE = 'head_scale';
export const SEED = 'seed';

export function igLayerGraph(bound: BoundModel, layer: number): Graph {
  const site = bound.sites[layer]!;
  const context = site.context;
  const [R, H] = context.type.shape as [number, number, number, number];
  const elem = context.type.elem;
  const scale = inputNode(HEAD_SCALE, { elem, shape: [R, H, 1, 1], vis: 'client' }, { name: HEAD_SCALE });
  const scaled = build('Mul', [context, scale], {}, { ...context.loc, ...(context.loc.name !== undefined ? { name: `${context.loc.name}/scaled` } : {}) });
  const graph = substitute(bound.graph, new Map([[context, scaled]]));
  const logits = graph.outputs[0]!.node;
  const seed = inputNode(SEED, { elem: logits.type.elem, shape: logits.type.shape, vis: 'client' }, { name: SEED });
  const grad = gradientNodes(graph, [scaled], new Map([[logits, seed]])).get(scaled)!;
  const row0 = build('Slice', [context], { starts: [0], ends: [1], axes: [0] });
  return new Graph(`${bound.graph.name}-ig-layer${layer}`, [...graph.inputs, scale, seed], [
    { name: 'logits', node: logits },
    { name: 'context', node: row0 },
    { name: 'grad', node: grad },
  ]);
}
