// WebAssembly kernels of DCF evaluation (ir/ring/dcf.ts): per tree level, the AES input of
// every lane (prep) and, after AES, the lane's new seed, control bit and accumulated value
// (update); after the last level, the leaf's block and the output (leafPrep, leaf). i64 arithmetic wraps, which is exactly Z_2^64. Assembled at load time by
// wasm-encoder.ts; the AES itself stays in node:crypto (the caller passes the input out of
// and the output back into this module's memory).
//
// Lanes are struct-of-arrays at byte offsets: seed S (16 bytes: low, high word), control bit T
// as a mask (8 bytes: 0 or all ones), accumulated values V (8 g bytes), input X (8 bytes),
// key K (i32: the lane's key within the chunk's correction-word block). The correction words
// of one level are rows `rs` bytes apart from `cwl`: seed low word (its two lowest bits the
// control-bit corrections of the left and right child), seed high word, then g value words;
// key k's word at 8 k in each row.

import { encodeModule, FuncBuilder, I32, I64, Op, WA, type ModuleFunction, type WasmMemory } from './wasm-encoder.ts';

const I64_SHR_U = Op.i64ShrU;
const I32_LOAD = Op.i32Load;
const I32_WRAP = 0xa7;

/** prep(s, x, in, nl, bit): per lane the two AES blocks (seed ^ tweak 2 side, 2 side + 1) of the side bit `bit` of x takes. */
function prep(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32], []);
  const [s, x, inp, nl, bit] = [0, 1, 2, 3, 4];
  const [end] = [f.local(I32)];
  const [sh, lo, hi, tw] = [f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
  f.get(bit).op(Op.i64ExtendI32U).set(sh);
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(s).get(end).op(Op.i32LtU),
    (g) => {
      // tweak 2 side in the seed's last u32: (side << 1) << 32.
      g.get(x).load64().get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).i64(33n).op(Op.i64Shl).set(tw);
      g.get(s).load64().set(lo);
      g.get(s).load64(8).get(tw).op(Op.i64Xor).set(hi);
      g.get(inp).get(lo).store64(0);
      g.get(inp).get(hi).store64(8);
      g.get(inp).get(lo).store64(16);
      g.get(inp).get(hi).i64(1n << 32n).op(Op.i64Xor).store64(24);
      g.inc(s, 16).inc(x, 8).inc(inp, 32);
    },
  );
  return f;
}

/**
 * update(s, v, t, x, k, in, h, nl, bit, cwl, rs) with g payload words; `sub`: party 1
 * subtracts its values. h: AES of `in` (MMO adds `in` back).
 */
function update(g: number, sub: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [s, v, t, x, k, inp, h, nl, bit, cwl, rs] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [end, cwk, cwv] = [f.local(I32), f.local(I32), f.local(I32)];
  const [sh, side, tm, h0, cs0] = [f.local(I64), f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
  f.get(bit).op(Op.i64ExtendI32U).set(sh);
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (b) => b.get(s).get(end).op(Op.i32LtU),
    (b) => {
      b.get(x).load64().get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).set(side);
      b.get(t).load64().set(tm);
      // cwk = cwl + 8 k
      b.get(cwl).get(k).op(I32_LOAD, 2, 0).i32(3).op(Op.i32Shl).op(Op.i32Add).set(cwk);
      // Values: v (+/-)= (AES ^ in) + (cw & tm), row 2 + j.
      b.get(cwk).get(rs).i32(1).op(Op.i32Shl).op(Op.i32Add).set(cwv);
      for (let j = 0; j < g; j++) {
        const off = 16 + 8 * j;
        b.get(v);
        b.get(v).load64(8 * j);
        b.get(h).load64(off).get(inp).load64(off).op(Op.i64Xor);
        b.get(cwv).load64().get(tm).op(Op.i64And).op(Op.i64Add);
        b.op(sub ? Op.i64Sub : Op.i64Add).store64(8 * j);
        if (j + 1 < g) b.get(cwv).get(rs).op(Op.i32Add).set(cwv);
      }
      // Seed: (AES ^ in) ^ (cw & tm), the two lowest bits cleared; control bit: the hash's lowest bit ^ (t & the side's correction bit).
      b.get(h).load64().get(inp).load64().op(Op.i64Xor).set(h0);
      b.get(cwk).load64().set(cs0);
      b.get(s).get(h0).get(cs0).get(tm).op(Op.i64And).op(Op.i64Xor).i64(-4n).op(Op.i64And).store64(0);
      b.get(s).get(h).load64(8).get(inp).load64(8).op(Op.i64Xor);
      b.get(cwk).get(rs).op(Op.i32Add).load64().get(tm).op(Op.i64And).op(Op.i64Xor).store64(8);
      // t = -((h0 ^ (tm & (cs0 >> side))) & 1)
      b.get(t).i64(0n);
      b.get(h0).get(tm).get(cs0).get(side).op(I64_SHR_U).op(Op.i64And).op(Op.i64Xor).i64(1n).op(Op.i64And);
      b.op(Op.i64Sub).store64(0);
      b.inc(s, 16).inc(v, 8 * g).inc(t, 8).inc(x, 8).inc(k, 4).inc(inp, 32).inc(h, 32);
    },
  );
  return f;
}

