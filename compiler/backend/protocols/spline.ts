// Splines from FSS interval containment (ir/circuit/gates/fss-spline.ts): one round and one
// opened ring word per element for any piecewise-linear function of x, whatever its number of
// pieces (the pieces cost key evaluations, not communication). Which op uses which:
//
//   GELU      (geluMethod=spline)   piecewise linear on [-6, 6], 0 below, x above; pieces placed
//                                   greedily for max error GELU_TOL (SIGMA's GELU is a lookup of
//                                   the small difference ReLU - GELU on a few bits of |x|; the
//                                   spline needs no truncation or |x| first, so one round).
//   exp       (expMethod=spline)    exp(z) for z <= 0 only (softmax after the max): linear pieces
//                                   on [-16, 0] to EXP_TOL, exactly 0 below -16 (so additively
//                                   masked keys get weight 0), 1 + z above 0.
//   1/x       (reciprocalMethod=spline) a start on [2^-10, 2^10] within RECIP_START_TOL
//                                   (relative), then one Goldschmidt step (two products,
//                                   error squared); softmax's normalizer instead uses a table
//                                   within RECIP_SOFTMAX_TOL and no step (its rows are few).
//   1/sqrt(x) (invSqrtMethod=spline) five outputs from one key: the normalized x 4^-t for the
//                                   bucket 4^t <= x < 4^(t+1) (as `normalized` finds with 16
//                                   comparisons), 2^-t, a start y0 for 1/sqrt(x 4^-t) on
//                                   RSQRT_SUB sub-buckets per bucket (relative error
//                                   ~ ln 4 / (4 RSQRT_SUB)), y0^2 and 2^-t y0; one Newton step
//                                   then needs two products (nonlinear.ts, layernorm.ts).
//   tanh, sigmoid (sigmoidMethod=spline) piecewise linear to SIGMOID_TOL, +-1 / 0, 1 outside.
//
// The tables are fitted here, at compile time, from the plaintext function: a greedy sweep
// extends each piece as far as a line (the chord, shifted to balance the error) stays within
// the tolerance, on breakpoints already rounded to the input's fixed-point grid.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { splineMode, type SplineTable } from '../../../ir/circuit/gates/fss-spline.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import type { ProtocolConfig } from './config.ts';
import { fssWidth, WIDTH_MARGIN_ABS, WIDTH_MARGIN_REL } from '../fss-bits.ts';
import { mul, square } from './arith.ts';

/** One line a + s x per piece (m + 1 pieces for m breakpoints), in reals. */
export interface RealSpline {
  readonly knots: readonly number[];
  readonly outputs: readonly { readonly shift: number; readonly lines: readonly (readonly [number, number])[] }[];
}

export const GELU_TOL = 2e-4;
export const EXP_TOL = 2e-4;
export const RECIP_START_TOL = 4e-3;
/** Softmax's normalizer uses the spline alone, so a tighter table (more breakpoints, per row only). */
export const RECIP_SOFTMAX_TOL = 2.5e-4;
export const SIGMOID_TOL = 2e-4;
export const RSQRT_SUB = 32;

/** erf to ~1e-15: its Maclaurin series below 3, the continued fraction of erfc above. */
export function erfReal(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let k = 1; k < 200; k++) {
      term *= (-ax * ax) / k;
      const t = term / (2 * k + 1);
      sum += t;
      if (Math.abs(t) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
}

export const geluErf = (x: number): number => 0.5 * x * (1 + erfReal(x / Math.SQRT2));
export const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

const SAMPLES = 48;

/**
 * The balanced line through [x0, x1] (its coefficients rounded as the gate encodes them: a to
 * 2^-(f + shift), s to 2^-shift) and its max error, absolute or relative to |fn|.
 */
function fitLine(fn: (x: number) => number, x0: number, x1: number, q: Quant): { a: number; s: number; err: number } {
  const xs: number[] = [];
  for (let i = 0; i <= SAMPLES; i++) xs.push(x0 + ((x1 - x0) * i) / SAMPLES);
  const s = Math.round(((fn(x1) - fn(x0)) / (x1 - x0)) * 2 ** q.shift) / 2 ** q.shift;
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    const r = fn(x) - s * x;
    lo = Math.min(lo, r);
    hi = Math.max(hi, r);
  }
  const a = Math.round(((lo + hi) / 2) * 2 ** (q.f + q.shift)) / 2 ** (q.f + q.shift);
  let err = 0;
  for (const x of xs) {
    const e = Math.abs(fn(x) - (a + s * x));
    err = Math.max(err, q.relative ? e / Math.abs(fn(x)) : e);
  }
  return { a, s, err };
}

