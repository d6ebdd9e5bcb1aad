// ONNX TensorProto <-> Tensor.
//
// Weights arrive as raw_data: a zero-copy view into the file buffer, often not aligned to
// the element size. Each one is copied exactly once, with one bulk set() into storage of
// the right type (no per-element work), so a 440 MB model costs 440 MB more, not 2x that.

import { Ig3dcError, type SourcePlace } from '../../ir/diagnostics.ts';
import { Tensor, allocStorage, type Storage } from '../../ir/tensor.ts';
import type { ElemType } from '../../ir/types.ts';
import { longToBigInt, longToNumber, type LongLike, type TensorProto } from './decode.ts';

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

const DTYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k]));

const TO_ELEM: Record<number, ElemType> = {
  [ONNX_DTYPE.FLOAT]: 'f32',
  [ONNX_DTYPE.DOUBLE]: 'f64',
  [ONNX_DTYPE.INT8]: 'i8',
  [ONNX_DTYPE.INT32]: 'i32',
  [ONNX_DTYPE.INT64]: 'i64',
  [ONNX_DTYPE.UINT8]: 'u8',
  [ONNX_DTYPE.UINT32]: 'u32',
  [ONNX_DTYPE.UINT64]: 'u64',
  [ONNX_DTYPE.BOOL]: 'bool',
};

const FROM_ELEM: Partial<Record<ElemType, number>> = Object.fromEntries(
  Object.entries(TO_ELEM).map(([code, elem]) => [elem, Number(code)]),
);

/** Name of an ONNX data type code, e.g. 'FLOAT16'. */
export function onnxDtypeName(code: number): string {
  return DTYPE_NAMES[code] ?? `data type ${code}`;
}

/** Our element type for an ONNX data type code, or undefined when we do not support it. */
export function elemFromOnnx(code: number): ElemType | undefined {
  return TO_ELEM[code];
}

/** The ONNX data type code of an element type (undefined for ring64). */
export function onnxFromElem(elem: ElemType): number | undefined {
  return FROM_ELEM[elem];
}

export const SUPPORTED_ONNX_DTYPES = 'FLOAT, DOUBLE, INT8, INT32, INT64, UINT8, UINT32, UINT64, BOOL';

const BYTES: Record<ElemType, number> = { f32: 4, f64: 8, i8: 1, i32: 4, i64: 8, u8: 1, u32: 4, u64: 8, bool: 1, ring64: 8 };

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Converts a TensorProto into a Tensor. `what` names the tensor in errors (e.g.
 * "initializer 'bert.pooler.dense.weight'"). Unsupported data types or external data ->
 * Ig3dcError 'unsupported'; inconsistent sizes -> 'decode'.
 */
export function tensorFromProto(proto: TensorProto, what: string, place: SourcePlace = {}): Tensor {
  const code = typeof proto.dataType === 'number' ? proto.dataType : 0;
  const elem = TO_ELEM[code];
  if (elem === undefined) {
    throw new Ig3dcError('unsupported', `${what} has data type ${onnxDtypeName(code)}, which is not supported (supported: ${SUPPORTED_ONNX_DTYPES})`, place);
  }
  if (proto.dataLocation === 1 || (proto.externalData ?? []).length > 0) {
    throw new Ig3dcError('unsupported', `${what} uses external data, which is not supported (save the model with its weights inside the .onnx file)`, place);
  }
  if ((proto.segment ?? null) !== null) {
    throw new Ig3dcError('unsupported', `${what} is a segmented tensor, which is not supported`, place);
  }
  const shape: number[] = [];
  let n = 1;
  for (const d of proto.dims ?? []) {
    const v = longToNumber(d);
    if (!Number.isSafeInteger(v) || v < 0) throw new Ig3dcError('decode', `${what} has an invalid dimension ${v}`, place);
    shape.push(v);
    n *= v;
  }
  const bad = (have: number, field: string): never => {
    throw new Ig3dcError('decode', `${what} has ${have} elements in ${field}, but its shape [${shape.join(',')}] needs ${n}`, place);
  };
  const raw = proto.rawData;
  if (raw !== null && raw !== undefined && raw.length > 0) {
    const size = BYTES[elem];
    if (raw.length !== n * size) bad(raw.length / size, 'raw_data');
    return new Tensor(elem, shape, fromRaw(elem, raw, n));
  }
  const data = typedField(proto, elem);
  if (data.length !== n) bad(data.length, fieldName(elem));
  const storage = allocStorage(elem, n);
  if (storage instanceof BigInt64Array || storage instanceof BigUint64Array) {
    const unsigned = storage instanceof BigUint64Array;
    for (let i = 0; i < n; i++) {
      const v = longToBigInt(data[i] as number | LongLike, unsigned);
      storage[i] = unsigned ? BigInt.asUintN(64, v) : v;
    }
  } else if (elem === 'bool') {
    for (let i = 0; i < n; i++) storage[i] = Number(data[i]) !== 0 ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) storage[i] = Number(data[i]);
  }
  return new Tensor(elem, shape, storage);
}

