// Element-wise nonlinear functions by iterative approximation, with CrypTen's algorithms and
// constants by default (crypten/common/functions/approximations.py):
//
//   exp         (1 + x/2^n)^(2^n), n = 8 squarings: 8 rounds, 128 B/elem. Variant
//               `taylor-limit`: (1 + y + y^2/2 + y^3/6)^(2^n), y = x/2^n, n = 6: 8 rounds,
//               144 B/elem, ~1e-3 relative on [-8, 0] (the limit form is 5% off at -5).
//               On [-8, 4] the relative error is about x^2/512 (the limit is ~e^(x - x^2/512):
//               12% at -8, 3% at 4) plus up to 256 ulp from rounding 1 + x/256.
//   reciprocal  Newton–Raphson y <- 2y - x y^2 (square, then times x), 10 iterations from
//               3 exp(1 - 2x) + 0.003: 28 rounds, 608 B/elem with allPos; without it the sign
//               comes from ltz and is multiplied in and back out: 38 rounds, 1104 B/elem.
//               Converges for x in about [0.01, 180]: the initial guess must be < 2/x, which
//               holds up to ~250 (past that the start's base 1 + (1 - 2x)/256 is below about
//               -0.98 and its 256th power no longer underflows: goldschmidt's limit); at 16
//               fractional bits y^2 loses precision as 1/x shrinks: relative error ~1.5 ulp x^2
//               (12% at 90, 36% at 128, diverging past ~180), so callers that can should scale
//               x into (0, 1] first (softmax does).
//               Variant `goldschmidt`: e = 1 - x y0, then y <- y (1 + e), e <- e^2 (the two
//               products of an iteration are independent, so one merged round each).
//   invSqrt     Newton–Raphson y <- y (3 - x y^2) / 2, 3 iterations from
//               2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024: 17 rounds, 368 B/elem; within 1% on
//               [0.1, 100]; 3 iterations do not converge below ~0.05 (40% off at 0.01).
//               Variant `normalized`: x scaled into [1, 4) by the power of 4 that one ltz
//               over 16 thresholds finds, a linear start, NR in a 2-round form, the power's
//               root multiplied back: accurate on [2^-16, 4^9) (see invSqrtNormalized).
//   sqrt        x * invSqrt(x): 18 rounds, 400 B/elem.
//   erf         Taylor series to x^17, each odd power by CrypTen's square-and-multiply pow
//               (34 rounds, 752 B/elem when run one after the other; the powers are
//               independent, so the schedule runs them side by side). The series diverges
//               beyond |x| ~ 2 (error ~0.05 at 2, ~3.6 at 2.5). Variant `erf-tree`: all odd
//               powers from one product tree (x^2, x^3, x^4 = (x^2)^2, ...).
//               Variant `erf-clipped`: a degree-13 fit on [-2.5, 2.5], +-1 outside (one ltz
//               over both bounds beside the power tree): error ~5e-4 everywhere, more bytes.
//               CrypTen encodes the series' coefficients at 16 fractional bits and so rounds
//               the x^15 and x^17 ones to zero; we keep them (same cost, better values).
//   sigmoid     CrypTen's `reciprocal` method: sign by ltz, exp(-|x|) (8 squarings: CrypTen
//               computes it before overriding exp_iterations to 9, which only the reciprocal
//               would see), reciprocal of 1 + e with 3 NR iterations from the public 0.75 (the
//               first is therefore local), select by where (two products): 23 rounds, 752 B/elem.
//   tanh        2 sigmoid(2x) - 1.
//   gelu        `erf`: 0.5 x (1 + erf(x/√2)), 35 rounds, 784 B/elem; `tanh`:
//               0.5 x (1 + tanh(√(2/π)(x + 0.044715 x^3))), 26 rounds, 832 B/elem;
//               `puma`: PUMA's piecewise polynomial (degree 3 on [-4, -1.95), degree 6 on
//               [-1.95, 3], x above, 0 below), three comparisons in one ltz.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { addConst, mul, mulConst, rsubConst, square, sum, toFixed } from './arith.ts';
import { ltz, where } from './compare.ts';
import { CRYPTEN, type GeluForm, type ProtocolConfig } from './config.ts';
import { cubicSpline, expCubicTable, expQuadTable, expTable, geluCubicTable, geluTable, quadSpline, reciprocalTable, rsqrtTable, sigmoidTable, spline, tanhTable } from './spline.ts';

