// The distributed comparison function (DCF) of Boyle, Gilboa, Ishai, Kolobov et al.,
// "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation" (Eurocrypt
// 2021): keys k0, k1 for f(x) = beta if x < alpha else 0 (x, alpha n-bit unsigned; beta a
// vector of g ring elements) with Eval(k0, x) + Eval(k1, x) = f(x) in Z_2^64, and either key
// alone pseudorandom whatever alpha and beta are.
//
// A key is the party's root seed (128 bits) plus correction words shared by both keys, per
// level: a seed correction (128 bits) whose two lowest bits carry the two control-bit
// corrections, and a value correction (g ring words). Seeds have their two lowest bits
// cleared (126 bits; the lowest bit of a hash output is its control bit), so the seed
// correction's two lowest bits are free for the control-bit corrections. The tree's PRG is
// fixed-key AES-128 in the Matyas-Meyer-Oseas form H(s ^ i) = AES_K(s ^ i) ^ s ^ i through
// node:crypto (AES-NI): evaluation expands 2 blocks per element and level (the seed and the
// value of the side the input takes), key generation 8.
//
// Early termination (as the paper's DPF does it; Boyle, Gilboa, Ishai, "Function Secret
// Sharing: Improvements and Extensions", CCS 2016): the tree stops nu = min(DCF_LEAF_BITS, n)
// levels early, and the last nu input bits j select a leaf entry instead. Each party hashes
// its leaf seed with tweak 4 + j (one block), and the key ends in 2^nu g words, entry j
// (-1)^t1 (conv(H1_j) - conv(H0_j) - W + [j < alpha mod 2^nu] beta): the paper's last
// correction word once per entry. On alpha's path the two parties' hashes differ and the entry
// gives beta [x < alpha]; off it the seeds and control bits agree and the leaf cancels. An
// evaluation then costs 2 (n - nu) + 1 blocks, not 2 n, and a spline's points that agree but
// for their last nu bits share the whole walk; key generation costs the same 8 n blocks.
//
// Elements go through the tree in chunks of CHUNK_BYTES of AES input, every level of a chunk
// before the next chunk: one `update` per chunk and level (key generation: two, each below
// 64 KiB of output; see GEN_UPDATE_BYTES). A chunk's state stays in cache, and
// `update` hands back a buffer small enough to be recycled by the allocator (one `update` of
// many megabytes returns a fresh mapping whose page faults cost ~30x the encryption). The
// per-level work on a chunk (the AES input, and after AES the seeds, control bits, values and
// correction words) runs in WebAssembly on i64 (dcf-wasm.ts); the chunk's state and
// correction words sit in the kernels' memory.
//
// Ring words are little-endian. Correction words are laid out word-major (row w of all N
// elements together); a chunk copies its keys' rows next to its lanes.

import { createCipheriv, createHash, type Cipher } from 'node:crypto';
import { dcfKernels, type DcfKernelExports } from './dcf-wasm.ts';

/** Payload words (g) supported: the value block of the PRG holds two ring words. */
export const DCF_MAX_PAYLOAD = 2;

/** Input bits the leaf takes (early termination): the tree stops this many levels early. */
export const DCF_LEAF_BITS = 4;

/** The leaf's input bits nu of an n-bit DCF; the tree has n - nu levels. */
export const dcfLeafBits = (n: number): number => Math.min(DCF_LEAF_BITS, n);

/** Rows of correction words for an n-bit DCF with g payload words (each row N words): per tree level 2 + g, then the leaf's 2^nu entries of g. */
export function dcfCorrectionRows(n: number, g: number): number {
  const nu = dcfLeafBits(n);
  return (n - nu) * (2 + g) + (1 << nu) * g;
}

/** AES input per `update`: small enough to stay in cache and to be recycled by malloc. */
const CHUNK_BYTES = 64 * 1024;

// The fixed public AES key of the MMO hash (a nothing-up-my-sleeve constant).
const FIXED_KEY = createHash('sha256').update('ig3dc/fss/mmo-fixed-key').digest().subarray(0, 16);
let aes: Cipher | undefined;

