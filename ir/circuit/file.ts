// The binary `.circuit` file: what the compiler writes and the runtime reads.
//
//   bytes 0-7    magic "IG3DCIRC"
//   bytes 8-11   format version (u32 little-endian)
//   bytes 12-15  header length H (u32 little-endian)
//   bytes 16..   header: UTF-8 JSON (registers, instructions, attrs, provenance, schedule and
//                cost summary, content hash), padded with spaces to a multiple of 8 bytes
//   then         constant data: the ring elements of each `const`, little-endian u64, in
//                instruction order (8-byte aligned, since the header is padded)
//
// The content hash is the sha256 of the whole file with the hash's 64 hex digits set to
// '0'; it is the first header field. The server's weights never go into this file.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Ig3dcError, type ErrorKind } from '../diagnostics.ts';
import { numel } from '../types.ts';
import { inputsOf, outputsOf, type Circuit } from './circuit.ts';
import { circuitCost } from './cost.ts';
import { schedule } from './schedule.ts';
import { isOpKind, isRegKind, type CAttrValue, type Instruction, type Provenance, type RegType } from './types.ts';
import { verifyCircuit } from './verify.ts';

export const CIRCUIT_MAGIC = 'IG3DCIRC';
export const CIRCUIT_FORMAT_VERSION = 1;
const PREFIX = 16;
const ZERO_HASH = '0'.repeat(64);
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The JSON header (besides the data it describes, the summary a tool can show without decoding). */
export interface CircuitFileHeader {
  readonly hash: string;
  readonly name: string;
  readonly f: number;
  readonly outputs: readonly string[];
  /** [kind, shape, scale] per register. */
  readonly registers: readonly (readonly [string, readonly number[], number])[];
  readonly instructions: readonly FileInstruction[];
  readonly schedule: { readonly rounds: number; readonly preprocessingRounds: number; readonly depth: readonly number[] };
  readonly cost: { readonly rounds: number; readonly preprocessingRounds: number; readonly bytesTotal: number; readonly dealerBytes: number };
  readonly dataBytes: number;
}

interface FileInstruction {
  readonly op: string;
  readonly in: readonly number[];
  readonly out: readonly number[];
  readonly attrs: Readonly<Record<string, CAttrValue>>;
  readonly prov: { readonly irNode: string; readonly layer?: number; readonly opKind: string; readonly protocol: string };
  /** const only: [byte offset into the data section, number of elements]. */
  readonly data?: readonly [number, number];
}

function pad8(n: number): number {
  return (8 - (n % 8)) % 8;
}

/** Serializes a circuit (with its schedule, cost summary and content hash). */
export function encodeCircuit(c: Circuit): Uint8Array {
  const s = schedule(c);
  const cost = circuitCost(c, s);
  let dataBytes = 0;
  const chunks: BigUint64Array[] = [];
  const instructions: FileInstruction[] = c.instructions.map((ins) => {
    const base = {
      op: ins.op,
      in: [...ins.inputs],
      out: [...ins.outputs],
      attrs: ins.attrs,
      prov: {
        irNode: ins.prov.irNode,
        ...(ins.prov.layer === undefined ? {} : { layer: ins.prov.layer }),
        opKind: ins.prov.opKind,
        protocol: ins.prov.protocol,
      },
    };
    if (ins.data === undefined) return base;
    const at = dataBytes;
    chunks.push(ins.data);
    dataBytes += ins.data.byteLength;
    return { ...base, data: [at, ins.data.length] as const };
  });
  const header: CircuitFileHeader = {
    hash: ZERO_HASH,
    name: c.name,
    f: c.f,
    outputs: c.outputs.map((o) => o.name),
    registers: c.registers.map((r) => [r.kind, [...r.shape], r.scale] as const),
    instructions,
    schedule: { rounds: s.rounds, preprocessingRounds: s.preprocessingRounds, depth: Array.from(s.depth) },
    cost: { rounds: cost.rounds, preprocessingRounds: cost.preprocessingRounds, bytesTotal: cost.bytesTotal, dealerBytes: cost.dealerBytes },
    dataBytes,
  };
  let json = JSON.stringify(header);
  json += ' '.repeat(pad8(Buffer.byteLength(json)));
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(PREFIX + headerBytes.length + dataBytes);
  out.set(Buffer.from(CIRCUIT_MAGIC, 'latin1'), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, CIRCUIT_FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, PREFIX);
  let at = PREFIX + headerBytes.length;
  for (const d of chunks) {
    if (HOST_LITTLE_ENDIAN) out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    else for (let i = 0; i < d.length; i++) view.setBigUint64(at + 8 * i, d[i]!, true);
    at += d.byteLength;
  }
  const hash = createHash('sha256').update(out).digest('hex');
  // The hash is the first field: `{"hash":"` is 9 bytes.
  out.set(Buffer.from(hash, 'latin1'), PREFIX + 9);
  return out;
}