interface Quant {
  readonly f: number;
  readonly shift: number;
  readonly relative: boolean;
}

/**
 * Greedy piecewise-linear fit of fn on [lo, hi] with breakpoints on the grid 2^-f: the
 * breakpoints lo, ..., hi and the lines between them (one fewer).
 */
export function fitPieces(fn: (x: number) => number, lo: number, hi: number, tol: number, q: Quant): { knots: number[]; lines: [number, number][] } {
  const { knots, pieces } = greedyPieces(lo, hi, q.f, tol, (x0, x1) => {
    const { a, s, err } = fitLine(fn, x0, x1, q);
    return { err, piece: [a, s] as [number, number] };
  });
  return { knots, lines: pieces };
}

/**
 * The greedy sweep both table kinds use: from lo, each piece as far as `fit` keeps its error
 * within tol (bisection on the 2^-f grid), up to hi. Returns the breakpoints lo, ..., hi and the
 * pieces between them (one fewer).
 */
function greedyPieces<P>(lo: number, hi: number, f: number, tol: number, fit: (x0: number, x1: number) => { err: number; piece: P }): { knots: number[]; pieces: P[] } {
  const ulp = 2 ** -f;
  const grid = (v: number): number => Math.round(v / ulp) * ulp;
  const knots = [grid(lo)];
  const pieces: P[] = [];
  let x0 = knots[0]!;
  const end = grid(hi);
  while (x0 < end) {
    let good = Math.min(end, x0 + ulp);
    if (fit(x0, end).err <= tol) good = end;
    else {
      let bad = end;
      for (let i = 0; i < 60 && bad - good > ulp; i++) {
        const mid = grid((good + bad) / 2);
        if (mid <= good || mid >= bad) break;
        if (fit(x0, mid).err <= tol) good = mid;
        else bad = mid;
      }
    }
    pieces.push(fit(x0, good).piece);
    knots.push(good);
    x0 = good;
  }
  return { knots, pieces };
}

/** fitPieces as a one-output spline (truncation shift f), with the lines below lo and from hi on given. */
export function fitSpline(fn: (x: number) => number, lo: number, hi: number, tol: number, f: number, below: readonly [number, number], above: readonly [number, number], relative = false): RealSpline {
  const { knots, lines } = fitPieces(fn, lo, hi, tol, { f, shift: f, relative });
  return { knots, outputs: [{ shift: f, lines: [below, ...lines, above] }] };
}

/**
 * Cubic pieces (`geluMethod=cubic`, `expMethod=cubic`): on piece p, fn(x) ~ (A + S x) + (C2 +
 * C3 x) x^2. One spline key gives both lines (two outputs of one gate): A + S x truncated to
 * scale f as any spline output, and C2 + C3 x exactly, untruncated, at scale 2f + CUBIC_UP
 * (C3 on a 2^-(f + CUBIC_UP) grid). x^2 is a Beaver square opened in the same round as the
 * spline's x + r, truncated exactly to scale f; one Beaver product then multiplies the second
 * line by it and is truncated exactly by 2f + CUBIC_UP. No value of the cubic part goes through
 * a local truncation, whose failure probability |x| / 2^64 grows with the values (these are
 * larger than a linear spline's); four rounds instead of one, for about a fifth of the
 * breakpoints, and the DCF evaluations are what an FSS run spends its time on.
 */
export const CUBIC_UP = 6;