/** The fixed-key AES-128 in ECB mode, created on first use. */
function cipher(): Cipher {
  aes ??= (() => {
    const c = createCipheriv('aes-128-ecb', FIXED_KEY, null);
    c.setAutoPadding(false);
    return c;
  })();
  return aes;
}

/** AES_K of every 16-byte block of `blocks` (a fresh buffer). */
const aesBytes = (blocks: Uint8Array): Uint8Array => cipher().update(blocks);

/**
 * AES input per `update` in key generation: below 64 KiB of output. glibc's free() of a chunk
 * of 64 KiB or more (FASTBIN_CONSOLIDATION_THRESHOLD) consolidates and hands the heap's top back
 * to the kernel, so the next outputs fault in fresh pages: measured on the 2-core machine, 1 GB
 * through 64 KiB updates took 175k page faults and 2.4 s CPU, through 32 KiB ones 1k and 0.2 s.
 */
const GEN_UPDATE_BYTES = 32 * 1024;

export interface DcfBatch {
  /** Elements. */
  readonly count: number;
  /** Input bits (tree depth), 1..64. */
  readonly bits: number;
  /** Payload words, 1..DCF_MAX_PAYLOAD. */
  readonly payload: number;
}

/**
 * Key generation for N comparisons at once. `roots`: each party's root seeds (16 bytes per
 * element); `alpha`: the comparison points (low `bits` bits used); `beta`: payload rows
 * (g x N, word-major). Returns the correction words (dcfCorrectionRows x N, word-major),
 * the same for both keys, in `out` when given (that many words).
 */
export function dcfGen(d: DcfBatch, roots: readonly [Uint8Array, Uint8Array], alpha: BigUint64Array, beta: BigUint64Array, out?: BigUint64Array): BigUint64Array {
  const { count: N, payload: g } = d;
  return dcfGenChunks(d, roots, out ?? new BigUint64Array(dcfCorrectionRows(d.bits, g) * N), {
    reserve() {},
    chunk({ b64 }, e0, c, al, be) {
      b64.set(alpha.subarray(e0, e0 + c), al / 8);
      for (let j = 0; j < g; j++) b64.set(beta.subarray(j * N + e0, j * N + e0 + c), be / 8 + j * c);
    },
  });
}

/** Views of the DCF kernels' memory, and the kernels (key generation). */
export interface DcfGenMemory {
  readonly W: DcfKernelExports;
  readonly u8: Uint8Array;
  readonly b64: BigUint64Array;
}

/** Where key generation's comparison points and payloads come from, chunk by chunk. */
export interface DcfGenSource {
  /** Reserves the source's own kernel memory (`take(bytes)` gives a byte offset) for chunks of at most `elements` elements. */
  reserve(take: (bytes: number) => number, elements: number): void;
  /** Writes elements e0 .. e0 + c - 1's points at byte offset `al` (c words) and payloads at `be` (g rows of c words). */
  chunk(mem: DcfGenMemory, e0: number, c: number, al: number, be: number): void;
}

/**
 * dcfGen with the points and payloads written chunk by chunk by `src` (so no array of N of
 * them need exist), the correction words into `cw` (dcfCorrectionRows x N words, word-major),
 * and into `copy` too when given (a second party's words, written while the chunk is in cache).
 *
 * Elements go in chunks of CHUNK_BYTES / 128 (8 AES blocks per element and level), every level
 * of a chunk before the next; the per-level work, and the last correction words, run in
 * WebAssembly (dcf-wasm.ts) around node:crypto's AES.
 */
