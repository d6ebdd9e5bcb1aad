// Tensors as JSON (`{dtype, shape, data}`), the fixtures' cases files (`ig3dc-cases/1`) and
// tensor bundles (`ig3dc-tensor-bundle/1`: a JSON index over a little-endian .bin file).
//
// These formats are read by the CLI and by the runtime, so they live in ir/. Every error
// names the file and the JSON path of the offending value.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseTolerant, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { Ig3dcError } from './diagnostics.ts';
import { Tensor } from './tensor.ts';
import { INT_RANGES, quote, tensorSizeProblem } from './limits.ts';
import { type ElemType, numel } from './types.ts';
import { elemByteSize } from './weights-file.ts';

/** numpy/ONNX dtype names used in the JSON formats, and the IR element type of each. */
const DTYPES: Readonly<Record<string, ElemType>> = {
  float32: 'f32',
  float: 'f32',
  float64: 'f64',
  double: 'f64',
  int8: 'i8',
  int32: 'i32',
  int64: 'i64',
  uint8: 'u8',
  uint32: 'u32',
  uint64: 'u64',
  bool: 'bool',
};

const DTYPE_NAMES: Readonly<Record<ElemType, string>> = {
  f32: 'float32',
  f64: 'float64',
  i8: 'int8',
  i32: 'int32',
  i64: 'int64',
  u8: 'uint8',
  u32: 'uint32',
  u64: 'uint64',
  bool: 'bool',
  ring64: 'uint64',
};

export function dtypeToElem(name: string): ElemType | undefined {
  return DTYPES[name];
}

export function elemToDtype(elem: ElemType): string {
  return DTYPE_NAMES[elem];
}

export interface TensorJson {
  dtype: string;
  shape: number[];
  data: (number | string | boolean | null)[];
}

/** A named set of tensors, e.g. one case's inputs. */
export type TensorMap = Map<string, Tensor>;

export interface Case {
  readonly name: string;
  readonly inputs: TensorMap;
  /** Expected outputs, when the file has them. */
  readonly expected?: TensorMap;
  /** Expected intermediate values (the fixtures' `intermediates`), when present. */
  readonly intermediates?: TensorMap;
}