/** genPrep(s0, s1, in, c): per element 8 AES blocks: party 0 then 1, each L-seed, L-value, R-seed, R-value (seed ^ tweak q). */
function genPrep(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [s0, s1, inp, c] = [0, 1, 2, 3];
  const [end] = [f.local(I32)];
  const [lo, hi] = [f.local(I64), f.local(I64)];
  f.get(s0).get(c).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(s0).get(end).op(Op.i32LtU),
    (g) => {
      for (const [s, at] of [
        [s0, 0],
        [s1, 64],
      ] as const) {
        g.get(s).load64().set(lo);
        g.get(s).load64(8).set(hi);
        for (let q = 0; q < 4; q++) {
          g.get(inp).get(lo).store64(at + 16 * q);
          g.get(inp).get(hi);
          if (q > 0) g.i64(BigInt(q) << 32n).op(Op.i64Xor);
          g.store64(at + 16 * q + 8);
        }
      }
      g.inc(s0, 16).inc(s1, 16).inc(inp, 128);
    },
  );
  return f;
}

/**
 * genUpdate(s0, s1, t0, t1, w, alpha, beta, in, h, c, bit, cwl, rs) with g payload words: one
 * level of key generation for c elements. h: AES of `in` (MMO adds `in` back); per element
 * 128 bytes, party b at 64 b, side at 32 side, the seed block then the value block. Writes the
 * level's correction words (rows rs bytes apart from cwl, element e at 8 e) and advances both
 * parties' seeds, control-bit masks t0, t1 and the path's value W (g words per element).
 * alpha: the comparison points; beta: g rows, rs bytes apart like the correction words'.
 */
function genUpdate(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [s0, s1, t0, t1, w, alpha, beta, inp, h, c, bit, cwl, rs] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const L32 = (): number => f.local(I32);
  const [end, keep, lose, cw, a32] = [L32(), L32(), L32(), L32(), L32()];
  const L64 = (): number => f.local(I64);
  const [sh, a, tL, tR, tKeep, c0, c1, tm0, tm1, acc, k0] = [L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64()];
  // The MMO hash word at byte offset `off` from the element's block base: AES ^ in.
  const hash = (b: FuncBuilder, base: number, off: number): void => {
    b.get(h).get(base).op(Op.i32Add).load64(off).get(inp).get(base).op(Op.i32Add).load64(off).op(Op.i64Xor);
  };
  const zero = L32(); // 0: the element's own base (h and inp advance per element)
  f.get(bit).op(Op.i64ExtendI32U).set(sh);
  f.get(s0).get(c).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.get(cwl).set(cw);
  f.whileLoop(
    (b) => b.get(s0).get(end).op(Op.i32LtU),
    (b) => {
      b.get(alpha).load64().get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).tee(a).op(I32_WRAP).set(a32);
      b.get(a32).i32(5).op(Op.i32Shl).set(keep);
      b.i32(32).get(keep).op(Op.i32Sub).set(lose);
      b.get(t0).load64().set(tm0);
      b.get(t1).load64().set(tm1);
      // Control-bit corrections: the keep side's bits must differ, the lose side's agree.
      hash(b, zero, 0);
      hash(b, zero, 64);
      b.op(Op.i64Xor).get(a).op(Op.i64Xor).i64(1n).op(Op.i64Xor).i64(1n).op(Op.i64And).set(tL);
      hash(b, zero, 32);
      hash(b, zero, 96);
      b.op(Op.i64Xor).get(a).op(Op.i64Xor).i64(1n).op(Op.i64And).set(tR);
      // tKeep = a ? tR : tL = tL ^ (a & (tL ^ tR))
      b.get(tL).get(a).get(tL).get(tR).op(Op.i64Xor).op(Op.i64And).op(Op.i64Xor).set(tKeep);
      // Seed correction: the lose-side seeds XORed, two lowest bits cleared, then carrying tL and tR.
      hash(b, lose, 0);
      hash(b, lose, 64);
      b.op(Op.i64Xor).i64(-4n).op(Op.i64And).set(c0);
      hash(b, lose, 8);
      hash(b, lose, 72);
      b.op(Op.i64Xor).set(c1);
      b.get(cw).get(c0).get(tL).op(Op.i64Or).get(tR).i64(1n).op(Op.i64Shl).op(Op.i64Or).store64(0);
      b.get(cw).get(rs).op(Op.i32Add).get(c1).store64(0);
      // Value corrections: acc = (a ? beta : 0) - W - v0_lose + v1_lose; VCW = t1 ? -acc : acc; W += acc + v0_keep - v1_keep.
      for (let j = 0; j < g; j++) {
        b.get(beta);
        if (j > 0) b.get(rs).i32(j).op(Op.i32Mul).op(Op.i32Add);
        b.load64().i64(0n).get(a).op(Op.i64Sub).op(Op.i64And);
        b.get(w).load64(8 * j).op(Op.i64Sub);
        hash(b, lose, 16 + 8 * j);
        b.op(Op.i64Sub);
        hash(b, lose, 80 + 8 * j);
        b.op(Op.i64Add).set(acc);
        b.get(cw).get(rs).i32(2 + j).op(Op.i32Mul).op(Op.i32Add);
        b.get(acc).get(tm1).op(Op.i64Xor).get(tm1).op(Op.i64Sub).store64(0);
        b.get(w).get(w).load64(8 * j).get(acc).op(Op.i64Add);
        hash(b, keep, 16 + 8 * j);
        b.op(Op.i64Add);
        hash(b, keep, 80 + 8 * j);
        b.op(Op.i64Sub).store64(8 * j);
      }
      // Next seeds: the keep side's (two lowest bits cleared) ^ the correction under the party's control bit; next control bits.
      for (const [s, t, tm, at] of [
        [s0, t0, tm0, 0],
        [s1, t1, tm1, 64],
      ] as const) {
        hash(b, keep, at);
        b.set(k0);
        b.get(s).get(k0).i64(-4n).op(Op.i64And).get(c0).get(tm).op(Op.i64And).op(Op.i64Xor).store64(0);
        b.get(s);
        hash(b, keep, at + 8);
        b.get(c1).get(tm).op(Op.i64And).op(Op.i64Xor).store64(8);
        b.get(t).i64(0n).get(k0).get(tm).get(tKeep).op(Op.i64And).op(Op.i64Xor).i64(1n).op(Op.i64And).op(Op.i64Sub).store64(0);
      }
      b.inc(s0, 16).inc(s1, 16).inc(t0, 8).inc(t1, 8).inc(w, 8 * g).inc(alpha, 8).inc(beta, 8).inc(inp, 128).inc(h, 128).inc(cw, 8);
    },
  );
  return f;
}

