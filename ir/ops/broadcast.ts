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

/** Float storage as the kernels read it (f32 is widened exactly on read). */
export type FloatArray = Float32Array | Float64Array;

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

/**
 * How an operand of shape `src` is read when broadcast to `out`, when its non-broadcast
 * axes form one contiguous run of `out`'s axes (the common cases: same shape, a scalar, a
 * bias over the trailing axes, a per-row value): output element k reads
 * src[floor(k / inner) % mid]. Undefined for other patterns (e.g. an outer product).
 */
interface Run {
  readonly mid: number;
  readonly inner: number;
}

function runOf(src: Shape, out: Shape): Run | undefined {
  const pad = out.length - src.length;
  let first = -1;
  let last = -1;
  let mid = 1;
  for (let a = 0; a < out.length; a++) {
    const d = out[a]!;
    if (d === 1) continue;
    const s = a < pad ? 1 : src[a - pad]!;
    if (s === 1) {
      if (first >= 0 && last < 0) last = a; // the run ended at a broadcast axis
      continue;
    }
    if (last >= 0) return undefined; // a second run
    if (first < 0) first = a;
    mid *= d;
  }
  if (first < 0) return { mid: 1, inner: numel(out) };
  const end = last < 0 ? out.length : last;
  let inner = 1;
  for (let a = end; a < out.length; a++) inner *= out[a]!;
  return { mid, inner };
}

/** Element-wise arithmetic the float kernels inline (no per-element closure call). */
export type FloatArith = 'add' | 'sub' | 'mul' | 'div';
const ARITH_CODE: Record<FloatArith, number> = { add: 0, sub: 1, mul: 2, div: 3 };

/** x (op) y for an arithmetic code; a small monomorphic function the JIT inlines. */
function arith(code: number, x: number, y: number): number {
  return code === 0 ? x + y : code === 1 ? x - y : code === 2 ? x * y : x / y;
}

/** Float64 binary map with broadcasting; integer operands are read as numbers. */
export function binaryFloat(a: Tensor, b: Tensor, outElem: ElemType, outShape: Shape, f: (x: number, y: number) => number): Tensor {
  return binaryFloatImpl(a, b, outElem, outShape, f, -1);
}

/** binaryFloat for + - * / with the operation inlined into the loop (same results). */
export function arithFloat(a: Tensor, b: Tensor, outElem: ElemType, outShape: Shape, op: FloatArith): Tensor {
  return binaryFloatImpl(a, b, outElem, outShape, undefined, ARITH_CODE[op]);
}

function binaryFloatImpl(
  a: Tensor,
  b: Tensor,
  outElem: ElemType,
  outShape: Shape,
  f: ((x: number, y: number) => number) | undefined,
  code: number,
): Tensor {
  const n = numel(outShape);
  const data = new Float64Array(n);
  const A = floatData(a);
  const B = floatData(b);
  const ra = runOf(a.shape, outShape);
  const rb = runOf(b.shape, outShape);
  if (ra !== undefined && rb !== undefined) {
    if (f === undefined) arithRuns(A, ra, B, rb, data, n, code);
    else mapRuns(A, ra, B, rb, data, n, f);
    return new Tensor(outElem, outShape, data);
  }
  const g = f ?? ((x: number, y: number): number => arith(code, x, y));
  const ia = broadcastIndex(a.shape, outShape);
  const ib = broadcastIndex(b.shape, outShape);
  if (ia === undefined) {
    for (let k = 0; k < n; k++) data[k] = g(A[k]!, B[ib![k]!]!);
  } else if (ib === undefined) {
    for (let k = 0; k < n; k++) data[k] = g(A[ia[k]!]!, B[k]!);
  } else {
    for (let k = 0; k < n; k++) data[k] = g(A[ia[k]!]!, B[ib[k]!]!);
  }
  return new Tensor(outElem, outShape, data);
}

/*
 * The run loops walk each operand with a counter instead of a per-element index array:
 * `ca` counts the repeats of the current element A[ma], and ma wraps at the run length.
 */

function arithRuns(A: FloatArray, ra: Run, B: FloatArray, rb: Run, data: Float64Array, n: number, code: number): void {
  const { mid: Ma, inner: Ia } = ra;
  const { mid: Mb, inner: Ib } = rb;
  if (Ia === 1 && Ib === 1 && Ma === n && Mb === n) {
    for (let k = 0; k < n; k++) data[k] = arith(code, A[k]!, B[k]!);
    return;
  }
  let ma = 0;
  let ca = 0;
  let mb = 0;
  let cb = 0;
  for (let k = 0; k < n; k++) {
    data[k] = arith(code, A[ma]!, B[mb]!);
    if (++ca === Ia) {
      ca = 0;
      if (++ma === Ma) ma = 0;
    }
    if (++cb === Ib) {
      cb = 0;
      if (++mb === Mb) mb = 0;
    }
  }
}

function mapRuns(A: FloatArray, ra: Run, B: FloatArray, rb: Run, data: Float64Array, n: number, f: (x: number, y: number) => number): void {
  const { mid: Ma, inner: Ia } = ra;
  const { mid: Mb, inner: Ib } = rb;
  if (Ia === 1 && Ib === 1 && Ma === n && Mb === n) {
    for (let k = 0; k < n; k++) data[k] = f(A[k]!, B[k]!);
    return;
  }
  let ma = 0;
  let ca = 0;
  let mb = 0;
  let cb = 0;
  for (let k = 0; k < n; k++) {
    data[k] = f(A[ma]!, B[mb]!);
    if (++ca === Ia) {
      ca = 0;
      if (++ma === Ma) ma = 0;
    }
    if (++cb === Ib) {
      cb = 0;
      if (++mb === Mb) mb = 0;
    }
  }
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
  if (isFloatType(src.dtype) && isFloatType(outElem)) return new Tensor(outElem, outShape, stridedCopyFloat(floatData(src), n, outShape, offset, strides));
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

/** stridedCopy between float storages: monomorphic reads, contiguous rows copied whole. */
function stridedCopyFloat(S: FloatArray, n: number, outShape: Shape, offset: number, strides: readonly number[]): Float64Array {
  const data = new Float64Array(n);
  const rank = outShape.length;
  if (n === 0) return data;
  if (rank === 0) {
    data[0] = S[offset]!;
    return data;
  }
  const last = outShape[rank - 1]!;
  const lastStride = strides[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let base = offset;
  let k = 0;
  while (k < n) {
    if (lastStride === 1) {
      data.set(S.subarray(base, base + last), k);
      k += last;
    } else {
      let o = base;
      for (let j = 0; j < last; j++, o += lastStride) data[k++] = S[o]!;
    }
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
  return data;
}

/** `[2,3,4]` for messages. */
export function fmtShape(s: Shape): string {
  return `[${s.join(',')}]`;
}
