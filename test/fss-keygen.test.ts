// The dealer's FSS key generation (ir/ring/dcf.ts dcfGen, ir/circuit/gates/fss.ts fssKeys)
// pinned word for word: against a slow reference written from the construction's description
// (BigInt arithmetic, one node:crypto AES call per level and party), and against digests of
// the keys the implementation made before its kernels changed. Key generation is deterministic
// in its seeds, so any change to a correction word or constant share shows here.

import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CircuitBuilder } from '../ir/circuit/index.ts';
import { fssKeys, type FssMode } from '../ir/circuit/gates/fss.ts';
import { findCircuitOp } from '../ir/circuit/ops.ts';
import { dcfCorrectionRows, dcfGen, dcfLeafBits } from '../ir/ring/dcf.ts';
import { prgRing } from '../ir/ring/stream.ts';
import { isLendable } from '../ir/ring/pool.ts';

const M64 = (1n << 64n) - 1n;
const LOW2 = M64 ^ 3n;

/** Deterministic test words: a hash-seeded PRG stream, `label` naming it. */
const words = (label: string, n: number): BigUint64Array => prgRing(createHash('sha256').update(`fss-keygen-test/${label}`).digest().subarray(0, 16), 0, n);
const bytesOf = (w: BigUint64Array): Uint8Array => new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
const digest = (...ws: BigUint64Array[]): string => {
  const h = createHash('sha256');
  for (const w of ws) h.update(bytesOf(w));
  return h.digest('hex');
};

// The MMO hash's fixed AES key, as the construction names it.
const KEY = createHash('sha256').update('ig3dc/fss/mmo-fixed-key').digest().subarray(0, 16);

/** MMO of one 128-bit block (lo, hi words, little-endian): AES_K(b) ^ b, as [lo, hi]. */
function mmo(lo: bigint, hi: bigint): [bigint, bigint] {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(lo, 0);
  b.writeBigUInt64LE(hi, 8);
  const c = createCipheriv('aes-128-ecb', KEY, null);
  c.setAutoPadding(false);
  const h = c.update(b);
  return [h.readBigUInt64LE(0) ^ lo, h.readBigUInt64LE(8) ^ hi];
}

/**
 * One element's DCF key generation, slowly: root seeds (lo, hi words) of both parties, the
 * comparison point alpha (n bits), payload beta (g words). Returns the dcfCorrectionRows(n, g)
 * correction words, row by row.
 *
 * Per tree level (all but the last nu = dcfLeafBits(n) bits), from the top bit of alpha down: each party expands its seed s into a seed block
 * and a value block per side q (s ^ tweak in the high word's upper half: L seed 0, L value 1,
 * R seed 2, R value 3); a seed block's lowest bit is the control bit. The side alpha takes is
 * kept, the other lost. Corrections: tL = t0L ^ t1L ^ a ^ 1, tR = t0R ^ t1R ^ a; the lost
 * seeds XORed (two lowest bits cleared) carry tL and tR in those bits; value correction
 * (-1)^t1 (a beta - W - v0_lose + v1_lose), W += that + v0_keep - v1_keep. A party's next seed is
 * its kept seed (two lowest bits cleared) ^ t_b (seed correction without the bits), its control
 * bit the kept seed's lowest bit ^ t_b t_keep. The leaf, entry j < 2^nu (early termination):
 * (-1)^t1 ([j < alpha mod 2^nu] beta + H1_j - H0_j - W), Hb_j the MMO hash of party b's seed ^
 * tweak 4 + j (its words, one per payload word).
 */
function refDcfGen(n: number, g: number, roots: [[bigint, bigint], [bigint, bigint]], alpha: bigint, beta: bigint[]): bigint[] {
  const s = roots.map((r) => [...r]);
  const t = [0n, 1n];
  const W = new Array<bigint>(g).fill(0n);
  const rows: bigint[] = [];
  const nu = dcfLeafBits(n);
  for (let i = n - 1; i >= nu; i--) {
    const a = (alpha >> BigInt(i)) & 1n;
    // hash[b][q]: party b's block q.
    const hash = [0, 1].map((b) => [0n, 1n, 2n, 3n].map((q) => mmo(s[b]![0]!, s[b]![1]! ^ (q << 32n))));
    const keep = a === 1n ? 2 : 0;
    const lose = 2 - keep;
    const tL = (hash[0]![0]![0] ^ hash[1]![0]![0] ^ a ^ 1n) & 1n;
    const tR = (hash[0]![2]![0] ^ hash[1]![2]![0] ^ a) & 1n;
    const tKeep = a === 1n ? tR : tL;
    const c0 = (hash[0]![lose]![0] ^ hash[1]![lose]![0]) & LOW2;
    const c1 = hash[0]![lose]![1] ^ hash[1]![lose]![1];
    rows.push(c0 | tL | (tR << 1n), c1);
    for (let j = 0; j < g; j++) {
      const acc = ((a === 1n ? beta[j]! : 0n) - W[j]! - hash[0]![lose + 1]![j]! + hash[1]![lose + 1]![j]!) & M64;
      rows.push(t[1] === 1n ? -acc & M64 : acc);
      W[j] = (W[j]! + acc + hash[0]![keep + 1]![j]! - hash[1]![keep + 1]![j]!) & M64;
    }
    for (const b of [0, 1]) {
      const [h0, h1] = hash[b]![keep]!;
      const tb = t[b]!;
      s[b] = [(h0 & LOW2) ^ (tb === 1n ? c0 : 0n), h1 ^ (tb === 1n ? c1 : 0n)];
      t[b] = (h0 ^ (tb & tKeep)) & 1n;
    }
  }
  // The leaf: entry j from each party's block j (seed ^ tweak 4 + j), beta where j < alpha's low nu bits.
  const low = alpha & ((1n << BigInt(nu)) - 1n);
  for (let j = 0n; j < 1n << BigInt(nu); j++) {
    const [h0, h1] = [0, 1].map((b) => mmo(s[b]![0]!, s[b]![1]! ^ ((4n + j) << 32n)));
    for (let q = 0; q < g; q++) {
      const v = ((j < low ? beta[q]! : 0n) + h1![q]! - h0![q]! - W[q]!) & M64;
      rows.push(t[1] === 1n ? -v & M64 : v);
    }
  }
  return rows;
}