/** Least squares of `ys` at `xs` on the basis (1, t, ..., t^(d-1)), t = (x - m) / h: the coefficients in x (monomials). */
function leastSquares(xs: readonly number[], ys: readonly number[], d: number, m: number, h: number): number[] {
  const G = Array.from({ length: d }, () => new Array<number>(d + 1).fill(0));
  for (let i = 0; i < xs.length; i++) {
    const t = (xs[i]! - m) / h;
    const pw = [1];
    for (let k = 1; k < d; k++) pw.push(pw[k - 1]! * t);
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) G[r]![c]! += pw[r]! * pw[c]!;
      G[r]![d]! += pw[r]! * ys[i]!;
    }
  }
  // Gaussian elimination with partial pivoting.
  for (let c = 0; c < d; c++) {
    let piv = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(G[r]![c]!) > Math.abs(G[piv]![c]!)) piv = r;
    [G[c], G[piv]] = [G[piv]!, G[c]!];
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const q = G[r]![c]! / G[c]![c]!;
      for (let k = c; k <= d; k++) G[r]![k]! -= q * G[c]![k]!;
    }
  }
  const u = G.map((row, r) => row[d]! / row[r]!);
  // sum_k u_k ((x - m) / h)^k as monomials in x.
  const out = new Array<number>(d).fill(0);
  for (let k = 0; k < d; k++) {
    // (x - m)^k / h^k = sum_j binom(k, j) x^j (-m)^(k-j) / h^k
    let binom = 1;
    for (let j = 0; j <= k; j++) {
      out[j]! += (u[k]! * binom * (-m) ** (k - j)) / h ** k;
      binom = (binom * (k - j)) / (j + 1);
    }
  }
  return out;
}

/**
 * A polynomial piece of fn on [x0, x1] in monomials of x: coefficient k (1..d) on the grid
 * 2^-grids[k - 1], fitted by least squares on 65 points highest first, each rounded before the
 * lower ones are refitted to what is left; the constant balances the error on 2^-2f. The
 * coefficients [A, S, ...] and the max error.
 */
function fitPolynomial(fn: (x: number) => number, x0: number, x1: number, f: number, grids: readonly number[]): { coef: number[]; err: number } {
  const n = 64;
  const xs: number[] = [];
  for (let i = 0; i <= n; i++) xs.push(x0 + ((x1 - x0) * i) / n);
  const m = (x0 + x1) / 2;
  const h = Math.max((x1 - x0) / 2, 2 ** -f);
  const q = (v: number, bits: number): number => Math.round(v * 2 ** bits) / 2 ** bits;
  const coef = new Array<number>(grids.length + 1).fill(0);
  let rest = xs.map(fn);
  for (let k = grids.length; k >= 1; k--) {
    const c = q(leastSquares(xs, rest, k + 1, m, h)[k]!, grids[k - 1]!);
    coef[k] = c;
    rest = rest.map((r, i) => r - c * xs[i]! ** k);
  }
  coef[0] = q((Math.min(...rest) + Math.max(...rest)) / 2, 2 * f);
  let err = 0;
  for (let i = 0; i < xs.length; i++) err = Math.max(err, Math.abs(rest[i]! - coef[0]));
  return { coef, err };
}

/** The cubic piece [A, S, C2, C3] of fn on [x0, x1] on the grids the gate encodes (C3 at 2^-(f + up), C2 at 2^-(2f + up): the second line's ring words; S at 2^-f, A at 2^-2f), and its max error. */
export function fitCubic(fn: (x: number) => number, x0: number, x1: number, f: number): { coef: [number, number, number, number]; err: number } {
  const { coef, err } = fitPolynomial(fn, x0, x1, f, [f, 2 * f + CUBIC_UP, f + CUBIC_UP]);
  return { coef: coef as [number, number, number, number], err };
}

/**
 * The low bits cubic and quadratic tables are fitted to ignore: each piece is fitted within tol
 * on [k_p - 2^cubicDrop(f) ulp, k_(p+1)] = [k_p - 1/8, k_(p+1)], where a comparison ignoring
 * that many bits may already take it, so the early reading costs no accuracy (GELU keeps its 10
 * cubic pieces). 13 of f = 16 fractional bits: 3 tree levels fewer per breakpoint than the 10
 * the cubic pieces allowed unfitted. (A fixed 13 ulp would reach 2 below each piece at f = 12:
 * no quadratic or cubic piece near exp's 0 stays within tol there.)
 */
export const cubicDrop = (f: number): number => f - 3;

/**
 * Greedy cubic pieces of fn on [lo, hi] within tol (breakpoints on the 2^-f grid, as
 * fitPieces; each piece fitted from 2^cubicDrop(f) ulp below its start), the lines below lo and
 * from hi on given, or with `openTop` the last cubic piece from its start on (for inputs proven
 * below hi: no breakpoint at hi); as a two-output table (see CUBIC_UP) with the drop its
 * function allows.
 */
