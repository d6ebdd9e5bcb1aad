// The distributed comparison function (DCF) of Boyle, Gilboa, Ishai, Kolobov et al.,
// "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation" (Eurocrypt
// 2021): keys k0, k1 for f(x) = beta if x < alpha else 0 (x, alpha n-bit unsigned; beta a
// vector of g ring elements) with Eval(k0, x) + Eval(k1, x) = f(x) in Z_2^64, and either key
// alone pseudorandom whatever alpha and beta are.
//
// A key is the party's root seed (128 bits) plus correction words shared by both keys, per
// level: a seed correction (128 bits), a value correction (g ring words) and two control-bit
// corrections; after the last level, g words. The tree's PRG is fixed-key AES-128 in the
// Matyas-Meyer-Oseas form H(s ^ i) = AES_K(s ^ i) ^ s ^ i through node:crypto (AES-NI), every
// level of every element of a batch in one ECB call: evaluation expands 2 blocks per element
// and level (the seed and the value of the side the input takes), key generation 8.
//
// Ring words are little-endian; 64-bit arithmetic runs on their 32-bit halves (no BigInt per
// element). Correction words are laid out word-major (row w of all N elements together) so a
// level reads contiguous rows.

import { createCipheriv, createHash, type Cipher } from 'node:crypto';

/** Payload words (g) supported: the value block of the PRG holds two ring words. */
export const DCF_MAX_PAYLOAD = 2;

/** Rows of correction words for an n-bit DCF with g payload words (each row N words). */
export function dcfCorrectionRows(n: number, g: number): number {
  return n * (3 + g) + g;
}

// The fixed public AES key of the MMO hash (a nothing-up-my-sleeve constant).
const FIXED_KEY = createHash('sha256').update('ig3dc/fss/mmo-fixed-key').digest().subarray(0, 16);
let aes: Cipher | undefined;

