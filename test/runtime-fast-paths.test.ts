import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../ir/tensor.ts';
import { CircuitBuilder, beaverAnd, beaverMatmul, beaverMul, beaverSquare, circuitCost, costSummary, type Circuit } from '../ir/circuit/index.ts';
import * as K from '../ir/ring/kernels.ts';
import { planParty } from '../runtime/plan.ts';
import { prgBits, prgRing } from '../ir/ring/stream.ts';
import { runCircuit, runCircuitWorkers, type RunOptions, type RunResult } from '../runtime/index.ts';

const MASK = (1n << 64n) - 1n;
const u64 = fc.bigInt({ min: 0n, max: MASK });
const arr = (n: number): fc.Arbitrary<BigUint64Array> => fc.array(u64, { minLength: n, maxLength: n }).map((xs) => BigUint64Array.from(xs));
const wrap = (v: bigint): bigint => BigInt.asUintN(64, v);
const t64 = (shape: number[], xs: readonly number[]): Tensor => Tensor.from('f64', shape, xs);

/** The combination term by term, in BigInt: c + x1*p1 + x2*p2 (+ p1*p2), or with xor/and. */
function refCombine(kind: 'mul' | 'and', withPublic: boolean, c: BigUint64Array, x1: BigUint64Array, p1: BigUint64Array, x2: BigUint64Array, p2: BigUint64Array): BigUint64Array {
  return BigUint64Array.from(c, (v, i) => {
    if (kind === 'mul') return wrap(v + x1[i]! * p1[i]! + x2[i]! * p2[i]! + (withPublic ? p1[i]! * p2[i]! : 0n));
    return v ^ (x1[i]! & p1[i]!) ^ (x2[i]! & p2[i]!) ^ (withPublic ? p1[i]! & p2[i]! : 0n);
  });
}

describe('fused Beaver combination kernel equals a BigInt reference bit for bit', () => {
  it('arithmetic and binary, with and without the public product (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(arr(n), arr(n), arr(n), arr(n), arr(n))),
        fc.constantFrom<'mul' | 'and'>('mul', 'and'),
        fc.boolean(),
        ([c, x1, p1, x2, p2], kind, pub) => {
          expect(K.ringBeaverCombine(kind, pub, c, x1, p1, x2, p2)).toEqual(refCombine(kind, pub, c, x1, p1, x2, p2));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("the dealer's triple product, arithmetic and binary, also with repeated operands (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(arr(n), arr(n), arr(n), arr(n), arr(n))), ([a0, a1, b0, b1, c0]) => {
        const mul = BigUint64Array.from(c0, (v, i) => wrap((a0[i]! + a1[i]!) * (b0[i]! + b1[i]!) - v));
        const and = BigUint64Array.from(c0, (v, i) => ((a0[i]! ^ a1[i]!) & (b0[i]! ^ b1[i]!)) ^ v);
        const square = BigUint64Array.from(c0, (v, i) => wrap((a0[i]! + a1[i]!) ** 2n - v));
        expect(K.ringTriple('mul', a0, a1, b0, b1, c0)).toEqual(mul);
        expect(K.ringTriple('and', a0, a1, b0, b1, c0)).toEqual(and);
        expect(K.ringTriple('mul', a0, a1, a0, a1, c0)).toEqual(square);
      }),
      { numRuns: 150 },
    );
  });

  it('across the chunk boundary of the wasm arena', () => {
    const n = (1 << 19) + 5;
    const gen = (salt: bigint): BigUint64Array => BigUint64Array.from({ length: n }, (_, i) => wrap((BigInt(i) + salt) * 0x9e3779b97f4a7c15n));
    const [c, x1, p1, x2, p2] = [1n, 2n, 3n, 4n, 5n].map(gen) as [BigUint64Array, BigUint64Array, BigUint64Array, BigUint64Array, BigUint64Array];
    for (const kind of ['mul', 'and'] as const) {
      const got = K.ringBeaverCombine(kind, true, c, x1, p1, x2, p2);
      const want = refCombine(kind, true, c, x1, p1, x2, p2);
      for (const i of [0, 1, (1 << 19) - 1, 1 << 19, n - 1]) expect(got[i]).toBe(want[i]);
    }
  });
});

describe('seeded bits', () => {
  it('prgBits is the low bit of each word of the same stream (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 5000 }), fc.nat(), (seed, n, id) => {
        const words = prgRing(seed, id, n).slice();
        expect(prgBits(seed, id, n)).toEqual(BigUint64Array.from(words, (v) => v & 1n));
      }),
      { numRuns: 50 },
    );
  });
});

describe('tiled transpose', () => {
  it('swaps the last two axes across whole and partial tiles (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }), (batch, rows, cols) => {
        const a = BigUint64Array.from({ length: batch * rows * cols }, (_, i) => wrap(BigInt(i) * 0x9e3779b97f4a7c15n));
        const t = K.transpose(a, [batch, rows, cols], [0, 2, 1]);
        for (let b = 0; b < batch; b++)
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(t[b * rows * cols + c * rows + r]).toBe(a[b * rows * cols + r * cols + c]);
      }),
      { numRuns: 60 },
    );
  });
});