export function dcfGenChunks(d: DcfBatch, roots: readonly [Uint8Array, Uint8Array], cw: BigUint64Array, src: DcfGenSource, copy?: BigUint64Array): BigUint64Array {
  const { count: N, bits: n, payload: g } = d;
  const rows = 2 + g;
  const R = dcfCorrectionRows(n, g);
  if (cw.length !== R * N || (copy !== undefined && copy.length !== R * N)) throw new Error(`dcfGen: output of ${cw.length} words for ${R} x ${N}`);
  const nu = dcfLeafBits(n);
  const depth = n - nu;
  // The leaf: 2^(nu + 1) AES blocks per element, in groups of elements that fit the AES input.
  const leafBytes = 32 << nu;
  const LC = Math.max(1, Math.floor(CHUNK_BYTES / leafBytes));
  const C = CHUNK_BYTES / 128;
  // The kernels' memory: AES input and output, both parties' seeds and control-bit masks, W (element-major), alpha, beta (rows of c), the chunk's correction words, the source's.
  const { take, used } = bumpAllocator();
  const IN = take(CHUNK_BYTES);
  const H = take(CHUNK_BYTES);
  const S0 = take(16 * C), S1 = take(16 * C), T0 = take(8 * C), T1 = take(8 * C), WV = take(8 * g * C), AL = take(8 * C), BE = take(8 * g * C);
  const CWB = take(8 * R * C);
  src.reserve(take, C);
  const W = dcfKernels(used());
  const genUpdate = W[`genUpdate${g}`]!;
  const genLeaf = W[`genLeaf${g}`]!;
  const mem = W.memory.buffer;
  const u8 = new Uint8Array(mem);
  const u32 = new Uint32Array(mem);
  const b64 = new BigUint64Array(mem);
  const views: DcfGenMemory = { W, u8, b64 };
  /** AES of the first `bytes` of the input into H, in pieces of at most GEN_UPDATE_BYTES (ECB: each block on its own). */
  const hashInput = (bytes: number): void => {
    for (let at = 0; at < bytes; at += GEN_UPDATE_BYTES) u8.set(aesBytes(u8.subarray(IN + at, IN + Math.min(at + GEN_UPDATE_BYTES, bytes))), H + at);
  };
  for (let e0 = 0; e0 < N; e0 += C) {
    const c = Math.min(C, N - e0);
    u8.set(roots[0].subarray(16 * e0, 16 * (e0 + c)), S0);
    u8.set(roots[1].subarray(16 * e0, 16 * (e0 + c)), S1);
    u32.fill(0, T0 / 4, T0 / 4 + 2 * c);
    u32.fill(0xffffffff, T1 / 4, T1 / 4 + 2 * c);
    u32.fill(0, WV / 4, WV / 4 + 2 * g * c);
    src.chunk(views, e0, c, AL, BE);
    for (let i = 0; i < depth; i++) {
      W.genPrep(S0, S1, IN, c);
      hashInput(128 * c);
      genUpdate(S0, S1, T0, T1, WV, AL, BE, IN, H, c, n - 1 - i, CWB + 8 * i * rows * c, 8 * c);
    }
    for (let l0 = 0; l0 < c; l0 += LC) {
      const lc = Math.min(LC, c - l0);
      const bytes = leafBytes * lc;
      W.genLeafPrep(S0 + 16 * l0, S1 + 16 * l0, IN, lc, nu);
      hashInput(bytes);
      genLeaf(T1 + 8 * l0, WV + 8 * g * l0, AL + 8 * l0, BE + 8 * l0, IN, H, lc, nu, CWB + 8 * depth * rows * c + 8 * l0, 8 * c);
    }
    for (let r = 0; r < R; r++) {
      const row = b64.subarray(CWB / 8 + r * c, CWB / 8 + (r + 1) * c);
      cw.set(row, r * N + e0);
      copy?.set(row, r * N + e0);
    }
  }
  return cw;
}

/** AES input of an evaluation level: 2 blocks (32 bytes) per lane. */
const EVAL_CHUNK = CHUNK_BYTES / 32;

/** AES input of the leaf: 1 block per lane. */
const LEAF_LANES = CHUNK_BYTES / 16;

/**
 * Evaluation lanes in the kernels' memory (dcf-wasm.ts): each lane is one (key, input) pair
 * walking down the tree; byte offsets of its seeds S, control-bit masks T, values V, inputs X
 * and keys K (the key's index within the chunk).
 */
interface Lanes {
  readonly s: number;
  readonly v: number;
  readonly t: number;
  readonly x: number;
  readonly k: number;
}

/** 64-bit unsigned a < b on u32 halves. */
const lt64 = (al: number, ah: number, bl: number, bh: number): boolean => ah < bh || (ah === bh && al < bl);

/** The bit length of the 64-bit value (hi:lo). */
const bitLength = (lo: number, hi: number): number => (hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo));

