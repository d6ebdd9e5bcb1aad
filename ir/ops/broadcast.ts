// Shared machinery for element-wise ops with numpy broadcasting.

import { Tensor, allocComputeStorage } from '../tensor.ts';
import { broadcastShapes, stridesOf, numel, type ElemType, type Shape } from '../types.ts';
import { typeError } from '../op.ts';

/** The broadcast shape of several operand shapes, or a type error naming them. */
export function broadcastAll(op: string, shapes: readonly Shape[]): number[] {
  let out: number[] = [];
  for (const s of shapes) {
    const b = broadcastShapes(out, s);
    if (b === undefined) {
      typeError(`${op} operands do not broadcast: ${shapes.map((x) => `[${x.join(',')}]`).join(' and ')}`);
    }
    out = b;
  }
  return out;
}

/**
 * For an operand of shape `src` broadcast to `out`, the flat source index of every output
 * element. Operands that already have the output shape return undefined (identity).
 */
export function broadcastIndex(src: Shape, out: Shape): Int32Array | undefined {
  if (src.length === out.length && src.every((d, i) => d === out[i])) return undefined;
  const n = numel(out);
  const idx = new Int32Array(n);
  const rank = out.length;
  const srcStrides = stridesOf(src);
  // stride 0 on broadcast axes
  const strides = new Array<number>(rank).fill(0);
  for (let i = 0; i < src.length; i++) {
    const axis = rank - src.length + i;
    strides[axis] = src[i] === 1 ? 0 : srcStrides[i]!;
  }
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let k = 0; k < n; k++) {
    idx[k] = offset;
    for (let a = rank - 1; a >= 0; a--) {
      counter[a]!++;
      offset += strides[a]!;
      if (counter[a]! < out[a]!) break;
      offset -= strides[a]! * counter[a]!;
      counter[a] = 0;
    }
  }
  return idx;
}

/** Applies f element-wise over broadcast float operands, computing in float64. */
export function mapFloat(inputs: readonly Tensor[], outElem: ElemType, outShape: Shape, f: (...xs: number[]) => number): Tensor {
  const n = numel(outShape);
  const data = allocComputeStorage(outElem, n) as Float64Array;
  const idx = inputs.map((t) => broadcastIndex(t.shape, outShape));
  const args = new Array<number>(inputs.length);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < inputs.length; j++) {
      const ix = idx[j];
      args[j] = inputs[j]!.at(ix === undefined ? k : ix[k]!);
    }
    data[k] = f(...args);
  }
  return new Tensor(outElem, outShape, data);
}