/** MMO of every 16-byte block: AES_K(b) ^ b (in place of `blocks`'s copy; returns the hash). */
function mmo(blocks: Uint8Array): Uint8Array {
  aes ??= (() => {
    const c = createCipheriv('aes-128-ecb', FIXED_KEY, null);
    c.setAutoPadding(false);
    return c;
  })();
  let out: Uint8Array = aes.update(blocks);
  if (out.byteOffset % 4 !== 0) out = out.slice();
  const o = new Uint32Array(out.buffer, out.byteOffset, out.byteLength / 4);
  const i = new Uint32Array(blocks.buffer, blocks.byteOffset, blocks.byteLength / 4);
  for (let k = 0; k < o.length; k++) o[k] = (o[k]! ^ i[k]!) >>> 0;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Writes seed (4 u32 at `src[si]`) ^ tweak into `dst` at `di` (the tweak goes into the last word). */
function tweaked(dst: Uint32Array, di: number, src: Uint32Array, si: number, tweak: number): void {
  dst[di] = src[si]!;
  dst[di + 1] = src[si + 1]!;
  dst[di + 2] = src[si + 2]!;
  dst[di + 3] = (src[si + 3]! ^ tweak) >>> 0;
}

/** Bit `i` of ring word e (u32 halves). */
function bitOf(w: Uint32Array, e: number, i: number): number {
  return i < 32 ? (w[2 * e]! >>> i) & 1 : (w[2 * e + 1]! >>> (i - 32)) & 1;
}

/** acc[k] += sign * (lo, hi) on u32 halves (sign +1 or -1). */
function addSigned(acc: Uint32Array, k: number, lo: number, hi: number, negate: boolean): void {
  if (negate) {
    // -(hi:lo) = ~(hi:lo) + 1
    lo = ~lo >>> 0;
    hi = ~hi >>> 0;
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
  }
  const a = acc[2 * k]!;
  const s = (a + lo) >>> 0;
  acc[2 * k] = s;
  acc[2 * k + 1] = (acc[2 * k + 1]! + hi + (s < a ? 1 : 0)) >>> 0;
}

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
 * the same for both keys.
 */
export function dcfGen(d: DcfBatch, roots: readonly [Uint8Array, Uint8Array], alpha: BigUint64Array, beta: BigUint64Array): BigUint64Array {
  const { count: N, bits: n, payload: g } = d;
  const rows = 3 + g;
  const cw = new BigUint64Array(dcfCorrectionRows(n, g) * N);
  const cw32 = new Uint32Array(cw.buffer);
  const a32 = new Uint32Array(alpha.buffer, alpha.byteOffset, 2 * N);
  const b32 = new Uint32Array(beta.buffer, beta.byteOffset, 2 * g * N);
  const s0 = words32(roots[0]);
  const s1 = words32(roots[1]);
  const t0 = new Uint8Array(N);
  const t1 = new Uint8Array(N).fill(1);
  const w = new Uint32Array(2 * g * N); // the path's accumulated value W, g words per element (element-major)
  const acc = new Uint32Array(2);
  const vcw = new Uint32Array(2);
  const input = new Uint8Array(128 * N);
  const in32 = new Uint32Array(input.buffer);
  for (let i = 0; i < n; i++) {
    // Blocks per element: party 0 then 1; per party L-seed, L-value, R-seed, R-value.
    for (let e = 0; e < N; e++) {
      for (let k = 0; k < 4; k++) {
        tweaked(in32, 32 * e + 4 * k, s0, 4 * e, k);
        tweaked(in32, 32 * e + 16 + 4 * k, s1, 4 * e, k);
      }
    }
    const h = mmo(input);
    const o32 = new Uint32Array(h.buffer, h.byteOffset, h.byteLength / 4);
    const base = i * rows;
    for (let e = 0; e < N; e++) {
      const a = bitOf(a32, e, n - 1 - i);
      const o = 32 * e;
      // Seed block of (party b, side) at o + 16b + 8side, its value block 4 words on; control bit: the seed's low bit.
      const lose0 = o + 8 * (1 - a), lose1 = lose0 + 16;
      const keep0 = o + 8 * a, keep1 = keep0 + 16;
      const tp1 = t1[e]!;
      // Seed correction: the two lose-side seeds (control bits cleared) XORed.
      for (let q = 0; q < 4; q++) {
        const x = q === 0 ? (o32[lose0]! & ~1) ^ (o32[lose1]! & ~1) : o32[lose0 + q]! ^ o32[lose1 + q]!;
        cw32[2 * ((base + (q >> 1)) * N + e) + (q & 1)] = x >>> 0;
      }
      // Value correction per payload word: (-1)^t1 ([lose = L] beta - W - v0_lose + v1_lose); then W += v0_keep - v1_keep + (-1)^t1 VCW.
      for (let j = 0; j < g; j++) {
        const wk = e * g + j;
        acc[0] = 0;
        acc[1] = 0;
        if (a === 1) addSigned(acc, 0, b32[2 * (j * N + e)]!, b32[2 * (j * N + e) + 1]!, false);
        addSigned(acc, 0, w[2 * wk]!, w[2 * wk + 1]!, true);
        addSigned(acc, 0, o32[lose0 + 4 + 2 * j]!, o32[lose0 + 5 + 2 * j]!, true);
        addSigned(acc, 0, o32[lose1 + 4 + 2 * j]!, o32[lose1 + 5 + 2 * j]!, false);
        vcw[0] = 0;
        vcw[1] = 0;
        addSigned(vcw, 0, acc[0]!, acc[1]!, tp1 === 1);
        const at = 2 * ((base + 2 + j) * N + e);
        cw32[at] = vcw[0]!;
        cw32[at + 1] = vcw[1]!;
        addSigned(w, wk, o32[keep0 + 4 + 2 * j]!, o32[keep0 + 5 + 2 * j]!, false);
        addSigned(w, wk, o32[keep1 + 4 + 2 * j]!, o32[keep1 + 5 + 2 * j]!, true);
        addSigned(w, wk, vcw[0]!, vcw[1]!, tp1 === 1);
      }
      // Control-bit corrections: the keep side's bits must differ, the lose side's agree.
      const tL = (o32[o]! ^ o32[o + 16]! ^ a ^ 1) & 1;
      const tR = (o32[o + 8]! ^ o32[o + 24]! ^ a) & 1;
      cw32[2 * ((base + 2 + g) * N + e)] = tL | (tR << 1);
      const tKeep = a === 0 ? tL : tR;
      const tp0 = t0[e]!;
      for (let q = 0; q < 4; q++) {
        const c = cw32[2 * ((base + (q >> 1)) * N + e) + (q & 1)]!;
        let x0 = o32[keep0 + q]!, x1 = o32[keep1 + q]!;
        if (q === 0) (x0 &= ~1), (x1 &= ~1);
        s0[4 * e + q] = (tp0 === 1 ? x0 ^ c : x0) >>> 0;
        s1[4 * e + q] = (tp1 === 1 ? x1 ^ c : x1) >>> 0;
      }
      t0[e] = (o32[keep0]! & 1) ^ (tp0 & tKeep);
      t1[e] = (o32[keep1]! & 1) ^ (tp1 & tKeep);
    }
  }
  // Last word: (-1)^t1 (conv(s1) - conv(s0) - W), conv(s) = the seed's first g words.
  const last = n * rows;
  for (let e = 0; e < N; e++) {
    for (let j = 0; j < g; j++) {
      acc[0] = 0;
      acc[1] = 0;
      addSigned(acc, 0, s1[4 * e + 2 * j]!, s1[4 * e + 2 * j + 1]!, false);
      addSigned(acc, 0, s0[4 * e + 2 * j]!, s0[4 * e + 2 * j + 1]!, true);
      addSigned(acc, 0, w[2 * (e * g + j)]!, w[2 * (e * g + j) + 1]!, true);
      vcw[0] = 0;
      vcw[1] = 0;
      addSigned(vcw, 0, acc[0]!, acc[1]!, t1[e] === 1);
      cw32[2 * ((last + j) * N + e)] = vcw[0]!;
      cw32[2 * ((last + j) * N + e) + 1] = vcw[1]!;
    }
  }
  return cw;
}

/** A private copy of seed bytes as u32 words. */
function words32(bytes: Uint8Array): Uint32Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Uint32Array(copy.buffer);
}

