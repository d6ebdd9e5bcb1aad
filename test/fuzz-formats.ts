// Fuzzing the input formats a user hands ig3dc: IR text, annotation files (JSON and text),
// cases files, tensor bundles, .circuit files, and the CSV and PNG files of `ig3dc data`. Each target has valid seed inputs and a
// reader; a fuzzer mutates the seeds by bytes (flip, set, insert, delete, truncate, duplicate)
// and by structure (JSON values and keys, IR lines and numbers, a .circuit header re-hashed so
// the mutation reaches past the hash check) and runs the reader. Every input must be accepted
// or refused with an Ig3dcError: anything else (TypeError, RangeError, an allocation past the
// limit, an input that takes seconds) is a finding. Used by test/fuzz-formats.test.ts (fixed
// seed, CI) and bench/fuzz-campaign.ts (>= 10^5 inputs).

import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { parseCsv } from '../compiler/data/csv.ts';
import { decodePng, encodePng, pngChunk, type PngImage } from '../compiler/data/png.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { parseGraph } from '../ir/parser.ts';
import { parseCases, parseTensorBundle } from '../ir/tensor-json.ts';
import { CircuitBuilder, beaverMatmul, beaverSquare, decodeCircuitFile, encodeCircuit } from '../ir/circuit/index.ts';
import { parseImportance } from '../passes/ig3d/annotations.ts';
import { admitCircuit } from '../runtime/admit.ts';

export interface FuzzTarget {
  readonly name: string;
  readonly seeds: readonly Uint8Array[];
  /** Reads one input; returns normally when accepted, throws an Ig3dcError when refused. */
  readonly read: (bytes: Uint8Array) => void;
  /** A structure-aware mutation of a seed. */
  readonly mutateStructure: (seed: Uint8Array, rnd: Rng) => Uint8Array;
}

export type Rng = (n: number) => number;

/** xorshift32: fixed seeds give fixed campaigns. */
export function rng(seed: number): Rng {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return n <= 0 ? 0 : x % n;
  };
}

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const dec = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** Byte-level mutations, 1-4 at a time. */
export function mutateBytes(seed: Uint8Array, r: Rng): Uint8Array {
  let b = Uint8Array.from(seed);
  const edits = 1 + r(4);
  for (let e = 0; e < edits; e++) {
    const at = r(b.length + 1);
    switch (r(6)) {
      case 0:
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << r(8);
        break;
      case 1:
        if (b.length > 0) b[Math.min(at, b.length - 1)] = [0, 0xff, 0x7f, 0x80, 0x30 + r(10), 0x22, 0x2d][r(7)]!;
        break;
      case 2: {
        const ins = Uint8Array.from({ length: 1 + r(8) }, () => r(256));
        b = Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 3:
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(Math.min(b.length, at + 1 + r(16)))]);
        break;
      case 4:
        b = b.subarray(0, at).slice();
        break;
      default: {
        const from = r(b.length + 1);
        const len = r(64);
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(from, from + len), ...b.subarray(at)]);
      }
    }
  }
  return b;
}