/** The content hash a circuit's file carries (what every role checks a circuit by). */
export function circuitContentHash(c: Circuit): string {
  return Buffer.from(encodeCircuit(c).subarray(PREFIX + 9, PREFIX + 9 + 64)).toString('latin1');
}

export function writeCircuitFile(path: string, c: Circuit): void {
  try {
    writeFileSync(path, encodeCircuit(c));
  } catch (e) {
    throw new Ig3dcError('io', `cannot write the circuit file: ${(e as Error).message}`, { file: path });
  }
}

export function readCircuitFile(path: string): Circuit {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Ig3dcError('io', `cannot read the circuit file: ${(e as Error).message}`, { file: path });
  }
  return decodeCircuit(bytes, path);
}

/** Decodes a circuit; rejects a corrupt, truncated or wrong-version file with an Ig3dcError naming `file`. */
export function decodeCircuit(bytes: Uint8Array, file = '<circuit>'): Circuit {
  return decodeCircuitFile(bytes, file).circuit;
}

export function decodeCircuitFile(bytes: Uint8Array, file = '<circuit>'): { circuit: Circuit; header: CircuitFileHeader } {
  const fail = (kind: ErrorKind, detail: string): never => {
    throw new Ig3dcError(kind, detail, { file });
  };
  if (bytes.length < PREFIX) fail('decode', `truncated circuit file: ${bytes.length} bytes, not even the ${PREFIX}-byte prefix`);
  if (Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== CIRCUIT_MAGIC) fail('decode', `not a circuit file (the magic is not ${CIRCUIT_MAGIC})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CIRCUIT_FORMAT_VERSION) {
    fail('unsupported', `circuit file format version ${version} is not supported (this build reads version ${CIRCUIT_FORMAT_VERSION})`);
  }
  const hlen = view.getUint32(12, true);
  if (PREFIX + hlen > bytes.length) fail('decode', `truncated circuit file: the header needs ${hlen} bytes, only ${bytes.length - PREFIX} are left`);
  if (hlen % 8 !== 0) fail('decode', `corrupt circuit file: header length ${hlen} is not a multiple of 8`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.subarray(PREFIX, PREFIX + hlen)).toString('utf8'));
  } catch (e) {
    fail('decode', `corrupt circuit file: the header is not valid JSON (${(e as Error).message})`);
  }
  const h = raw as Partial<CircuitFileHeader>;
  if (typeof h !== 'object' || h === null || typeof h.hash !== 'string' || !Number.isInteger(h.dataBytes)) {
    fail('decode', 'corrupt circuit file: the header lacks its hash or data size');
  }
  const dataStart = PREFIX + hlen;
  const have = bytes.length - dataStart;
  if (have < h.dataBytes!) fail('decode', `truncated circuit file: constant data needs ${h.dataBytes} bytes, only ${have} are present`);
  if (have > h.dataBytes!) fail('decode', `corrupt circuit file: ${have - h.dataBytes!} bytes after the constant data`);
  const copy = Uint8Array.from(bytes);
  copy.set(Buffer.from(ZERO_HASH, 'latin1'), PREFIX + 9);
  if (Buffer.from(bytes.subarray(PREFIX, PREFIX + 9)).toString('latin1') !== '{"hash":"' || createHash('sha256').update(copy).digest('hex') !== h.hash) {
    fail('decode', 'corrupt circuit file: the content hash does not match');
  }
  let circuit: Circuit;
  try {
    circuit = circuitFromHeader(h as CircuitFileHeader, bytes.subarray(dataStart));
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within({ file });
    fail('decode', `corrupt circuit file: ${(e as Error).message}`);
  }
  verifyCircuit(circuit!, file);
  return { circuit: circuit!, header: h as CircuitFileHeader };
}

function bad(what: string): never {
  throw new Ig3dcError('decode', `corrupt circuit file: ${what}`);
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) bad(`${what} must be a list of integers`);
  return v as number[];
}

function attrValue(v: unknown, what: string): CAttrValue {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v) && (v.every((x) => typeof x === 'number') || v.every((x) => typeof x === 'string'))) return v as number[] | string[];
  bad(`${what} has a bad value`);
}

function circuitFromHeader(h: CircuitFileHeader, data: Uint8Array): Circuit {
  if (typeof h.name !== 'string' || !Number.isInteger(h.f)) bad('the header lacks name or f');
  if (!Array.isArray(h.outputs) || h.outputs.some((o) => typeof o !== 'string')) bad('outputs must be a list of names');
  if (!Array.isArray(h.registers) || !Array.isArray(h.instructions)) bad('the header lacks registers or instructions');
  const registers: RegType[] = h.registers.map((r, i) => {
    if (!Array.isArray(r) || r.length !== 3 || typeof r[0] !== 'string' || !isRegKind(r[0]) || !Number.isInteger(r[2])) bad(`register ${i} is malformed`);
    return { kind: r[0], shape: intList(r[1], `register ${i} shape`), scale: r[2] };
  });
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const instructions: Instruction[] = h.instructions.map((fi, i) => {
    if (typeof fi !== 'object' || fi === null || typeof fi.op !== 'string') bad(`instruction ${i} is malformed`);
    const attrs: Record<string, CAttrValue> = {};
    if (typeof fi.attrs !== 'object' || fi.attrs === null) bad(`instruction ${i} attrs are malformed`);
    for (const [k, v] of Object.entries(fi.attrs)) attrs[k] = attrValue(v, `instruction ${i} attribute ${k}`);
    const p = fi.prov;
    if (typeof p !== 'object' || p === null || typeof p.irNode !== 'string' || typeof p.protocol !== 'string' || !isOpKind(p.opKind)) {
      bad(`instruction ${i} provenance is malformed`);
    }
    if (p.layer !== undefined && !Number.isInteger(p.layer)) bad(`instruction ${i} layer is malformed`);
    const prov: Provenance = { irNode: p.irNode, opKind: p.opKind, protocol: p.protocol, ...(p.layer === undefined ? {} : { layer: p.layer }) };
    const ins: Instruction = { op: fi.op, inputs: intList(fi.in, `instruction ${i} inputs`), outputs: intList(fi.out, `instruction ${i} outputs`), attrs, prov };
    if (fi.data === undefined) return ins;
    const [off, n] = intList(fi.data, `instruction ${i} data`);
    if (off === undefined || n === undefined || off < 0 || n < 0 || off % 8 !== 0 || off + 8 * n > data.length) bad(`instruction ${i} data lies outside the data section`);
    const d = new BigUint64Array(n);
    for (let j = 0; j < n; j++) d[j] = view.getBigUint64(off + 8 * j, true);
    return { ...ins, data: d };
  });
  for (const ins of instructions) {
    for (const r of [...ins.inputs, ...ins.outputs]) if (r < 0 || r >= registers.length) bad(`register %${r} does not exist`);
    if (ins.op === 'const' && ins.data !== undefined && ins.outputs.length === 1 && ins.data.length !== numel(registers[ins.outputs[0]!]!.shape)) {
      bad(`const %${ins.outputs[0]} has ${ins.data.length} elements`);
    }
  }
  return { name: h.name, f: h.f, registers, instructions, inputs: inputsOf(instructions), outputs: outputsOf(h.outputs, instructions) };
}
