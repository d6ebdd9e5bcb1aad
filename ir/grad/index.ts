// Reverse-mode differentiation over the IR: the op -> VJP table, gradient plans, and
// partial re-evaluation for perturbed forward passes.

export { GradientPlan, forwardValues, gradientOf } from './backward.ts';
export { Replay } from './replay.ts';
export { findVjp, registerVjp, differentiableOps } from './table.ts';
export { reduceToShape, isDifferentiable, type Vjp, type VjpArgs } from './vjp.ts';