/**
 * exp(x) by the limit (1 + x/2^n)^(2^n) with n = iterations squarings. `nonPositive`: the caller
 * knows x <= 0, which the `spline` method needs (it falls back to taylor-limit otherwise).
 */
export function exp(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN, iterations = cfg.expIterations, nonPositive = false): Reg {
  if (cfg.expMethod === 'spline' && nonPositive) return b.withProtocol('exp-spline', () => spline(b, x, expTable(b.f), cfg)[0]!);
  if (cfg.expMethod === 'quadratic' && nonPositive) return b.withProtocol('exp-quadratic', () => quadSpline(b, x, expQuadTable(b.f), cfg));
  if (cfg.expMethod === 'cubic' && nonPositive) return b.withProtocol('exp-cubic', () => cubicSpline(b, x, expCubicTable(b.f), cfg));
  if (cfg.expMethod !== 'limit') {
    return b.withProtocol('exp-taylor-limit', () => {
      const y = mulConst(b, x, 2 ** -iterations, cfg);
      const y2 = square(b, y);
      const y3 = mul(b, y2, y);
      let r = addConst(b, b.add(b.add(y, mulConst(b, y2, 0.5, cfg)), mulConst(b, y3, 1 / 6)), 1);
      for (let i = 0; i < iterations; i++) r = square(b, r);
      return r;
    });
  }
  return b.withProtocol('exp-limit', () => {
    let r = addConst(b, mulConst(b, x, 2 ** -iterations, cfg), 1);
    for (let i = 0; i < iterations; i++) r = square(b, r);
    return r;
  });
}

export interface ReciprocalOptions {
  /** The input is known to be positive (skips the sign computation). */
  readonly allPos?: boolean;
  /** A public initial guess (default: CrypTen's 3 exp(1 - 2x) + 0.003). */
  readonly initial?: number;
  /** Iterations (default: the config's reciprocalIterations). */
  readonly iterations?: number;
}

/** 1/x. */
export function reciprocal(b: CircuitBuilder, x: Reg, opts: ReciprocalOptions = {}, cfg: ProtocolConfig = CRYPTEN): Reg {
  const name = `reciprocal-${cfg.reciprocalMethod}`;
  return b.withProtocol(name, () => {
    if (opts.allPos !== true) {
      const sign = rsubConst(b, 1, mulConst(b, ltz(b, x, cfg), 2));
      const pos = mul(b, sign, x);
      return mul(b, sign, reciprocalPos(b, pos, opts, cfg));
    }
    return reciprocalPos(b, x, opts, cfg);
  });
}

/** The spline start of 1/x for x in [2^-10, 2^10] (0.4% relative, or `tol`; spline.ts). */
export function reciprocalStart(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig, tol?: number): Reg {
  const [lo, hi] = spline(b, x, reciprocalTable(b.f, tol), cfg) as [Reg, Reg];
  return b.add(lo, hi);
}