/**
 * fssKeyPrep(rho, p0c, alpha, beta, p1c, c, top, drop, low, rs) with g payload words: the sign
 * formula's DCF inputs (ir/circuit/gates/fss.ts) for c masks rho, m = top + 1 bits: the point
 * alpha = (rho & low) >> drop (low = 2^top - 1), the payload beta_0 = 1 - 2 r_top and (g = 2)
 * beta_1 = (1 - 2 r_top) rho, and P1's constant shares: r_top (and r_top rho) minus P0's p0c.
 * beta, p0c and p1c: g rows rs bytes apart, element e at 8 e; rho, alpha: one word per element.
 */
function fssKeyPrep(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I64, I32], []);
  const [rho, p0c, alpha, beta, p1c, c, top, drop, low, rs] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [end] = [f.local(I32)];
  const [sh, dr, r, rm, nm] = [f.local(I64), f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
  f.get(top).op(Op.i64ExtendI32U).set(sh);
  f.get(drop).op(Op.i64ExtendI32U).set(dr);
  f.get(rho).get(c).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (b) => b.get(rho).get(end).op(Op.i32LtU),
    (b) => {
      b.get(rho).load64().set(r);
      // rm = r_top; nm = its mask (0 or all ones)
      b.get(r).get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).set(rm);
      b.i64(0n).get(rm).op(Op.i64Sub).set(nm);
      b.get(alpha).get(r).get(low).op(Op.i64And).get(dr).op(I64_SHR_U).store64();
      // beta_0 = 1 - 2 rm; P1's constant share rm - p0c_0
      b.get(beta).i64(1n).get(rm).i64(1n).op(Op.i64Shl).op(Op.i64Sub).store64();
      b.get(p1c).get(rm).get(p0c).load64().op(Op.i64Sub).store64();
      if (g === 2) {
        // beta_1 = (r ^ nm) - nm (rho or -rho); P1's share (r & nm) - p0c_1
        b.get(beta).get(rs).op(Op.i32Add).get(r).get(nm).op(Op.i64Xor).get(nm).op(Op.i64Sub).store64();
        b.get(p1c).get(rs).op(Op.i32Add).get(r).get(nm).op(Op.i64And).get(p0c).get(rs).op(Op.i32Add).load64().op(Op.i64Sub).store64();
      }
      b.inc(rho, 8).inc(p0c, 8).inc(alpha, 8).inc(beta, 8).inc(p1c, 8);
    },
  );
  return f;
}

/** mask = 2^nu - 1 (i64) from the i32 parameter nu. */
function leafMask(f: FuncBuilder, nu: number, mask: number): void {
  f.i64(1n).get(nu).op(Op.i64ExtendI32U).op(Op.i64Shl).i64(1n).op(Op.i64Sub).set(mask);
}

/**
 * leafPrep(s, x, inp, nl, nu): after the tree's last level, per lane one AES block: its seed ^
 * tweak 4 + j, j the low nu bits of its point (the leaf's entry, dcf.ts: early termination).
 */
function leafPrep(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32], []);
  const [s, x, inp, nl, nu] = [0, 1, 2, 3, 4];
  const [end] = [f.local(I32)];
  const [mask] = [f.local(I64)];
  leafMask(f, nu, mask);
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(s).get(end).op(Op.i32LtU),
    (g) => {
      g.get(inp).get(s).load64().store64(0);
      g.get(inp).get(s).load64(8).get(x).load64().get(mask).op(Op.i64And).i64(4n).op(Op.i64Add).i64(32n).op(Op.i64Shl).op(Op.i64Xor).store64(8);
      g.inc(s, 16).inc(x, 8).inc(inp, 16);
    },
  );
  return f;
}

/**
 * leaf(s, v, t, x, k, inp, h, nl, nu, cwl, rs, y) with g payload words; `sub`: party 1. Each
 * lane's share of f(x): y = v (+/-) (conv(H) + (CW_leaf[j] & t)), H the MMO hash of the lane's
 * leaf block (h: AES of `inp`, 16 bytes per lane), j the point's low nu bits; CW_leaf row
 * j g + w at cwl + (j g + w) rs, key k's word at 8 k. y: g words per lane.
 */
