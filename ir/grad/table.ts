// The reverse-mode table: op name -> vector-Jacobian product, one entry per differentiable
// op (ops on integers and masks, such as Shape, Range, comparisons and AttentionMask,
// have no gradient and are absent). User ops can add a rule with registerVjp.

import { UNARY_VJPS, addVjp, castVjp, clipVjp, divVjp, geluMixVjp, geluVjp, maxVjp, minVjp, mulVjp, powVjp, subVjp, whereVjp } from './elementwise.ts';
import { gemmVjp, linearVjp, matmulVjp, poolerVjp } from './linear-algebra.ts';
import {
  layerNormVjp,
  layerNormalizationVjp,
  logSoftmaxVjp,
  reduceMaxVjp,
  reduceMeanVjp,
  reduceMinVjp,
  reduceSumVjp,
  softmaxOpVjp,
} from './normalization.ts';
import {
  concatVjp,
  embeddingVjp,
  expandVjp,
  gatherVjp,
  mergeHeadsVjp,
  reshapeVjp,
  sliceVjp,
  splitHeadsVjp,
  tileVjp,
  transposeVjp,
} from './shape.ts';
import { attentionContextVjp, attentionScoresVjp, attentionSoftmaxVjp } from './attention.ts';
import type { Vjp } from './vjp.ts';

const table = new Map<string, Vjp>(
  Object.entries({
    // element-wise
    Add: addVjp,
    Sub: subVjp,
    Mul: mulVjp,
    Div: divVjp,
    Pow: powVjp,
    Max: maxVjp,
    Min: minVjp,
    ...UNARY_VJPS,
    Clip: clipVjp,
    Cast: castVjp,
    Where: whereVjp,
    Gelu: geluVjp,
    GeluMix: geluMixVjp,
    // linear algebra
    MatMul: matmulVjp,
    Gemm: gemmVjp,
    Linear: linearVjp,
    Pooler: poolerVjp,
    // data movement
    Reshape: reshapeVjp,
    Transpose: transposeVjp,
    Slice: sliceVjp,
    Concat: concatVjp,
    Gather: gatherVjp,
    Expand: expandVjp,
    Tile: tileVjp,
    Embedding: embeddingVjp,
    SplitHeads: splitHeadsVjp,
    MergeHeads: mergeHeadsVjp,
    // reductions and normalization
    ReduceSum: reduceSumVjp,
    ReduceMean: reduceMeanVjp,
    ReduceMax: reduceMaxVjp,
    ReduceMin: reduceMinVjp,
    Softmax: softmaxOpVjp,
    LogSoftmax: logSoftmaxVjp,
    LayerNorm: layerNormVjp,
    LayerNormalization: layerNormalizationVjp,
    // attention
    AttentionScores: attentionScoresVjp,
    AttentionSoftmax: attentionSoftmaxVjp,
    AttentionContext: attentionContextVjp,
  }),
);

export function findVjp(op: string): Vjp | undefined {
  return table.get(op);
}

export function registerVjp(op: string, vjp: Vjp): void {
  if (table.has(op)) throw new Error(`a gradient rule for '${op}' is registered twice`);
  table.set(op, vjp);
}

/** Names of the ops with a gradient rule, sorted. */
export function differentiableOps(): string[] {
  return [...table.keys()].sort();
}
