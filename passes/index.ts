// The public API for writing and running passes, and registration of the built-in ones.
//
// A custom pass imports only from here (see examples/custom-pass): patterns, rules, the
// pass types, and the IR pieces a replacement needs.

export { any, approx, constant, match, op, scalar, type Captures, type Pattern } from './pattern.ts';
export { rule, rewriteGraph, type Rule, type RewriteContext, type RewriteResult } from './rewrite.ts';
export { registerPass, findPass, allPasses, rewritePass, type Pass, type PassContext, type PassOptions, type PassOptionSpec } from './pass.ts';
export { parsePipeline, type PipelineStep } from './pipeline.ts';
export { runPipeline, type PipelineOptions, type PipelineRun } from './manager.ts';
export { build } from '../ir/build.ts';
export { registerOp, type OpDef, typeError } from '../ir/op.ts';
export { constNode, constValue, type Node } from '../ir/node.ts';
export { Tensor } from '../ir/tensor.ts';
export type { Graph } from '../ir/graph.ts';

import './canonicalize.ts';