function leaf(g: number, sub: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [s, v, t, x, k, inp, h, nl, nu, cwl, rs, y] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [end, cwk] = [f.local(I32), f.local(I32)];
  const [mask, tm] = [f.local(I64), f.local(I64)];
  leafMask(f, nu, mask);
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (b) => b.get(s).get(end).op(Op.i32LtU),
    (b) => {
      b.get(t).load64().set(tm);
      // cwk = cwl + 8 k + j g rs
      b.get(cwl).get(k).op(I32_LOAD, 2, 0).i32(3).op(Op.i32Shl).op(Op.i32Add);
      b.get(x).load64().get(mask).op(Op.i64And).op(I32_WRAP).i32(g).op(Op.i32Mul).get(rs).op(Op.i32Mul).op(Op.i32Add).set(cwk);
      for (let j = 0; j < g; j++) {
        b.get(y);
        b.get(v).load64(8 * j);
        b.get(h).load64(8 * j).get(inp).load64(8 * j).op(Op.i64Xor);
        b.get(cwk);
        if (j > 0) b.get(rs).i32(j).op(Op.i32Mul).op(Op.i32Add);
        b.load64().get(tm).op(Op.i64And).op(Op.i64Add);
        b.op(sub ? Op.i64Sub : Op.i64Add).store64(8 * j);
      }
      b.inc(s, 16).inc(v, 8 * g).inc(t, 8).inc(x, 8).inc(k, 4).inc(inp, 16).inc(h, 16).inc(y, 8 * g);
    },
  );
  return f;
}

/** genLeafPrep(s0, s1, inp, c, nu): per element 2^(nu + 1) AES blocks: party 0's leaf blocks j = 0 .. 2^nu - 1 (seed ^ tweak 4 + j), then party 1's. */
function genLeafPrep(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32], []);
  const [s0, s1, inp, c, nu] = [0, 1, 2, 3, 4];
  const [end, j, m] = [f.local(I32), f.local(I32), f.local(I32)];
  const [lo, hi] = [f.local(I64), f.local(I64)];
  f.i32(1).get(nu).op(Op.i32Shl).set(m);
  f.get(s0).get(c).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(s0).get(end).op(Op.i32LtU),
    (g) => {
      for (const s of [s0, s1]) {
        g.get(s).load64().set(lo);
        g.get(s).load64(8).set(hi);
        g.i32(0).set(j);
        g.whileLoop(
          (q) => q.get(j).get(m).op(Op.i32LtU),
          (q) => {
            q.get(inp).get(lo).store64(0);
            q.get(inp).get(hi).get(j).i32(4).op(Op.i32Add).op(Op.i64ExtendI32U).i64(32n).op(Op.i64Shl).op(Op.i64Xor).store64(8);
            q.inc(inp, 16).inc(j, 1);
          },
        );
      }
      g.inc(s0, 16).inc(s1, 16);
    },
  );
  return f;
}

/**
 * genLeaf(t1, w, alpha, beta, inp, h, c, nu, cwl, rs) with g payload words: after key
 * generation's last tree level, the leaf's correction words of c elements: entry j, word q is
 * (-1)^t1 (conv_q(H1_j) - conv_q(H0_j) - W_q + [j < alpha mod 2^nu] beta_q), Hb_j the MMO hash
 * of party b's leaf block j (h: AES of `inp`, per element party 0's 2^nu blocks, then party
 * 1's). Row j g + q at cwl + (j g + q) rs, element e at 8 e; beta: g rows rs bytes apart.
 */
function genLeaf(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [t1, w, alpha, beta, inp, h, c, nu, cwl, rs] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const L32 = (): number => f.local(I32);
  const [end, j, m, row, step, h0, i0, h1, i1] = [L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32()];
  const L64 = (): number => f.local(I64);
  const [tm, al, lt, acc] = [L64(), L64(), L64(), L64()];
  // Per element: its payload and path value words, loaded once.
  const bw = Array.from({ length: g }, L64);
  const ww = Array.from({ length: g }, L64);
  const mask = L64();
  leafMask(f, nu, mask);
  f.i32(1).get(nu).op(Op.i32Shl).set(m);
  f.get(rs).i32(g).op(Op.i32Mul).set(step);
  f.get(t1).get(c).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (b) => b.get(t1).get(end).op(Op.i32LtU),
    (b) => {
      b.get(t1).load64().set(tm);
      b.get(alpha).load64().get(mask).op(Op.i64And).set(al);
      for (let p = 0; p < g; p++) {
        b.get(beta);
        if (p > 0) b.get(rs).op(Op.i32Add);
        b.load64().set(bw[p]!);
        b.get(w).load64(8 * p).set(ww[p]!);
      }
      // party 0's blocks from h and inp, party 1's 16 m bytes on
      b.get(h).set(h0).get(inp).set(i0);
      b.get(h).get(m).i32(4).op(Op.i32Shl).op(Op.i32Add).set(h1);
      b.get(inp).get(m).i32(4).op(Op.i32Shl).op(Op.i32Add).set(i1);
      b.get(cwl).set(row);
      b.i32(0).set(j);
      b.whileLoop(
        (q) => q.get(j).get(m).op(Op.i32LtU),
        (q) => {
          // lt = all ones where j < alpha's low bits
          q.i64(0n).get(j).op(Op.i64ExtendI32U).get(al).op(Op.i64LtU).op(Op.i64ExtendI32U).op(Op.i64Sub).set(lt);
          for (let p = 0; p < g; p++) {
            q.get(bw[p]!).get(lt).op(Op.i64And).get(ww[p]!).op(Op.i64Sub);
            q.get(h1).load64(8 * p).get(i1).load64(8 * p).op(Op.i64Xor).op(Op.i64Add);
            q.get(h0).load64(8 * p).get(i0).load64(8 * p).op(Op.i64Xor).op(Op.i64Sub).set(acc);
            q.get(row);
            if (p > 0) q.get(rs).op(Op.i32Add);
            q.get(acc).get(tm).op(Op.i64Xor).get(tm).op(Op.i64Sub).store64();
          }
          q.incBy(row, step).inc(h0, 16).inc(i0, 16).inc(h1, 16).inc(i1, 16).inc(j, 1);
        },
      );
      b.get(h).get(m).i32(5).op(Op.i32Shl).op(Op.i32Add).set(h);
      b.get(inp).get(m).i32(5).op(Op.i32Shl).op(Op.i32Add).set(inp);
      b.inc(t1, 8).inc(w, 8 * g).inc(alpha, 8).inc(beta, 8).inc(cwl, 8);
    },
  );
  return f;
}