function reciprocalPos(b: CircuitBuilder, x: Reg, opts: ReciprocalOptions, cfg: ProtocolConfig): Reg {
  if (cfg.reciprocalMethod === 'spline' && opts.initial === undefined) {
    // One Goldschmidt step from the spline start: y0 (2 - x y0), relative error squared.
    const y0 = reciprocalStart(b, x, cfg);
    return mul(b, y0, rsubConst(b, 2, mul(b, x, y0)));
  }
  const iters = opts.iterations ?? cfg.reciprocalIterations;
  let start = 0;
  let y: Reg;
  if (opts.initial === undefined) {
    // The start is CrypTen's whatever exp method is configured (its (1 + x/256)^256 underflows to 0 for large x, as the start needs).
    const startCfg = cfg.expMethod === 'limit' ? cfg : { ...cfg, expMethod: 'limit' as const, expIterations: CRYPTEN.expIterations };
    y = addConst(b, mulConst(b, exp(b, rsubConst(b, 1, mulConst(b, x, 2)), startCfg), 3), 0.003);
  } else {
    // The first iteration with a public guess y0 is local: 2 y0 - y0^2 x.
    const y0 = opts.initial;
    y = addConst(b, mulConst(b, x, -y0 * y0), 2 * y0);
    start = 1;
  }
  if (cfg.reciprocalMethod !== 'nr') {
    // y <- y (1 + e), e <- e^2 with e = 1 - x y: the relative error squares each step, as NR's.
    let e = rsubConst(b, 1, mul(b, x, y));
    for (let i = start; i < iters; i++) {
      const next = mul(b, y, addConst(b, e, 1));
      if (i + 1 < iters) e = square(b, e);
      y = next;
    }
    return y;
  }
  for (let i = start; i < iters; i++) y = b.add(y, b.sub(y, mul(b, square(b, y), x)));
  return y;
}

/** 1/sqrt(x) for x > 0, times a public constant `times` (folded into the last product by `normalized`). */
export function invSqrt(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN, times = 1): Reg {
  if (cfg.invSqrtMethod === 'spline') {
    // Spline, xn y0^2, y0 (1.5 - 0.5 xn y0^2), times 2^-t (exact, kept apart from y0 so a
    // small 2^-t y0 is not rounded): 4 rounds.
    return b.withProtocol('inv-sqrt-spline', () => {
      const s = invSqrtSpline(b, x, cfg, times);
      return mul(b, mul(b, s.y0, invSqrtNewtonFactor(b, s)), s.f1);
    });
  }
  if (cfg.invSqrtMethod === 'normalized') return b.withProtocol('inv-sqrt-normalized', () => invSqrtNormalized(b, x, cfg, times));
  return b.withProtocol('inv-sqrt-nr', () => {
    const e = exp(b, b.neg(addConst(b, mulConst(b, x, 0.5, cfg), 0.2)), cfg);
    let y = b.sub(addConst(b, mulConst(b, e, 2.2), 0.2), mulConst(b, x, 1 / 1024));
    for (let i = 0; i < cfg.sqrtIterations; i++) {
      y = mulConst(b, mul(b, y, rsubConst(b, 3, mul(b, x, square(b, y)))), 0.5);
    }
    return times === 1 ? y : mulConst(b, y, times);
  });
}

/** Minimax linear start for 1/sqrt on [1, 4] (max relative error 8.6%; 3 iterations reach 5e-8). */
const INV_SQRT_START = [1.067, -0.1525] as const;

/**
 * Range-normalized 1/sqrt: bits z_j = [x < 4^j] for j = L..H in one ltz; the bucket t
 * (4^t <= x < 4^(t+1)) gives 4^-t and times 2^-t as public linear combinations of the bits
 * (telescoping: F_t = F_H + sum_j z_j (F_(j-1) - F_j), with the F rounded to f bits first so
 * the sum is exact; 4^-t is exact for L = -7, H = 8 at f = 16, i.e. x in [2^-16, 4^9)).
 * x 4^-t lies in [1, 4): a linear start and NR iterations in the form
 * y <- 1.5 y - 0.5 (x y) y^2 (x y and y^2 in one round: 2 rounds per iteration), then times
 * the second factor. Rounds: ltz + 1 + 2 iterations + 1. Every factor stays at scale f: a
 * product's local truncation fails with probability ~|value| 2^(2f - 63).
 */