/** Reference correction words of N elements, word-major (row r of all N together). */
function refBatch(n: number, g: number, roots: readonly [Uint8Array, Uint8Array], alpha: BigUint64Array, beta: BigUint64Array): BigUint64Array {
  const N = alpha.length;
  const R = dcfCorrectionRows(n, g);
  const out = new BigUint64Array(R * N);
  const r64 = roots.map((r) => new BigUint64Array(r.buffer, r.byteOffset, 2 * N));
  for (let e = 0; e < N; e++) {
    const rows = refDcfGen(n, g, [[r64[0]![2 * e]!, r64[0]![2 * e + 1]!], [r64[1]![2 * e]!, r64[1]![2 * e + 1]!]], alpha[e]!, Array.from({ length: g }, (_, j) => beta[j * N + e]!));
    rows.forEach((w, r) => (out[r * N + e] = w));
  }
  return out;
}

/**
 * Reference FSS key words (fss.ts's sign formula): on m bits, alpha = (rho mod 2^(m-1)) >> drop,
 * beta = (1 - 2 r_{m-1}) [, (1 - 2 r_{m-1}) rho], constants r_{m-1} [, r_{m-1} rho]; P0 gets the
 * correction words, P1 its constant shares (constants - P0's) then the correction words.
 */
function refFssKeys(mode: FssMode, bits: number, rho: BigUint64Array, roots: readonly [Uint8Array, Uint8Array], p0Consts: BigUint64Array, drop: number): [BigUint64Array, BigUint64Array] {
  const N = rho.length;
  const g = mode === 'ltz' ? 1 : 2;
  const top = BigInt(bits - 1);
  const alpha = new BigUint64Array(N);
  const beta = new BigUint64Array(g * N);
  const p1 = new BigUint64Array(g * N + dcfCorrectionRows(bits - 1 - drop, g) * N);
  for (let e = 0; e < N; e++) {
    const r = rho[e]!;
    const rm = (r >> top) & 1n;
    alpha[e] = (r & ((1n << top) - 1n)) >> BigInt(drop);
    const sign = rm === 1n ? M64 : 1n;
    beta[e] = sign;
    p1[e] = (rm - p0Consts[e]!) & M64;
    if (g === 2) {
      beta[N + e] = (sign * r) & M64;
      p1[N + e] = (rm * r - p0Consts[N + e]!) & M64;
    }
  }
  const cw = refBatch(bits - 1 - drop, g, roots, alpha, beta);
  p1.set(cw, g * N);
  return [cw, p1];
}

const rootsOf = (label: string, N: number): [Uint8Array, Uint8Array] => [bytesOf(words(`${label}/root0`, 2 * N)), bytesOf(words(`${label}/root1`, 2 * N))];

