// Dense tensors: the data of IR constants and the values the evaluator computes.
//
// Storage follows the element type so that integers stay exact (i64 as BigInt64Array) and
// float32 weights stay compact. The evaluator computes floats in float64: a float value it
// produces is stored in a Float64Array whatever its declared element type.

import { checkTensorSize, maxTensorElements } from './limits.ts';
import { type ElemType, type Shape, numel, isFloatType } from './types.ts';

export type FloatStorage = Float32Array | Float64Array;
export type IntStorage = Int8Array | Int32Array | Uint8Array | Uint32Array;
export type BigStorage = BigInt64Array | BigUint64Array;
export type Storage = FloatStorage | IntStorage | BigStorage;

export class Tensor {
  readonly dtype: ElemType;
  readonly shape: readonly number[];
  readonly data: Storage;

  constructor(dtype: ElemType, shape: Shape, data: Storage) {
    if (data.length !== numel(shape)) {
      throw new RangeError(`tensor data has ${data.length} elements, shape [${shape.join(',')}] needs ${numel(shape)}`);
    }
    this.dtype = dtype;
    this.shape = [...shape];
    this.data = data;
  }

  get size(): number {
    return this.data.length;
  }

  /** Element i as a JS number (exact for integers below 2^53; i64/u64 above that lose precision). */
  at(i: number): number {
    const v = this.data[i]!;
    return typeof v === 'bigint' ? Number(v) : v;
  }

  /** Element i as a bigint (integer types only; floats are truncated toward zero). */
  bigAt(i: number): bigint {
    const v = this.data[i]!;
    return typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
  }

  /** All elements as JS numbers. */
  toNumbers(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.at(i);
    return out;
  }

  /** Elements as a Float64Array (a view of the same data when it is one already). */
  toFloat64(): Float64Array {
    if (this.data instanceof Float64Array) return this.data;
    const out = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.at(i);
    return out;
  }

  static zeros(dtype: ElemType, shape: Shape): Tensor {
    return new Tensor(dtype, shape, allocStorage(dtype, numel(shape)));
  }

  /** A tensor from JS numbers (or bigints for 64-bit integer types). */
  static from(dtype: ElemType, shape: Shape, values: ArrayLike<number | bigint>): Tensor {
    const data = allocStorage(dtype, values.length);
    writeValues(data, dtype, values);
    return new Tensor(dtype, shape, data);
  }

  static scalar(dtype: ElemType, value: number | bigint): Tensor {
    return Tensor.from(dtype, [], [value]);
  }
}

/** Compact storage for a dtype, as ONNX holds it (f32 as Float32Array). */
export function allocStorage(dtype: ElemType, n: number): Storage {
  // The backstop for a size no reader checked: a clear error instead of an engine exception.
  if (n > maxTensorElements()) checkTensorSize([n]);
  switch (dtype) {
    case 'f32':
      return new Float32Array(n);
    case 'f64':
      return new Float64Array(n);
    case 'i8':
      return new Int8Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'u8':
    case 'bool':
      return new Uint8Array(n);
    case 'u32':
      return new Uint32Array(n);
    case 'i64':
      return new BigInt64Array(n);
    case 'u64':
    case 'ring64':
      return new BigUint64Array(n);
  }
}

/** Storage the evaluator writes results into: float64 for floats, exact storage for the rest. */
export function allocComputeStorage(dtype: ElemType, n: number): Storage {
  return isFloatType(dtype) ? new Float64Array(n) : allocStorage(dtype, n);
}

/** Writes values into storage, converting numbers and bigints as the dtype requires. */
export function writeValues(data: Storage, dtype: ElemType, values: ArrayLike<number | bigint>): void {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      data[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
    }
  } else if (dtype === 'bool') {
    for (let i = 0; i < values.length; i++) data[i] = Number(values[i]) !== 0 ? 1 : 0;
  } else {
    for (let i = 0; i < values.length; i++) (data as FloatStorage | IntStorage)[i] = Number(values[i]);
  }
}