function invSqrtNormalized(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig, times: number): Reg {
  const lo = -Math.floor((b.f - 2) / 2);
  const hi = Math.floor(b.f / 2);
  const js = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  const lift = (v: Reg): Reg => b.reshape(v, [1, ...v.shape]);
  const below = ltz(b, b.concat(js.map((j) => lift(addConst(b, x, -(4 ** j)))), 0), cfg); // [T, ...x.shape]
  const coefShape = [js.length, ...x.shape.map(() => 1)];
  const round = (v: number): number => Math.round(v * 2 ** b.f) / 2 ** b.f;
  const factor = (of: (t: number) => number): Reg => {
    const d = js.map((j) => round(of(j - 1)) - round(of(j)));
    const picked = b.reduceSum(b.mulPub(below, b.constant(d, b.f, coefShape)), [0], false);
    return b.addPub(picked, b.constant(round(of(hi)), b.f));
  };
  const f2 = factor((t) => 4 ** -t);
  const f1 = factor((t) => 2 ** -t * times);
  const xn = mul(b, x, f2); // in [1, 4)
  let y = addConst(b, mulConst(b, xn, INV_SQRT_START[1]), INV_SQRT_START[0]);
  for (let i = 0; i < cfg.sqrtIterations; i++) {
    const y2 = square(b, y);
    const xy = mul(b, xn, y);
    y = b.sub(mulConst(b, y, 1.5), mulConst(b, mul(b, xy, y2), 0.5));
  }
  return mul(b, y, f1);
}

/** Buckets of the normalization: 4^t for t in [lo, hi] (x in [2^-14, 4^9) at f = 16, as `normalized`). */
export function invSqrtBuckets(f: number): [number, number] {
  return [-Math.floor((f - 2) / 2), Math.floor(f / 2)];
}

/** The outputs of 1/sqrt's spline (spline.ts rsqrtTable): all in one round. */
export interface InvSqrtSplineParts {
  /** x 4^-t, in [1, 4) */
  readonly xn: Reg;
  /** 2^-t times */
  readonly f1: Reg;
  /** 2^-t times y0 */
  readonly f1y0: Reg;
  readonly y0: Reg;
  readonly y0sq: Reg;
}

export function invSqrtSpline(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig, times: number): InvSqrtSplineParts {
  const [lo, hi] = invSqrtBuckets(b.f);
  const [xn, f1, f1y0, y0, y0sq] = spline(b, x, rsqrtTable(b.f, lo, hi, times), cfg) as [Reg, Reg, Reg, Reg, Reg];
  return { xn, f1, f1y0, y0, y0sq };
}

/** The Newton step's factor 1.5 - 0.5 xn y0^2 (one product): y1 = y0 times it. */
export function invSqrtNewtonFactor(b: CircuitBuilder, s: InvSqrtSplineParts): Reg {
  return rsubConst(b, 1.5, mulConst(b, mul(b, s.xn, s.y0sq), 0.5));
}

/** sqrt(x) = x * invSqrt(x). */
export function sqrt(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('sqrt-nr', () => mul(b, invSqrt(b, x, cfg), x));
}

/** x^p by CrypTen's `pow`: even p: (x^2)^(p/2); odd p: (x^2)^((p-1)/2) * x. */
export function powCrypten(b: CircuitBuilder, x: Reg, p: number): Reg {
  if (p === 1) return x;
  if (p === 2) return square(b, x);
  if (p % 2 === 0) return powCrypten(b, square(b, x), p / 2);
  return mul(b, powCrypten(b, square(b, x), (p - 1) / 2), x);
}

/**
 * x^1..x^maxP from one product tree, each power at depth ceil(log2 p): x^(2k) = (x^k)^2, and
 * for odd p, x^a x^(p-a) with a the largest power of two below p. Index p holds x^p.
 */
