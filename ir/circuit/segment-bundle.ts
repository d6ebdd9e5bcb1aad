// A model in segments as circuits (token pruning, shapes decided at run time): the rule both
// parties apply to pick the next segment from a revealed count, and the `.segments` file that
// carries every bucket's circuit to the three roles of a deployment (the dealer holds no weights
// to compile with, so the segments are compiled ahead, one circuit per (segment, tokens)).
//
//   bytes 0-7    magic "IG3DSEGS"
//   bytes 8-11   format version (u32 little-endian)
//   bytes 12-15  index length H (u32 little-endian)
//   bytes 16..   index: UTF-8 JSON {name, tokens, buckets, circuits: [{segment, tokens, hash,
//                offset, bytes}]}, padded with spaces to a multiple of 8 bytes
//   then         the circuit files (file.ts), each at its 8-aligned offset from the data start
//
// Like a `.circuit` file, it holds no weights: the server's go beside it.

import { readFileSync, writeFileSync } from 'node:fs';
import { Ig3dcError } from '../diagnostics.ts';
import type { Tensor } from '../tensor.ts';
import type { Circuit } from './circuit.ts';
import { decodeCircuitFile, encodeCircuit } from './file.ts';

export const SEGMENTS_MAGIC = 'IG3DSEGS';
export const SEGMENTS_FORMAT_VERSION = 1;
const PREFIX = 16;

/** A count rounded up to a multiple of the bucket, at most the previous segment's tokens. */
export function bucketOf(count: number, bucket: number, limit: number): number {
  return Math.min(limit, Math.max(bucket, Math.ceil(count / bucket) * bucket));
}

/** The tokens segment k + 1 runs on: the largest revealed count over the batch, bucketed (both parties compute it from the same public counts). */
export function nextSegmentTokens(bucket: number, counts: readonly number[], tokens: number): number {
  return bucketOf(Math.max(...counts), bucket, tokens);
}

export interface SegmentBundleEntry {
  readonly segment: number;
  readonly tokens: number;
  readonly circuit: Circuit;
  /** The circuit file's content hash (what the handshakes compare). */
  readonly hash: string;
}

export interface SegmentBundle {
  readonly name: string;
  /** Tokens segment 0 runs on. */
  readonly tokens: number;
  /** The bucket of each boundary (segments = buckets.length + 1). */
  readonly buckets: readonly number[];
  readonly circuits: readonly SegmentBundleEntry[];
}

/** `segment 1 at 8 tokens`: how errors and reports name a bucket's circuit. */
export function segmentLabel(segment: number, tokens: number): string {
  return `segment ${segment} at ${tokens} tokens`;
}

/** What a bundle holds for one segment, for errors: `segment 1 at 8, 16, 24 tokens`. */
export function heldFor(b: Pick<SegmentBundle, 'circuits'>, segment: number): string {
  const ns = b.circuits.filter((e) => e.segment === segment).map((e) => e.tokens);
  return ns.length === 0 ? `no circuit for segment ${segment}` : `segment ${segment} at ${ns.join(', ')} tokens`;
}

/** The circuit of segment k at n tokens; a clear error naming it when the bundle lacks it. */
export function bundleEntry(b: SegmentBundle, segment: number, tokens: number, file = '<segments>'): SegmentBundleEntry {
  const e = b.circuits.find((x) => x.segment === segment && x.tokens === tokens);
  if (e === undefined) throw new Ig3dcError('input', `the segments bundle has no circuit for ${segmentLabel(segment, tokens)} (it holds ${heldFor(b, segment)}): compile it again with every bucket`, { file });
  return e;
}

const pad8 = (n: number): number => (8 - (n % 8)) % 8;

export function encodeSegmentBundle(name: string, tokens: number, buckets: readonly number[], circuits: readonly { segment: number; tokens: number; circuit: Circuit }[]): Uint8Array {
  const files = circuits.map((c) => encodeCircuit(c.circuit));
  let at = 0;
  const entries = circuits.map((c, i) => {
    const e = { segment: c.segment, tokens: c.tokens, hash: Buffer.from(files[i]!.subarray(16 + 9, 16 + 9 + 64)).toString('latin1'), offset: at, bytes: files[i]!.length };
    at += files[i]!.length + pad8(files[i]!.length);
    return e;
  });
  let json = JSON.stringify({ format: 'ig3dc-segments/1', name, tokens, buckets, circuits: entries });
  json += ' '.repeat(pad8(Buffer.byteLength(json)));
  const index = Buffer.from(json, 'utf8');
  const out = new Uint8Array(PREFIX + index.length + at);
  out.set(Buffer.from(SEGMENTS_MAGIC, 'latin1'), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, SEGMENTS_FORMAT_VERSION, true);
  view.setUint32(12, index.length, true);
  out.set(index, PREFIX);
  entries.forEach((e, i) => out.set(files[i]!, PREFIX + index.length + e.offset));
  return out;
}

