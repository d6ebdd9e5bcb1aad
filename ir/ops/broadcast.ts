// Shared machinery for element-wise ops with numpy broadcasting, and the storage helpers
// every evaluator uses.
//
// Kernels are specialized by arity and by number domain (float64, 32-bit-or-narrower
// integers as JS numbers, 64-bit integers as bigints) so that the per-element loop is a
// plain indexed read, one call and a typed-array write. Integer results wrap because the
// typed array the result is written into wraps (Uint8Array stores mod 256, BigInt64Array
// stores asIntN(64), ...), which is exactly the ONNX/numpy behaviour.

import { Tensor, allocComputeStorage, type BigStorage, type Storage } from '../tensor.ts';
import { broadcastShapes, shapesEqual, stridesOf, numel, isFloatType, type ElemType, type Shape } from '../types.ts';
import { typeError } from '../op.ts';

/** Indexed storage of either number domain, for code that only moves elements. */
export type AnyArray = { [i: number]: number | bigint; readonly length: number };

/** Mutable numeric view used by integer kernels (all non-bigint storages). */
type NumArray = { [i: number]: number; readonly length: number };

export function isBigStorage(d: Storage): d is BigStorage {
  return d instanceof BigInt64Array || d instanceof BigUint64Array;
}

/** True for element types stored as bigints (i64, u64, ring64). */
export function isBigElem(t: ElemType): boolean {
  return t === 'i64' || t === 'u64' || t === 'ring64';
}

/** The elements as float64 numbers: the storage itself when it is float, a converted copy otherwise. */
export function floatData(t: Tensor): Float32Array | Float64Array {
  const d = t.data;
  if (d instanceof Float64Array || d instanceof Float32Array) return d;
  return t.toFloat64();
}

/** The elements as a Float64Array (converting Float32Array too), for monomorphic hot loops. */
export function float64Data(t: Tensor): Float64Array {
  return t.data instanceof Float64Array ? t.data : t.toFloat64();
}

/** The elements as bigints (converting narrower integer storage). */
export function bigData(t: Tensor): BigInt64Array | BigUint64Array {
  const d = t.data;
  if (isBigStorage(d)) return d;
  const out = new BigInt64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = BigInt(Math.trunc(d[i]!));
  return out;
}

/**
 * The same tensor with the evaluator's storage convention (floats in a Float64Array).
 * Shares data when nothing needs converting.
 */
export function asComputed(t: Tensor, shape: Shape = t.shape): Tensor {
  if (isFloatType(t.dtype) && !(t.data instanceof Float64Array)) return new Tensor(t.dtype, shape, t.toFloat64());
  if (shape === t.shape) return t;
  return new Tensor(t.dtype, shape, t.data);
}

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

/** Float64 unary map (no broadcasting). */
export function unaryFloat(x: Tensor, outElem: ElemType, f: (v: number) => number): Tensor {
  const src = floatData(x);
  const n = src.length;
  const data = new Float64Array(n);
  for (let k = 0; k < n; k++) data[k] = f(src[k]!);
  return new Tensor(outElem, x.shape, data);
}

/** Float64 binary map with broadcasting; integer operands are read as numbers. */
export function binaryFloat(a: Tensor, b: Tensor, outElem: ElemType, outShape: Shape, f: (x: number, y: number) => number): Tensor {
  const n = numel(outShape);
  const data = new Float64Array(n);
  const A = floatData(a);
  const B = floatData(b);
  const ia = broadcastIndex(a.shape, outShape);
  const ib = broadcastIndex(b.shape, outShape);
  if (ia === undefined && ib === undefined) {
    for (let k = 0; k < n; k++) data[k] = f(A[k]!, B[k]!);
  } else if (ia === undefined) {
    for (let k = 0; k < n; k++) data[k] = f(A[k]!, B[ib![k]!]!);
  } else if (ib === undefined) {
    for (let k = 0; k < n; k++) data[k] = f(A[ia[k]!]!, B[k]!);
  } else {
    for (let k = 0; k < n; k++) data[k] = f(A[ia[k]!]!, B[ib[k]!]!);
  }
  return new Tensor(outElem, outShape, data);
}

/**
 * Binary map over integers of at most 32 bits, as JS numbers. `f` must return a value
 * whose low bits are right (e.g. Math.imul for products); the result storage wraps it.
 */