export function powerTree(b: CircuitBuilder, x: Reg, maxP: number): Reg[] {
  const pw: Reg[] = [x, x];
  for (let p = 2; p <= maxP; p++) {
    if (p % 2 === 0) pw[p] = square(b, pw[p / 2]!);
    else {
      const a = 2 ** Math.floor(Math.log2(p - 1));
      pw[p] = mul(b, pw[a]!, pw[p - a]!);
    }
  }
  return pw;
}

/** erf(x) by its Taylor series (see the header for the range), or clipped (`erf-clipped`). */
export function erf(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  if (cfg.erfMethod === 'erf-clipped') return b.withProtocol('erf-clipped', () => erfClipped(b, x, cfg));
  return b.withProtocol(cfg.erfMethod === 'taylor' ? 'erf-taylor' : 'erf-tree', () => {
    const n = cfg.erfIterations;
    const tree = cfg.erfMethod === 'erf-tree' ? powerTree(b, x, 2 * n + 1) : [];
    const terms: Reg[] = [x];
    for (let k = 1; k <= n; k++) {
      let fact = 1;
      for (let j = 2; j <= k; j++) fact *= j;
      const coef = (-1) ** k / (fact * (2 * k + 1));
      const pk = cfg.erfMethod === 'erf-tree' ? tree[2 * k + 1]! : powCrypten(b, x, 2 * k + 1);
      terms.push(mulConst(b, pk, coef));
    }
    return mulConst(b, sum(b, terms), 2 / Math.sqrt(Math.PI));
  });
}

/** erf-clipped: the fit's range (erf(2.5) = 0.99959) and its odd coefficients in u = x / 2.5 (u, u^3, ..., u^13; max error 6e-5). */
const ERF_CLIP = 2.5;
const ERF_FIT = [2.8199793019225465, -5.83703080249864, 10.53661239968056, -13.747953367369254, 12.01283602169691, -6.174348083425115, 1.3895590544362555];

/**
 * erf(x) = hi - lo + (1 - hi - lo) p(x) with lo = [x < -2.5], hi = [x > 2.5] (one ltz over both)
 * and p an odd least-squares fit on [-2.5, 2.5]: the comparison runs beside the power tree
 * (depth 4), then one product. At f = 16 the powers' rounding gives about 5e-4.
 */
function erfClipped(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig): Reg {
  const lift = (v: Reg): Reg => b.reshape(v, [1, ...v.shape]);
  const bits = ltz(b, b.concat([lift(addConst(b, x, ERF_CLIP)), lift(rsubConst(b, ERF_CLIP, x))], 0), cfg);
  const take = (i: number): Reg => b.reshape(b.slice(bits, [i], [i + 1], [0]), x.shape);
  const [lo, hi] = [take(0), take(1)];
  const pw = powerTree(b, mulConst(b, x, 1 / ERF_CLIP), 2 * ERF_FIT.length - 1);
  const p = sum(b, ERF_FIT.map((c, i) => mulConst(b, pw[2 * i + 1]!, c)));
  const inside = mul(b, rsubConst(b, 1, b.add(lo, hi)), p);
  return b.add(inside, toFixed(b, b.sub(hi, lo)));
}

/** sigmoid(x), CrypTen's `reciprocal` method (see the header). */
export function sigmoid(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  if (cfg.sigmoidMethod === 'spline') return b.withProtocol('sigmoid-spline', () => spline(b, x, sigmoidTable(b.f), cfg)[0]!);
  return b.withProtocol('sigmoid-reciprocal', () => {
    const neg = ltz(b, x, cfg);
    const sign = rsubConst(b, 1, mulConst(b, neg, 2));
    const pos = mul(b, x, sign);
    const den = addConst(b, exp(b, b.neg(pos), cfg), 1);
    const posOut = reciprocal(b, den, { allPos: true, initial: 0.75, iterations: 3 }, { ...cfg, reciprocalMethod: 'nr' });
    return where(b, rsubConst(b, 1, neg), posOut, rsubConst(b, 1, posOut), cfg);
  });
}