describe('DCF key generation, word for word', () => {
  it('dcfGen equals the slow reference: depths 1..64, one and two payload words, alpha and beta at the edges, across chunk boundaries', () => {
    // 517 elements: one chunk of 512 and a partial one.
    for (const [n, g, N] of [
      [1, 1, 7],
      [2, 2, 9],
      [31, 1, 517],
      [32, 2, 20],
      [33, 2, 20],
      [63, 2, 517],
      [64, 1, 20],
      [64, 2, 30],
    ] as const) {
      const mask = n === 64 ? M64 : (1n << BigInt(n)) - 1n;
      const edges = [0n, mask, 1n, mask - 1n, 1n << BigInt(n - 1)];
      const alpha = words(`alpha/${n}/${g}`, N).map((a, e) => (e < edges.length ? edges[e]! : a) & mask);
      const beta = words(`beta/${n}/${g}`, g * N).map((b, i) => (i % N === 0 ? 0n : i % N === 1 ? M64 : b));
      const roots = rootsOf(`dcf/${n}/${g}`, N);
      const cw = dcfGen({ count: N, bits: n, payload: g }, roots, alpha, beta);
      const ref = refBatch(n, g, roots, alpha, beta);
      let first = -1;
      for (let i = 0; i < ref.length && first < 0; i++) if (cw[i] !== ref[i]) first = i;
      expect(first, `n=${n} g=${g} N=${N}: first differing word (row ${Math.floor(first / N)}, element ${first % N})`).toBe(-1);
    }
  });

  it('fssKeys equals the reference sign-formula keys: ltz and relu, 2..64 bits, dropped low bits, masks at the edges, both output layouts', () => {
    for (const [mode, bits, drop, N] of [
      ['ltz', 2, 0, 6],
      ['relu', 17, 0, 9],
      ['ltz', 33, 0, 9],
      ['relu', 34, 1, 9],
      ['relu', 40, 12, 9],
      ['ltz', 64, 0, 530],
      ['relu', 64, 0, 530],
      ['relu', 64, 31, 9],
      ['ltz', 64, 33, 9],
      ['relu', 64, 62, 9],
    ] as const) {
      const g = mode === 'ltz' ? 1 : 2;
      const edges = [0n, 1n, M64, 1n << 63n, (1n << 63n) - 1n, 1n << BigInt(bits - 1), (1n << BigInt(bits - 1)) - 1n];
      const rho = words(`rho/${mode}/${bits}/${drop}`, N).map((r, e) => (e < edges.length ? edges[e]! : r));
      const roots = rootsOf(`fss/${mode}/${bits}/${drop}`, N);
      const p0 = words(`p0/${mode}/${bits}/${drop}`, g * N);
      const [w0, w1] = refFssKeys(mode, bits, rho, roots, p0, drop);
      const [k0, k1] = fssKeys(mode, bits, rho, roots, p0, drop);
      expect(digest(k0), `${mode} ${bits}-bit drop ${drop}: P0's words`).toBe(digest(w0));
      expect(digest(k1), `${mode} ${bits}-bit drop ${drop}: P1's words`).toBe(digest(w1));
    }
  });

  it('the keys are those the implementation made before its kernels changed (digests of fixed-seed keys)', () => {
    const N = 1500;
    const alpha = words('pin/alpha', N);
    const beta = words('pin/beta', 2 * N);
    const roots = rootsOf('pin', N);
    expect(digest(dcfGen({ count: N, bits: 64, payload: 2 }, roots, alpha, beta))).toBe(PINNED.dcf64g2);
    expect(digest(dcfGen({ count: N, bits: 20, payload: 1 }, roots, alpha.map((a) => a & 0xfffffn), beta.subarray(0, N)))).toBe(PINNED.dcf20g1);
    const rho = words('pin/rho', N);
    expect(digest(...fssKeys('relu', 64, rho, roots, words('pin/p0', 2 * N)))).toBe(PINNED.relu64);
    expect(digest(...fssKeys('ltz', 37, rho, roots, words('pin/p0', N), 5))).toBe(PINNED.ltz37drop5);
  });

  it("the dealer's words for fss_key instructions, from the seeds on, are those it sent before, each party's an array of its own", () => {
    const seeds = { s0d: new Uint8Array(16).fill(7), s1d: new Uint8Array(16).fill(9) };
    const b = new CircuitBuilder();
    b.dealer.fssKey([3, 250], b.f, 64, 'relu');
    b.dealer.fssKey([700], 0, 30, 'ltz', 4);
    const c = b.build();
    const sent: BigUint64Array[] = [];
    for (const ins of c.instructions.filter((i) => i.op === 'fss_key')) {
      const [w0, w1] = findCircuitOp('fss_key')!.dealer!.send(ins, c.registers, seeds);
      // Whole lent buffers: transferable to a party's thread, and taken back for later keys.
      for (const w of [w0!, w1!]) expect(isLendable(w)).toBe(true);
      expect(w0!.buffer).not.toBe(w1!.buffer);
      // Pinned when each instruction's words were made twice (once with P0's a view of P1's): the same words.
      sent.push(w0!, w1!, w0!, w1!);
    }
    expect(digest(...sent)).toBe(PINNED.send);
  });
});

// sha256 of the words made with early termination (DCF_LEAF_BITS = 4), whose keys the slow
// reference above checks word for word.
const PINNED = {
  dcf64g2: '8cdff4c604ef7056bf92c2691c94906d1f2017a70192d534215badff27fa52f9',
  dcf20g1: 'ca24ad07cf244579f50ac65a04547a44c00e126045a02b1ac8a225bf1193ae37',
  relu64: 'a3fcda7ed3547c36ee0b0d15db9d90c670c4401ef9e92e674ee0d2cdc4ece067',
  ltz37drop5: '802dc25db9f294fa49ea6844513ef37350065e4557af3bf6da11ce8469aedb4a',
  send: 'a95343246cc70eb7c8c150502254ea2e402312ef02e181283ef27f377a33dcd1',
};
