// Reverse-mode rules of the data-movement ops: each moves gradient elements back to where
// the forward op read them from (adding where one input element fed several outputs).
// Integer inputs (indices, token ids) get no gradient.

import type { Tensor } from '../tensor.ts';
import { isFloatType, numel, stridesOf, type Shape } from '../types.ts';
import { intAttr, intsAttr } from '../op.ts';
import { slicePlan } from '../ops/slice.ts';
import { permOf } from '../ops/transpose.ts';
import { reduceToShape, type Vjp } from './vjp.ts';

/**
 * The transpose of a strided read: element k of `g` (row-major over `shape`) is added to
 * target[offset + sum_a idx_a * strides_a].
 */
export function scatterAddStrided(g: Float64Array, shape: Shape, target: Float64Array, offset: number, strides: readonly number[]): void {
  const n = g.length;
  const rank = shape.length;
  if (n === 0) return;
  if (rank === 0) {
    target[offset]! += g[0]!;
    return;
  }
  const last = rank - 1;
  const inner = shape[last]!;
  const innerStride = strides[last]!;
  const counter = new Array<number>(rank).fill(0);
  let base = offset;
  for (let k = 0; k < n; k += inner) {
    let p = base;
    for (let j = 0; j < inner; j++, p += innerStride) target[p]! += g[k + j]!;
    // advance the outer counters
    for (let a = last - 1; a >= 0; a--) {
      counter[a]!++;
      base += strides[a]!;
      if (counter[a]! < shape[a]!) break;
      base -= strides[a]! * counter[a]!;
      counter[a] = 0;
    }
  }
}

const floatIn = (t: Tensor): boolean => isFloatType(t.dtype);

export const reshapeVjp: Vjp = ({ inputs, grad, needs }) => [needs[0] && floatIn(inputs[0]!) ? grad.slice() : undefined];

export const transposeVjp: Vjp = ({ node, inputs, output, grad, needs }) => {
  const x = inputs[0]!;
  if (!needs[0] || !floatIn(x)) return [undefined];
  const p = permOf(intsAttr(node.attrs, 'perm'), x.shape);
  const s = stridesOf(x.shape);
  const gx = new Float64Array(x.size);
  // output axis i walks input axis p[i]
  scatterAddStrided(grad, output.shape, gx, 0, p.map((a) => s[a]!));
  return [gx];
};

export const sliceVjp: Vjp = ({ node, inputs, output, grad, needs }) => {
  const x = inputs[0]!;
  if (!needs[0] || !floatIn(x)) return [undefined];
  const plan = slicePlan(x.shape, intsAttr(node.attrs, 'starts'), intsAttr(node.attrs, 'ends'), intsAttr(node.attrs, 'axes'), intsAttr(node.attrs, 'steps'));
  const s = stridesOf(x.shape);
  let offset = 0;
  for (let a = 0; a < s.length; a++) offset += plan.start[a]! * s[a]!;
  const gx = new Float64Array(x.size);
  scatterAddStrided(grad, output.shape, gx, offset, plan.step.map((st, a) => st * s[a]!));
  return [gx];
};

export const concatVjp: Vjp = ({ node, inputs, output, grad, needs }) => {
  const rank = output.shape.length;
  const attr = intAttr(node.attrs, 'axis');
  const axis = attr < 0 ? attr + rank : attr;
  const outer = numel(output.shape.slice(0, axis));
  const inner = numel(output.shape.slice(axis + 1));
  const rowLen = output.shape[axis]! * inner;
  let col = 0;
  return inputs.map((t, i) => {
    const block = t.shape[axis]! * inner;
    const from = col;
    col += block;
    if (!needs[i] || !floatIn(t)) return undefined;
    const g = new Float64Array(t.size);
    for (let o = 0; o < outer; o++) g.set(grad.subarray(o * rowLen + from, o * rowLen + from + block), o * block);
    return g;
  });
};

export const gatherVjp: Vjp = ({ node, inputs, grad, needs }) => {
  const [data, indices] = inputs as [Tensor, Tensor];
  if (!needs[0] || !floatIn(data)) return [undefined, undefined];
  const shape = data.shape;
  const attr = intAttr(node.attrs, 'axis');
  const axis = attr < 0 ? attr + shape.length : attr;
  const dim = shape[axis]!;
  const outer = numel(shape.slice(0, axis));
  const inner = numel(shape.slice(axis + 1));
  const nIdx = indices.size;
  const g = new Float64Array(data.size);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < nIdx; i++) {
      const v = indices.at(i);
      const to = (o * dim + (v < 0 ? v + dim : v)) * inner;
      for (let j = 0; j < inner; j++) g[to + j]! += grad[k++]!;
    }
  }
  return [g, undefined];
};

export const expandVjp: Vjp = ({ inputs, output, grad, needs }) => {
  const x = inputs[0]!;
  return [needs[0] && floatIn(x) ? reduceToShape(grad, output.shape, x.shape).slice() : undefined];
};

export const tileVjp: Vjp = ({ node, inputs, grad, needs }) => {
  const x = inputs[0]!;
  if (!needs[0] || !floatIn(x)) return [undefined];
  const r = intsAttr(node.attrs, 'repeats');
  const s = stridesOf(x.shape);
  const shape: number[] = [];
  const strides: number[] = [];
  x.shape.forEach((d, i) => {
    shape.push(r[i]!, d);
    strides.push(0, s[i]!);
  });
  const gx = new Float64Array(x.size);
  scatterAddStrided(grad, shape, gx, 0, strides);
  return [gx];
};

/** Rows of the table: each id's row collects the gradients of its positions; ids get none. */
export const embeddingVjp: Vjp = ({ inputs, grad, needs }) => {
  const [table, ids] = inputs as [Tensor, Tensor];
  if (!needs[0]) return [undefined, undefined];
  const D = table.shape[1]!;
  const g = new Float64Array(table.size);
  for (let i = 0; i < ids.size; i++) {
    const to = ids.at(i) * D;
    for (let j = 0; j < D; j++) g[to + j]! += grad[i * D + j]!;
  }
  return [g, undefined];
};

/** SplitHeads: y[b,h,s,j] = x[b,s,h*d+j]; the gradient is merged back. */
export const splitHeadsVjp: Vjp = ({ output, grad, needs }) => {
  if (!needs[0]) return [undefined];
  const [B, H, S, d] = output.shape as [number, number, number, number];
  const g = new Float64Array(grad.length);
  scatterAddStrided(grad, [B, H, S, d], g, 0, [S * H * d, d, H * d, 1]);
  return [g];
};

/** MergeHeads: y[b,s,h*d+j] = x[b,h,s,j]; the gradient is split again. */
export const mergeHeadsVjp: Vjp = ({ inputs, grad, needs }) => {
  if (!needs[0]) return [undefined];
  const [B, H, S, d] = inputs[0]!.shape as [number, number, number, number];
  const g = new Float64Array(grad.length);
  // walk the gradient as [B, S, H, d] into x's [B, H, S, d] layout
  scatterAddStrided(grad, [B, S, H, d], g, 0, [H * S * d, d, S * d, 1]);
  return [g];
};
