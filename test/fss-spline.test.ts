// FSS splines (ir/circuit/gates/fss-spline.ts, compiler/backend/protocols/spline.ts): the gate
// against its plaintext function on the ring (random tables, x at the breakpoints, 0 and near
// the wrap-around, masks at the extremes), the fitted tables against GELU, exp, 1/x, tanh and
// sigmoid, the dealer material independent of the table, the leakage rule for the spline's
// open, and the protocols in a circuit run with measured == static cost.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../compiler/backend/protocols/index.ts';
import * as S from '../compiler/backend/protocols/spline.ts';
import { CircuitBuilder, checkLeakage, circuitCost, costSummary, findLeaks } from '../ir/circuit/index.ts';
import { type FssMode } from '../ir/circuit/gates/fss.ts';
import { splineMode, splineShares, type SplineTable } from '../ir/circuit/gates/fss-spline.ts';
import { findCircuitOp } from '../ir/circuit/ops.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit } from '../runtime/index.ts';
import { gateKeys, opened, M64, rand64 } from './fss-helpers.ts';

const signed = (v: bigint): bigint => BigInt.asIntN(64, v);
const edgeMasks = [0n, 1n, M64, 1n << 63n, (1n << 63n) - 1n];

/** Both parties' output shares of the spline gate for x (ring values) under masks rho, summed: [O][i]; `drop`: low bits the key ignores. */
function spline(t: SplineTable, bits: number, xs: readonly bigint[], rhos: readonly bigint[], drop = 0): bigint[][] {
  const n = xs.length;
  const mode: FssMode = splineMode(t);
  const [k0, k1] = gateKeys(mode, bits, BigUint64Array.from(rhos), drop);
  const { X, r0, r1 } = opened(xs, rhos);
  const y0 = splineShares(t, mode, bits, 0, X, r0, ...k0, drop);
  const y1 = splineShares(t, mode, bits, 1, X, r1, ...k1, drop);
  return t.shifts.map((_, q) => xs.map((_, i) => signed(y0[q * n + i]! + y1[q * n + i]!)));
}

/** The plaintext meaning: piece = number of breakpoints <= x; T = a + s x in the ring; T >> shift. */
function plain(t: SplineTable, q: number, x: bigint): bigint {
  const m = t.knots.length;
  let p = 0;
  while (p < m && signed(x) >= BigInt(t.knots[p]!)) p++;
  return onPiece(t, q, p, x);
}

/** Output q of piece p at x. */
function onPiece(t: SplineTable, q: number, p: number, x: bigint): bigint {
  const m = t.knots.length;
  const T = signed(BigInt(t.a[q * (m + 1) + p]!) + BigInt(t.s[q * (m + 1) + p]!) * signed(x));
  return t.shifts[q] === 0 ? T : T >> BigInt(t.shifts[q]!);
}

/** The pieces a key ignoring `drop` low bits may take at x: the plaintext's, and the next one where x lies in [k - 2^drop, k) of the next breakpoint k. */
function allowedPieces(t: SplineTable, x: bigint, drop: number): number[] {
  const m = t.knots.length;
  let p = 0;
  while (p < m && signed(x) >= BigInt(t.knots[p]!)) p++;
  return p < m && signed(x) >= BigInt(t.knots[p]!) - (1n << BigInt(drop)) ? [p, p + 1] : [p];
}

const smallInt = (lim: number): fc.Arbitrary<number> => fc.integer({ min: -lim, max: lim });

/** A random table: m sorted distinct breakpoints in [-2^20, 2^20], an exact output (shift 0) and a truncated one. */
const tables = fc
  .tuple(fc.uniqueArray(smallInt(1 << 20), { minLength: 1, maxLength: 6 }), fc.boolean())
  .chain(([ks, slopes]) => {
    const knots = [...ks].sort((a, b) => a - b);
    const k = knots.length + 1;
    return fc.tuple(fc.array(smallInt(2 ** 40), { minLength: 2 * k, maxLength: 2 * k }), fc.array(smallInt(slopes ? 1 << 18 : 0), { minLength: 2 * k, maxLength: 2 * k })).map(
      ([a, s]): SplineTable => ({ knots, shifts: [0, 16], a, s: s.map((v, i) => (i < k ? Math.trunc(v / 4096) : v)) }),
    );
  });