/**
 * signAcc(y, xk, ck, rk, offs, ca, cs, acc, kc, np, no, top, one) with g payload words: the
 * FSS sign formula (ir/circuit/gates/fss.ts) and a spline's coefficient sums fused after the
 * DCF's last level, for a chunk of kc keys at np points each (lane p kc + k: point p of key k,
 * the opened X_k minus offs[p]). Per lane, from its DCF output y (g words) and the key's
 * constant shares ck (row j of kc words at ck + 8 j kc): e = y_0 + c_0, d = X_p[top] ? e : one - e
 * and (g = 2) e r = y_1 + c_1, d r = X_p[top] ? e r : -(e r + rk); then for each of the no
 * outputs acc[o] += ca[o, p] d (+ cs[o, p] (X d - d r)), acc row o of kc words at acc + 8 o kc,
 * ca and cs rows of np words.
 */
function signAcc(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [y, xk, ck, rk, offs, ca, cs, acc, kc, np, no, top, one] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const L32 = (): number => f.local(I32);
  const [p, k, o, k8, ap, cp, sp, rowAcc, rowCo] = [L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32()];
  const L64 = (): number => f.local(I64);
  const [sh, onev, off, xv, tm, e, z, d, er, z2, term] = [L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64(), L64()];
  f.get(top).op(Op.i64ExtendI32U).set(sh);
  f.get(one).op(Op.i64ExtendI32U).set(onev);
  f.get(kc).i32(3).op(Op.i32Shl).set(rowAcc);
  f.get(np).i32(3).op(Op.i32Shl).set(rowCo);
  f.i32(0).set(p);
  f.whileLoop(
    (b) => b.get(p).get(np).op(Op.i32LtU),
    (b) => {
      b.get(offs).get(p).i32(3).op(Op.i32Shl).op(Op.i32Add).load64().set(off);
      b.i32(0).set(k);
      b.whileLoop(
        (c) => c.get(k).get(kc).op(Op.i32LtU),
        (c) => {
          c.get(k).i32(3).op(Op.i32Shl).set(k8);
          c.get(xk).get(k8).op(Op.i32Add).load64().set(xv);
          // tm = all ones where bit `top` of X - offs[p] is set.
          c.i64(0n).get(xv).get(off).op(Op.i64Sub).get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).op(Op.i64Sub).set(tm);
          c.get(y).load64().get(ck).get(k8).op(Op.i32Add).load64().op(Op.i64Add).set(e);
          c.get(onev).get(e).op(Op.i64Sub).set(z);
          c.get(z).get(e).get(z).op(Op.i64Xor).get(tm).op(Op.i64And).op(Op.i64Xor).set(d);
          if (g === 2) {
            c.get(y).load64(8).get(ck).get(rowAcc).op(Op.i32Add).get(k8).op(Op.i32Add).load64().op(Op.i64Add).set(er);
            c.i64(0n).get(er).get(rk).get(k8).op(Op.i32Add).load64().op(Op.i64Add).op(Op.i64Sub).set(z2);
            // term = X d - d r
            c.get(xv).get(d).op(Op.i64Mul);
            c.get(z2).get(er).get(z2).op(Op.i64Xor).get(tm).op(Op.i64And).op(Op.i64Xor);
            c.op(Op.i64Sub).set(term);
          }
          c.get(acc).get(k8).op(Op.i32Add).set(ap);
          c.get(ca).get(p).i32(3).op(Op.i32Shl).op(Op.i32Add).set(cp);
          c.get(cs).get(p).i32(3).op(Op.i32Shl).op(Op.i32Add).set(sp);
          c.i32(0).set(o);
          c.whileLoop(
            (q) => q.get(o).get(no).op(Op.i32LtU),
            (q) => {
              q.get(ap).get(ap).load64().get(cp).load64().get(d).op(Op.i64Mul).op(Op.i64Add);
              if (g === 2) q.get(sp).load64().get(term).op(Op.i64Mul).op(Op.i64Add);
              q.store64();
              q.incBy(ap, rowAcc).incBy(cp, rowCo).incBy(sp, rowCo).inc(o, 1);
            },
          );
          c.inc(y, 8 * g).inc(k, 1);
        },
      );
      b.inc(p, 1);
    },
  );
  return f;
}

/**
 * rootLanes(s, v, t, lk, rt, nl, tm) with g payload words: lanes 0 .. nl - 1 start at their
 * key's root: seed rt[lk[l]] (16 bytes per key at rt, lk i32 per lane), control-bit mask tm
 * (0 for party 0, all ones for party 1), values 0.
 */
function rootLanes(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I64], []);
  const [s, v, t, lk, rt, nl, tm] = [0, 1, 2, 3, 4, 5, 6];
  const [end, at] = [f.local(I32), f.local(I32)];
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (b) => b.get(s).get(end).op(Op.i32LtU),
    (b) => {
      b.get(rt).get(lk).op(I32_LOAD, 2, 0).i32(4).op(Op.i32Shl).op(Op.i32Add).set(at);
      b.get(s).get(at).load64().store64(0);
      b.get(s).get(at).load64(8).store64(8);
      b.get(t).get(tm).store64();
      for (let q = 0; q < g; q++) b.get(v).i64(0n).store64(8 * q);
      b.inc(s, 16).inc(v, 8 * g).inc(t, 8).inc(lk, 4);
    },
  );
  return f;
}