/** One evaluation state per point: seeds (4 u32), control bits, accumulated values (g rows of M words as u32 pairs). */
interface EvalState {
  readonly s: Uint32Array;
  readonly t: Uint8Array;
  readonly v: Uint32Array;
}

/** Tree levels [from, to) of M evaluations (point k uses key k mod N) on inputs x32. */
function evalLevels(d: DcfBatch, cw32: Uint32Array, x32: Uint32Array, M: number, st: EvalState, neg: boolean, from: number, to: number): void {
  const { count: N, bits: n, payload: g } = d;
  const rows = 3 + g;
  const { s, t, v } = st;
  const input = new Uint8Array(32 * M);
  const in32 = new Uint32Array(input.buffer);
  for (let i = from; i < to; i++) {
    const bit = n - 1 - i;
    for (let k = 0; k < M; k++) {
      const side = bitOf(x32, k, bit);
      tweaked(in32, 8 * k, s, 4 * k, 2 * side);
      tweaked(in32, 8 * k + 4, s, 4 * k, 2 * side + 1);
    }
    const h = mmo(input);
    const o32 = new Uint32Array(h.buffer, h.byteOffset, h.byteLength / 4);
    const base = i * rows;
    for (let k = 0; k < M; k++) {
      const e = k % N;
      const side = bitOf(x32, k, bit);
      const te = t[k]!;
      const o = 8 * k;
      let tNext = o32[o]! & 1;
      for (let j = 0; j < g; j++) {
        addSigned(v, j * M + k, o32[o + 4 + 2 * j]!, o32[o + 5 + 2 * j]!, neg);
        if (te === 1) {
          const row = base + 2 + j;
          addSigned(v, j * M + k, cw32[2 * (row * N + e)]!, cw32[2 * (row * N + e) + 1]!, neg);
        }
      }
      for (let q = 0; q < 4; q++) {
        let word = o32[o + q]!;
        if (q === 0) word &= ~1;
        if (te === 1) word ^= cw32[2 * ((base + (q >> 1)) * N + e) + (q & 1)]!;
        s[4 * k + q] = word >>> 0;
      }
      if (te === 1) tNext ^= (cw32[2 * ((base + 2 + g) * N + e)]! >>> side) & 1;
      t[k] = tNext;
    }
  }
}

/** A fresh state for M points of N keys: every point at its key's root. */
function rootState(root: Uint8Array, N: number, M: number, g: number, party: 0 | 1): EvalState {
  const r32 = words32(root);
  const s = new Uint32Array(4 * M);
  for (let k = 0; k < M; k += N) s.set(r32.subarray(0, 4 * Math.min(N, M - k)), 4 * k);
  return { s, t: new Uint8Array(M).fill(party), v: new Uint32Array(2 * g * M) };
}