describe('fss_spline gate', () => {
  it('equals its plaintext piecewise-linear function: x at the breakpoints, 0, far out; masks at the extremes (property)', () => {
    fc.assert(
      fc.property(tables, fc.array(fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }).chain((v) => fc.constantFrom(v, v >> 20n)), { minLength: 1, maxLength: 8 }), (t, rs) => {
        const xs: bigint[] = [0n, 1n, M64];
        for (const k of t.knots) xs.push(BigInt(k) & M64, BigInt(k - 1) & M64, BigInt(k + 1) & M64);
        for (const r of rs) xs.push(r & M64);
        const rhos = xs.map((_, i) => (i < edgeMasks.length ? edgeMasks[i]! : i % 3 === 0 ? edgeMasks[i % edgeMasks.length]! : rand64()));
        const got = spline(t, 64, xs, rhos);
        xs.forEach((x, i) => {
          expect(got[0]![i], `exact output, x=${signed(x)}`).toBe(plain(t, 0, x));
          // Local truncation of a T of b bits fails with probability ~2^(b+1-64): checked where T < 2^40.
          const want = plain(t, 1, x);
          if (want >= 1n << 24n || want <= -(1n << 24n)) return;
          const d = got[1]![i]! - want;
          expect(d >= 0n && d <= 1n, `truncated output x=${signed(x)}: ${got[1]![i]} vs ${want}`).toBe(true);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('near the wrap-around: exact for |x - k| < 2^63, on 64 bits and on fewer', () => {
    const t: SplineTable = { knots: [-5, 0, 7], shifts: [0], a: [11, -3, 17, 40], s: [0, 1, -1, 2] };
    const big = (1n << 62n) + 12345n;
    const xs = [big, (-big) & M64, (1n << 63n) - 8n, (-((1n << 63n) - 8n)) & M64, 0n, 7n, M64 - 4n];
    const rhos = xs.map((_, i) => edgeMasks[i % edgeMasks.length]!);
    spline(t, 64, xs, rhos)[0]!.forEach((v, i) => expect(v, `x=${signed(xs[i]!)}`).toBe(plain(t, 0, xs[i]!)));
    const small = [0n, 7n, 6n, M64 - 4n, M64 - 5n, 1000n, M64 - 999n];
    spline(t, 12, small, small.map((_, i) => edgeMasks[i % edgeMasks.length]!))[0]!.forEach((v, i) => expect(v, `12 bits x=${signed(small[i]!)}`).toBe(plain(t, 0, small[i]!)));
  });

  it('a key ignoring s low bits: the plaintext piece, or the next one within 2^s below its breakpoint, never another (property, edges at k - 2^s)', () => {
    fc.assert(
      fc.property(tables, fc.integer({ min: 1, max: 12 }), fc.constantFrom(64, 44), (t, wanted, bits) => {
        // breakpoints more than 2^drop apart (the gate's rule)
        const gap = Math.min(...t.knots.slice(1).map((k, i) => k - t.knots[i]!), 2 ** 20);
        const drop = Math.min(wanted, Math.ceil(Math.log2(gap)) - 1);
        fc.pre(drop >= 1);
        const xs: bigint[] = [0n, 1n, M64];
        const d = 1n << BigInt(drop);
        for (const k of t.knots.map(BigInt)) for (const x of [k, k - 1n, k + 1n, k - d, k - d - 1n, k - d + 1n, k - d / 2n]) xs.push(x & M64);
        for (let i = 0; i < 20; i++) xs.push(BigInt.asUintN(64, BigInt(Math.round((Math.random() - 0.5) * 2 ** 22))));
        const rhos = xs.map((_, i) => (i < edgeMasks.length ? edgeMasks[i]! : i % 3 === 0 ? edgeMasks[i % edgeMasks.length]! : rand64()));
        const got = spline(t, bits, xs, rhos, drop);
        xs.forEach((x, i) => {
          const ok = allowedPieces(t, x, drop);
          expect(
            ok.some((p) => onPiece(t, 0, p, x) === got[0]![i]),
            `x=${signed(x)}, drop ${drop}: ${got[0]![i]} is none of pieces ${ok.join(', ')}`,
          ).toBe(true);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('a key ignoring s low bits takes the next piece early only within 2^s, and about as often as the mask decides', () => {
    // x = k - j for j in 1..2^s: the comparison reads x >= k iff the borrow of the low bits is lost, which the uniform mask makes happen for a fraction (2^s - j) / 2^s.
    const t: SplineTable = { knots: [0], shifts: [0], a: [0, 1], s: [0, 0] };
    const drop = 4;
    const xs: bigint[] = [];
    for (let rep = 0; rep < 400; rep++) for (let j = 1; j <= 17; j++) xs.push(BigInt(-j) & M64);
    const got = spline(t, 30, xs, xs.map(() => rand64()), drop)[0]!;
    const rate = (j: number): number => got.filter((v, i) => (i % 17) + 1 === j && v === 1n).length / 400;
    expect(rate(17)).toBe(0);
    expect(rate(16)).toBe(0);
    expect(rate(1)).toBeGreaterThan(0.8);
    expect(Math.abs(rate(8) - 0.5)).toBeLessThan(0.12);
  });

  it('a zero piece gives an exact 0 after truncation (masked keys get no weight)', () => {
    const t = S.expTable(16);
    const xs = [-(20n << 16n), -(4096n << 16n), -(17n << 16n)].map((v) => v & M64);
    for (let rep = 0; rep < 20; rep++) expect(spline(t, 64, xs, xs.map(() => rand64()))[0]).toEqual([0n, 0n, 0n]);
  });
});

describe('spline tables', () => {
  const f = 16;
  const cases: [string, SplineTable, (x: number) => number, number, number, number, boolean][] = [
    ['gelu', S.geluTable('erf', f), S.geluErf, -9, 9, S.GELU_TOL, false],
    ['gelu-tanh', S.geluTable('tanh', f), S.geluTanh, -9, 9, S.GELU_TOL, false],
    ['exp', S.expTable(f), Math.exp, -24, 0, S.EXP_TOL, false],
    ['tanh', S.tanhTable(f), Math.tanh, -9, 9, S.SIGMOID_TOL, false],
    ['sigmoid', S.sigmoidTable(f), (x) => 1 / (1 + Math.exp(-x)), -16, 16, S.SIGMOID_TOL, false],
    ['1/x', S.reciprocalTable(f), (x) => 1 / x, S.RECIP_LO, S.RECIP_HI, S.RECIP_START_TOL, true],
    ['1/x (softmax)', S.reciprocalTable(f, S.RECIP_SOFTMAX_TOL), (x) => 1 / x, S.RECIP_LO, 1, S.RECIP_SOFTMAX_TOL, true],
  ];
  it.each(cases)('%s: the gate within its tolerance (+2 ulp) of the function on random inputs and the edges', (_, t, fn, lo, hi, tol, rel) => {
    const reals = [lo, hi, 0, ...Array.from({ length: 300 }, (_, i) => (rel ? lo * (hi / lo) ** Math.random() : lo + (hi - lo) * Math.random()) + i * 0)].filter((v) => v >= lo && v <= hi && (!rel || v > 0));
    for (const k of t.knots) reals.push(...[k / 2 ** f, (k - 1) / 2 ** f].filter((v) => v >= lo && v <= hi));
    const xs = reals.map((v) => BigInt(Math.round(v * 2 ** f)) & M64);
    const got = spline(t, 64, xs, xs.map((_, i) => (i < 5 ? edgeMasks[i]! : rand64())));
    xs.forEach((x, i) => {
      const xv = Number(signed(x)) / 2 ** f;
      const y = got.reduce((acc, row) => acc + Number(row[i]!), 0) / 2 ** f;
      const err = Math.abs(y - fn(xv));
      expect(err, `x=${xv}`).toBeLessThanOrEqual(tol * (rel ? fn(xv) : 1) + 2 * 2 ** -f);
    });
  });

  const continuous = cases.filter(([, t]) => (t.drop ?? 0) > 0);
  it('continuous tables ignore low bits (gelu, exp, tanh, sigmoid), tables with jumps or relative error none', () => {
    expect(continuous.map(([name]) => name)).toEqual(['gelu', 'gelu-tanh', 'exp', 'tanh', 'sigmoid']);
    expect(S.reciprocalTable(f).drop ?? 0).toBe(0);
    expect(S.rsqrtTable(f, -4, 4, 1).drop ?? 0).toBe(0);
    const step: SplineTable = { knots: [0], shifts: [0], a: [0, 1 << 16], s: [0, 0] };
    expect(S.allowedDrop((x) => (x >= 0 ? 1 : 0), step, f, 1e-3)).toBe(0);
  });
  it.each(continuous)('%s ignoring its allowed low bits: within 2 tol (+2 ulp) of the function, x dense just below every breakpoint', (_, t, fn, lo, hi, tol) => {
    const drop = t.drop!;
    const reals = Array.from({ length: 100 }, () => lo + (hi - lo) * Math.random());
    for (const k of t.knots) for (let j = 1; j <= 8; j++) reals.push((k - (j * 2 ** drop) / 8) / 2 ** f);
    const xs = reals.filter((v) => v >= lo && v <= hi).map((v) => BigInt(Math.round(v * 2 ** f)) & M64);
    const got = spline(t, 40, xs, xs.map((_, i) => (i < 5 ? edgeMasks[i]! : rand64())), drop)[0]!;
    let worst = 0;
    xs.forEach((x, i) => {
      const xv = Number(signed(x)) / 2 ** f;
      worst = Math.max(worst, Math.abs(Number(got[i]!) / 2 ** f - fn(xv)));
    });
    expect(worst).toBeLessThanOrEqual(2 * tol + 2 * 2 ** -f);
    // four bits more would not do: the criterion is what bounds the error
    expect(S.allowedDrop(fn, { ...t, drop: undefined } as SplineTable, f, tol)).toBe(drop);
  });

  const cubic: [string, SplineTable, SplineTable, (x: number) => number, number, number, number][] = [
    ['gelu', S.geluCubicTable('erf', f), S.geluTable('erf', f), S.geluErf, -9, 9, S.GELU_TOL],
    ['gelu-tanh', S.geluCubicTable('tanh', f), S.geluTable('tanh', f), S.geluTanh, -9, 9, S.GELU_TOL],
    ['exp', S.expCubicTable(f), S.expTable(f), Math.exp, -24, 0, S.EXP_TOL],
  ];
  /** A cubic table's value as the circuit combines the gate's two outputs: lin (scale f) + quad (untruncated, scale 2f + CUBIC_UP) x^2 (reals; the square and the product exact). */
  const cubicOut = (got: bigint[][], i: number, xv: number): number => Number(got[0]![i]!) / 2 ** f + (Number(got[1]![i]!) / 2 ** (2 * f + S.CUBIC_UP)) * xv * xv;
  it.each(cubic)('cubic %s: the gate within its tolerance (+2 ulp) of the function on random inputs, the breakpoints and the edges, with a third of the breakpoints or fewer', (_, t, linear, fn, lo, hi, tol) => {
    expect(t.knots.length).toBeLessThanOrEqual(Math.ceil(linear.knots.length / 3));
    const reals = [lo, hi, 0, ...Array.from({ length: 400 }, () => lo + (hi - lo) * Math.random())];
    for (const k of t.knots) reals.push(...[k / 2 ** f, (k - 1) / 2 ** f].filter((v) => v >= lo && v <= hi));
    const xs = reals.map((v) => BigInt(Math.round(v * 2 ** f)) & M64);
    const got = spline(t, 64, xs, xs.map((_, i) => (i < 5 ? edgeMasks[i]! : rand64())));
    xs.forEach((x, i) => {
      const xv = Number(signed(x)) / 2 ** f;
      expect(Math.abs(cubicOut(got, i, xv) - fn(xv)), `x=${xv}`).toBeLessThanOrEqual(tol + 2 * 2 ** -f);
    });
    // outside the cubic pieces the second line is an exact 0 (its product with x^2 too, whatever
    // x^2 is): below them, and above them but for exp, whose last piece goes on (open top)
    const far = [t.knots[0]! - 2 ** f, ...(fn === Math.exp ? [] : [t.knots[t.knots.length - 1]! + 2 ** f])].map((k) => BigInt(k) & M64);
    expect(spline(t, 64, far, far.map(() => rand64()))[1]).toEqual(far.map(() => 0n));
  });
  it.each(cubic)('cubic %s ignoring cubicDrop(f) low bits (more than the linear table): within tol (+2 ulp), x dense just below every breakpoint (each piece is fitted from 2^cubicDrop(f) below its start)', (_, t, linear, fn, lo, hi, tol) => {
    const drop = t.drop!;
    expect(drop).toBe(S.cubicDrop(f));
    expect(drop).toBeGreaterThan(linear.drop!);
    const reals = Array.from({ length: 100 }, () => lo + (hi - lo) * Math.random());
    for (const k of t.knots) for (let j = 1; j <= 8; j++) reals.push((k - (j * 2 ** drop) / 8) / 2 ** f);
    const xs = reals.filter((v) => v >= lo && v <= hi).map((v) => BigInt(Math.round(v * 2 ** f)) & M64);
    const got = spline(t, 40, xs, xs.map((_, i) => (i < 5 ? edgeMasks[i]! : rand64())), drop);
    let worst = 0;
    xs.forEach((x, i) => {
      const xv = Number(signed(x)) / 2 ** f;
      worst = Math.max(worst, Math.abs(cubicOut(got, i, xv) - fn(xv)));
    });
    expect(worst).toBeLessThanOrEqual(tol + 2 * 2 ** -f);
  });
  /** A quadratic table's value as the circuit combines the gate's two outputs: line (scale f) + C2 (untruncated, scale quadScale(f)) x^2 (reals; the square and the product exact). */
  const quadOut = (got: bigint[][], i: number, xv: number): number => Number(got[0]![i]!) / 2 ** f + (Number(BigInt.asIntN(64, got[1]![i]!)) / 2 ** S.quadScale(f)) * xv * xv;
  it('quadratic exp: the gate within its tolerance (+2 ulp) of exp on random inputs, the breakpoints, just below them (cubicDrop(f) low bits ignored) and the edges, with half the breakpoints or fewer; C2 an exact 0 below the pieces', () => {
    const t = S.expQuadTable(f);
    const linear = S.expTable(f);
    expect(t.knots.length).toBeLessThanOrEqual(Math.ceil(linear.knots.length / 2));
    expect(t.knots.length).toBeGreaterThan(S.expCubicTable(f).knots.length);
    const drop = t.drop!;
    expect(drop).toBe(S.cubicDrop(f));
    // the second output is one constant per piece
    expect(t.s.slice(t.knots.length + 1).every((v) => v === 0)).toBe(true);
    const [lo, hi] = [-24, S.EXP_CUBIC_HI];
    const reals = [lo, hi, 0, -16, ...Array.from({ length: 400 }, () => lo + (hi - lo) * Math.random())];
    for (const k of t.knots) {
      reals.push(k / 2 ** f, (k - 1) / 2 ** f);
      for (let j = 1; j <= 8; j++) reals.push((k - (j * 2 ** drop) / 8) / 2 ** f);
    }
    const xs = reals.filter((v) => v >= lo && v <= hi).map((v) => BigInt(Math.round(v * 2 ** f)) & M64);
    const got = spline(t, 40, xs, xs.map((_, i) => (i < 5 ? edgeMasks[i]! : rand64())), drop);
    xs.forEach((x, i) => {
      const xv = Number(signed(x)) / 2 ** f;
      expect(Math.abs(quadOut(got, i, xv) - (xv < -16 ? 0 : Math.exp(xv))), `x=${xv}`).toBeLessThanOrEqual(S.EXP_TOL + 2 * 2 ** -f);
    });
    // C2 x^2 stays far below 2^62 at scale quadScale(f) + 2f where C2 is not 0 (the exact truncation's range)
    for (let p = 1; p <= t.knots.length; p++) {
      const x = Math.min(-(t.knots[p - 1]! / 2 ** f), 16);
      expect(Math.abs(t.a[t.knots.length + 1 + p]!) * 2 ** -S.quadScale(f) * x * x).toBeLessThan(1);
    }
    const far = [t.knots[0]! - 2 ** f, t.knots[0]! - 2 ** 30].map((k) => BigInt(k) & M64);
    expect(spline(t, 64, far, far.map(() => rand64()))[1]).toEqual(far.map(() => 0n));
  });
  it('quadratic pieces: each coefficient on the grid the gate encodes, its error the largest on the piece; f too large for C2 x^2 in the ring is a usage error', () => {
    for (const [x0, x1] of [[-16, -7], [-1.2, -0.9], [-0.2, 0.0625]] as const) {
      const { coef, err } = S.fitQuadratic(Math.exp, x0, x1, f);
      const [a, s, c2] = coef;
      for (const [v, bits] of [[a, 2 * f], [s, f], [c2, S.quadScale(f)]] as const) expect(Number.isInteger(v * 2 ** bits)).toBe(true);
      let worst = 0;
      for (let i = 0; i <= 200; i++) {
        const x = x0 + ((x1 - x0) * i) / 200;
        worst = Math.max(worst, Math.abs(Math.exp(x) - (a + s * x + c2 * x * x)));
      }
      expect(worst).toBeLessThanOrEqual(err * 1.05 + 1e-9);
      expect(err).toBeLessThan(1e-2);
    }
    expect(() => S.fitQuadTable(Math.exp, -16, 0, S.EXP_TOL, 20, [0, 0], 'openTop')).toThrow(/f <= 19, got f = 20/);
  });
  it('quadratic and cubic tables at other fractional bits: as many pieces, each fitted from 2^-3 below its start (cubicDrop(f) = f - 3 ulp), not thousands of one-ulp pieces', () => {
    for (const g of [12, 14, 18]) {
      expect(Math.abs(S.expQuadTable(g).knots.length - S.expQuadTable(f).knots.length), `f = ${g}`).toBeLessThanOrEqual(1);
      expect(Math.abs(S.expCubicTable(g).knots.length - S.expCubicTable(f).knots.length), `f = ${g}`).toBeLessThanOrEqual(1);
      expect(S.geluCubicTable('erf', g).knots.length, `f = ${g}`).toBe(S.geluCubicTable('erf', f).knots.length);
      expect(S.expQuadTable(g).drop).toBe(S.cubicDrop(g));
    }
  });

  it('cubic pieces: each coefficient on the grid the gate encodes, its error the largest on the piece, a narrow piece all but exact', () => {
    for (const [x0, x1] of [[-6, -3.26], [-0.5, 0.5], [-16, -6.4], [1, 1 + 2 ** -12]] as const) {
      const fn = x0 < -10 ? Math.exp : S.geluErf;
      const { coef, err } = S.fitCubic(fn, x0, x1, f);
      const [a, s, c2, c3] = coef;
      for (const [v, bits] of [[a, 2 * f], [s, f], [c2, 2 * f + S.CUBIC_UP], [c3, f + S.CUBIC_UP]] as const) expect(Number.isInteger(v * 2 ** bits)).toBe(true);
      let worst = 0;
      for (let i = 0; i <= 200; i++) {
        const x = x0 + ((x1 - x0) * i) / 200;
        worst = Math.max(worst, Math.abs(fn(x) - (a + s * x + (c2 + c3 * x) * x * x)));
      }
      expect(worst).toBeLessThanOrEqual(err * 1.05 + 1e-9);
      expect(err).toBeLessThan(x1 - x0 < 1e-3 ? 1e-6 : 1e-2);
    }
  });

  it('1/sqrt: the normalized x and 2^-t are exact, the start within 1.2%', () => {
    const [lo, hi] = P.invSqrtBuckets(f);
    const t = S.rsqrtTable(f, lo, hi, 3);
    const reals = [2 ** -14, 1, 3.99, 4, 1000, 4 ** 9 - 1, ...Array.from({ length: 200 }, () => 2 ** (-14 + 32 * Math.random()))];
    const xs = reals.map((v) => BigInt(Math.round(v * 2 ** f)));
    const [xn, f1, f1y0, y0, y0sq] = spline(t, 64, xs, xs.map(() => rand64()));
    xs.forEach((x, i) => {
      const xv = Number(x) / 2 ** f;
      const tt = Math.min(hi, Math.max(lo, Math.floor(Math.log(xv) / Math.log(4))));
      expect(Math.abs(Number(xn![i]) - Number(x) * 4 ** -tt), `x=${xv}`).toBeLessThanOrEqual(1);
      const y = Number(y0![i]) / 2 ** f;
      expect(Math.abs(Number(y0sq![i]) / 2 ** f - y * y)).toBeLessThanOrEqual(2 ** -f);
      expect(Math.abs(Number(f1y0![i]) / 2 ** f - 3 * 2 ** -tt * y)).toBeLessThanOrEqual(2 ** -f);
      expect(Math.abs(Number(f1![i]) / 2 ** f - 3 * 2 ** -tt)).toBeLessThanOrEqual(2 ** -f);
      const xnv = xv * 4 ** -tt;
      expect(Math.abs((Number(y0![i]) / 2 ** f) * Math.sqrt(xnv) - 1), `x=${xv}`).toBeLessThan(0.012);
    });
  });
});

describe('splines in circuits', () => {
  const fss = P.protocolConfig('fss,geluMethod=spline,expMethod=spline'); // linear pieces throughout
  const cubic = P.protocolConfig('fss,geluMethod=cubic,expMethod=cubic');
  const quadratic = P.protocolConfig('fss,geluMethod=cubic,expMethod=quadratic');

  it("the dealer's material does not depend on the table: one fss_key whatever the function, identical words under equal seeds", () => {
    const seeds = { s0d: new Uint8Array(16).fill(1), s1d: new Uint8Array(16).fill(2) };
    const keysOf = (fn: (b: CircuitBuilder, x: ReturnType<CircuitBuilder['input']>) => void): string[] => {
      const b = new CircuitBuilder();
      fn(b, b.input('x', 1, [4]));
      const c = b.build();
      return c.instructions
        .filter((i) => i.op === 'fss_key')
        .map((i) => {
          const [w0, w1] = findCircuitOp('fss_key')!.dealer!.send(i, c.registers, seeds);
          return JSON.stringify([i.attrs, Array.from(w0!, String), Array.from(w1!, String)]);
        });
    };
    const gelu = keysOf((b, x) => b.output(P.gelu(b, x, {}, fss), 'y'));
    const tanh = keysOf((b, x) => b.output(P.tanh(b, x, fss), 'y'));
    expect(gelu).toEqual(tanh);
    expect(gelu).toHaveLength(1);
  });

  function build(xs: number[], cfg = fss): CircuitBuilder {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [xs.length]);
    b.output(P.gelu(b, x, {}, cfg), 'gelu');
    b.output(P.tanh(b, x, cfg), 'tanh');
    b.output(P.sigmoid(b, x, cfg), 'sigmoid');
    b.output(P.softmax(b, b.reshape(x, [2, xs.length / 2]), 1, undefined, cfg), 'softmax');
    const pos = P.addConst(b, P.relu(b, x, cfg), 0.25);
    b.output(P.reciprocal(b, pos, { allPos: true }, cfg), 'recip');
    b.output(P.invSqrt(b, pos, cfg), 'rsqrt');
    return b;
  }

  it.each([['linear', fss], ['cubic', cubic], ['cubic GELU, quadratic exp', quadratic]] as const)('GELU (%s pieces), tanh, sigmoid; softmax, 1/x, 1/sqrt; measured == static; the leakage checker accepts the opens', (_, cfg) => {
    const xs = [0, -1.5, 2.25, -7, 9, 3, -(2 ** -16), 0.5];
    const c = build(xs, cfg).build();
    checkLeakage(c);
    const cost = circuitCost(c);
    const res = runCircuit(c, { inputs: new Map([['x', Tensor.from('f64', [xs.length], xs)]]), weights: new Map() });
    expect(res.cost).toMatchObject(costSummary(cost));
    const close = (name: string, want: number[], tol: number): void => {
      res.outputs.get(name)!.toNumbers().forEach((v, i) => expect(Math.abs(v - want[i]!), `${name}[${i}]`).toBeLessThan(tol));
    };
    close('gelu', xs.map(S.geluErf), 3e-4);
    close('tanh', xs.map(Math.tanh), 3e-4);
    close('sigmoid', xs.map((v) => 1 / (1 + Math.exp(-v))), 3e-4);
    const rows = [xs.slice(0, 4), xs.slice(4)].flatMap((r) => r.map((v) => Math.exp(v - Math.max(...r)) / r.reduce((s, u) => s + Math.exp(u - Math.max(...r)), 0)));
    close('softmax', rows, 1e-3);
    const pos = xs.map((v) => Math.max(v, 0) + 0.25);
    res.outputs.get('recip')!.toNumbers().forEach((v, i) => expect(Math.abs(v * pos[i]! - 1), `recip[${i}]`).toBeLessThan(1e-3));
    res.outputs.get('rsqrt')!.toNumbers().forEach((v, i) => expect(Math.abs(v * Math.sqrt(pos[i]!) - 1), `rsqrt[${i}]`).toBeLessThan(1e-3));
    // GELU with linear pieces (fss's default): one online round, then the output; with cubic
    // pieces the square's open shares the spline's round, then x^2's exact truncation, the
    // product and its exact truncation.
    const g = new CircuitBuilder();
    g.output(P.gelu(g, g.input('x', 1, [4]), {}, fss), 'y');
    expect(circuitCost(g.build()).rounds).toBe(2);
    const g3 = new CircuitBuilder();
    g3.output(P.gelu(g3, g3.input('x', 1, [4]), {}, cubic), 'y');
    const c3 = g3.build();
    expect(circuitCost(c3).rounds).toBe(5);
    // nothing of the cubic part is truncated locally: the spline's first output only
    expect(c3.instructions.filter((i) => i.op === 'trunc')).toHaveLength(0);
    expect(c3.instructions.filter((i) => i.op === 'trunc_exact')).toHaveLength(2);
  });

  it('exp in quadratic pieces: three rounds (the spline with the square beside it, the product, its exact truncation), one fewer than cubic; nothing of C2 x^2 truncated locally', () => {
    const rounds = (cfg: typeof fss): [number, ReturnType<CircuitBuilder['build']>] => {
      const b = new CircuitBuilder();
      const x = b.bound(b.input('x', 1, [4]), -40, 0);
      b.output(P.exp(b, x, cfg, cfg.expIterations, true), 'y');
      const c = b.build();
      return [circuitCost(c).rounds, c];
    };
    // the output's own round comes after each
    expect(rounds(fss)[0]).toBe(2);
    const [r2, c2] = rounds(quadratic);
    expect(r2).toBe(4);
    expect(rounds(cubic)[0]).toBe(5);
    expect(c2.instructions.filter((i) => i.op === 'trunc')).toHaveLength(0);
    expect(c2.instructions.filter((i) => i.op === 'trunc_exact')).toHaveLength(1);
    checkLeakage(c2);
  });

  it("softmax's loose max: an element of its row within looseMaxSlack of the max (near ties, exact ties, spread rows); softmax within 3e-4; the max keys ignore 8 low bits", () => {
    const n = 16;
    const ulp = 2 ** -16;
    const rows: number[][] = [];
    for (let r = 0; r < 12; r++) {
      const base = (Math.round((Math.random() - 0.5) * 2 ** 20) * ulp) | 0;
      // near ties: values within a few hundred ulp of each other; then exact ties; then spread
      const spread = r < 6 ? 300 : r < 8 ? 0 : 2 ** 18;
      rows.push(Array.from({ length: n }, () => base + Math.round(Math.random() * spread) * ulp));
    }
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [rows.length, n]);
    const drop = P.SOFTMAX_MAX_DROP;
    b.output(P.max(b, x, 1, cubic, drop), 'max');
    b.output(P.softmax(b, x, 1, undefined, cubic), 'softmax');
    const c = b.build();
    checkLeakage(c);
    const keys = c.instructions.filter((i) => i.op === 'fss_key');
    // the loose max's keys (both trees: max and softmax's own) ignore 8 low bits
    expect(keys.filter((i) => i.attrs['drop'] === drop).length).toBe(2 * Math.log2(n));
    const res = runCircuit(c, { inputs: new Map([['x', Tensor.from('f64', [rows.length, n], rows.flat())]]), weights: new Map() });
    expect(res.cost).toMatchObject(costSummary(circuitCost(c)));
    const m = res.outputs.get('max')!.toNumbers();
    const slack = P.looseMaxSlack(n, drop, 16);
    expect(slack).toBe(4 * 2 ** -8);
    rows.forEach((row, i) => {
      expect(row, `row ${i}`).toContain(m[i]);
      expect(m[i]!, `row ${i}`).toBeGreaterThanOrEqual(Math.max(...row) - slack);
    });
    const probs = res.outputs.get('softmax')!.toNumbers();
    rows.forEach((row, i) => {
      const top = Math.max(...row);
      const z = row.reduce((acc, v) => acc + Math.exp(v - top), 0);
      row.forEach((v, j) => expect(Math.abs(probs[i * n + j]! - Math.exp(v - top) / z), `softmax[${i}, ${j}]`).toBeLessThan(3e-4));
    });
    expect(() => P.max(new CircuitBuilder(), new CircuitBuilder().input('x', 1, [4]), 0, P.protocolConfig('best'), drop)).toThrow(/loose max needs FSS comparisons/);
  });

  it('the leakage checker rejects a spline mask used by two opens', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4]);
    const t = S.tanhTable(b.f);
    const [r, key, own] = b.dealer.fssKey([4], b.f, 64, splineMode(t));
    const [xh] = b.open([b.sub(x, r!)]);
    b.open([b.sub(b.add(x, x), r!)]);
    b.output(b.emit('fss_spline', [xh!, r!, key!, own!], { bits: 64, mode: splineMode(t), knots: t.knots, shifts: t.shifts, a: t.a, s: t.s })[0]!, 'y');
    expect(findLeaks(b.build()).map((l) => l.message).join('\n')).toMatch(/used by more than one open/);
  });

  it('bad tables and options are clear errors', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2]);
    const [r, key, own] = b.dealer.fssKey([2], b.f, 64, 'ltz');
    const [xh] = b.open([b.sub(x, r!)]);
    expect(() => b.emit('fss_spline', [xh!, r!, key!, own!], { bits: 64, mode: 'ltz', knots: [3, 1], shifts: [0], a: [0, 0, 0], s: [0, 0, 0] })).toThrow(/breakpoints must increase strictly/);
    expect(() => b.emit('fss_spline', [xh!, r!, key!, own!], { bits: 64, mode: 'ltz', knots: [1], shifts: [0], a: [0, 0], s: [0, 1] })).toThrow(/needs a relu key/);
    // a key that ignores low bits: its width, a spline that ignores other bits, breakpoints closer than 2^drop
    expect(() => b.dealer.fssKey([2], b.f, 12, 'ltz', 11)).toThrow(/drop must be in 0\.\.10 for a 12-bit comparison, got 11/);
    expect(() => b.emit('fss_spline', [xh!, r!, key!, own!], { bits: 64, mode: 'ltz', knots: [1], shifts: [0], a: [0, 0], s: [0, 0], drop: 4 })).toThrow(/do not fit a 64-bit ltz comparison ignoring 4 low bits/);
    const [r2, key2, own2] = b.dealer.fssKey([2], b.f, 64, 'ltz', 4);
    const [xh2] = b.open([b.sub(x, r2!)]);
    expect(() => b.emit('fss_spline', [xh2!, r2!, key2!, own2!], { bits: 64, mode: 'ltz', knots: [0, 16], shifts: [0], a: [0, 0, 0], s: [0, 0, 0], drop: 4 })).toThrow(/needs breakpoints more than 2\^4 apart \(0 and 16\)/);
    expect(b.emit('fss_spline', [xh2!, r2!, key2!, own2!], { bits: 64, mode: 'ltz', knots: [0, 17], shifts: [0], a: [0, 0, 0], s: [0, 0, 0], drop: 4 })).toHaveLength(1);
    expect(() => P.protocolConfig('best,geluMethod=spline')).toThrow(/geluMethod=spline need compare=fss/);
    expect(() => P.protocolConfig('fss,expMethod=table')).toThrow(/expMethod must be one of limit, taylor-limit, spline/);
  });
});