/**
 * copyLanes(s, v, t, src, from, to) with g payload words: lanes from .. to - 1 take the state
 * (seed, control-bit mask, values) of lane src[l] (i32 per lane at src + 4 l): a point leaving
 * the path it shared with another (dcf.ts, the walk over a key's points).
 */
function copyLanes(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32], []);
  const [s, v, t, src, from, to] = [0, 1, 2, 3, 4, 5];
  const [l, j] = [f.local(I32), f.local(I32)];
  const at = (b: FuncBuilder, base: number, lane: number, shift: number): void => {
    b.get(base).get(lane).i32(shift).op(Op.i32Shl).op(Op.i32Add);
  };
  f.get(from).set(l);
  f.whileLoop(
    (b) => b.get(l).get(to).op(Op.i32LtU),
    (b) => {
      b.get(src).get(l).i32(2).op(Op.i32Shl).op(Op.i32Add).load32().set(j);
      for (const off of [0, 8]) {
        at(b, s, l, 4);
        at(b, s, j, 4);
        b.load64(off).store64(off);
      }
      at(b, t, l, 3);
      at(b, t, j, 3);
      b.load64().store64();
      for (let q = 0; q < g; q++) {
        b.get(v).get(l).i32(8 * g).op(Op.i32Mul).op(Op.i32Add);
        b.get(v).get(j).i32(8 * g).op(Op.i32Mul).op(Op.i32Add);
        b.load64(8 * q).store64(8 * q);
      }
      b.inc(l, 1);
    },
  );
  return f;
}

/** scatter(from, perm, to, nl) with g words per lane: lane l's g words at from go to lane perm[l]'s at to. */
function scatter(g: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [from, perm, to, nl] = [0, 1, 2, 3];
  const [l, dst] = [f.local(I32), f.local(I32)];
  f.i32(0).set(l);
  f.whileLoop(
    (b) => b.get(l).get(nl).op(Op.i32LtU),
    (b) => {
      b.get(to).get(perm).get(l).i32(2).op(Op.i32Shl).op(Op.i32Add).load32().i32(8 * g).op(Op.i32Mul).op(Op.i32Add).set(dst);
      for (let q = 0; q < g; q++) b.get(dst).get(from).load64(8 * q).store64(8 * q);
      b.inc(from, 8 * g).inc(l, 1);
    },
  );
  return f;
}

/**
 * The trie walk's plan (dcf.ts) for a chunk of kc keys at np points base[k] - offs[p], cut to
 * n + drop bits by `mask` and shifted right by `drop`: q (i64 per lane, lane p kc + k). A key's
 * points must be descending but for one wrap (a spline's X - k_p); otherwise trieDepart returns
 * 1 and the caller plans the chunk itself.
 *
 * trieDepart(base, offs, q, dep, own, rise, stl, std, cnt, kc, np, n, drop, mask, depth) -> 0 | 1:
 * per lane its departure level dep (i32: n minus the bit length of its point XOR the previous
 * point's in sorted order, at most depth, the tree's levels; 0 for the first) and owner own (i32 lane: the latest earlier point
 * in sorted order leaving higher up; -1 for the first), cnt[dep + 1]++ (i32), rise[k] the
 * sorted order's start. stl, std: a stack of np + 1 lanes and depths.
 */
