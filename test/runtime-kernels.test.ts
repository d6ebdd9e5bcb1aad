import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveSlice } from '../ir/circuit/shape-rules.ts';
import * as K from '../ir/ring/kernels.ts';

const MASK = (1n << 64n) - 1n;
const u64 = fc.bigInt({ min: 0n, max: MASK });
const arr = (n: number): fc.Arbitrary<BigUint64Array> => fc.array(u64, { minLength: n, maxLength: n }).map((xs) => BigUint64Array.from(xs));
const signed = (v: bigint): bigint => BigInt.asIntN(64, v);
const wrap = (v: bigint): bigint => BigInt.asUintN(64, v);

/** BigInt reference matmul mod 2^64. */
function refMatmul(a: BigUint64Array, b: BigUint64Array, m: number, k: number, n: number): BigUint64Array {
  const out = new BigUint64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0n;
      for (let p = 0; p < k; p++) acc += a[i * k + p]! * b[p * n + j]!;
      out[i * n + j] = wrap(acc);
    }
  return out;
}

const dims = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 11 }), fc.integer({ min: 1, max: 9 }));

describe('wasm ring kernels equal a BigInt reference bit for bit', () => {
  it('matmul, random shapes including odd and empty inner sizes (property)', () => {
    fc.assert(
      fc.property(
        dims.chain(([m, k, n]) => fc.tuple(fc.constant([m, k, n] as const), arr(m * k), arr(k * n))),
        ([[m, k, n], a, b]) => {
          expect(K.ringMatmul(a, b, m, k, n)).toEqual(refMatmul(a, b, m, k, n));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('matmul across column and inner-dimension blocks (k = 4099: several accumulated blocks, an odd last one)', () => {
    const [m, k, n] = [3, 4099, 7];
    const a = BigUint64Array.from({ length: m * k }, (_, i) => wrap(BigInt(i) * 0x9e3779b97f4a7c15n + 7n));
    const b = BigUint64Array.from({ length: k * n }, (_, i) => wrap(BigInt(i) ** 3n - 0x1234567n));
    expect(K.ringMatmul(a, b, m, k, n)).toEqual(refMatmul(a, b, m, k, n));
  });

  it('matmul with B in column panels (k = 40000: panels of 52 columns, a last one of 7, an odd last block)', () => {
    const [m, k, n] = [2, 40000, 111];
    const a = BigUint64Array.from({ length: m * k }, (_, i) => wrap(BigInt(i) * 0x9e3779b97f4a7c15n + 3n));
    const b = BigUint64Array.from({ length: k * n }, (_, i) => wrap(BigInt(i) * 0xd1b54a32d192ed03n - 0x1234567n));
    expect(K.ringMatmul(a, b, m, k, n)).toEqual(refMatmul(a, b, m, k, n));
  }, 60_000);

  it('element-wise add, sub, mul, xor, and with broadcast (property)', () => {
    const ops: Record<K.BinaryOp, (x: bigint, y: bigint) => bigint> = {
      add: (x, y) => x + y,
      sub: (x, y) => x - y,
      mul: (x, y) => x * y,
      xor: (x, y) => x ^ y,
      and: (x, y) => x & y,
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom<K.BinaryOp>('add', 'sub', 'mul', 'xor', 'and'),
        fc.constantFrom('same', 'row', 'col', 'scalar'),
        fc.integer({ min: 0, max: 1 << 30 }),
        (m, n, op, mode, s) => {
          const rnd = (len: number, salt: number): BigUint64Array =>
            BigUint64Array.from({ length: len }, (_, i) => wrap(BigInt(s + salt * 7919) * 0xd1b54a32d192ed03n * BigInt(i + 1) + BigInt(i) ** 7n));
          const sb = mode === 'same' ? [m, n] : mode === 'row' ? [n] : mode === 'col' ? [m, 1] : [];
          const a = rnd(m * n, 1);
          const b = rnd(sb.reduce((x, y) => x * y, 1), 2);
          const got = K.ringBinary(a, [m, n], b, sb, op);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              const bj = mode === 'same' ? i * n + j : mode === 'row' ? j : mode === 'col' ? i : 0;
              expect(got[i * n + j]).toBe(wrap(ops[op](a[i * n + j]!, b[bj]!)));
            }
          // Broadcast on the left operand too.
          const got2 = K.ringBinary(b, sb, a, [m, n], op);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              const bj = mode === 'same' ? i * n + j : mode === 'row' ? j : mode === 'col' ? i : 0;
              expect(got2[i * n + j]).toBe(wrap(ops[op](b[bj]!, a[i * n + j]!)));
            }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('negation and the truncation shifts (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }).chain((n) => arr(n)), fc.integer({ min: 0, max: 63 }), (a, bits) => {
        const b = BigInt(bits);
        expect(K.ringNeg(a)).toEqual(BigUint64Array.from(a, (v) => wrap(-v)));
        expect(K.ringSar(a, bits)).toEqual(BigUint64Array.from(a, (v) => wrap(signed(v) >> b)));
        expect(K.ringShr(a, bits)).toEqual(BigUint64Array.from(a, (v) => v >> b));
        expect(K.ringShl(a, bits)).toEqual(BigUint64Array.from(a, (v) => wrap(v << b)));
        expect(K.ringNegSarNeg(a, bits)).toEqual(BigUint64Array.from(a, (v) => wrap(-(signed(wrap(-v)) >> b))));
      }),
      { numRuns: 100 },
    );
  });

  it('large element-wise arrays cross the chunk boundary', () => {
    const n = (1 << 19) + 37;
    const a = BigUint64Array.from({ length: n }, (_, i) => wrap(BigInt(i) * 0x9e3779b97f4a7c15n));
    const b = BigUint64Array.from({ length: n }, (_, i) => wrap(BigInt(n - i) * 0xbf58476d1ce4e5b9n));
    const got = K.ringBinary(a, [n], b, [n], 'mul');
    for (const i of [0, 1, (1 << 19) - 1, 1 << 19, n - 1]) expect(got[i]).toBe(wrap(a[i]! * b[i]!));
  });

  it('transpose, slice, reduce_sum and expand move the right elements (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        fc.integer({ min: 0, max: 23 }),
        (shape, s, permSeed) => {
          const n = shape.reduce((x, y) => x * y, 1);
          const a = BigUint64Array.from({ length: n }, (_, i) => wrap(BigInt(i + 1) * BigInt(s + 1) * 0x9e3779b97f4a7c15n));
          const rank = shape.length;
          const strides = shape.map((_, i) => shape.slice(i + 1).reduce((x, y) => x * y, 1));
          const at = (idx: number[]): bigint => a[idx.reduce((acc, v, i) => acc + v * strides[i]!, 0)]!;
          const unravel = (e: number, sh: number[]): number[] => {
            const idx = new Array<number>(sh.length);
            for (let i = sh.length - 1; i >= 0; i--) {
              idx[i] = e % sh[i]!;
              e = Math.floor(e / sh[i]!);
            }
            return idx;
          };
          // A permutation derived from the seed.
          const pool = shape.map((_, i) => i);
          const perm: number[] = [];
          let ps = permSeed;
          while (pool.length > 0) {
            perm.push(pool.splice(ps % pool.length, 1)[0]!);
            ps = Math.floor(ps / 2) + 1;
          }
          const tShape = perm.map((p) => shape[p]!);
          const t = K.transpose(a, shape, perm);
          for (let e = 0; e < n; e++) {
            const oi = unravel(e, tShape);
            const ii = new Array<number>(rank);
            perm.forEach((p, j) => (ii[p] = oi[j]!));
            expect(t[e]).toBe(at(ii));
          }
          // Slice [1:] with step 2 on the last axis (when long enough).
          const last = shape[rank - 1]!;
          if (last >= 2) {
            const r = resolveSlice('slice', shape, [1], [last], [rank - 1], [2]);
            const sl = K.slice(a, shape, r);
            for (let e = 0; e < sl.length; e++) {
              const oi = unravel(e, r.shape);
              oi[rank - 1] = 1 + 2 * oi[rank - 1]!;
              expect(sl[e]).toBe(at(oi));
            }
          }
          // Reduce over every subset given by the seed's bits.
          const axes = shape.map((_, i) => i).filter((i) => (permSeed >> i) & 1);
          const red = K.reduceSum(a, shape, axes);
          const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
          const ref = new BigUint64Array(kept.reduce((x, y) => x * y, 1));
          for (let e = 0; e < n; e++) {
            const ii = unravel(e, shape);
            const ko = ii.map((v, i) => (axes.includes(i) ? 0 : v));
            const kidx = ko.reduce((acc, v, i) => acc * kept[i]! + v, 0);
            ref[kidx] = wrap(ref[kidx]! + a[e]!);
          }
          expect(red).toEqual(axes.length === 0 ? a : ref);
        },
      ),
      { numRuns: 150 },
    );
  });
});

