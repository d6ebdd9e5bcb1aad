import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { inputNode } from '../../ir/node.ts';
import type { Tensor } from '../../ir/tensor.ts';
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
