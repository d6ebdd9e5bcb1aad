// Reverse-mode differentiation over the IR: numeric (GradientPlan, the vjp table) and as
// graph nodes (gradientNodes, the graph-rule table), which can be exported and run elsewhere.

export { GradientPlan, backwardSteps, forwardValues, gradientOf, type BackwardStep } from './backward.ts';
export { Replay } from './replay.ts';
export { findVjp, registerVjp, differentiableOps } from './table.ts';
export { reduceToShape, isDifferentiable, type Vjp, type VjpArgs } from './vjp.ts';
export { gradientNodes } from './gradient-graph.ts';
export { findGraphVjp, graphDifferentiableOps } from './graph-rules.ts';
export { GradBuilder, type GraphVjp, type GraphVjpArgs } from './graph-vjp.ts';