export function fitCubicTable(fn: (x: number) => number, lo: number, hi: number, tol: number, f: number, below: readonly [number, number], above: readonly [number, number] | 'openTop'): SplineTable {
  // each piece fitted from `reach` below its start, where a key ignoring cubicDrop(f) bits may take it
  const reach = 2 ** (cubicDrop(f) - f);
  const { knots, pieces } = greedyPieces(lo, hi, f, tol, (x0, x1) => {
    const { coef, err } = fitCubic(fn, x0 - reach, x1, f);
    return { err, piece: coef };
  });
  const up2 = 2 ** (f + CUBIC_UP);
  // open top: the last piece goes on past hi (its breakpoint gone), as the line above would
  const last = above === 'openTop' ? pieces.pop()! : undefined;
  if (last !== undefined) knots.pop();
  const t = encodeSpline(
    {
      knots,
      outputs: [
        { shift: f, lines: [below, ...pieces.map(([a, s]) => [a, s] as [number, number]), last !== undefined ? [last[0], last[1]] : (above as readonly [number, number])] },
        // no truncation (shift 0): the ring words C2 2^(2f + up) + C3 2^(f + up) x_ring as they are
        { shift: 0, lines: [[0, 0], ...pieces.map(([, , c2, c3]) => [c2 * up2, c3 * up2] as [number, number]), last !== undefined ? [last[2] * up2, last[3] * up2] : [0, 0]] },
      ],
    },
    f,
  );
  return { ...t, drop: dropWithin(fn, t.knots, (p, xr) => cubicValue(t, p, xr, f), f, tol) };
}

/** Piece p of a cubic table at x (ring units at scale f), in reals, as the gate computes it but for its truncations. */
export function cubicValue(t: SplineTable, p: number, xr: number, f: number): number {
  const m1 = t.knots.length + 1;
  const x = xr / 2 ** f;
  const lin = (t.a[p]! + t.s[p]! * xr) / 2 ** (2 * f);
  // the second output is untruncated: C2 2^(2f + up) + C3 2^(f + up) x_ring
  const quad = (t.a[m1 + p]! + t.s[m1 + p]! * xr) / 2 ** (2 * f + CUBIC_UP);
  return lin + quad * x * x;
}

/**
 * Quadratic pieces (`expMethod=quadratic`): on piece p, fn(x) ~ (A + S x) + C2 x^2 with C2 one
 * constant per piece. One spline key gives the line A + S x (truncated to scale f as any spline
 * output) and C2 exactly, untruncated, as ring words at scale quadScale(f) (a piecewise-constant
 * second output). x^2 is a Beaver square opened in the same round as the spline's x + r and
 * left untruncated at scale 2f; one Beaver product C2 x^2 at scale quadScale(f) + 2f = 57 (below
 * 2^62 for |C2 x^2| < 32) is truncated exactly to scale f: three rounds, one fewer than the
 * cubic's (whose second line C2 + C3 x needs x^2 truncated first), for about twice its
 * breakpoints (a third of the linear table's). No value goes through a local truncation but
 * the line's, as in a linear spline.
 */
export const quadScale = (f: number): number => 57 - 2 * f;

/** The quadratic piece [A, S, C2] of fn on [x0, x1] on the grids the gate encodes (C2 at 2^-quadScale(f): the second output's ring words; S at 2^-f, A at 2^-2f), and its max error. */
export function fitQuadratic(fn: (x: number) => number, x0: number, x1: number, f: number): { coef: [number, number, number]; err: number } {
  const { coef, err } = fitPolynomial(fn, x0, x1, f, [f, quadScale(f)]);
  return { coef: coef as [number, number, number], err };
}

/**
 * Greedy quadratic pieces of fn on [lo, hi] within tol, as fitCubicTable (each piece fitted from
 * 2^cubicDrop(f) ulp below its start, so its comparisons may ignore that many bits), with the last
 * piece going on past hi (`openTop`: for inputs proven below hi) or the line `above` from hi on;
 * a two-output table whose second output is C2 as ring words at scale quadScale(f).
 */
