// Registers the built-in ops. One import per op file; the table is `allOps()`.

import { registerOp, type OpDef } from '../op.ts';
import { Cast } from './cast.ts';
import { Clip } from './clip.ts';
import { And, Equal, Greater, GreaterOrEqual, Less, LessOrEqual, Not, Or, Xor } from './compare.ts';
import { Concat } from './concat.ts';
import { Add, Div, Max, Min, Mul, Pow, Sub } from './elementwise-binary.ts';
import { Expand } from './expand.ts';
import { Gather } from './gather.ts';
import { Gemm } from './gemm.ts';
import { LayerNormalization } from './layer-norm.ts';
import { MatMul } from './matmul.ts';
import { Range } from './range.ts';
import { ReduceMax, ReduceMean, ReduceMin, ReduceSum } from './reduce.ts';
import { Relu } from './relu.ts';
import { Reshape } from './reshape.ts';
import { Shape } from './shape.ts';
import { Slice } from './slice.ts';
import { LogSoftmax, Softmax } from './softmax.ts';
import { Tile } from './tile.ts';
import { Transpose } from './transpose.ts';
import { Identity, UNARY_OPS } from './unary.ts';
import { Where } from './where.ts';
import { AttentionContext } from './transformer/attention-context.ts';
import { AttentionMask } from './transformer/attention-mask.ts';
import { AttentionScores } from './transformer/attention-scores.ts';
import { AttentionSoftmax } from './transformer/attention-softmax.ts';
import { Embedding } from './transformer/embedding.ts';
import { Gelu } from './transformer/gelu.ts';
import { GeluMix } from './transformer/gelu-mix.ts';
import { LayerNorm } from './transformer/layer-norm.ts';
import { Linear } from './transformer/linear.ts';
import { MergeHeads } from './transformer/merge-heads.ts';
import { Pooler } from './transformer/pooler.ts';
import { SplitHeads } from './transformer/split-heads.ts';
import { TOKEN_OPS } from './tokens/index.ts';

export const BUILTIN_OPS: readonly OpDef[] = [
  // element-wise
  Add, Sub, Mul, Div, Pow, Max, Min,
  Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor, Not,
  Where, Relu, ...UNARY_OPS, Identity, Cast, Clip,
  // linear algebra
  MatMul, Gemm,
  // shape and data movement
  Reshape, Transpose, Concat, Slice, Gather, Expand, Tile, Shape, Range,
  // reductions and normalization
  ReduceMean, ReduceSum, ReduceMax, ReduceMin, Softmax, LogSoftmax, LayerNormalization,
  // transformer level (produced by raising, expanded again by ONNX export)
  LayerNorm, Gelu, GeluMix, Linear, Embedding, AttentionMask, SplitHeads, AttentionScores,
  AttentionSoftmax, AttentionContext, MergeHeads, Pooler,
  // token pruning (CipherPrune)
  ...TOKEN_OPS,
];

for (const def of BUILTIN_OPS) registerOp(def);