/**
 * The input bits below which the points of one key may differ: when every key's P points lie
 * within a window of 2^(low-1) (a spline's X - k_p: the breakpoints' span), each key's points
 * have at most two distinct prefixes above bit `low`, those of its smallest and largest point,
 * so the tree's upper levels run once per prefix instead of once per point. n: no sharing.
 */
function sharedLow(x: BigUint64Array, N: number, P: number, n: number): { low: number; lo: BigUint64Array; hi: BigUint64Array } {
  const lo = new BigUint64Array(N);
  const hi = new BigUint64Array(N);
  let span = 0n;
  for (let e = 0; e < N; e++) {
    let a = x[e]!;
    let b = a;
    for (let p = 1; p < P; p++) {
      const v = x[p * N + e]!;
      if (v < a) a = v;
      if (v > b) b = v;
    }
    lo[e] = a;
    hi[e] = b;
    if (b - a > span) span = b - a;
  }
  return { low: Math.min(n, span.toString(2).length + 1), lo, hi };
}

/**
 * Party `party`'s evaluation of its keys at the public inputs `x` (low `bits` bits used):
 * its shares of f(x), g rows of N ring words (word-major). With `points` P > 1, `x` holds P
 * inputs per key, point-major (x[p N + e] for key e), and each row holds N P words in the same
 * order: one key evaluated at several points (a spline's breakpoints) without copying it; the
 * levels above the points' common window run once per distinct prefix (sharedLow).
 */
export function dcfEval(d: DcfBatch, party: 0 | 1, root: Uint8Array, cw: BigUint64Array, x: BigUint64Array, points = 1): BigUint64Array {
  const { count: N, bits: n, payload: g } = d;
  const M = N * points;
  const rows = 3 + g;
  const cw32 = new Uint32Array(cw.buffer, cw.byteOffset, 2 * cw.length);
  const x32 = new Uint32Array(x.buffer, x.byteOffset, 2 * M);
  const neg = party === 1;
  const shared = points > 2 ? sharedLow(x, N, points, n) : undefined;
  let st: EvalState;
  let from = 0;
  if (shared !== undefined && shared.low < n) {
    // Upper levels on the two prefixes of each key (its smallest and largest point).
    const cand = new BigUint64Array(2 * N);
    cand.set(shared.lo, 0);
    cand.set(shared.hi, N);
    const pre = rootState(root, N, 2 * N, g, party);
    from = n - shared.low;
    evalLevels(d, cw32, new Uint32Array(cand.buffer), 2 * N, pre, neg, 0, from);
    // Each point continues from the state of the prefix it shares.
    st = { s: new Uint32Array(4 * M), t: new Uint8Array(M), v: new Uint32Array(2 * g * M) };
    const sh = BigInt(shared.low);
    for (let k = 0; k < M; k++) {
      const e = k % N;
      const c = x[k]! >> sh === shared.lo[e]! >> sh ? e : N + e;
      st.s.set(pre.s.subarray(4 * c, 4 * c + 4), 4 * k);
      st.t[k] = pre.t[c]!;
      for (let j = 0; j < g; j++) {
        st.v[2 * (j * M + k)] = pre.v[2 * (j * 2 * N + c)]!;
        st.v[2 * (j * M + k) + 1] = pre.v[2 * (j * 2 * N + c) + 1]!;
      }
    }
  } else st = rootState(root, N, M, g, party);
  evalLevels(d, cw32, x32, M, st, neg, from, n);
  const out = new BigUint64Array(g * M);
  const v32 = new Uint32Array(out.buffer);
  v32.set(st.v);
  const last = n * rows;
  for (let k = 0; k < M; k++) {
    const e = k % N;
    for (let j = 0; j < g; j++) {
      addSigned(v32, j * M + k, st.s[4 * k + 2 * j]!, st.s[4 * k + 2 * j + 1]!, neg);
      if (st.t[k] === 1) addSigned(v32, j * M + k, cw32[2 * ((last + j) * N + e)]!, cw32[2 * ((last + j) * N + e) + 1]!, neg);
    }
  }
  return out;
}
