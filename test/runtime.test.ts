import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Tensor } from '../ir/tensor.ts';
import {
  CircuitBuilder,
  beaverAnd,
  beaverMatmul,
  beaverMul,
  beaverSquare,
  circuitCost,
  costSummary,
  decodeCircuit,
  encodeCircuit,
  encodeFixedArray,
  type Circuit,
} from '../ir/circuit/index.ts';
import { ringMatmul, runCircuit, type RunOptions, type RunResult } from '../runtime/index.ts';

const ULP = 2 ** -16;

/** Runs a circuit and checks that the measured cost equals the static cost exactly. */
function run(c: Circuit, opts: Partial<RunOptions> = {}): RunResult {
  const r = runCircuit(c, { inputs: new Map(), weights: new Map(), ...opts });
  const { byRound, ...measured } = r.cost;
  const stat = circuitCost(c);
  expect(measured).toEqual(costSummary(stat));
  expect(byRound).toEqual(stat.byRound.map((x) => ({ phase: x.phase, round: x.round, bytesP0: x.bytesP0, bytesP1: x.bytesP1 })));
  return r;
}

const t64 = (shape: number[], xs: readonly number[]): Tensor => Tensor.from('f64', shape, xs);

function values(t: Tensor | undefined): number[] {
  if (t === undefined) throw new Error('missing output');
  return t.toNumbers();
}

const arbVals = (n: number, max = 100): fc.Arbitrary<number[]> => fc.array(fc.double({ min: -max, max, noNaN: true }), { minLength: n, maxLength: n });

describe('runtime: sharing', () => {
  it('sharing then reconstructing is the identity (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), arbVals(30, 1e6), (m, n, pool) => {
        const xs = pool.slice(0, m * n).concat(new Array(Math.max(0, m * n - pool.length)).fill(1));
        const b = new CircuitBuilder();
        b.output(b.input('x', 1, [m, n]), 'x');
        b.output(b.input('w', 0, [m, n]), 'w');
        const r = run(b.build(), { inputs: new Map([['x', t64([m, n], xs)]]), weights: new Map([['w', t64([m, n], xs.map((v) => -v))]]) });
        const expected = Array.from(encodeFixedArray(xs, 16), (v) => Number(BigInt.asIntN(64, v)) / 2 ** 16);
        expect(values(r.outputs.get('x'))).toEqual(expected);
        expect(values(r.outputs.get('w'))).toEqual(expected.map((v) => (v === 0 ? 0 : -v)));
      }),
      { numRuns: 40 },
    );
  });

  it('each share alone looks random: shares differ from the value and add up to it', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4]);
    b.output(x, 'x');
    const r = run(b.build(), { inputs: new Map([['x', t64([4], [1, 2, 3, 4])]]), captureShares: [x.id] });
    const [s0, s1] = r.shares.get(x.id)!;
    const enc = encodeFixedArray([1, 2, 3, 4], 16);
    for (let i = 0; i < 4; i++) {
      expect(BigInt.asUintN(64, s0[i]! + s1[i]!)).toBe(enc[i]);
      expect(s1[i]).not.toBe(enc[i]);
    }
  });

  it('int, onehot and keepmask encodings', () => {
    const b = new CircuitBuilder();
    const ids = b.input('ids', 1, [3], { encoding: 'onehot', classes: 4 });
    const n = b.input('n', 1, [2], { encoding: 'int' });
    const m = b.input('mask', 1, [3], { encoding: 'keepmask' });
    b.output(ids, 'ids');
    b.output(n, 'n');
    b.output(m, 'mask');
    const r = run(b.build(), {
      inputs: new Map([
        ['ids', Tensor.from('i64', [3], [2n, 0n, 3n])],
        ['n', Tensor.from('i64', [2], [-5n, 7n])],
        ['mask', Tensor.from('i64', [3], [1n, 0n, 1n])],
      ]),
    });
    expect(values(r.outputs.get('ids'))).toEqual([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect(values(r.outputs.get('n'))).toEqual([-5, 7]);
    expect(values(r.outputs.get('mask'))).toEqual([1, 0, 1]);
  });

  it('reports missing or misshapen inputs as Ig3dcError', () => {
    const b = new CircuitBuilder();
    b.output(b.input('x', 1, [2]), 'x');
    const c = b.build();
    const err = (opts: Partial<RunOptions>): Ig3dcError => {
      try {
        runCircuit(c, { inputs: new Map(), weights: new Map(), ...opts });
      } catch (e) {
        if (e instanceof Ig3dcError) return e;
        throw e;
      }
      throw new Error('no error');
    };
    expect(err({}).message).toMatch(/missing input 'x'/);
    expect(err({ inputs: new Map([['x', t64([3], [1, 2, 3])]]) }).message).toMatch(/shape \[3\], the circuit expects \[2\]/);
    expect(err({ inputs: new Map([['x', t64([2], [1, Number.NaN])]]) }).kind).toBe('input');
  });
});