/** tanh(x) = 2 sigmoid(2x) - 1. */
export function tanh(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  if (cfg.sigmoidMethod === 'spline') return b.withProtocol('tanh-spline', () => spline(b, x, tanhTable(b.f), cfg)[0]!);
  return b.withProtocol('tanh-sigmoid', () => addConst(b, mulConst(b, sigmoid(b, mulConst(b, x, 2), cfg), 2), -1));
}

export interface GeluOptions {
  readonly form?: GeluForm;
}

// PUMA (Dong et al., 2023), GELU segments: coefficients of x^0..x^3 on [-4, -1.95) and of
// x^0..x^6 on [-1.95, 3].
const PUMA_F0 = [-0.5054031199708174, -0.42226581151983866, -0.11807612951181953, -0.011034134030615728];
const PUMA_F1 = [0.008526321541038084, 0.5, 0.3603292692789629, 0.0, -0.037688200365904236, 0.0, 0.0018067462606141187];

/** GELU(x) in the named form (default: the config's geluForm). */
export function gelu(b: CircuitBuilder, x: Reg, opts: GeluOptions = {}, cfg: ProtocolConfig = CRYPTEN): Reg {
  const form = opts.form ?? cfg.geluForm;
  if (cfg.geluMethod === 'spline' && form !== 'puma') return b.withProtocol(`gelu-${form}-spline`, () => spline(b, x, geluTable(form, b.f), cfg)[0]!);
  if (cfg.geluMethod === 'cubic' && form !== 'puma') return b.withProtocol(`gelu-${form}-cubic`, () => cubicSpline(b, x, geluCubicTable(form, b.f), cfg));
  return b.withProtocol(`gelu-${form}`, () => {
    if (form === 'erf') {
      const e = erf(b, mulConst(b, x, Math.SQRT1_2), cfg);
      return mul(b, mulConst(b, x, 0.5, cfg), addConst(b, e, 1));
    }
    if (form === 'tanh') {
      const x3 = powCrypten(b, x, 3);
      const inner = mulConst(b, b.add(x, mulConst(b, x3, 0.044715)), Math.sqrt(2 / Math.PI));
      return mul(b, mulConst(b, x, 0.5, cfg), addConst(b, tanh(b, inner, cfg), 1));
    }
    return geluPuma(b, x, cfg);
  });
}

function poly(b: CircuitBuilder, pw: readonly Reg[], coefs: readonly number[]): Reg {
  const terms: Reg[] = [];
  coefs.forEach((c, k) => {
    if (k > 0 && c !== 0) terms.push(mulConst(b, pw[k]!, c));
  });
  return addConst(b, sum(b, terms), coefs[0]!);
}

function geluPuma(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig): Reg {
  // Three comparisons in one ltz: x < -4, x < -1.95, 3 < x.
  const lift = (v: Reg): Reg => b.reshape(v, [1, ...v.shape]);
  const stacked = b.concat([lift(addConst(b, x, 4)), lift(addConst(b, x, 1.95)), lift(rsubConst(b, 3, x))], 0);
  const bits = ltz(b, stacked, cfg);
  const take = (i: number): Reg => b.reshape(b.slice(bits, [i], [i + 1], [0]), x.shape);
  const [b0, b1, b2] = [take(0), take(1), take(2)];
  const pw = powerTree(b, x, 6);
  const f0 = poly(b, pw, PUMA_F0);
  const f1 = poly(b, pw, PUMA_F1);
  const z0 = b.sub(b1, b0); // -4 <= x < -1.95
  const z1 = b.sub(rsubConst(b, 1, b1), b2); // -1.95 <= x <= 3
  return b.add(b.add(mul(b, z0, f0), mul(b, z1, f1)), mul(b, b2, x));
}