/**
 * Party `party`'s evaluation of its keys at the public inputs `x` (low `bits` bits used):
 * its shares of f(x), g rows of N ring words (word-major). With `points` P > 1, `x` holds P
 * inputs per key, point-major (x[p N + e] for key e), and each row holds N P words in the same
 * order: one key evaluated at several points (a spline's breakpoints) without copying it.
 */
export function dcfEval(d: DcfBatch, party: 0 | 1, root: Uint8Array, cw: BigUint64Array, x: BigUint64Array, points = 1): BigUint64Array {
  const { count: N, payload: g } = d;
  const M = N * points;
  const out = new BigUint64Array(g * M);
  const o32 = new Uint32Array(out.buffer);
  dcfEvalChunks(d, party, root, cw, { x, points }, {
    reserve() {},
    chunk(mem, e0, kc) {
      // Lane l = p kc + k holds point p of key e0 + k: into row j at position p N + e0 + k.
      const u32 = mem.u32;
      const Y = mem.y;
      for (let l = 0; l < kc * points; l++) {
        const k = l % kc;
        const pos = ((l - k) / kc) * N + e0 + k;
        for (let j = 0; j < g; j++) {
          o32[2 * (j * M + pos)] = u32[Y / 4 + 2 * (g * l + j)]!;
          o32[2 * (j * M + pos) + 1] = u32[Y / 4 + 2 * (g * l + j) + 1]!;
        }
      }
    },
  });
  return out;
}

/** Views of the DCF kernels' memory, and the kernels. */
export interface DcfMemory {
  readonly W: DcfKernelExports;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly b64: BigUint64Array;
  /** Byte offset of the chunk's lane outputs: g words per lane, lane p kc + k = point p of key k. */
  readonly y: number;
}

/** What is done with each chunk's lane outputs. */
export interface DcfSink {
  /** Reserves the sink's own kernel memory (`take(bytes)` gives a byte offset) for chunks of at most `keys` keys (`lanes` lanes). */
  reserve(take: (bytes: number) => number, lanes: number, keys: number): void;
  /** Keys e0 .. e0 + kc - 1 are done: their lanes' outputs are at mem.y. */
  chunk(mem: DcfMemory, e0: number, kc: number): void;
}

/**
 * The points a key is evaluated at (only their low `bits` bits are used): P per key, either
 * given (x[p N + e] for key e) or as one value per key minus P offsets (base[e] - offsets[p]);
 * with `drop` s, the point is that difference's low `bits` + s bits shifted right by s (a
 * comparison that ignores its input's s lowest bits, fss-spline.ts).
 */
export type DcfPoints = { readonly x: BigUint64Array; readonly points: number } | { readonly base: BigUint64Array; readonly offsets: BigUint64Array; readonly drop?: number };

/**
 * Party `party`'s evaluation of its keys at P points each (`pts`), chunk by chunk: `sink`
 * gets each chunk's lane outputs in the kernels' memory (so no array of N P outputs need
 * exist).
 *
 * Keys go in chunks, all their points together; a chunk's correction words are copied next to
 * its lanes, and the per-level work runs in WebAssembly (dcf-wasm.ts) around node:crypto's
 * AES. A key's points walk its tree as a trie: a tree node is expanded once for all the points
 * below it, so P points that agree on their top bits (a spline's X - k_p, breakpoints close
 * together) cost the levels of one path plus, per further point, the levels below its longest
 * common prefix with its neighbour in sorted order, not P full paths.
 */