export function fitQuadTable(fn: (x: number) => number, lo: number, hi: number, tol: number, f: number, below: readonly [number, number], above: readonly [number, number] | 'openTop'): SplineTable {
  const t2 = quadScale(f);
  if (t2 < f) throw new Ig3dcError('usage', `quadratic pieces need C2 x^2 at scale ${t2} + 2f below 2^62 with C2 on a grid at least as fine as 2^-f: f <= 19, got f = ${f}`, {});
  const reach = 2 ** (cubicDrop(f) - f);
  const { knots, pieces } = greedyPieces(lo, hi, f, tol, (x0, x1) => {
    const { coef, err } = fitQuadratic(fn, x0 - reach, x1, f);
    return { err, piece: coef };
  });
  const last = above === 'openTop' ? pieces.pop()! : undefined;
  if (last !== undefined) knots.pop();
  // the second output, a constant per piece: encodeSpline puts intercepts at scale f + shift (shift 0)
  const c2Line = (c2: number): [number, number] => [c2 * 2 ** (t2 - f), 0];
  const t = encodeSpline(
    {
      knots,
      outputs: [
        { shift: f, lines: [below, ...pieces.map(([a, s]) => [a, s] as [number, number]), last !== undefined ? [last[0], last[1]] : (above as readonly [number, number])] },
        { shift: 0, lines: [[0, 0], ...pieces.map(([, , c2]) => c2Line(c2)), last !== undefined ? c2Line(last[2]) : [0, 0]] },
      ],
    },
    f,
  );
  return { ...t, drop: dropWithin(fn, t.knots, (p, xr) => quadValue(t, p, xr, f), f, tol) };
}

/** Piece p of a quadratic table at x (ring units at scale f), in reals, as the gate computes it but for its truncations. */
export function quadValue(t: SplineTable, p: number, xr: number, f: number): number {
  const x = xr / 2 ** f;
  return (t.a[p]! + t.s[p]! * xr) / 2 ** (2 * f) + (t.a[t.knots.length + 1 + p]! / 2 ** quadScale(f)) * x * x;
}

/** The ring encoding of a real spline for inputs at scale f. */
export function encodeSpline(sp: RealSpline, f: number): SplineTable {
  const knots = sp.knots.map((k) => Math.round(k * 2 ** f));
  for (let i = 1; i < knots.length; i++) if (knots[i]! <= knots[i - 1]!) throw new Error(`spline breakpoints collide on the 2^-${f} grid`);
  const a: number[] = [];
  const s: number[] = [];
  for (const o of sp.outputs) {
    for (const [ai, si] of o.lines) {
      const ae = Math.round(ai * 2 ** (f + o.shift));
      const se = Math.round(si * 2 ** o.shift);
      if (!Number.isSafeInteger(ae) || !Number.isSafeInteger(se)) throw new Error('spline coefficient beyond 2^53');
      a.push(ae);
      s.push(se);
    }
  }
  return { knots, shifts: sp.outputs.map((o) => o.shift), a, s };
}

/**
 * The low input bits a continuous table's comparisons may ignore (fss-spline.ts `drop`): the
 * largest s <= cubicDrop(f), the most any table ignores, such that the breakpoints lie more than 2^s apart and, for
 * every breakpoint k, the piece starting at k
 * still approximates fn within 2 tol on [k - 2^s, k) ring units (where the comparison may take
 * it early), sampled at 16 points and the far end. Piecewise-constant and relative tables keep 0.
 */
export function allowedDrop(fn: (x: number) => number, t: SplineTable, f: number, tol: number): number {
  if (t.shifts.length !== 1) return 0;
  const sh = t.shifts[0]!;
  return dropWithin(fn, t.knots, (p, xr) => (t.a[p]! + t.s[p]! * xr) / 2 ** (sh + f), f, tol);
}

/** allowedDrop for any table: `value(p, xr)` is piece p's value at xr (ring units), in reals. */
function dropWithin(fn: (x: number) => number, knots: readonly number[], value: (p: number, xr: number) => number, f: number, tol: number): number {
  const m = knots.length;
  const fits = (s: number): boolean => {
    // at most one comparison can be read early at any x (fss-spline.ts)
    for (let p = 1; p < m; p++) if (knots[p]! - knots[p - 1]! <= 2 ** s) return false;
    for (let p = 0; p < m; p++) {
      const k = knots[p]!;
      for (let j = 1; j <= 16; j++) {
        const xr = k - (j * 2 ** s) / 16;
        if (Math.abs(value(p + 1, xr) - fn(xr / 2 ** f)) > 2 * tol) return false;
      }
    }
    return true;
  };
  for (let s = cubicDrop(f); s > 0; s--) if (fits(s)) return s;
  return 0;
}

/** A table with the drop its function allows. */
const withDrop = (fn: (x: number) => number, t: SplineTable, f: number, tol: number): SplineTable => ({ ...t, drop: allowedDrop(fn, t, f, tol) });

const cache = new Map<string, SplineTable>();