/** Values that break readers: huge, negative, fractional, non-finite, wrong type, deep. */
const NASTY: readonly unknown[] = [
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53 + 2,
  1e308,
  -1e308,
  '18446744073709551617',
  '-9223372036854775809',
  'NaN',
  'inf',
  '',
  'x'.repeat(300),
  null,
  true,
  [],
  {},
  [4294967296],
  [99999999999],
  [65536, 65536],
  [[1, 2], [3]],
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One random edit somewhere in a JSON value: replace, delete, duplicate or retype a node. */
export function mutateJson(v: Json, r: Rng): Json {
  const nodes: { parent: Json[] | { [k: string]: Json }; key: string | number }[] = [];
  const walk = (x: Json): void => {
    if (Array.isArray(x)) {
      // Long arrays (data) are sampled, not walked whole.
      for (let i = 0; i < x.length; i += x.length > 32 ? 1 + r(x.length) : 1) {
        nodes.push({ parent: x, key: i });
        walk(x[i]!);
      }
    } else if (x !== null && typeof x === 'object') {
      for (const k of Object.keys(x)) {
        nodes.push({ parent: x, key: k });
        walk(x[k]!);
      }
    }
  };
  const root = structuredClone(v);
  walk(root);
  if (nodes.length === 0) return NASTY[r(NASTY.length)] as Json;
  const { parent, key } = nodes[r(nodes.length)]!;
  const choice = r(4);
  if (Array.isArray(parent)) {
    const i = key as number;
    if (choice === 0) parent.splice(i, 1);
    else if (choice === 1) parent.splice(i, 0, structuredClone(parent[i]!));
    else parent[i] = NASTY[r(NASTY.length)] as Json;
  } else {
    const k = key as string;
    if (choice === 0) delete parent[k];
    else if (choice === 1) parent[`${k}${r(3) === 0 ? '' : 'x'}`] = NASTY[r(NASTY.length)] as Json;
    else parent[k] = NASTY[r(NASTY.length)] as Json;
  }
  return root;
}

function jsonStructure(seed: Uint8Array, r: Rng): Uint8Array {
  let v = JSON.parse(dec(seed)) as Json;
  for (let k = 1 + r(3); k > 0; k--) v = mutateJson(v, r);
  return enc(JSON.stringify(v));
}

/** Line and number edits of a text format (IR text, annotation text). */
function textStructure(seed: Uint8Array, r: Rng): Uint8Array {
  let lines = dec(seed).split('\n');
  const edits = 1 + r(3);
  for (let e = 0; e < edits; e++) {
    const i = r(lines.length);
    switch (r(4)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(i, 0, lines[r(lines.length)] ?? '');
        break;
      case 2:
        lines = lines.map((l, j) => (j === i ? l.replace(/\d+(\.\d+)?/, () => String(NASTY.filter((x) => typeof x === 'number')[r(8)])) : l));
        break;
      default: {
        const l = lines[i] ?? '';
        const cut = r(l.length + 1);
        lines[i] = l.slice(0, cut) + ['[', ']', '<', '>', '%', '"', ',', ':', '=', '{', '}'][r(11)]! + l.slice(cut);
      }
    }
  }
  return enc(lines.join('\n'));
}

/** A .circuit file with its header edited and the content hash recomputed (as anyone editing the file can). */
function circuitStructure(seed: Uint8Array, r: Rng): Uint8Array {
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const hlen = view.getUint32(12, true);
  const header = JSON.parse(dec(seed.subarray(16, 16 + hlen))) as { [k: string]: Json };
  const hash = header['hash'];
  delete header['hash'];
  let body = header as Json;
  for (let k = 1 + r(2); k > 0; k--) body = mutateJson(body, r);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return mutateBytes(seed, r);
  let text = JSON.stringify({ hash, ...body });
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const h = enc(text);
  const out = new Uint8Array(16 + h.length + (seed.length - 16 - hlen));
  out.set(seed.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, h.length, true);
  out.set(h, 16);
  out.set(seed.subarray(16 + hlen), 16 + h.length);
  const zeroed = Uint8Array.from(out);
  zeroed.set(enc('0'.repeat(64)), 16 + 9);
  out.set(enc(createHash('sha256').update(zeroed).digest('hex')), 16 + 9);
  return out;
}

const IR_SEED = `graph g {
  input %x : f32[2,3] secret(client)
  input %ids : i64[2] secret(client)
  %h = Relu(%x) : f32[2,3] secret(client)
  %s = Const : f32[2,3] public = splat<1>
  %e = Const : f32[4,3] public = dense<[1,2,3,4,5,6,7,8,9,10,11,12]>
  %g = Gather(%e, %ids) {axis = 0} : f32[2,3] secret(client)
  %y = Add(%h, %s) : f32[2,3] secret(client)
  %z = Softmax(%y) {axis = -1} : f32[2,3] secret(client)
  %t = Transpose(%z) {perm = [1, 0]} : f32[3,2] secret(client)
  output y = %z
  output g = %g
  output t = %t
}
`;

const ANNOTATION_JSON = JSON.stringify({ model: 'bert-tiny', method: 'ig', steps: 16, examples: 20, layers: 2, heads: 2, scores: [[0.5, 0.25], [0.125, 1.0]], higher_is_more_important: true });

const ANNOTATION_TEXT = `# importance of bert-tiny
model bert-tiny
shape 2 x 2
L0H0 0.5
L0H1 0.25
L1H0 0.125
L1H1 1.0
`;

const CASES = JSON.stringify({
  format: 'ig3dc-cases/1',
  cases: [
    {
      name: 'c0',
      inputs: {
        input_ids: { dtype: 'int64', shape: [1, 4], data: [2, 17, '9000000000000', 3] },
        attention_mask: { dtype: 'int8', shape: [1, 4], data: [1, 1, 1, 0] },
        x: { dtype: 'float32', shape: [2], data: [0.5, 'nan'] },
      },
      outputs: { logits: { dtype: 'float64', shape: [1, 2], data: [0.1, -0.2] } },
    },
  ],
});

const BUNDLE_BIN = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
const BUNDLE = JSON.stringify({
  format: 'ig3dc-tensor-bundle/1',
  bin: 'w.bin',
  tensors: { w: { dtype: 'float32', shape: [2, 2], offset: 0, nbytes: 16 }, b: { dtype: 'int32', shape: [4], offset: 16, nbytes: 16 }, m: { dtype: 'uint8', shape: [3], offset: 8, nbytes: 3 } },
});

function circuitSeed(): Uint8Array {
  const b = new CircuitBuilder({ name: 'fuzz' });
  const x = b.input('x', 1, [2, 3]);
  const w = b.input('w', 0, [3, 4]);
  const ids = b.input('ids', 1, [2], { encoding: 'onehot', classes: 5 });
  b.output(beaverSquare(b, beaverMatmul(b, x, w)), 'y');
  b.output(ids, 'e');
  return encodeCircuit(b.build());
}

// ---- CSV and PNG ----------------------------------------------------------------------

const CSV_SEED = 'id,text,label\r\n1,"hello, ""world""\r\nbye",spam\r\n2,plain,ham\r\n\r\n3,,1\r\n';

/** Structure: a quote, comma, line break or field duplicated, dropped or moved. */
function csvStructure(seed: Uint8Array, r: Rng): Uint8Array {
  let s = dec(seed);
  const pieces = ['"', ',', '\r\n', '\n', '""', 'x', '\r', ''];
  for (let e = 1 + r(3); e > 0; e--) {
    const at = r(s.length + 1);
    const k = r(3);
    if (k === 0) s = s.slice(0, at) + pieces[r(pieces.length)]! + s.slice(at);
    else if (k === 1) s = s.slice(0, at) + s.slice(at + 1);
    else s = s.slice(0, at) + s.slice(r(s.length), r(s.length)) + s.slice(at);
  }
  return enc(s);
}

/** Accepted CSV is checked: every row has the header's field count, lines increase. */
function readCsv(b: Uint8Array): void {
  const t = parseCsv(dec(b), 'fuzz.csv');
  let last = 1;
  for (const row of t.rows) {
    if (row.fields.length !== t.header.length) throw new Error(`accepted a row of ${row.fields.length} fields under ${t.header.length} columns`);
    if (row.line <= last) throw new Error(`row lines do not increase: ${row.line} after ${last}`);
    last = row.line;
  }
}

/**
 * A PNG of `img` with scanline filter `f` (1 Sub, 2 Up, 3 Average, 4 Paeth) on every row. The
 * predictor is written out here again on purpose: an oracle independent of the decoder's.
 */
export function filteredPng(img: PngImage, f: number): Uint8Array {
  const c = img.channels;
  const stride = img.width * c;
  const raw = Buffer.alloc(img.height * (stride + 1));
  for (let y = 0; y < img.height; y++) {
    raw[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const px = img.pixels[y * stride + x]!;
      const a = x >= c ? img.pixels[y * stride + x - c]! : 0;
      const up = y > 0 ? img.pixels[(y - 1) * stride + x]! : 0;
      const ul = y > 0 && x >= c ? img.pixels[(y - 1) * stride + x - c]! : 0;
      let p = 0;
      if (f === 1) p = a;
      else if (f === 2) p = up;
      else if (f === 3) p = (a + up) >> 1;
      else if (f === 4) {
        const q = a + up - ul;
        const [pa, pb, pc] = [Math.abs(q - a), Math.abs(q - up), Math.abs(q - ul)];
        p = pa <= pb && pa <= pc ? a : pb <= pc ? up : ul;
      }
      raw[y * (stride + 1) + 1 + x] = (px - p) & 0xff;
    }
  }
  const plain = encodePng(img);
  // signature + IHDR of the plain encoding, then the filtered data
  return Buffer.concat([plain.subarray(0, 33), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

const PNG_SEEDS = [
  encodePng({ width: 4, height: 3, channels: 1, pixels: Uint8Array.from({ length: 12 }, (_, i) => i * 20) }),
  filteredPng({ width: 3, height: 3, channels: 3, pixels: Uint8Array.from({ length: 27 }, (_, i) => (i * 53) % 256) }, 4),
].map((b) => Uint8Array.from(b));

/**
 * Structure: the chunks are re-assembled with valid CRCs after a change to an IHDR field,
 * to the inflated scanlines (a filter byte or a sample) or to the chunk order, so mutations
 * reach past the CRC and zlib checks.
 */
function pngStructure(seed: Uint8Array, r: Rng): Uint8Array {
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let at = 8; at + 12 <= seed.length; ) {
    const len = view.getUint32(at);
    // Uint8Array.from: a copy (Buffer's slice would share the seed's memory)
    chunks.push({ type: String.fromCharCode(...seed.subarray(at + 4, at + 8)), data: Uint8Array.from(seed.subarray(at + 8, at + 8 + len)) });
    at += 12 + len;
  }
  const idat = chunks.find((c) => c.type === 'IDAT')!;
  switch (r(5)) {
    case 0: {
      const ihdr = chunks[0]!.data;
      ihdr[r(13)] = [0, 1, 2, 3, 4, 6, 8, 16, 255][r(9)]!;
      break;
    }
    case 1:
    case 2: {
      const raw = inflateSync(idat.data);
      for (let e = 1 + r(4); e > 0; e--) raw[r(raw.length)] = r(3) === 0 ? r(6) : r(256);
      idat.data = deflateSync(raw.subarray(0, r(8) === 0 ? r(raw.length + 1) : raw.length));
      break;
    }
    case 3:
      chunks.splice(r(chunks.length), 0, { type: ['IDAT', 'tEXt', 'IHDR', 'IEND', 'ABCD'][r(5)]!, data: Uint8Array.from({ length: r(6) }, () => r(256)) });
      break;
    default: {
      // split the image data over two IDAT chunks
      const at = r(idat.data.length + 1);
      const k = chunks.indexOf(idat);
      chunks.splice(k, 1, { type: 'IDAT', data: idat.data.subarray(0, at) }, { type: 'IDAT', data: idat.data.subarray(at) });
    }
  }
  return Buffer.concat([seed.subarray(0, 8), ...chunks.map((c) => pngChunk(c.type, c.data))]);
}

/** Accepted PNG is checked: the pixel count is the header's size times channels. */
function readPng(b: Uint8Array): void {
  const img = decodePng(b, 'fuzz.png');
  if (img.pixels.length !== img.width * img.height * img.channels) throw new Error(`decoded ${img.pixels.length} samples for ${img.width}x${img.height}x${img.channels}`);
}

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  { name: 'csv', seeds: [enc(CSV_SEED)], read: readCsv, mutateStructure: csvStructure },
  { name: 'png', seeds: PNG_SEEDS, read: readPng, mutateStructure: pngStructure },
  { name: 'ir-text', seeds: [enc(IR_SEED)], read: (b) => void parseGraph(dec(b), { file: 'fuzz.ir' }), mutateStructure: textStructure },
  {
    name: 'annotation',
    seeds: [enc(ANNOTATION_JSON), enc(ANNOTATION_TEXT)],
    read: (b) => void parseImportance(dec(b), 'fuzz.txt'),
    mutateStructure: (s, r) => (s[0] === 0x7b ? jsonStructure(s, r) : textStructure(s, r)),
  },
  { name: 'cases', seeds: [enc(CASES)], read: (b) => void parseCases(dec(b), 'fuzz.json'), mutateStructure: jsonStructure },
  { name: 'bundle', seeds: [enc(BUNDLE)], read: (b) => void parseTensorBundle(dec(b), BUNDLE_BIN, 'fuzz.json'), mutateStructure: jsonStructure },
  {
    name: 'circuit',
    seeds: [circuitSeed()],
    read: (b) => admitCircuit(decodeCircuitFile(b, 'fuzz.circuit').circuit, 'fuzz.circuit'),
    mutateStructure: circuitStructure,
  },
];

export interface FuzzStats {
  readonly target: string;
  inputs: number;
  accepted: number;
  refused: number;
  /** Inputs that threw anything but an Ig3dcError (first few kept). */
  readonly crashes: { mode: string; error: string; input: string }[];
  crashCount: number;
  /** Inputs that took longer than the hang limit. */
  hangs: number;
  slowestMs: number;
}

/** Runs `count` inputs against a target (half byte mutations, half structural), from a fixed seed. */
export function fuzz(t: FuzzTarget, count: number, seed: number, hangMs = 2000): FuzzStats {
  const r = rng(seed);
  const st: FuzzStats = { target: t.name, inputs: 0, accepted: 0, refused: 0, crashes: [], crashCount: 0, hangs: 0, slowestMs: 0 };
  for (let i = 0; i < count; i++) {
    const s = t.seeds[r(t.seeds.length)]!;
    const structural = r(2) === 0;
    let input: Uint8Array;
    try {
      input = i < t.seeds.length ? t.seeds[i]! : structural ? t.mutateStructure(s, r) : mutateBytes(s, r);
    } catch {
      input = mutateBytes(s, r);
    }
    st.inputs++;
    const t0 = performance.now();
    try {
      t.read(input);
      st.accepted++;
    } catch (e) {
      if (e instanceof Ig3dcError) st.refused++;
      else {
        st.crashCount++;
        if (st.crashes.length < 5) st.crashes.push({ mode: structural ? 'structure' : 'bytes', error: String(e).slice(0, 300), input: dec(input.subarray(0, 400)) });
      }
    }
    const ms = performance.now() - t0;
    st.slowestMs = Math.max(st.slowestMs, ms);
    if (ms > hangMs) st.hangs++;
  }
  return st;
}