function trieDepart(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I64, I32], [I32]);
  const [base, offs, q, dep, own, rise, stl, std, cnt, kc, np, n, drop, mask, depth] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const L32 = (): number => f.local(I32);
  const [k, p, j, l, prev, rises, riseAt, top, d, o] = [L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32(), L32()];
  const L64 = (): number => f.local(I64);
  const [bv, v, dropv] = [L64(), L64(), L64()];
  // address helpers: base + 8 i / 4 i
  const a8 = (b: FuncBuilder, at: number, i: number): FuncBuilder => b.get(at).get(i).i32(3).op(Op.i32Shl).op(Op.i32Add);
  const a4 = (b: FuncBuilder, at: number, i: number): FuncBuilder => b.get(at).get(i).i32(2).op(Op.i32Shl).op(Op.i32Add);
  f.get(drop).op(Op.i64ExtendI32U).set(dropv);
  f.i32(0).set(k);
  f.whileLoop(
    (b) => b.get(k).get(kc).op(Op.i32LtU),
    (b) => {
      a8(b, base, k).load64().set(bv);
      b.i32(0).set(rises).i32(0).set(riseAt).i32(0).set(p).get(k).set(l);
      b.whileLoop(
        (c) => c.get(p).get(np).op(Op.i32LtU),
        (c) => {
          c.get(bv);
          a8(c, offs, p).load64();
          c.op(Op.i64Sub).get(mask).op(Op.i64And).get(dropv).op(Op.i64ShrU).set(v);
          a8(c, q, l).get(v).store64();
          c.ifThen(
            (e) => e.get(p).i32(0).op(Op.i32Ne),
            (e) => {
              // a rise: the previous point below this one
              e.ifThen(
                (g) => {
                  a8(g, q, l).i32(8).get(kc).op(Op.i32Mul).op(Op.i32Sub).load64().get(v).op(Op.i64LtU);
                },
                (g) => g.inc(rises, 1).get(p).set(riseAt),
              );
            },
          );
          c.inc(p, 1).incBy(l, kc);
        },
      );
      // more than one rise, or one whose wrap is not descending (last < first): not a rotated descending run
      b.ifThen(
        (c) => c.get(rises).i32(1).op(Op.i32GtS),
        (c) => c.i32(1).op(Op.return),
      );
      b.ifThen(
        (c) => {
          c.get(rises).i32(1).op(Op.i32Eq);
          // q[(np - 1) kc + k] < q[k]
          c.get(q).get(np).i32(1).op(Op.i32Sub).get(kc).op(Op.i32Mul).get(k).op(Op.i32Add).i32(3).op(Op.i32Shl).op(Op.i32Add).load64();
          a8(c, q, k).load64();
          c.op(Op.i64LtU).op(Op.i32And);
        },
        (c) => c.i32(1).op(Op.return),
      );
      a4(b, rise, k).get(riseAt).store32();
      // departures along the sorted order p = riseAt, riseAt + 1, ... (mod np)
      b.i32(0).set(top).i32(0).set(j).get(riseAt).set(p);
      b.whileLoop(
        (c) => c.get(j).get(np).op(Op.i32LtU),
        (c) => {
          c.get(p).get(kc).op(Op.i32Mul).get(k).op(Op.i32Add).set(l);
          c.i32(0).set(d).i32(-1).set(o);
          c.ifThen(
            (e) => e.get(j).i32(0).op(Op.i32Ne),
            (e) => {
              // d = n - 64 + clz(q[l] ^ q[prev])
              e.get(n).i32(64).op(Op.i32Sub);
              a8(e, q, l).load64();
              a8(e, q, prev).load64();
              e.op(Op.i64Xor).op(Op.i64Clz).op(Op.i32WrapI64).op(Op.i32Add).set(d);
              // points that agree on the tree's levels share the whole walk (they differ in the leaf only)
              e.ifThen(
                (g) => g.get(d).get(depth).op(Op.i32GtS),
                (g) => g.get(depth).set(d),
              );
              // pop while std[top - 1] > d
              e.whileLoop(
                (g) => {
                  g.get(std).get(top).i32(1).op(Op.i32Sub).i32(2).op(Op.i32Shl).op(Op.i32Add).load32().get(d).op(Op.i32GtS);
                },
                (g) => g.get(top).i32(1).op(Op.i32Sub).set(top),
              );
              e.get(stl).get(top).i32(1).op(Op.i32Sub).i32(2).op(Op.i32Shl).op(Op.i32Add).load32().set(o);
              // an owner leaving at the same depth is copied in the same step: its own owner instead
              e.ifThen(
                (g) => g.get(std).get(top).i32(1).op(Op.i32Sub).i32(2).op(Op.i32Shl).op(Op.i32Add).load32().get(d).op(Op.i32Eq),
                (g) => {
                  a4(g, own, o).load32().set(o);
                },
              );
            },
          );
          a4(c, own, l).get(o).store32();
          a4(c, stl, top).get(l).store32();
          a4(c, std, top).get(d).store32();
          c.inc(top, 1);
          a4(c, dep, l).get(d).store32();
          // cnt[d + 1]++
          c.get(cnt).get(d).i32(1).op(Op.i32Add).i32(2).op(Op.i32Shl).op(Op.i32Add);
          c.get(cnt).get(d).i32(1).op(Op.i32Add).i32(2).op(Op.i32Shl).op(Op.i32Add).load32().i32(1).op(Op.i32Add).store32();
          c.get(l).set(prev);
          c.inc(j, 1).inc(p, 1);
          c.ifThen(
            (e) => e.get(p).get(np).op(Op.i32Eq),
            (e) => e.i32(0).set(p),
          );
        },
      );
      b.inc(k, 1);
    },
  );
  f.i32(0);
  return f;
}

/**
 * triePlace(q, dep, own, pos, rise, nxt, perm, lk, lx, lo, kc, np): walk positions in sorted
 * order per key, w = nxt[dep]++ (i32), so that a point's owner is placed before it: pos[l] = w,
 * perm[w] = l, lk[w] = k, lx[w] = q[l] (i64), lo[w] = pos[own[l]] (0 for none).
 */
function triePlace(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [q, dep, own, pos, rise, nxt, perm, lk, lx, lo, kc, np] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const L32 = (): number => f.local(I32);
  const [k, p, j, l, w, o, at] = [L32(), L32(), L32(), L32(), L32(), L32(), L32()];
  const a4 = (b: FuncBuilder, base: number, i: number): FuncBuilder => b.get(base).get(i).i32(2).op(Op.i32Shl).op(Op.i32Add);
  const a8 = (b: FuncBuilder, base: number, i: number): FuncBuilder => b.get(base).get(i).i32(3).op(Op.i32Shl).op(Op.i32Add);
  f.i32(0).set(k);
  f.whileLoop(
    (b) => b.get(k).get(kc).op(Op.i32LtU),
    (b) => {
      a4(b, rise, k).load32().set(p);
      b.i32(0).set(j);
      b.whileLoop(
        (c) => c.get(j).get(np).op(Op.i32LtU),
        (c) => {
          c.get(p).get(kc).op(Op.i32Mul).get(k).op(Op.i32Add).set(l);
          // w = nxt[dep[l]]++
          a4(c, dep, l).load32().i32(2).op(Op.i32Shl).get(nxt).op(Op.i32Add).set(at);
          c.get(at).load32().set(w);
          c.get(at).get(w).i32(1).op(Op.i32Add).store32();
          a4(c, pos, l).get(w).store32();
          a4(c, perm, w).get(l).store32();
          a4(c, lk, w).get(k).store32();
          a8(c, lx, w);
          a8(c, q, l).load64();
          c.store64();
          a4(c, own, l).load32().set(o);
          a4(c, lo, w);
          // no owner (a root: its state comes from the key's root seed, not a copy): lane 0's slot, never read
          c.ifThen(
            (e) => e.get(o).i32(0).op(Op.i32LtS),
            (e) => e.i32(0).set(o),
          );
          a4(c, pos, o).load32();
          c.store32();
          c.inc(j, 1).inc(p, 1);
          c.ifThen(
            (e) => e.get(p).get(np).op(Op.i32Eq),
            (e) => e.i32(0).set(p),
          );
        },
      );
      b.inc(k, 1);
    },
  );
  return f;
}