function inputError(file: string | undefined, path: string, detail: string): Ig3dcError {
  return new Ig3dcError('input', `${path ? `${path}: ` : ''}${detail}`, file !== undefined ? { file } : {});
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${quote(JSON.stringify(v) ?? String(v), 60)}`;
}

/**
 * Parses JSON text; a syntax error becomes an Ig3dcError with line:column (located with
 * jsonc-parser, since JSON.parse's messages carry no position on every Node version).
 */
export function parseJsonText(text: string, file?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const errors: ParseError[] = [];
    parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false });
    const first = errors[0];
    let place: { file?: string; line?: number; column?: number } = file !== undefined ? { file } : {};
    let detail = e instanceof Error ? e.message : String(e);
    if (first !== undefined) {
      const before = text.slice(0, first.offset);
      place = { ...place, line: before.split('\n').length, column: first.offset - before.lastIndexOf('\n') };
      const found = first.offset < text.length ? `'${text.slice(first.offset, first.offset + Math.max(1, first.length)).slice(0, 20)}'` : 'the end of the file';
      detail = `${printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()} at ${found}`;
    }
    throw new Ig3dcError('input', `not valid JSON: ${detail}`, place);
  }
}

/** Reads a file as text; a missing or unreadable file becomes an Ig3dcError('io'). */
export function readTextFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
  }
}

/** A tensor from its JSON form; `path` is the JSON path used in error messages. */
export function tensorFromJson(value: unknown, path: string, file?: string): Tensor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw inputError(file, path, `expected a tensor {dtype, shape, data}, got ${describe(value)}`);
  }
  const v = value as Record<string, unknown>;
  const dtype = v['dtype'];
  if (typeof dtype !== 'string' || dtypeToElem(dtype) === undefined) {
    throw inputError(file, `${path}.dtype`, `expected one of ${Object.keys(DTYPES).join(', ')}, got ${describe(dtype)}`);
  }
  const elem = dtypeToElem(dtype)!;
  const shape = v['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw inputError(file, `${path}.shape`, `expected a list of non-negative integers, got ${describe(shape)}`);
  }
  const data = v['data'];
  if (!Array.isArray(data)) throw inputError(file, `${path}.data`, `expected a flat list of numbers, got ${describe(data)}`);
  const tooLarge = tensorSizeProblem(shape as number[]);
  if (tooLarge !== undefined) throw inputError(file, `${path}.shape`, tooLarge);
  const n = numel(shape as number[]);
  if (data.length !== n) {
    throw inputError(file, `${path}.data`, `shape [${shape.join(',')}] needs ${n} elements, got ${data.length}`);
  }
  const values = new Array<number | bigint>(n);
  const isInt = elem !== 'f32' && elem !== 'f64' && elem !== 'bool';
  const range = INT_RANGES[elem];
  /** An integer element, checked against its type (never wrapped). */
  const integer = (v: bigint, i: number): number | bigint => {
    if (range !== undefined && (v < range[0] || v > range[1])) {
      throw inputError(file, `${path}.data[${i}]`, `${quote(v.toString(), 40)} does not fit ${dtype} (${range[0]}..${range[1]})`);
    }
    return elem === 'i64' || elem === 'u64' ? v : Number(v);
  };
  for (let i = 0; i < n; i++) {
    const x: unknown = data[i];
    if (elem === 'bool' && typeof x === 'boolean') values[i] = x ? 1 : 0;
    else if (elem === 'bool' && (x === 0 || x === 1)) values[i] = x;
    else if (elem === 'bool') throw inputError(file, `${path}.data[${i}]`, `expected true, false, 0 or 1 (bool), got ${describe(x)}`);
    else if (isInt && typeof x === 'number' && Number.isInteger(x)) {
      // Past 2^53 a JSON number has already lost digits: such integers must be strings.
      if (!Number.isSafeInteger(x)) throw inputError(file, `${path}.data[${i}]`, `${x} is beyond 2^53 and not exact as a JSON number: write it as a string`);
      values[i] = integer(BigInt(x), i);
    } else if (typeof x === 'number' && !isInt) values[i] = x;
    else if (isInt && typeof x === 'string' && /^-?\d{1,40}$/.test(x)) values[i] = integer(BigInt(x), i);
    else if (!isInt && (x === 'nan' || x === 'NaN' || x === null)) values[i] = NaN;
    else if (!isInt && (x === 'inf' || x === 'Infinity')) values[i] = Infinity;
    else if (!isInt && (x === '-inf' || x === '-Infinity')) values[i] = -Infinity;
    else throw inputError(file, `${path}.data[${i}]`, `expected ${isInt ? 'an integer' : 'a number'} (${dtype}), got ${describe(x)}`);
  }
  return Tensor.from(elem, shape as number[], values);
}

/** The JSON form of a tensor; floats as JS numbers (non-finite as strings), 64-bit ints as numbers when exact. */
export function tensorToJson(t: Tensor): TensorJson {
  const data: (number | string | boolean)[] = new Array(t.size);
  for (let i = 0; i < t.size; i++) {
    const v = t.data[i]!;
    if (typeof v === 'bigint') data[i] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    else if (t.dtype === 'bool') data[i] = v !== 0;
    else if (Number.isNaN(v)) data[i] = 'nan';
    else if (v === Infinity) data[i] = 'inf';
    else if (v === -Infinity) data[i] = '-inf';
    else data[i] = t.dtype === 'f32' ? Math.fround(v) : v;
  }
  return { dtype: elemToDtype(t.dtype), shape: [...t.shape], data: data as TensorJson['data'] };
}

function tensorMapFromJson(value: unknown, path: string, file?: string): TensorMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw inputError(file, path, `expected an object of named tensors, got ${describe(value)}`);
  }
  const out: TensorMap = new Map();
  for (const [name, t] of Object.entries(value)) out.set(name, tensorFromJson(t, path === '' ? quote(name) : `${path}.${quote(name)}`, file));
  return out;
}

/**
 * Reads an inputs file: either a cases file (`{"format": "ig3dc-cases/1", "cases": [...]}`)
 * or a plain JSON object of named tensors, which becomes one case named after the file.
 */
export function parseCases(text: string, file?: string): Case[] {
  const json = parseJsonText(text, file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw inputError(file, '', `expected a JSON object: a cases file ("format": "ig3dc-cases/1") or named tensors, got ${describe(json)}`);
  }
  const obj = json as Record<string, unknown>;
  if (!('format' in obj) && !('cases' in obj)) {
    return [{ name: 'inputs', inputs: tensorMapFromJson(obj, '', file) }];
  }
  if (obj['format'] !== 'ig3dc-cases/1') {
    throw inputError(file, 'format', `expected "ig3dc-cases/1", got ${describe(obj['format'])}`);
  }
  const cases = obj['cases'];
  if (!Array.isArray(cases)) throw inputError(file, 'cases', `expected a list of cases, got ${describe(cases)}`);
  if (cases.length === 0) throw inputError(file, 'cases', 'the list of cases is empty: give at least one case');
  return cases.map((c: unknown, i): Case => {
    const path = `cases[${i}]`;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw inputError(file, path, `expected a case object, got ${describe(c)}`);
    const co = c as Record<string, unknown>;
    const name = typeof co['name'] === 'string' ? co['name'] : `case${i}`;
    return {
      name,
      inputs: tensorMapFromJson(co['inputs'], `${path}.inputs`, file),
      ...(co['outputs'] !== undefined ? { expected: tensorMapFromJson(co['outputs'], `${path}.outputs`, file) } : {}),
      ...(co['intermediates'] !== undefined ? { intermediates: tensorMapFromJson(co['intermediates'], `${path}.intermediates`, file) } : {}),
    };
  });
}

export function readCasesFile(path: string): Case[] {
  return parseCases(readTextFile(path), path);
}

/** A tensor bundle: named tensors stored in a little-endian .bin file, with its JSON index. */
export interface TensorBundle {
  readonly tensors: TensorMap;
  /** Every other field of the JSON index (model, label_names, ...). */
  readonly meta: Readonly<Record<string, unknown>>;
}

/** Reads an `ig3dc-tensor-bundle/1` index and its .bin (resolved next to the index). */
export function readTensorBundle(indexPath: string): TensorBundle {
  const text = readTextFile(indexPath);
  const json = parseJsonText(text, indexPath);
  const binName = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['bin'] : undefined;
  if (typeof binName !== 'string') return parseTensorBundle(text, new Uint8Array(0), indexPath);
  const binPath = resolve(dirname(indexPath), binName);
  let bin: Buffer;
  try {
    bin = readFileSync(binPath);
  } catch (e) {
    throw new Ig3dcError('io', `cannot read the bundle's data file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: binPath });
  }
  return parseTensorBundle(text, bin, indexPath);
}