export function writeSegmentBundle(path: string, ...args: Parameters<typeof encodeSegmentBundle>): void {
  try {
    writeFileSync(path, encodeSegmentBundle(...args));
  } catch (e) {
    throw new Ig3dcError('io', `cannot write the segments file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
  }
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/** Decodes a bundle: every circuit is decoded and verified, and its hash must be the index's. */
export function decodeSegmentBundle(bytes: Uint8Array, file = '<segments>'): SegmentBundle {
  const fail = (detail: string): never => {
    throw new Ig3dcError('decode', detail, { file });
  };
  if (bytes.length < PREFIX || Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== SEGMENTS_MAGIC) fail(`not a segments file (the magic is not ${SEGMENTS_MAGIC})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== SEGMENTS_FORMAT_VERSION) throw new Ig3dcError('unsupported', `segments file format version ${version} is not supported (this build reads version ${SEGMENTS_FORMAT_VERSION})`, { file });
  const hlen = view.getUint32(12, true);
  if (PREFIX + hlen > bytes.length) fail(`truncated segments file: the index needs ${hlen} bytes, only ${bytes.length - PREFIX} are left`);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.subarray(PREFIX, PREFIX + hlen)).toString('utf8'));
  } catch (e) {
    fail(`corrupt segments file: the index is not valid JSON (${(e as Error).message})`);
  }
  const h = raw as { name?: unknown; tokens?: unknown; buckets?: unknown; circuits?: unknown };
  if (typeof h !== 'object' || h === null || typeof h.name !== 'string' || !isCount(h.tokens) || !Array.isArray(h.buckets) || !h.buckets.every((b) => isCount(b) && b > 0) || !Array.isArray(h.circuits)) {
    fail('corrupt segments file: the index lacks its name, tokens, buckets or circuits');
  }
  const data = bytes.subarray(PREFIX + hlen);
  const segments = (h.buckets as number[]).length + 1;
  const circuits = (h.circuits as unknown[]).map((v, i): SegmentBundleEntry => {
    const e = v as { segment?: unknown; tokens?: unknown; hash?: unknown; offset?: unknown; bytes?: unknown };
    if (typeof e !== 'object' || e === null || !isCount(e.segment) || e.segment >= segments || !isCount(e.tokens) || typeof e.hash !== 'string' || !isCount(e.offset) || !isCount(e.bytes) || e.offset + e.bytes > data.length) {
      fail(`corrupt segments file: circuit entry ${i} is malformed or lies outside the file`);
    }
    const at = `${file} (${segmentLabel(e.segment as number, e.tokens as number)})`;
    const { circuit, header } = decodeCircuitFile(data.subarray(e.offset as number, (e.offset as number) + (e.bytes as number)), at);
    if (header.hash !== e.hash) fail(`corrupt segments file: the circuit of ${segmentLabel(e.segment as number, e.tokens as number)} does not have the hash the index gives`);
    return { segment: e.segment as number, tokens: e.tokens as number, circuit, hash: header.hash };
  });
  return { name: h.name as string, tokens: h.tokens as number, buckets: h.buckets as number[], circuits };
}

export function readSegmentBundle(path: string): SegmentBundle {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Ig3dcError('io', `cannot read the segments file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
  }
  return decodeSegmentBundle(bytes, path);
}

// The server's weights of a bundle go in one tensor bundle beside it. A segment's circuits at
// different buckets take the same weights (the layers' matrices do not depend on the tokens), so
// a tensor is stored once per segment as `k/name`; one that differs between buckets is stored per
// bucket as `k@n/name`.

const sameTensor = (a: Tensor, b: Tensor): boolean => a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));

/** Every bucket's weights under the names above (each tensor shared by a segment's buckets once). */
export function bundleWeights(circuits: readonly { segment: number; tokens: number; weights: ReadonlyMap<string, Tensor> }[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const segments = new Set(circuits.map((c) => c.segment));
  for (const k of segments) {
    const of = circuits.filter((c) => c.segment === k);
    const names = new Set(of.flatMap((c) => [...c.weights.keys()]));
    for (const name of names) {
      const ts = of.map((c) => c.weights.get(name));
      const first = ts[0];
      if (first !== undefined && ts.every((t) => t !== undefined && sameTensor(t, first))) out.set(`${k}/${name}`, first);
      else of.forEach((c, i) => ts[i] !== undefined && out.set(`${k}@${c.tokens}/${name}`, ts[i]!));
    }
  }
  return out;
}

/** The weights of segment k at n tokens, from a bundle written by bundleWeights. */
export function segmentWeights(all: ReadonlyMap<string, Tensor>, c: Circuit, segment: number, tokens: number): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const i of c.inputs) {
    if (i.party !== 0) continue;
    const t = all.get(`${segment}@${tokens}/${i.name}`) ?? all.get(`${segment}/${i.name}`);
    if (t !== undefined) out.set(i.name, t);
  }
  return out;
}
