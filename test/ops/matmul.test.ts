import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { inputNode } from '../../ir/node.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { matmulFloatInto, matmulPackedInto, packRight } from '../../ir/ops/matmul.ts';
import { numel, type ElemType } from '../../ir/types.ts';
import { expectClose, f, ravel, run, t, tensorArb, unravel, vals } from './helpers.ts';

const input = (elem: ElemType, shape: number[], name = 'x') => inputNode(name, { elem, shape, vis: 'public' });

/** numpy.matmul written out: promote 1-D, broadcast batch dims, triple loop, drop promoted axes. */
function naiveMatmul(a: Tensor, b: Tensor): { shape: number[]; values: number[] } {
  const as = a.shape.length === 1 ? [1, a.shape[0]!] : [...a.shape];
  const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const [M, K] = as.slice(-2) as [number, number];
  const N = bs[bs.length - 1]!;
  const ab = as.slice(0, -2);
  const bb = bs.slice(0, -2);
  const r = Math.max(ab.length, bb.length);
  const pa = [...new Array<number>(r - ab.length).fill(1), ...ab];
  const pb = [...new Array<number>(r - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const values: number[] = [];
  for (let p = 0; p < numel(batch); p++) {
    const bi = unravel(p, batch);
    const ai = bi.map((v, i) => (pa[i] === 1 ? 0 : v));
    const bj = bi.map((v, i) => (pb[i] === 1 ? 0 : v));
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.at(ravel([...ai, i, k], [...pa, M, K])) * b.at(ravel([...bj, k, j], [...pb, K, N]));
        values.push(s);
      }
  }
  const shape = [...batch];
  if (a.shape.length > 1) shape.push(M);
  if (b.shape.length > 1) shape.push(N);
  return { shape, values };
}

describe('MatMul', () => {
  it('2-D, hand-checked', () => {
    const a = f([2, 3], [1, 2, 3, 4, 5, 6]);
    const b = f([3, 2], [7, 8, 9, 10, 11, 12]);
    expectClose(run('MatMul', [a, b]), [2, 2], [58, 64, 139, 154]);
  });
  it('1-D operands are promoted and the promoted axis dropped', () => {
    const v = f([3], [1, 0, -1]);
    const m = f([3, 2], [1, 2, 3, 4, 5, 6]);
    expectClose(run('MatMul', [v, m]), [2], [-4, -4]);
    expectClose(run('MatMul', [f([2, 3], [1, 2, 3, 4, 5, 6]), v]), [2], [-2, -2]);
    expectClose(run('MatMul', [v, v]), [], [2]);
  });
  it('agrees with a naive triple loop on random shapes with batch broadcast (property)', () => {
    const dims = fc.integer({ min: 1, max: 4 });
    const batchDim = fc.integer({ min: 1, max: 3 });
    const arb = fc
      .record({
        M: dims,
        K: dims,
        N: dims,
        batch: fc.array(batchDim, { maxLength: 3 }),
        aOnes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        bOnes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        aDrop: fc.integer({ min: 0, max: 3 }),
        bDrop: fc.integer({ min: 0, max: 3 }),
        aVec: fc.boolean(),
        bVec: fc.boolean(),
      })
      .chain((r) => {
        const ab = r.batch.map((d, i) => (r.aOnes[i] ? 1 : d)).slice(r.aDrop);
        const bb = r.batch.map((d, i) => (r.bOnes[i] ? 1 : d)).slice(r.bDrop);
        const as = r.aVec ? [r.K] : [...ab, r.M, r.K];
        const bs = r.bVec ? [r.K] : [...bb, r.K, r.N];
        return fc.tuple(tensorArb(as), tensorArb(bs));
      });
    fc.assert(
      fc.property(arb, ([a, b]) => {
        const want = naiveMatmul(a, b);
        const got = run('MatMul', [a, b]);
        expect(got.shape).toEqual(want.shape);
        expect(vals(got)).toEqual(want.values);
      }),
      { numRuns: 200 },
    );
  });
  it('reads f32 operands directly and computes in float64', () => {
    const a = t('f32', [1, 2], [0.1, 0.2]);
    const b = t('f32', [2, 1], [1, 1]);
    expect(run('MatMul', [a, b]).at(0)).toBe(Math.fround(0.1) + Math.fround(0.2));
  });
  it('integer matmul wraps (i64 mod 2^64, u8 mod 256)', () => {
    const a = t('i64', [1, 2], [2n ** 62n, 3n]);
    const b = t('i64', [2, 1], [4n, 5n]);
    expect(run('MatMul', [a, b]).bigAt(0)).toBe(15n);
    expect(vals(run('MatMul', [t('u8', [1, 2], [200, 100]), t('u8', [2, 1], [2, 3])]))).toEqual([(400 + 300) % 256]);
    expect(vals(run('MatMul', [t('i32', [1, 2], [65536, 1]), t('i32', [2, 1], [65536, 2])]))).toEqual([2]);
  });
  it('type rules name the shapes', () => {
    expect(() => build('MatMul', [input('f32', [1, 8, 128]), input('f32', [64, 128], 'w')], {}, { name: 'mm' })).toThrow(
      /node 'mm'.*MatMul inner dimensions differ: \[1,8,128\] x \[64,128\]/,
    );
    expect(() => build('MatMul', [input('f32', [2, 3, 4]), input('f32', [3, 4, 5], 'w')])).toThrow(/batch dimensions do not broadcast/);
    expect(() => build('MatMul', [input('f32', []), input('f32', [3], 'w')])).toThrow(/rank >= 1/);
    expect(build('MatMul', [input('f32', [2, 1, 3, 4]), input('f32', [5, 4, 6], 'w')]).type.shape).toEqual([2, 5, 3, 6]);
  });
});

describe('Gemm', () => {
  const A = f([2, 3], [1, 2, 3, 4, 5, 6]);
  const B = f([3, 2], [1, 0, 0, 1, 1, 1]);
  // A B = [[4, 5], [10, 11]]
  it('default: A B + C with C broadcast', () => {
    expectClose(run('Gemm', [A, B]), [2, 2], [4, 5, 10, 11]);
    expectClose(run('Gemm', [A, B, f([2], [1, 2])]), [2, 2], [5, 7, 11, 13]);
    expectClose(run('Gemm', [A, B, f([], [1])]), [2, 2], [5, 6, 11, 12]);
    expectClose(run('Gemm', [A, B, f([2, 1], [1, 2])]), [2, 2], [5, 6, 12, 13]);
  });
  it('alpha, beta, transA, transB', () => {
    const At = f([3, 2], [1, 4, 2, 5, 3, 6]);
    const Bt = f([2, 3], [1, 0, 1, 0, 1, 1]);
    const C = f([1, 2], [10, 20]);
    const want = [0.5 * 4 + 0.1 * 10, 0.5 * 5 + 0.1 * 20, 0.5 * 10 + 0.1 * 10, 0.5 * 11 + 0.1 * 20];
    expectClose(run('Gemm', [At, Bt, C], { alpha: 0.5, beta: 0.1, transA: 1, transB: 1 }), [2, 2], want);
    expectClose(run('Gemm', [At, B], { transA: 1 }), [2, 2], [4, 5, 10, 11]);
    expectClose(run('Gemm', [A, Bt], { transB: 1 }), [2, 2], [4, 5, 10, 11]);
  });
  it('type rules', () => {
    expect(() => build('Gemm', [input('f32', [2, 3]), input('f32', [2, 3], 'b')])).toThrow(/Gemm inner dimensions differ/);
    expect(() => build('Gemm', [input('f32', [2, 3]), input('f32', [3, 4], 'b'), input('f32', [3], 'c')])).toThrow(/does not broadcast to \[2,4\]/);
    expect(() => build('Gemm', [input('f32', [2, 3, 1]), input('f32', [3, 4], 'b')])).toThrow(/2-D/);
  });
});

/** Uniform floats in [-1, 1) from a seed (xorshift32), with every exponent class of small values. */
function randomFloats(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** out[i,j] = init[i,j] + sum_k A[i,k] B[k,j], summed in increasing k, A(i,k) and B(k,j) given as functions. */
function tripleLoop(M: number, K: number, N: number, A: (i: number, k: number) => number, B: (k: number, j: number) => number, init?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = init === undefined ? 0 : init[i * N + j]!;
      for (let k = 0; k < K; k++) s += A(i, k) * B(k, j);
      out[i * N + j] = s;
    }
  return out;
}

/** |got - want| <= 1e-12 * sum_k |a_ik b_kj| (a relative bound that survives cancellation). */
function expectRelClose(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= 1e-12 * Math.max(scale[i]!, Number.MIN_VALUE))) expect.fail(`element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

describe('the blocked float matmul kernel', () => {
  it('MatMul equals a naive triple loop within 1e-12 relative on random odd shapes with batch broadcast (property)', () => {
    const arb = fc.record({
      // odd sizes around the 4x4 register tile, and K / N past one cache block (256 / 128)
      M: fc.oneof(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 14, max: 70 })),
      K: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 250, max: 300 })),
      N: fc.oneof(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 120, max: 140 })),
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
      aOnes: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
      bOnes: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
      bDrop: fc.integer({ min: 0, max: 2 }),
      f32: fc.boolean(),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    });
    fc.assert(
      fc.property(arb, (r) => {
        const ab = r.batch.map((d, i) => (r.aOnes[i] ? 1 : d));
        const bb = r.batch.map((d, i) => (r.bOnes[i] ? 1 : d)).slice(r.bDrop);
        const as = [...ab, r.M, r.K];
        const bs = [...bb, r.K, r.N];
        const a = t(r.f32 ? 'f32' : 'f64', as, randomFloats(numel(as), r.seed));
        const b = t(r.f32 ? 'f32' : 'f64', bs, randomFloats(numel(bs), r.seed + 1));
        const got = run('MatMul', [a, b]);
        // batch broadcast by hand: pad to the output rank, stride 0 on size-1 axes
        const batch = got.shape.slice(0, -2);
        const pa = [...new Array<number>(batch.length - ab.length).fill(1), ...ab];
        const pb = [...new Array<number>(batch.length - bb.length).fill(1), ...bb];
        const want: number[] = [];
        const scale: number[] = [];
        for (let p = 0; p < numel(batch); p++) {
          const bi = unravel(p, batch);
          const ao = ravel(bi.map((v, i) => (pa[i] === 1 ? 0 : v)), pa) * r.M * r.K;
          const bo = ravel(bi.map((v, i) => (pb[i] === 1 ? 0 : v)), pb) * r.K * r.N;
          want.push(...tripleLoop(r.M, r.K, r.N, (i, k) => a.at(ao + i * r.K + k), (k, j) => b.at(bo + k * r.N + j)));
          scale.push(...tripleLoop(r.M, r.K, r.N, (i, k) => Math.abs(a.at(ao + i * r.K + k)), (k, j) => Math.abs(b.at(bo + k * r.N + j))));
        }
        expect(got.shape).toEqual([...batch, r.M, r.N]);
        expectRelClose(got.data as Float64Array, want, scale);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the i-k-j summation order: bit-identical to the textbook loop, from a non-zero start, at offsets', () => {
    for (const [M, K, N] of [[37, 301, 131], [4, 4, 4], [5, 257, 9], [130, 64, 3], [3, 500, 200]] as const) {
      const A = randomFloats(7 + M * K, M);
      const B64 = randomFloats(5 + K * N, K);
      const B32 = Float32Array.from(B64);
      const init = randomFloats(M * N, N);
      const want = tripleLoop(M, K, N, (i, k) => A[7 + i * K + k]!, (k, j) => B64[5 + k * N + j]!, init);
      const want32 = tripleLoop(M, K, N, (i, k) => A[7 + i * K + k]!, (k, j) => B32[5 + k * N + j]!, init);
      const out = new Float64Array(3 + M * N);
      out.set(init, 3);
      matmulFloatInto(A, 7, B64, 5, out, 3, M, K, N);
      expect(out.subarray(3)).toEqual(want);
      out.set(init, 3);
      matmulFloatInto(A, 7, B32, 5, out, 3, M, K, N);
      expect(out.subarray(3)).toEqual(want32);
      expect(out[0]).toBe(0); // nothing written before the output block
    }
  });

  it('reads strided (transposed) operands while packing', () => {
    const [M, K, N] = [19, 70, 23];
    const At = randomFloats(K * M, 3); // stored [K, M]
    const Bt = randomFloats(N * K, 4); // stored [N, K]
    const want = tripleLoop(M, K, N, (i, k) => At[k * M + i]!, (k, j) => Bt[j * K + k]!);
    const out = new Float64Array(M * N);
    matmulPackedInto(At, 0, M, packRight(Bt, 0, 1, K, K, N), out, 0, 1, M);
    expect(out).toEqual(want);
  });

  it('a non-finite value only reaches its own row and column (padding of ragged tiles stays private)', () => {
    const [M, K, N] = [6, 9, 7];
    const A = randomFloats(M * K, 5);
    const B = randomFloats(K * N, 6);
    A[5 * K + 2] = Infinity; // last row, in the ragged row tile
    B[3 * N + 6] = NaN; // last column, in the ragged column tile
    const out = new Float64Array(M * N);
    matmulFloatInto(A, 0, B, 0, out, 0, M, K, N);
    expect(out).toEqual(tripleLoop(M, K, N, (i, k) => A[i * K + k]!, (k, j) => B[k * N + j]!));
    for (let i = 0; i < M - 1; i++) for (let j = 0; j < N - 1; j++) expect(Number.isFinite(out[i * N + j])).toBe(true);
  });

  it('Gemm with transposed operands and AttentionScores (q k^T) agree with the triple loop on odd shapes', () => {
    const [M, K, N] = [21, 45, 34];
    const A = t('f32', [K, M], randomFloats(K * M, 8));
    const B = t('f32', [N, K], randomFloats(N * K, 9));
    const C = t('f32', [N], randomFloats(N, 10));
    const got = run('Gemm', [A, B, C], { transA: 1, transB: 1, alpha: 0.5, beta: 2 });
    const prod = tripleLoop(M, K, N, (i, k) => A.at(k * M + i), (k, j) => B.at(j * K + k));
    expect(got.shape).toEqual([M, N]);
    expect(vals(got)).toEqual([...prod].map((v, i) => v * 0.5 + 2 * C.at(i % N)));

    const [Bn, H, S, d] = [2, 3, 13, 7];
    const q = t('f64', [Bn, H, S, d], randomFloats(Bn * H * S * d, 11));
    const k = t('f64', [Bn, H, S, d], randomFloats(Bn * H * S * d, 12));
    const scores = run('AttentionScores', [q, k], { scale: 0.375 });
    const want: number[] = [];
    for (let p = 0; p < Bn * H; p++) {
      const o = p * S * d;
      want.push(...[...tripleLoop(S, d, S, (i, c) => q.at(o + i * d + c), (c, j) => k.at(o + j * d + c))].map((v) => v * 0.375));
    }
    expect(vals(scores)).toEqual(want);
  });
});