describe('runtime: Beaver protocols', () => {
  it('mul reconstructs the product within fixed-point error (property)', () => {
    fc.assert(
      fc.property(arbVals(6), arbVals(6), fc.uint8Array({ minLength: 16, maxLength: 16 }), (xs, ys, seed) => {
        const b = new CircuitBuilder();
        b.output(beaverMul(b, b.input('x', 1, [2, 3]), b.input('y', 0, [2, 3])), 'z');
        const r = run(b.build(), { inputs: new Map([['x', t64([2, 3], xs)]]), weights: new Map([['y', t64([2, 3], ys)]]), seed });
        values(r.outputs.get('z')).forEach((z, i) => {
          const bound = (Math.abs(xs[i]!) + Math.abs(ys[i]!) + 2) * ULP;
          expect(Math.abs(z - xs[i]! * ys[i]!)).toBeLessThanOrEqual(bound);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('square and a chain of squares', () => {
    const xs = [0.5, -1.25, 3, -0.1];
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4]);
    const x2 = beaverSquare(b, x);
    b.output(x2, 'x2');
    b.output(beaverSquare(b, x2), 'x4');
    const r = run(b.build(), { inputs: new Map([['x', t64([4], xs)]]) });
    expect(r.cost.rounds).toBe(3); // square, square, then the outputs
    values(r.outputs.get('x2')).forEach((v, i) => expect(Math.abs(v - xs[i]! ** 2)).toBeLessThanOrEqual(8 * ULP));
    values(r.outputs.get('x4')).forEach((v, i) => expect(Math.abs(v - xs[i]! ** 4)).toBeLessThanOrEqual(200 * ULP));
  });

  it('matmul (private x private, and with a weight in preprocessing) reconstructs the product', () => {
    const [m, k, n] = [3, 5, 4];
    const xs = Array.from({ length: m * k }, (_, i) => Math.sin(i) * 3);
    const ws = Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.7) * 2);
    const ref = new Array<number>(m * n).fill(0);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) ref[i * n + j]! += xs[i * k + p]! * ws[p * n + j]!;
    for (const owner of [0, 1] as const) {
      const b = new CircuitBuilder();
      const y = beaverMatmul(b, b.input('x', 1, [m, k]), b.input('w', owner, [k, n]));
      b.output(y, 'y');
      const c = b.build();
      const r = run(c, {
        inputs: new Map([['x', t64([m, k], xs)], ...(owner === 1 ? [['w', t64([k, n], ws)] as const] : [])]),
        weights: new Map(owner === 0 ? [['w', t64([k, n], ws)]] : []),
      });
      expect(r.cost.preprocessingRounds).toBe(owner === 0 ? 1 : 0);
      values(r.outputs.get('y')).forEach((v, i) => expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(k * 5 * ULP + 2 * ULP));
    }
  });

  it('batched matmul (attention shape) through data movement', () => {
    const b = new CircuitBuilder();
    const q = b.input('q', 1, [2, 3, 4]);
    const kT = b.transpose(b.input('k', 1, [2, 3, 4]), [0, 2, 1]);
    b.output(beaverMatmul(b, q, kT), 's');
    const qs = Array.from({ length: 24 }, (_, i) => (i % 5) - 2);
    const ks = Array.from({ length: 24 }, (_, i) => ((i * 3) % 7) / 4 - 0.75);
    const r = run(b.build(), { inputs: new Map([['q', t64([2, 3, 4], qs)], ['k', t64([2, 3, 4], ks)]]) });
    const s = values(r.outputs.get('s'));
    for (let h = 0; h < 2; h++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) {
          let acc = 0;
          for (let p = 0; p < 4; p++) acc += qs[h * 12 + i * 4 + p]! * ks[h * 12 + j * 4 + p]!;
          expect(Math.abs(s[h * 9 + i * 3 + j]! - acc)).toBeLessThanOrEqual(2 * ULP);
        }
  });

  it('local truncation is off by at most one unit in the last place (property)', () => {
    fc.assert(
      fc.property(arbVals(8, 1000), fc.double({ min: -50, max: 50, noNaN: true }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (xs, p, seed) => {
        const b = new CircuitBuilder();
        b.output(b.trunc(b.mulPub(b.input('x', 1, [8]), b.constant(p, 16)), 16), 'y');
        const r = run(b.build(), { inputs: new Map([['x', t64([8], xs)]]), seed });
        const pe = Number(BigInt.asIntN(64, encodeFixedArray([p], 16)[0]!));
        const xe = Array.from(encodeFixedArray(xs, 16), (v) => Number(BigInt.asIntN(64, v)));
        values(r.outputs.get('y')).forEach((y, i) => {
          const exact = Math.floor((xe[i]! * pe) / 2 ** 16) / 2 ** 16;
          expect(Math.abs(y - exact)).toBeLessThanOrEqual(ULP * 1.0001);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('AND of XOR-shared words (beaver_and, a2b_own, open_b)', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [5], { encoding: 'int' });
    const z = beaverAnd(b, b.a2bOwn(x, 0), b.a2bOwn(x, 1));
    const [opened] = b.openB([z]);
    const c = b.build();
    // Opens z unmasked on purpose (to check the AND), so the leakage checker is off.
    const r = run(c, { inputs: new Map([['x', Tensor.from('i64', [5], [1n, -2n, 3n, 1000n, 0n])]]), captureShares: [x.id, opened!.id], checkLeakage: false });
    const [s0, s1] = r.shares.get(x.id)!;
    const [p0, p1] = r.shares.get(opened!.id)!;
    for (let i = 0; i < 5; i++) {
      expect(p0[i]).toBe(s0[i]! & s1[i]!);
      expect(p1[i]).toBe(p0[i]);
    }
  });

  it('data movement on shares: slice, concat, gather, reduce_sum, expand, rsub_pub, neg', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 3]);
    b.output(b.slice(x, [0, 1], [2, 3], [0, 1]), 'slice');
    b.output(b.concat([x, b.neg(x)], 1), 'concat');
    b.output(b.gather(x, b.constant([2, 0, -1], 0), 1), 'gather');
    b.output(b.reduceSum(x, [0], false), 'sum');
    b.output(b.expand(b.reshape(x, [2, 1, 3]), [2, 2, 3]), 'expand');
    b.output(b.rsubPub(b.constant([10, 20, 30], 16), x), 'rsub');
    const xs = [1, 2, 3, 4, 5, 6];
    const r = run(b.build(), { inputs: new Map([['x', t64([2, 3], xs)]]) });
    expect(values(r.outputs.get('slice'))).toEqual([2, 3, 5, 6]);
    expect(values(r.outputs.get('concat'))).toEqual([1, 2, 3, -1, -2, -3, 4, 5, 6, -4, -5, -6]);
    expect(values(r.outputs.get('gather'))).toEqual([3, 1, 3, 6, 4, 6]);
    expect(values(r.outputs.get('sum'))).toEqual([5, 7, 9]);
    expect(values(r.outputs.get('expand'))).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
    expect(values(r.outputs.get('rsub'))).toEqual([9, 18, 27, 6, 15, 24]);
  });
});

describe('runtime: seeds and files', () => {
  function circuit(): Circuit {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 2]);
    const w = b.input('w', 0, [2, 2]);
    b.output(beaverMul(b, beaverMatmul(b, x, w), x), 'y');
    return b.build();
  }
  const inputs = new Map([['x', t64([2, 2], [0.5, -1.5, 2, 0.25])]]);
  const weights = new Map([['w', t64([2, 2], [1, 2, -3, 0.5])]]);

  it('the same seed gives identical shares, transcript and outputs; another seed other shares, same outputs', () => {
    const c = circuit();
    const capture = c.registers.map((_, i) => i).filter((i) => c.registers[i]!.kind === 'ashr');
    const seedA = new Uint8Array(16).fill(1);
    const seedB = new Uint8Array(16).fill(2);
    const a1 = run(c, { inputs, weights, seed: seedA, captureShares: capture });
    const a2 = run(c, { inputs, weights, seed: seedA, captureShares: capture });
    const b1 = run(c, { inputs, weights, seed: seedB, captureShares: capture });
    expect(a2.transcriptHash).toBe(a1.transcriptHash);
    expect(a2.shares).toEqual(a1.shares);
    expect(values(a2.outputs.get('y'))).toEqual(values(a1.outputs.get('y')));
    expect(b1.transcriptHash).not.toBe(a1.transcriptHash);
    for (const r of capture) expect(b1.shares.get(r)![0]).not.toEqual(a1.shares.get(r)![0]);
    const ya = values(a1.outputs.get('y'));
    values(b1.outputs.get('y')).forEach((v, i) => expect(Math.abs(v - ya[i]!)).toBeLessThanOrEqual(4 * ULP));
  });

  it('runs a circuit read back from its file the same way', () => {
    const c = circuit();
    const seed = new Uint8Array(16).fill(9);
    const direct = run(c, { inputs, weights, seed });
    const viaFile = run(decodeCircuit(encodeCircuit(c)), { inputs, weights, seed });
    expect(viaFile.transcriptHash).toBe(direct.transcriptHash);
    expect(values(viaFile.outputs.get('y'))).toEqual(values(direct.outputs.get('y')));
  });
});

describe('ringMatmul', () => {
  it('agrees with a BigInt reference mod 2^64 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (m, k, n, s) => {
        const rnd = (len: number, salt: number): BigUint64Array =>
          BigUint64Array.from({ length: len }, (_, i) => BigInt.asUintN(64, BigInt(s + salt) * 0x9e3779b97f4a7c15n * BigInt(i + 1) + BigInt(i) ** 5n));
        const a = rnd(m * k, 1);
        const bb = rnd(k * n, 2);
        const out = ringMatmul(a, bb, m, k, n);
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let acc = 0n;
            for (let p = 0; p < k; p++) acc += a[i * k + p]! * bb[p * n + j]!;
            expect(out[i * n + j]).toBe(BigInt.asUintN(64, acc));
          }
      }),
    );
  });
});