describe('broadcast copies (a broadcast last axis is filled row by row)', () => {
  it('expandTo equals an index-by-index reference (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 15 }), fc.integer(), (outShape, mask, s) => {
        // Axes whose bit is set are broadcast (size 1 in the input).
        const inShape = outShape.map((d, i) => ((mask >> i) & 1 ? 1 : d));
        const n = inShape.reduce((x, y) => x * y, 1);
        const a = BigUint64Array.from({ length: n }, (_, i) => wrap(BigInt(i + 1) * BigInt(s) * 0xd1b54a32d192ed03n + 3n));
        const got = K.expandTo(a, inShape, outShape);
        const total = outShape.reduce((x, y) => x * y, 1);
        for (let e = 0; e < total; e++) {
          let rest = e;
          let src = 0;
          let stride = 1;
          for (let ax = outShape.length - 1; ax >= 0; ax--) {
            const idx = rest % outShape[ax]!;
            rest = Math.floor(rest / outShape[ax]!);
            src += (inShape[ax] === 1 ? 0 : idx) * stride;
            stride *= inShape[ax]!;
          }
          expect(got[e]).toBe(a[src]);
        }
      }),
      { numRuns: 150 },
    );
  });
});

function run(c: Circuit, opts: Partial<RunOptions>): RunResult {
  const r = runCircuit(c, { inputs: new Map(), weights: new Map(), ...opts });
  const { byRound: _, ...measured } = r.cost;
  expect(measured).toEqual(costSummary(circuitCost(c)));
  return r;
}

/** Every Beaver protocol, element-wise and matmul, private x private and with a weight, batched, and one whose product is read twice (not fusable). */
function circuit(): { c: Circuit; opts: Partial<RunOptions>; roots: number[] } {
  const b = new CircuitBuilder();
  const x = b.input('x', 1, [2, 3, 4]);
  const y = b.input('y', 1, [2, 3, 4]);
  const w = b.input('w', 0, [4, 5]);
  const wb = b.input('wb', 0, [2, 4, 3]);
  const n = b.input('n', 1, [6], { encoding: 'int' });
  const m1 = beaverMul(b, x, y);
  const sq = beaverSquare(b, m1);
  const mm = beaverMatmul(b, b.reshape(x, [6, 4]), w);
  const bm = beaverMatmul(b, y, wb);
  const pp = beaverMatmul(b, x, b.transpose(y, [0, 2, 1]));
  const and = beaverAnd(b, b.a2bOwn(n, 0), b.a2bOwn(n, 1));
  const [andOpen] = b.openB([and]);
  for (const [r, name] of [
    [m1, 'm1'],
    [sq, 'sq'],
    [mm, 'mm'],
    [bm, 'bm'],
    [pp, 'pp'],
  ] as const)
    b.output(r, name);
  const c = b.build();
  const vals = (k: number, salt: number): number[] => Array.from({ length: k }, (_, i) => Math.sin(i * 1.7 + salt) * 3);
  const opts: Partial<RunOptions> = {
    // The AND result is opened unmasked on purpose (its shares are compared).
    checkLeakage: false,
    inputs: new Map([
      ['x', t64([2, 3, 4], vals(24, 1))],
      ['y', t64([2, 3, 4], vals(24, 2))],
      ['n', Tensor.from('i64', [6], [1n, -2n, 3n, 1000n, 0n, -77n])],
    ]),
    weights: new Map([
      ['w', t64([4, 5], vals(20, 3))],
      ['wb', t64([2, 4, 3], vals(24, 4))],
    ]),
    seed: new Uint8Array(16).fill(5),
  };
  return { c, opts, roots: [m1.id, mm.id, bm.id, pp.id, andOpen!.id] };
}

describe('fused Beaver combinations', () => {
  it('are found for the element-wise, binary and matmul protocols (matmul: party 0 only)', () => {
    const { c } = circuit();
    const kinds = (p: 0 | 1): string[] => [...planParty(c, p).fusions.values()].map((f) => f.kind).sort();
    expect(kinds(0)).toEqual(['and', 'matmul', 'matmul', 'matmul', 'mul']);
    expect(kinds(1)).toEqual(['and', 'mul']);
    expect(planParty(c, 0, new Set(), undefined, { fuse: false }).fusions.size).toBe(0);
  });

  it('give the same outputs, shares and transcript as the instructions one by one', () => {
    const { c, opts, roots } = circuit();
    const fused = run(c, { ...opts, captureShares: roots });
    const plain = run(c, { ...opts, captureShares: roots, fuse: false });
    expect(fused.transcriptHash).toBe(plain.transcriptHash);
    expect(fused.shares).toEqual(plain.shares);
    expect(fused.shares.size).toBe(roots.length);
    for (const [k, t] of plain.outputs) expect(fused.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
    // A party-0 matmul is one matmul fewer (P0: E@(B+F) + A@F instead of E@B + A@F + E@F).
    expect(fused.ringMacs).toBeLessThan(plain.ringMacs);
  });

  it('keeping an intermediate register turns its fusion off (its share is still produced)', () => {
    const { c, opts } = circuit();
    const inner = c.instructions.find((x) => x.op === 'matmul_pp')!.outputs[0]!;
    const kinds = [...planParty(c, 0, new Set([inner])).fusions.values()].map((f) => f.kind);
    expect(kinds.filter((k) => k === 'matmul').length).toBe(2);
    const r = run(c, { ...opts, captureShares: [inner] });
    expect(r.shares.get(inner)).toBeDefined();
    expect(r.transcriptHash).toBe(run(c, { ...opts, fuse: false }).transcriptHash);
  });

  it('worker threads give the same transcript and outputs with and without fusion', async () => {
    const { c, opts } = circuit();
    const full = { inputs: new Map(), weights: new Map(), ...opts };
    const [a, b] = [await runCircuitWorkers(c, full), await runCircuitWorkers(c, { ...full, fuse: false })];
    expect(a.transcriptHash).toBe(b.transcriptHash);
    expect(a.transcriptHash).toBe(run(c, opts).transcriptHash);
    for (const [k, t] of b.outputs) expect(a.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
  }, 60_000);
});