function cached(key: string, make: () => SplineTable): SplineTable {
  let t = cache.get(key);
  if (t === undefined) cache.set(key, (t = make()));
  return t;
}

export function geluTable(form: 'erf' | 'tanh', f: number): SplineTable {
  const fn = form === 'erf' ? geluErf : geluTanh;
  return cached(`gelu-${form}-${f}`, () => withDrop(fn, encodeSpline(fitSpline(fn, -6, 6, GELU_TOL, f, [0, 0], [0, 1]), f), f, GELU_TOL));
}

export function expTable(f: number): SplineTable {
  return cached(`exp-${f}`, () => withDrop(Math.exp, encodeSpline(fitSpline(Math.exp, -16, 0, EXP_TOL, f, [0, 0], [1, 1]), f), f, EXP_TOL));
}

/** GELU in cubic pieces on [-6, 6] (0 below, x above). */
export function geluCubicTable(form: 'erf' | 'tanh', f: number): SplineTable {
  const fn = form === 'erf' ? geluErf : geluTanh;
  return cached(`gelu3-${form}-${f}`, () => fitCubicTable(fn, -6, 6, GELU_TOL, f, [0, 0], [0, 1]));
}

/**
 * Where the cubic exp table stops being accurate: a little above 0, for softmax's loose max
 * (softmax.ts SOFTMAX_MAX_DROP), which may leave z up to log2(n) 2^-8 above 0.
 */
export const EXP_CUBIC_HI = 2 ** -4;

/**
 * exp(z) for z <= EXP_CUBIC_HI in cubic pieces on [-16, EXP_CUBIC_HI] (0 below -16; the last
 * piece goes on above, where softmax's z never is: its bound is the loose max's slack).
 */
export function expCubicTable(f: number): SplineTable {
  return cached(`exp3-${f}`, () => fitCubicTable(Math.exp, -16, EXP_CUBIC_HI, EXP_TOL, f, [0, 0], 'openTop'));
}

/**
 * exp(z) for z <= EXP_CUBIC_HI in quadratic pieces on [-16, EXP_CUBIC_HI] (0 below -16; the
 * last piece goes on above, as the cubic table's).
 */
export function expQuadTable(f: number): SplineTable {
  return cached(`exp2-${f}`, () => fitQuadTable(Math.exp, -16, EXP_CUBIC_HI, EXP_TOL, f, [0, 0], 'openTop'));
}

export const RECIP_LO = 2 ** -10;
export const RECIP_HI = 2 ** 10;
/** Where the reciprocal's start switches to its second output (slopes at 2^-RECIP_FINE_SHIFT). */
const RECIP_SPLIT = 8;
const RECIP_FINE_SHIFT = 28;

/**
 * 1/x on [2^-10, 2^10] (clamped outside) within `tol` relative, as two outputs to add:
 * below 8 with slopes at 2^-f, from 8 on with slopes at 2^-28 (1/x's slope there is below
 * 2^-6, which 2^-f would round away; the second output's value stays below 1/8, so its
 * truncation from scale f + 28 is as safe as a product's from 2f).
 */
export function reciprocalTable(f: number, tol = RECIP_START_TOL): SplineTable {
  return cached(`recip-${f}-${tol}`, () => {
    const inv = (x: number): number => 1 / x;
    const lo = fitPieces(inv, RECIP_LO, RECIP_SPLIT, tol, { f, shift: f, relative: true });
    const hi = fitPieces(inv, RECIP_SPLIT, RECIP_HI, tol, { f, shift: RECIP_FINE_SHIFT, relative: true });
    const zero = (n: number): [number, number][] => Array.from({ length: n }, () => [0, 0]);
    const knots = [...lo.knots, ...hi.knots.slice(1)];
    const low = [[1 / RECIP_LO, 0] as [number, number], ...lo.lines, ...zero(hi.lines.length + 1)];
    const high = [...zero(lo.lines.length + 1), ...hi.lines, [1 / RECIP_HI, 0] as [number, number]];
    return encodeSpline({ knots, outputs: [{ shift: f, lines: low }, { shift: RECIP_FINE_SHIFT, lines: high }] }, f);
  });
}

export function tanhTable(f: number): SplineTable {
  return cached(`tanh-${f}`, () => withDrop(Math.tanh, encodeSpline(fitSpline(Math.tanh, -6, 6, SIGMOID_TOL, f, [-1, 0], [1, 0]), f), f, SIGMOID_TOL));
}

