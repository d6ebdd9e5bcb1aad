// IG-3D as passes: importance annotations, structural head pruning, PolySoftmax, GELU mixing.
// Importing this module registers prune-heads, softmax-to-poly and gelu-mix, and the related
// systems' replacements: attention-method, quad-gelu and taylor.

import { registerPass } from '../pass.ts';
import { GELU_MIX_PASS } from './gelu-mix.ts';
import { PRUNE_HEADS_PASS } from './prune-heads.ts';
import { SOFTMAX_TO_POLY_PASS } from './softmax-to-poly.ts';
import { ATTENTION_METHOD_PASS } from './attention-method.ts';
import { QUAD_GELU_PASS, TAYLOR_PASS } from './polynomial-gelu.ts';

export {
  type HeadPin,
  type HeadPinKind,
  type ImportanceAnnotation,
  type LambdaPin,
  type ModelHeads,
  checkAnnotationFits,
  importanceOf,
  parseImportance,
  parseImportanceJson,
  readImportanceFile,
  writeImportanceText,
} from './annotations.ts';
export { parseImportanceText } from './annotation-text.ts';
export { type AttentionLayer, type ModelShape, modelShape } from './model-shape.ts';
export { IMPORTANCE_RESOURCE, type Selection } from './options.ts';
export { headKey, headName } from './ranking.ts';
export { ATTENTION_BLOCK, PRUNE_HEADS, PRUNE_HEADS_PASS, choosePrunedHeads, pruneHeads, pruneHeadsRule } from './prune-heads.ts';
export { SOFTMAX_TO_POLY, SOFTMAX_TO_POLY_PASS, type Granularity, type PolyParams, choosePolyHeads, presentHeads, softmaxToPoly, softmaxToPolyRule } from './softmax-to-poly.ts';
export { GELU_MIX, GELU_MIX_PASS, geluMix, geluMixRule, thirdsSchedule } from './gelu-mix.ts';

export { ATTENTION_METHOD, ATTENTION_METHOD_PASS, applyAttentionMethod, attentionMethodRule, methodParams } from './attention-method.ts';
export { QUAD_GELU, QUAD_GELU_PASS, TAYLOR_GELU, TAYLOR_PASS, polynomialGeluRule } from './polynomial-gelu.ts';

for (const pass of [PRUNE_HEADS_PASS, SOFTMAX_TO_POLY_PASS, GELU_MIX_PASS, ATTENTION_METHOD_PASS, QUAD_GELU_PASS, TAYLOR_PASS]) registerPass(pass);