describe('recycled buffers and small-variance LayerNorm', () => {
  it('aliased registers (reshape) keep their values while other registers are freed and reused', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4, 64]);
    const r = b.reshape(x, [64, 4]);
    let acc = b.add(x, x);
    for (let i = 0; i < 6; i++) acc = b.add(acc, x); // frees and reallocates same-sized arrays
    b.output(b.reshape(r, [4, 64]), 'r');
    b.output(acc, 'acc');
    const xs = Array.from({ length: 256 }, (_, i) => (i % 17) - 8);
    const out = run(b.build(), { inputs: new Map([['x', t64([4, 64], xs)]]) });
    expect(values(out.outputs.get('r'))).toEqual(xs);
    expect(values(out.outputs.get('acc'))).toEqual(xs.map((v) => 8 * v));
  });

  it('best-preset LayerNorm is accurate at variance ~1e-3, where CrypTen\'s inv_sqrt has not converged', async () => {
    const P = await import('../compiler/backend/protocols/index.ts');
    const [rows, d] = [4, 128];
    const xs = Array.from({ length: rows * d }, (_, i) => 0.03 * Math.sin(i * 1.7 + (i % 5)));
    const lnRef = (row: number[]): number[] => {
      const mean = row.reduce((a, c) => a + c, 0) / d;
      const v = row.reduce((a, c) => a + (c - mean) ** 2, 0) / d;
      return row.map((x) => (x - mean) / Math.sqrt(v + 1e-12));
    };
    const want = Array.from({ length: rows }, (_, i) => lnRef(xs.slice(i * d, (i + 1) * d))).flat();
    const errOf = (cfg: typeof P.BEST): number => {
      const b = new CircuitBuilder();
      const x = b.input('x', 1, [rows, d]);
      b.output(P.layerNorm(b, x, b.constant(1, 16, [d]), b.constant(0, 16, [d]), 1e-12, cfg), 'y');
      const got = values(run(b.build(), { inputs: new Map([['x', t64([rows, d], xs)]]) }).outputs.get('y'));
      return Math.max(...got.map((g, i) => Math.abs(g - want[i]!)));
    };
    expect(errOf(P.BEST)).toBeLessThan(5e-3);
    expect(errOf(P.CRYPTEN)).toBeGreaterThan(0.1);
  });
});
