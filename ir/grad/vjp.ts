// Vector-Jacobian products: the reverse-mode rule of an op, as data next to the op table.
//
// A rule gets the op's input values, its output value and the gradient of a scalar loss
// with respect to the output, and returns the gradient with respect to each input it was
// asked for (undefined for the others, and always for integer inputs such as token ids).
// Gradients are float64, laid out row-major like the value they belong to.

import type { Node } from '../node.ts';
import type { Tensor } from '../tensor.ts';
import { isFloatType, numel, type Shape } from '../types.ts';
import { broadcastIndex } from '../ops/broadcast.ts';

export interface VjpArgs {
  readonly node: Node;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  /** dL/d(output), numel(output) elements. */
  readonly grad: Float64Array;
  /** needs[i]: the caller wants dL/d(input i). Rules may skip work for the others. */
  readonly needs: readonly boolean[];
}

/** dL/d(input i) for each input (undefined where not needed or not differentiable). */
export type Vjp = (a: VjpArgs) => readonly (Float64Array | undefined)[];

/** Whether gradients flow through a value of this node at all (floats only). */
export function isDifferentiable(n: Node): boolean {
  return isFloatType(n.type.elem);
}

/**
 * Sums a gradient of the broadcast result shape `out` back to an operand of shape `src`
 * (the transpose of numpy broadcasting): every output element adds into the operand
 * element it was read from.
 */
export function reduceToShape(g: Float64Array, out: Shape, src: Shape): Float64Array {
  const idx = broadcastIndex(src, out);
  if (idx === undefined) return g;
  const r = new Float64Array(numel(src));
  for (let k = 0; k < g.length; k++) r[idx[k]!]! += g[k]!;
  return r;
}

/** Like reduceToShape, but each output element's contribution is g[k] * local(k). */
export function reduceProductToShape(g: Float64Array, out: Shape, src: Shape, local: (k: number) => number): Float64Array {
  const idx = broadcastIndex(src, out);
  const r = new Float64Array(numel(src));
  if (idx === undefined) for (let k = 0; k < g.length; k++) r[k] = g[k]! * local(k);
  else for (let k = 0; k < g.length; k++) r[idx[k]!]! += g[k]! * local(k);
  return r;
}

/** The index of each output element's source element in an operand of shape `src` (identity: undefined). */
export function sourceIndex(src: Shape, out: Shape): Int32Array | undefined {
  return broadcastIndex(src, out);
}