export function binarySmallInt(a: Tensor, b: Tensor, outElem: ElemType, outShape: Shape, f: (x: number, y: number) => number): Tensor {
  const n = numel(outShape);
  const data = allocComputeStorage(outElem, n) as unknown as NumArray;
  const A = a.data as unknown as NumArray;
  const B = b.data as unknown as NumArray;
  const ia = broadcastIndex(a.shape, outShape);
  const ib = broadcastIndex(b.shape, outShape);
  for (let k = 0; k < n; k++) data[k] = f(A[ia === undefined ? k : ia[k]!]!, B[ib === undefined ? k : ib[k]!]!);
  return new Tensor(outElem, outShape, data as unknown as Storage);
}

/** Binary map over 64-bit integers as bigints; the result storage wraps to 64 bits. */
export function binaryBigInt(a: Tensor, b: Tensor, outElem: ElemType, outShape: Shape, f: (x: bigint, y: bigint) => bigint): Tensor {
  const n = numel(outShape);
  const data = allocComputeStorage(outElem, n) as BigStorage;
  const A = bigData(a);
  const B = bigData(b);
  const ia = broadcastIndex(a.shape, outShape);
  const ib = broadcastIndex(b.shape, outShape);
  for (let k = 0; k < n; k++) data[k] = f(A[ia === undefined ? k : ia[k]!]!, B[ib === undefined ? k : ib[k]!]!);
  return new Tensor(outElem, outShape, data);
}

/**
 * Binary predicate over raw elements (numbers or bigints, compared in their own domain)
 * into a bool tensor.
 */
export function binaryPredicate(
  a: Tensor,
  b: Tensor,
  outShape: Shape,
  f: (x: number | bigint, y: number | bigint) => boolean,
): Tensor {
  const n = numel(outShape);
  const data = new Uint8Array(n);
  const A = a.data as AnyArray;
  const B = b.data as AnyArray;
  const ia = broadcastIndex(a.shape, outShape);
  const ib = broadcastIndex(b.shape, outShape);
  for (let k = 0; k < n; k++) data[k] = f(A[ia === undefined ? k : ia[k]!]!, B[ib === undefined ? k : ib[k]!]!) ? 1 : 0;
  return new Tensor('bool', outShape, data);
}

/** Applies f element-wise over broadcast float operands, computing in float64. */
export function mapFloat(inputs: readonly Tensor[], outElem: ElemType, outShape: Shape, f: (...xs: number[]) => number): Tensor {
  if (inputs.length === 1 && shapesEqual(inputs[0]!.shape, outShape)) return unaryFloat(inputs[0]!, outElem, f as (v: number) => number);
  if (inputs.length === 2) return binaryFloat(inputs[0]!, inputs[1]!, outElem, outShape, f as (x: number, y: number) => number);
  const n = numel(outShape);
  const data = new Float64Array(n);
  const srcs = inputs.map(floatData);
  const idx = inputs.map((t) => broadcastIndex(t.shape, outShape));
  const args = new Array<number>(inputs.length);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < inputs.length; j++) {
      const ix = idx[j];
      args[j] = srcs[j]![ix === undefined ? k : ix[k]!]!;
    }
    data[k] = f(...args);
  }
  return new Tensor(outElem, outShape, data);
}

/**
 * Copies elements from `src` into a new tensor of shape `outShape`, walking the source
 * with one stride per output axis starting at `offset` (stride 0 repeats, negative strides
 * walk backwards). Transpose, Slice, Expand and Tile are all this walk.
 */
export function stridedCopy(src: Tensor, outElem: ElemType, outShape: Shape, offset: number, strides: readonly number[]): Tensor {
  const n = numel(outShape);
  const S = (isFloatType(src.dtype) ? floatData(src) : src.data) as AnyArray;
  const data = allocComputeStorage(outElem, n) as unknown as AnyArray;
  const out = new Tensor(outElem, outShape, data as unknown as Storage);
  if (n === 0) return out;
  const rank = outShape.length;
  if (rank === 0) {
    data[0] = S[offset]!;
    return out;
  }
  const last = outShape[rank - 1]!;
  const lastStride = strides[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let base = offset;
  let k = 0;
  while (k < n) {
    let o = base;
    for (let j = 0; j < last; j++, o += lastStride) data[k++] = S[o]!;
    // advance the odometer over all axes but the last
    let a = rank - 2;
    for (; a >= 0; a--) {
      counter[a]!++;
      base += strides[a]!;
      if (counter[a]! < outShape[a]!) break;
      base -= strides[a]! * counter[a]!;
      counter[a] = 0;
    }
    if (a < 0) break;
  }
  return out;
}

/** `[2,3,4]` for messages. */
export function fmtShape(s: Shape): string {
  return `[${s.join(',')}]`;
}
