// Test helpers for op semantics: apply an op to tensors, make tensors, compare.

import { expect } from 'vitest';
import fc from 'fast-check';
import { foldOp } from '../../ir/evaluate.ts';
import type { Attrs } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { numel, stridesOf, type ElemType } from '../../ir/types.ts';

export function run(op: string, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor {
  return foldOp(op, inputs, attrs);
}

export function t(dtype: ElemType, shape: readonly number[], values: ArrayLike<number | bigint>): Tensor {
  return Tensor.from(dtype, shape, values);
}

export const f = (shape: readonly number[], values: readonly number[]): Tensor => t('f64', shape, values);

/** Elements of a tensor as plain numbers. */
export function vals(x: Tensor): number[] {
  return x.toNumbers();
}

export function expectClose(got: Tensor, shape: readonly number[], want: readonly number[], tol = 1e-12): void {
  expect(got.shape).toEqual(shape);
  expect(got.size).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got.at(i);
    const w = want[i]!;
    if (Number.isNaN(w)) expect(g).toBeNaN();
    else expect(Math.abs(g - w), `element ${i}: got ${g}, want ${w}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(w)));
  }
}

/** Multi-index <-> flat index helpers for naive references. */
export function unravel(k: number, shape: readonly number[]): number[] {
  const s = stridesOf(shape);
  return shape.map((_, i) => Math.floor(k / s[i]!) % shape[i]!);
}
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  const s = stridesOf(shape);
  return idx.reduce((acc, v, i) => acc + v * s[i]!, 0);
}

/** Arbitrary shape with `rank` dims in [1, maxDim]. */
export const shapeArb = (minRank: number, maxRank: number, maxDim = 4): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });

/** A random float tensor of a shape (small integers, so float sums are exact). */
export function tensorArb(shape: readonly number[]): fc.Arbitrary<Tensor> {
  return fc
    .array(fc.integer({ min: -9, max: 9 }), { minLength: numel(shape), maxLength: numel(shape) })
    .map((v) => f(shape, v));
}