export function dcfEvalChunks(d: DcfBatch, party: 0 | 1, root: Uint8Array, cw: BigUint64Array, src: DcfPoints, sink: DcfSink): void {
  const { count: N, bits: n, payload: g } = d;
  const given = 'x' in src;
  const P = given ? src.points : src.offsets.length;
  const xIn = given ? new Uint32Array(src.x.buffer, src.x.byteOffset, 2 * N * P) : new Uint32Array(src.base.buffer, src.base.byteOffset, 2 * N);
  const offs = given ? new Uint32Array(0) : new Uint32Array(src.offsets.buffer, src.offsets.byteOffset, 2 * P);
  const rows = 2 + g;
  const R = dcfCorrectionRows(n, g);
  const nu = dcfLeafBits(n);
  const depth = n - nu;
  const neg = party === 1;
  const drop = given ? 0 : (src.drop ?? 0);
  if (!Number.isInteger(drop) || drop < 0 || n + drop > 64) throw new Error(`dcfEvalChunks: drop ${drop} on a ${n}-bit DCF`);
  // The points' bits before the drop: n + drop.
  const wide = n + drop;
  const [m0, m1] = wide >= 64 ? [0xffffffff, 0xffffffff] : wide >= 32 ? [0xffffffff, wide === 32 ? 0 : 0xffffffff >>> (64 - wide)] : [0xffffffff >>> (32 - wide), 0];
  // Keys per chunk: all their points in one walk of at most 4 EVAL_CHUNK lanes (more when one key
  // has more points), and at most EVAL_CHUNK keys. A spline's points share their top levels, where
  // only one lane per key is active: several AES chunks' worth of lanes keep those levels' AES
  // calls large (exp's 14 points: 22% faster than one chunk of lanes).
  const KC = Math.max(1, Math.floor(Math.min(EVAL_CHUNK, (4 * EVAL_CHUNK) / P)));
  const L = KC * P;
  // The kernels' memory: AES input and output, the lanes, their owners and output order, the chunk's correction words, the lane outputs (walk order, then the sink's order), the sink's.
  const { take, used } = bumpAllocator();
  const IN = take(CHUNK_BYTES);
  const H = take(CHUNK_BYTES);
  const ln: Lanes = { s: take(16 * L), v: take(8 * g * L), t: take(8 * L), x: take(8 * L), k: take(4 * L) };
  const OWNER = take(4 * L);
  const PERM = take(4 * L);
  const CW = take(8 * R * KC);
  const RT = take(16 * KC);
  const YW = take(8 * g * L);
  const Y = take(8 * g * L);
  // The trie's plan in WebAssembly (a spline's points): keys' bases, offsets, points, departures, owners, positions, rotations, stack, counts.
  const TB = take(8 * KC), TO = take(8 * P), TQ = take(8 * L), TD = take(4 * L), TW = take(4 * L), TP = take(4 * L), TR = take(4 * KC);
  const TSL = take(4 * (P + 1)), TSD = take(4 * (P + 1)), TC = take(4 * (n + 2)), TN = take(4 * (n + 1));
  sink.reserve(take, L, KC);
  const W = dcfKernels(used());
  const update = W[`update${g}${neg ? 'sub' : 'add'}`]!;
  const leaf = W[`leaf${g}${neg ? 'sub' : 'add'}`]!;
  const copyLanes = W[`copyLanes${g}`]!;
  const rootLanes = W[`rootLanes${g}`]!;
  const scatter = W[`scatter${g}`]!;
  const mem = W.memory.buffer;
  const u8 = new Uint8Array(mem);
  const u32 = new Uint32Array(mem);
  const b64 = new BigUint64Array(mem);
  const views: DcfMemory = { W, u8, u32, b64, y: Y };
  // Per lane of a chunk (lane p kc + k: point p of key k): its point (u32 halves), the level it
  // leaves the path it shares with an earlier point, that point's lane, and its walk position;
  // per key, its lanes in sorted order.
  const ql = new Uint32Array(L), qh = new Uint32Array(L);
  const depart = new Int32Array(L), owner = new Int32Array(L), pos = new Int32Array(L);
  const sortedLane = new Int32Array(L), stackLane = new Int32Array(P + 1), stackDepth = new Int32Array(P + 1);
  const atLevel = new Int32Array(n + 2), next = new Int32Array(n + 1);
  const byKey = Array.from({ length: P }, (_, i) => i);

  /** Tree level i of walk lanes 0 .. nl - 1 (kc keys' correction words), EVAL_CHUNK lanes at a time. */
  const level = (i: number, nl: number, kc: number): void => {
    const bit = n - 1 - i;
    for (let c = 0; c < nl; c += EVAL_CHUNK) {
      const cn = Math.min(EVAL_CHUNK, nl - c);
      W.prep(ln.s + 16 * c, ln.x + 8 * c, IN, cn, bit);
      u8.set(aesBytes(u8.subarray(IN, IN + 32 * cn)), H);
      update(ln.s + 16 * c, ln.v + 8 * g * c, ln.t + 8 * c, ln.x + 8 * c, ln.k + 4 * c, IN, H, cn, bit, CW + 8 * i * rows * kc, 8 * kc);
    }
  };

  const wideMask = wide >= 64 ? (1n << 64n) - 1n : (1n << BigInt(wide)) - 1n;
  if (!given) b64.set(src.offsets, TO / 8);
  const O = OWNER / 4, PM = PERM / 4, LK = ln.k / 4, LX = ln.x / 4;

  for (let e0 = 0; e0 < N; e0 += KC) {
    const kc = Math.min(KC, N - e0);
    const lc = kc * P;
    // The chunk's correction words, row-major with rows of kc words.
    for (let r = 0; r < R; r++) b64.set(cw.subarray(r * N + e0, r * N + e0 + kc), CW / 8 + r * kc);
    if (!given) {
      b64.set(src.base.subarray(e0, e0 + kc), TB / 8);
      u32.fill(0, TC / 4, TC / 4 + n + 2);
    }
    if (!given && W.trieDepart(TB, TO, TQ, TD, TW, TR, TSL, TSD, TC, kc, P, n, drop, wideMask, depth) === 0) {
      // The plan in WebAssembly: the same as below, for points descending but for one wrap.
      atLevel.set(u32.subarray(TC / 4, TC / 4 + n + 2));
      for (let i = 1; i <= n + 1; i++) atLevel[i]! += atLevel[i - 1]!;
      u32.set(atLevel.subarray(0, n + 1), TN / 4);
      W.triePlace(TQ, TD, TW, TP, TR, TN, PERM, ln.k, ln.x, OWNER, kc, P);
    } else planChunk(e0, kc);
    walkChunk(e0, kc, lc);
  }

  /** The trie's plan of a chunk in JavaScript (given points, or points in any order). */
  function planChunk(e0: number, kc: number): void {
    // Each key's points walk the tree as a trie: in sorted order, a point shares the path of the
    // one before it down to their longest common prefix, and from there on needs levels of its own.
    // It takes the state, at that depth, of the latest earlier point (in sorted order) that left
    // the shared path higher up; a spline's points X - k_p are sorted already, but for one wrap.
    atLevel.fill(0);
    for (let k = 0; k < kc; k++) {
      // Lane p kc + k: point p of key e0 + k, base - offset on u32 halves (given points: offset 0), cut to n + drop bits, shifted right by drop.
      const at = 2 * (e0 + k);
      let rises = 0, rise = 0;
      for (let p = 0, l = k; p < P; p++, l += kc) {
        const src = given ? at + 2 * p * N : at;
        const bl = xIn[src]!, bh = xIn[src + 1]!;
        const ol = given ? 0 : offs[2 * p]!, oh = given ? 0 : offs[2 * p + 1]!;
        let lo = ((bl - ol) & m0) >>> 0;
        let hi = ((bh - oh - (bl < ol ? 1 : 0)) & m1) >>> 0;
        if (drop >= 32) (lo = hi >>> (drop - 32)), (hi = 0);
        else if (drop > 0) (lo = ((lo >>> drop) | (hi << (32 - drop))) >>> 0), (hi = hi >>> drop);
        ql[l] = lo;
        qh[l] = hi;
        if (p > 0 && lt64(ql[l - kc]!, qh[l - kc]!, lo, hi)) rises++, (rise = p);
      }
      // Descending but for one wrap: rotate to the wrap; otherwise sort.
      const sorted = sortedLane.subarray(k * P, (k + 1) * P);
      const last = (P - 1) * kc + k;
      if (rises === 0 || (rises === 1 && !lt64(ql[last]!, qh[last]!, ql[k]!, qh[k]!))) {
        for (let j = 0; j < P; j++) sorted[j] = (j < P - rise ? rise + j : rise + j - P) * kc + k;
      } else {
        byKey.sort((a, b) => {
          const la = a * kc + k, lb = b * kc + k;
          return lt64(ql[lb]!, qh[lb]!, ql[la]!, qh[la]!) ? -1 : lt64(ql[la]!, qh[la]!, ql[lb]!, qh[lb]!) ? 1 : 0;
        });
        for (let j = 0; j < P; j++) sorted[j] = byKey[j]! * kc + k;
      }
      let top = 0;
      for (let j = 0; j < P; j++) {
        const l = sorted[j]!;
        let dep = 0;
        if (j > 0) {
          const m = sorted[j - 1]!;
          const xh = (qh[l]! ^ qh[m]!) >>> 0;
          // Points that agree on the tree's levels share the whole walk (they differ in the leaf only).
          dep = Math.min(depth, n - (xh !== 0 ? 64 - Math.clz32(xh) : 32 - Math.clz32((ql[l]! ^ ql[m]!) >>> 0)));
          while (stackDepth[top - 1]! > dep) top--;
          // An owner that leaves at the same depth is copied in the same step: take its own owner, active before.
          const o = stackLane[top - 1]!;
          owner[l] = stackDepth[top - 1] === dep ? owner[o]! : o;
        } else owner[l] = -1;
        stackLane[top] = l;
        stackDepth[top++] = dep;
        depart[l] = dep;
        atLevel[dep + 1]!++;
      }
    }
    // Walk positions: by departure level (those at level <= i are the first atLevel[i + 1]); a
    // key's points in sorted order, so a point's owner has its position already.
    for (let i = 1; i <= n + 1; i++) atLevel[i]! += atLevel[i - 1]!;
    next.set(atLevel.subarray(0, n + 1));
    for (let k = 0; k < kc; k++) {
      for (let j = k * P; j < (k + 1) * P; j++) {
        const l = sortedLane[j]!;
        const w = next[depart[l]!]!++;
        pos[l] = w;
        u32[PM + w] = l;
        u32[LK + w] = k;
        u32[LX + 2 * w] = ql[l]!;
        u32[LX + 2 * w + 1] = qh[l]!;
        u32[O + w] = owner[l]! < 0 ? 0 : pos[owner[l]!]!;
      }
    }
  }

  /** The walk of a planned chunk: roots, then every level with the lanes that have left their shared path, then the outputs to the sink. */
  function walkChunk(e0: number, kc: number, lc: number): void {
    // Roots (departure 0): the key's root seed, control bit the party's, values 0.
    u8.set(root.subarray(16 * e0, 16 * (e0 + kc)), RT);
    rootLanes(ln.s, ln.v, ln.t, ln.k, RT, atLevel[1]!, neg ? -1n : 0n);
    for (let i = 0; i < depth; i++) {
      if (i > 0 && atLevel[i + 1]! > atLevel[i]!) copyLanes(ln.s, ln.v, ln.t, OWNER, atLevel[i]!, atLevel[i + 1]!);
      level(i, atLevel[i + 1]!, kc);
    }
    // Points equal to an earlier one on the tree's levels (departure depth) take its final state
    // (with no levels, every point starts from the root).
    if (depth > 0 && atLevel[depth + 1]! > atLevel[depth]!) copyLanes(ln.s, ln.v, ln.t, OWNER, atLevel[depth]!, atLevel[depth + 1]!);
    // The leaf: v + (-1)^party (conv(H(s ^ 4 + j)) + t CW_leaf[j]), g words per lane, then back in the sink's lane order.
    for (let c0 = 0; c0 < lc; c0 += LEAF_LANES) {
      const cn = Math.min(LEAF_LANES, lc - c0);
      W.leafPrep(ln.s + 16 * c0, ln.x + 8 * c0, IN, cn, nu);
      u8.set(aesBytes(u8.subarray(IN, IN + 16 * cn)), H);
      leaf(ln.s + 16 * c0, ln.v + 8 * g * c0, ln.t + 8 * c0, ln.x + 8 * c0, ln.k + 4 * c0, IN, H, cn, nu, CW + 8 * depth * rows * kc, 8 * kc, YW + 8 * g * c0);
    }
    scatter(YW, PERM, Y, lc);
    sink.chunk(views, e0, kc);
  }
}

/** Offsets in the kernels' memory, each region 16-byte aligned, handed out in order. */
function bumpAllocator(): { take(bytes: number): number; used(): number } {
  let top = 0;
  return {
    take(bytes: number): number {
      const at = top;
      top += Math.ceil(bytes / 16) * 16;
      return at;
    },
    used: () => top,
  };
}