/** One bulk copy of little-endian bytes into storage of the element type. */
function fromRaw(elem: ElemType, raw: Uint8Array, n: number): Storage {
  const storage = allocStorage(elem, n);
  const bytes = new Uint8Array(storage.buffer, storage.byteOffset, storage.byteLength);
  if (littleEndian || BYTES[elem] === 1) {
    bytes.set(raw);
  } else {
    // big-endian host: reverse each element's bytes
    const size = BYTES[elem];
    for (let i = 0; i < n; i++) for (let b = 0; b < size; b++) bytes[i * size + b] = raw[i * size + size - 1 - b]!;
  }
  if (elem === 'bool') for (let i = 0; i < n; i++) if (storage[i] !== 0) storage[i] = 1;
  return storage;
}

function fieldName(elem: ElemType): string {
  switch (elem) {
    case 'f32':
      return 'float_data';
    case 'f64':
      return 'double_data';
    case 'i64':
      return 'int64_data';
    case 'u32':
    case 'u64':
      return 'uint64_data';
    default:
      return 'int32_data';
  }
}

function typedField(proto: TensorProto, elem: ElemType): ArrayLike<number | LongLike> {
  const pick = (v: ArrayLike<number | LongLike> | null | undefined): ArrayLike<number | LongLike> => v ?? [];
  switch (elem) {
    case 'f32':
      return pick(proto.floatData);
    case 'f64':
      return pick(proto.doubleData);
    case 'i64':
      return pick(proto.int64Data as ArrayLike<number | LongLike> | null | undefined);
    case 'u32':
    case 'u64':
      return pick(proto.uint64Data as ArrayLike<number | LongLike> | null | undefined);
    default:
      return pick(proto.int32Data);
  }
}

/**
 * A Tensor as a TensorProto with little-endian raw_data. Float data computed in float64
 * for an f32 tensor is rounded to float32 here.
 */
export function tensorToProto(t: Tensor, name = ''): TensorProto {
  const code = FROM_ELEM[t.dtype];
  if (code === undefined) throw new Ig3dcError('unsupported', `tensor '${name}' of type ${t.dtype} has no ONNX data type`);
  const storage = allocStorage(t.dtype, t.size);
  if (storage.constructor === t.data.constructor) {
    (storage as Uint8Array).set(t.data as Uint8Array);
  } else if (storage instanceof BigInt64Array || storage instanceof BigUint64Array) {
    for (let i = 0; i < t.size; i++) storage[i] = storage instanceof BigInt64Array ? BigInt.asIntN(64, t.bigAt(i)) : BigInt.asUintN(64, t.bigAt(i));
  } else {
    for (let i = 0; i < t.size; i++) storage[i] = t.dtype === 'bool' ? (t.at(i) !== 0 ? 1 : 0) : t.at(i);
  }
  let rawData = new Uint8Array(storage.buffer, storage.byteOffset, storage.byteLength);
  if (!littleEndian && BYTES[t.dtype] > 1) {
    const size = BYTES[t.dtype];
    const le = new Uint8Array(rawData.length);
    for (let i = 0; i < t.size; i++) for (let b = 0; b < size; b++) le[i * size + b] = rawData[i * size + size - 1 - b]!;
    rawData = le;
  }
  return { name, dims: [...t.shape], dataType: code, rawData };
}