export function sigmoidTable(f: number): SplineTable {
  const fn = (x: number): number => 1 / (1 + Math.exp(-x));
  return cached(`sigmoid-${f}`, () => withDrop(fn, encodeSpline(fitSpline(fn, -12, 12, SIGMOID_TOL, f, [0, 0], [1, 0]), f), f, SIGMOID_TOL));
}

/**
 * 1/sqrt's normalization as one spline with five outputs, for x in bucket t of [4^lo, 4^(hi+1))
 * (below: t = lo; above: t = hi), RSQRT_SUB sub-buckets per bucket (breakpoints on the 2^-f
 * grid): xn = x 4^-t (linear, slope an exact power of 2: the normalized x, in [1, 4)), then
 * piecewise constants (exact, no truncation): 2^-t times `times`, that times y0, y0 and y0^2,
 * y0 = 1/sqrt of the piece's normalized geometric middle (within ln 4 / (4 RSQRT_SUB) = 1.1%).
 */
export function rsqrtTable(f: number, lo: number, hi: number, times: number): SplineTable {
  return cached(`rsqrt-${f}-${lo}-${hi}-${times}`, () => {
    const ulp = 2 ** -f;
    const round = (v: number): number => Math.round(v * 2 ** f) / 2 ** f;
    const knots: number[] = [];
    for (let t = lo; t <= hi; t++) {
      for (let j = 0; j < RSQRT_SUB; j++) {
        const k = Math.round((4 ** t * 4 ** (j / RSQRT_SUB)) / ulp) * ulp;
        if (k > 0 && (knots.length === 0 || k > knots[knots.length - 1]!)) knots.push(k);
      }
    }
    const top = 4 ** (hi + 1);
    const bucket = (x: number): number => Math.min(hi, Math.max(lo, Math.floor(Math.log(x) / Math.log(4) + 1e-12)));
    const pieces: [number, number][] = [[ulp, knots[0]!], ...knots.map((k, i) => [k, knots[i + 1] ?? top] as [number, number])];
    const outs: [number, number][][] = [[], [], [], [], []];
    for (const [a, b] of pieces) {
      const t = bucket(a);
      // The normalized piece [a, b) 4^-t: its start is 1/sqrt of the geometric middle (b exclusive: b - ulp).
      const y0 = round(1 / Math.sqrt(Math.sqrt(a * Math.max(a, b - ulp)) * 4 ** -t));
      outs[0]!.push([0, 4 ** -t]);
      outs[1]!.push([round(2 ** -t * times), 0]);
      outs[2]!.push([round(2 ** -t * times * y0), 0]);
      outs[3]!.push([y0, 0]);
      outs[4]!.push([round(y0 * y0), 0]);
    }
    return encodeSpline({ knots, outputs: outs.map((lines, i) => ({ shift: i === 0 ? f : 0, lines })) }, f);
  });
}

/**
 * The table restricted to inputs within [lo, hi] (ring units): a breakpoint at or below lo is
 * passed by every such x (its d_p is 1), one above hi by none (d_p is 0), so dropping them and
 * starting from the piece that holds lo gives the same function there, with fewer breakpoints
 * to evaluate and a smaller span x - k_p to compare. At least one breakpoint stays (the
 * nearest to the range).
 */
export function restrictSpline(t: SplineTable, lo: number, hi: number): SplineTable {
  const m = t.knots.length;
  let first = 0;
  while (first < m && t.knots[first]! <= lo) first++;
  let end = first;
  while (end < m && t.knots[end]! <= hi) end++;
  if (end === first) {
    if (end < m) end++;
    else first--;
  }
  if (first === 0 && end === m) return t;
  const pieces = (c: readonly number[]): number[] => {
    const out: number[] = [];
    for (let q = 0; q < t.shifts.length; q++) out.push(...c.slice(q * (m + 1) + first, q * (m + 1) + end + 1));
    return out;
  };
  return { knots: t.knots.slice(first, end), shifts: t.shifts, a: pieces(t.a), s: pieces(t.s), ...(t.drop !== undefined ? { drop: t.drop } : {}) };
}

/**
 * The spline's outputs for x (one opened x + r, one key; see fss-spline.ts), each of x's shape
 * and scale. Needs FSS comparisons (`compare=fss`). Where x has a proven bound (the builder's),
 * the table is restricted to it and the key's width is the fewest bits every x - k_p needs.
 */