// the oracle is an optional dependency: the test is reported skipped where it is absent
const ortOrNull = await import('onnxruntime-node').catch(() => null);

describe('ring matmul against onnxruntime (an independent oracle, exact mod 2^64)', () => {
  it.skipIf(ortOrNull === null)('int64 MatMul of random 64-bit operands', async () => {
    const ort = ortOrNull!;
    // A one-node model: Y = MatMul(A, B) over int64, built as protobuf bytes.
    const { onnx } = (await import('onnx-proto')).default;
    const [m, k, n] = [13, 37, 9];
    const vi = (name: string, dims: number[]) => ({
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
    });
    const model = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 14 }],
        graph: {
          name: 'mm',
          node: [{ opType: 'MatMul', input: ['A', 'B'], output: ['Y'] }],
          input: [vi('A', [m, k]), vi('B', [k, n])],
          output: [vi('Y', [m, n])],
        },
      }),
    ).finish();
    const session = await ort.InferenceSession.create(model);
    const a = BigUint64Array.from({ length: m * k }, (_, i) => wrap(BigInt(i + 3) * 0x9e3779b97f4a7c15n + (BigInt(i) << 40n)));
    const b = BigUint64Array.from({ length: k * n }, (_, i) => wrap(BigInt(i + 5) * 0xbf58476d1ce4e5b9n - (BigInt(i) << 33n)));
    const toI64 = (x: BigUint64Array): BigInt64Array => new BigInt64Array(x.buffer, x.byteOffset, x.length);
    const out = await session.run({ A: new ort.Tensor('int64', toI64(a), [m, k]), B: new ort.Tensor('int64', toI64(b), [k, n]) });
    const y = out['Y']!.data as BigInt64Array;
    const ours = K.ringMatmul(a, b, m, k, n);
    expect(Array.from(ours, (v) => signed(v))).toEqual(Array.from(y));
  });
});