export function dcfKernelModule(): Uint8Array {
  const funcs: ModuleFunction[] = [{ name: 'prep', fn: prep() }];
  for (const g of [1, 2]) for (const sub of [false, true]) funcs.push({ name: `update${g}${sub ? 'sub' : 'add'}`, fn: update(g, sub) });
  funcs.push({ name: 'leafPrep', fn: leafPrep() });
  for (const g of [1, 2]) for (const sub of [false, true]) funcs.push({ name: `leaf${g}${sub ? 'sub' : 'add'}`, fn: leaf(g, sub) });
  for (const g of [1, 2]) funcs.push({ name: `signAcc${g}`, fn: signAcc(g) });
  funcs.push({ name: 'genPrep', fn: genPrep() });
  for (const g of [1, 2]) funcs.push({ name: `genUpdate${g}`, fn: genUpdate(g) });
  funcs.push({ name: 'genLeafPrep', fn: genLeafPrep() });
  for (const g of [1, 2]) funcs.push({ name: `genLeaf${g}`, fn: genLeaf(g) });
  for (const g of [1, 2]) funcs.push({ name: `fssKeyPrep${g}`, fn: fssKeyPrep(g) });
  for (const g of [1, 2]) funcs.push({ name: `rootLanes${g}`, fn: rootLanes(g) });
  for (const g of [1, 2]) funcs.push({ name: `copyLanes${g}`, fn: copyLanes(g) });
  for (const g of [1, 2]) funcs.push({ name: `scatter${g}`, fn: scatter(g) });
  funcs.push({ name: 'trieDepart', fn: trieDepart() }, { name: 'triePlace', fn: triePlace() });
  return encodeModule(funcs);
}


type Ptr = number;
export interface DcfKernelExports {
  readonly memory: WasmMemory;
  prep(s: Ptr, x: Ptr, inp: Ptr, nl: number, bit: number): void;
  [update: `update${string}`]: (s: Ptr, v: Ptr, t: Ptr, x: Ptr, k: Ptr, inp: Ptr, h: Ptr, nl: number, bit: number, cwl: Ptr, rs: number) => void;
  leafPrep(s: Ptr, x: Ptr, inp: Ptr, nl: number, nu: number): void;
  [leaf: `leaf${string}`]: (s: Ptr, v: Ptr, t: Ptr, x: Ptr, k: Ptr, inp: Ptr, h: Ptr, nl: number, nu: number, cwl: Ptr, rs: number, y: Ptr) => void;
  [signAcc: `signAcc${string}`]: (y: Ptr, xk: Ptr, ck: Ptr, rk: Ptr, offs: Ptr, ca: Ptr, cs: Ptr, acc: Ptr, kc: number, np: number, no: number, top: number, one: number) => void;
  genPrep(s0: Ptr, s1: Ptr, inp: Ptr, c: number): void;
  [genUpdate: `genUpdate${string}`]: (s0: Ptr, s1: Ptr, t0: Ptr, t1: Ptr, w: Ptr, alpha: Ptr, beta: Ptr, inp: Ptr, h: Ptr, c: number, bit: number, cwl: Ptr, rs: number) => void;
  genLeafPrep(s0: Ptr, s1: Ptr, inp: Ptr, c: number, nu: number): void;
  [genLeaf: `genLeaf${string}`]: (t1: Ptr, w: Ptr, alpha: Ptr, beta: Ptr, inp: Ptr, h: Ptr, c: number, nu: number, cwl: Ptr, rs: number) => void;
  [fssKeyPrep: `fssKeyPrep${string}`]: (rho: Ptr, p0c: Ptr, alpha: Ptr, beta: Ptr, p1c: Ptr, c: number, top: number, drop: number, low: bigint, rs: number) => void;
  [rootLanes: `rootLanes${string}`]: (s: Ptr, v: Ptr, t: Ptr, lk: Ptr, rt: Ptr, nl: number, tm: bigint) => void;
  [copyLanes: `copyLanes${string}`]: (s: Ptr, v: Ptr, t: Ptr, src: Ptr, from: number, to: number) => void;
  [scatter: `scatter${string}`]: (from: Ptr, perm: Ptr, to: Ptr, nl: number) => void;
  trieDepart(base: Ptr, offs: Ptr, q: Ptr, dep: Ptr, own: Ptr, rise: Ptr, stl: Ptr, std: Ptr, cnt: Ptr, kc: number, np: number, n: number, drop: number, mask: bigint, depth: number): number;
  triePlace(q: Ptr, dep: Ptr, own: Ptr, pos: Ptr, rise: Ptr, nxt: Ptr, perm: Ptr, lk: Ptr, lx: Ptr, lo: Ptr, kc: number, np: number): void;
}

let instance: DcfKernelExports | undefined;

/** The instantiated kernels (one instance per thread, created on first use), memory at least `bytes`. */
export function dcfKernels(bytes: number): DcfKernelExports {
  if (instance === undefined) instance = new WA.Instance(new WA.Module(dcfKernelModule()), {}).exports as unknown as DcfKernelExports;
  const have = instance.memory.buffer.byteLength;
  if (have < bytes) instance.memory.grow(Math.ceil((bytes - have) / 65536));
  return instance;
}