export function spline(b: CircuitBuilder, x: Reg, table: SplineTable, cfg: ProtocolConfig): Reg[] {
  if (cfg.compare !== 'fss') throw new Ig3dcError('usage', `protocol '${cfg.name}': spline methods need compare=fss`, {});
  if (x.scale !== b.f) throw new Error(`spline: input at scale ${x.scale}, expected ${b.f}`);
  return b.withProtocol(`fss-spline`, () => {
    const bx = b.boundOf(x);
    let t = table;
    let bound: readonly [number, number] | undefined;
    const u = 2 ** b.f;
    if (bx !== undefined) {
      // the range the secure x can reach: the bound widened as at the comparison (fss-bits.ts)
      const w = Math.max(Math.abs(bx[0]), Math.abs(bx[1])) * WIDTH_MARGIN_REL + WIDTH_MARGIN_ABS;
      t = restrictSpline(table, Math.floor((bx[0] - w) * u), Math.ceil((bx[1] + w) * u));
      // a key that ignores `drop` low bits is exact for |x - k_p| < 2^(bits-1) - 2^drop (fss.ts): widen by 2^drop units
      const slack = 2 ** (t.drop ?? 0) / u;
      bound = [bx[0] - t.knots[t.knots.length - 1]! / u - slack, bx[1] - t.knots[0]! / u + slack];
    }
    const mode = splineMode(t);
    const bits = fssWidth(b, bound, cfg.fssBits);
    const drop = Math.min(t.drop ?? 0, bits - 2);
    const [r, key, own] = b.dealer.fssKey(x.shape, x.scale, bits, mode, drop);
    const [xh] = b.open([b.sub(x, r)]) as [Reg];
    const y = b.emit('fss_spline', [xh, r, key, own], { bits, mode, knots: t.knots, shifts: t.shifts, a: t.a, s: t.s, drop })[0]!;
    return t.shifts.map((_, i) => b.reshape(b.slice(y, [i], [i + 1], [0]), x.shape));
  });
}

/**
 * A cubic table's function of x (fitCubicTable, CUBIC_UP): the spline's two lines from one key,
 * x^2 from a Beaver square opened in the same round as the spline's and truncated exactly, then
 * one Beaver product of the untruncated second line with x^2, truncated exactly. Where the
 * second line is an exact 0 (outside the cubic pieces) the product is an exact 0, whatever x^2 is.
 */
export function cubicSpline(b: CircuitBuilder, x: Reg, table: SplineTable, cfg: ProtocolConfig): Reg {
  if (table.shifts.length !== 2 || table.shifts[1] !== 0) throw new Error('cubicSpline: a cubic table has two outputs, the second untruncated');
  const [lin, quad] = spline(b, x, table, cfg) as [Reg, Reg];
  // x^2 at scale 2f, exact in the ring (wrapped for far-out x, where the second line is 0), then exactly to scale f
  const x2 = b.truncExact(square(b, x, cfg, false), b.f);
  // the second line at scale 2f + CUBIC_UP, times x^2 at f: at most ~2^55 ring units where it is not 0
  const prod = mul(b, b.divPow2(quad, b.f + CUBIC_UP), x2, cfg, false);
  return b.add(lin, b.truncExact(prod, prod.scale - b.f));
}

/**
 * A quadratic table's function of x (fitQuadTable): the spline's line and C2 from one key, x^2
 * from a Beaver square opened in the same round as the spline's and left at scale 2f, then one
 * Beaver product C2 x^2, truncated exactly. Where C2 is an exact 0 (outside the quadratic
 * pieces) the product is an exact 0, whatever x^2 is (it wraps for far-out x).
 */
export function quadSpline(b: CircuitBuilder, x: Reg, table: SplineTable, cfg: ProtocolConfig): Reg {
  if (table.shifts.length !== 2 || table.shifts[1] !== 0 || table.s.slice(table.knots.length + 1).some((v) => v !== 0)) {
    throw new Error('quadSpline: a quadratic table has two outputs, the second a constant per piece, untruncated');
  }
  const [lin, c2] = spline(b, x, table, cfg) as [Reg, Reg];
  const x2 = square(b, x, cfg, false);
  // C2's ring words are at quadScale(f): relabel, then the product at quadScale(f) + 2f
  const prod = mul(b, b.divPow2(c2, quadScale(b.f) - b.f), x2, cfg, false);
  return b.add(lin, b.truncExact(prod, prod.scale - b.f));
}