/** A bundle from its index text and the bytes of its .bin. */
export function parseTensorBundle(text: string, bin: Uint8Array, indexPath?: string): TensorBundle {
  const json = parseJsonText(text, indexPath);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw inputError(indexPath, '', 'expected a JSON object');
  const obj = json as Record<string, unknown>;
  if (obj['format'] !== 'ig3dc-tensor-bundle/1') {
    throw inputError(indexPath, 'format', `expected "ig3dc-tensor-bundle/1", got ${describe(obj['format'])}`);
  }
  if (typeof obj['bin'] !== 'string') throw inputError(indexPath, 'bin', `expected the name of the .bin file, got ${describe(obj['bin'])}`);
  const specs = obj['tensors'];
  if (typeof specs !== 'object' || specs === null || Array.isArray(specs)) throw inputError(indexPath, 'tensors', 'expected an object of tensor entries');
  const tensors: TensorMap = new Map();
  for (const [name, spec] of Object.entries(specs as Record<string, unknown>)) {
    const path = `tensors.${quote(name)}`;
    if (typeof spec !== 'object' || spec === null) throw inputError(indexPath, path, 'expected {dtype, shape, offset, nbytes}');
    const s = spec as Record<string, unknown>;
    const elem = typeof s['dtype'] === 'string' ? dtypeToElem(s['dtype']) : undefined;
    if (elem === undefined) throw inputError(indexPath, `${path}.dtype`, `expected one of ${Object.keys(DTYPES).join(', ')}, got ${describe(s['dtype'])}`);
    const shape = s['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw inputError(indexPath, `${path}.shape`, 'expected a list of non-negative integers');
    const offset = s['offset'];
    const nbytes = s['nbytes'];
    if (!Number.isInteger(offset) || (offset as number) < 0) throw inputError(indexPath, `${path}.offset`, `expected a byte offset, got ${describe(offset)}`);
    const tooLarge = tensorSizeProblem(shape as number[]);
    if (tooLarge !== undefined) throw inputError(indexPath, `${path}.shape`, tooLarge);
    const want = numel(shape as number[]) * elemByteSize(elem);
    if (nbytes !== want) throw inputError(indexPath, `${path}.nbytes`, `shape [${shape.join(',')}] of ${s['dtype']} needs ${want} bytes, got ${describe(nbytes)}`);
    const t = Tensor.zeros(elem, shape as number[]);
    if ((offset as number) + want > bin.length) {
      throw inputError(indexPath, path, `bytes ${offset}..${(offset as number) + want} lie beyond the end of ${quote(obj['bin'] as string)} (${bin.length} bytes)`);
    }
    // copy: the bin buffer may not be aligned for the element size
    new Uint8Array(t.data.buffer, t.data.byteOffset, want).set(bin.subarray(offset as number, (offset as number) + want));
    tensors.set(name, t);
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'tensors') meta[k] = v;
  return { tensors, meta };
}
