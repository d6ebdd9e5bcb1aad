// The public API for writing and running passes, and registration of the built-in ones.
//
// A custom pass imports only from here (see examples/custom-pass): patterns, rules, the
// pass types, and the IR pieces a replacement needs.

export { any, approx, constant, either, match, op, scalar, allEqual, type Captures, type Pattern } from './pattern.ts';
export { rule, rewriteGraph, type Rule, type RewriteContext, type RewriteOptions, type RewriteResult } from './rewrite.ts';
export {
  registerPass,
  findPass,
  allPasses,
  rewritePass,
  numberOption,
  type Pass,
  type PassContext,
  type PassOptions,
  type PassOptionSpec,
  type PassOptionValue,
} from './pass.ts';
export { parsePipeline, formatStep, type PipelineStep } from './pipeline.ts';
export { runPipeline, type PipelineOptions, type PipelineRun, type StageRecord } from './manager.ts';
export { CANONICALIZE_RULES } from './canonicalize.ts';
export { build } from '../ir/build.ts';
export { Ig3dcError } from '../ir/diagnostics.ts';
export { registerOp, type OpDef, typeError } from '../ir/op.ts';
export { constNode, constValue, CONST_OP, INPUT_OP, type Node, type Attrs, type Loc } from '../ir/node.ts';
export { Tensor } from '../ir/tensor.ts';
export { normalizeAxis, shapesEqual, numel, isFloatType, type ElemType, type Shape, type ValueType, type Visibility } from '../ir/types.ts';
export type { Graph } from '../ir/graph.ts';

import './canonicalize.ts';
import './fold-batch-norm.ts';
import './raise/index.ts';
import './ig3d/index.ts';
import './tokens/index.ts';
