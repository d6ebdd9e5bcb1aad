// Softmax and its polynomial replacements over one axis.
//
// With FSS splines (expMethod=spline, reciprocalMethod=spline): the max tree (one round per
// level), exp by a spline (one round; exactly 0 below -16, so additively masked keys get no
// weight), the sum, its reciprocal by a spline (2.5e-4 relative), the numerators' product:
// log2(n) + 3 rounds, 10 for rows of 128 (expMethod=quadratic, the fss preset's: exp in three
// rounds, 12; expMethod=cubic: four, 13). Attention probabilities used only by probs @ v are
// lowered as softmaxParts instead: the product with the per-row reciprocal follows the
// matmul, whose round then runs beside the reciprocal's (one round fewer per layer, and the
// product is on [.., S, d] instead of [.., S, S]).
//
// softmax (CrypTen): m = max(x); e = exp(x - m); e * reciprocal(sum e) with allPos:
// 79 + 8 + 28 + 1 = 116 rounds for rows of 128. With a keep mask (0/1 shares, broadcast over
// the scores, e.g. [B,1,1,S]) e is multiplied by it before summing, so masked keys get exactly
// zero weight whatever their score (one more product: 1 more round, 16(|e| + |keep|) bytes).
// Masked scores are also moved down by MASK_SHIFT first (x - C(1 - keep), local), so the max
// is taken over the kept keys only: otherwise a large masked score would become the shift and
// push the kept ones into exp's inaccurate far-negative range. (exp of a moved-down score may
// wrap around the ring; the exact ring product with keep = 0 still gives 0.)
//
// polySoftmax (IG-3D): z = x - max(x) when `shift` (else x); z clipped below at -clip when
// clip > 0 (z >= -clip by a ReLU: z' = relu(z + clip) - clip; without shift, clipped on both
// sides); q(z) = sum_{k<=m} z^k/k!, times keep, normalized by the reciprocal of its sum. For
// even m, q > 0 everywhere. CrypTen-measured with the max shift and m = 2: 109 rounds.
//
// twoQuad (MPCFormer): (x + c)^2 normalized the same way.
//
// Each sum is divided by a public constant k before the reciprocal and the weights by k again
// (both local; costs are unchanged). The reciprocal is accurate only on a window: at f = 16
// Newton's y^2 loses relative precision as 1/x shrinks (error about 1.5 ulp x^2: 1e-2 at 27;
// it diverges past ~180), Goldschmidt's errors grow to ~5e-3 near 180 and it diverges past
// ~250, where CrypTen's start exp(1 - 2x) (the limit form) no longer underflows; below ~0.005
// both lose ~1e-3 and more. softmax: k = n (sum/n in [1/n, 1]). PolySoftmax: q is not bounded by 1
// (degree 2 without clip: q(-24) = 265, and a long row of such keys has sum/n ~ 250), so k is
// n times polyScale (a power of two putting q's bound, over POLY_SPAN when unclipped, under
// the reciprocal's ceiling). twoQuad: k = n c^2. The weights are num * (k/sum), then / k: the
// other order, num * ((k/sum) / k), holds 1/sum itself at 16 bits, a few ulp for a long
// PolySoftmax row (sum ~ 24000 gives 2.7 ulp: up to ~30% off).

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { normalizeAxis } from '../../../ir/types.ts';
import { typeError } from '../../../ir/op.ts';
import { addConst, mul, mulConst, square, sum, toFixed } from './arith.ts';
import { RECIP_SOFTMAX_TOL } from './spline.ts';
import { relu } from './compare.ts';
import { CRYPTEN, type ProtocolConfig } from './config.ts';
import { looseMaxSlack, max } from './max.ts';
import { exp, powerTree, reciprocal, reciprocalStart } from './nonlinear.ts';

function axisOf(x: Reg, axis: number): number {
  const a = normalizeAxis(axis, x.shape.length);
  if (a === undefined) typeError(`softmax: axis ${axis} out of range for rank ${x.shape.length}`);
  return a;
}

/** Masked scores are moved this far down before the max (scores must stay well inside ±C/2). */
export const MASK_SHIFT = 4096;

function pushMaskedDown(b: CircuitBuilder, x: Reg, keep: Reg | undefined): Reg {
  if (keep === undefined) return x;
  const y = b.add(x, mulConst(b, addConst(b, toFixed(b, keep), -1), MASK_SHIFT));
  const bx = b.boundOf(x);
  return bx === undefined ? y : b.bound(y, bx[0] - MASK_SHIFT - 1, bx[1]);
}

/** Shifted scores z = x - max(x) (<= 0 exactly: the FSS max is exact), bounded by x's span. */
function shifted(b: CircuitBuilder, xs: Reg, ax: number, cfg: ProtocolConfig): Reg {
  const loose = looseBits(cfg);
  const z = b.sub(xs, max(b, xs, ax, cfg, loose));
  const bx = b.boundOf(xs);
  return bx === undefined ? z : b.bound(z, bx[0] - bx[1], looseMaxSlack(xs.shape[ax]!, loose, b.f));
}

/**
 * With FSS comparisons and quadratic or cubic exp, the max tree's comparisons ignore
 * SOFTMAX_MAX_DROP low bits (max.ts): softmax does not change when every score of a row moves
 * by the same amount, so a max a little below the true one only puts z = x - max a little
 * above 0 (up to log2(n) 2^-8 at f = 16: 0.027 for rows of 128), where the quadratic and cubic
 * exp tables are still accurate (spline.ts EXP_CUBIC_HI; the linear table stops at 0). 8 of the
 * max keys' ~31 tree levels.
 */
export const SOFTMAX_MAX_DROP = 8;
const looseBits = (cfg: ProtocolConfig): number => (cfg.compare === 'fss' && cfg.maxMethod === 'tree' && (cfg.expMethod === 'quadratic' || cfg.expMethod === 'cubic') ? SOFTMAX_MAX_DROP : 0);

/** Whether softmax's exp is an FSS table (linear, quadratic or cubic pieces). */
const expBySpline = (cfg: ProtocolConfig): boolean => cfg.expMethod === 'spline' || cfg.expMethod === 'quadratic' || cfg.expMethod === 'cubic';

/** exp's spline (linear, quadratic or cubic pieces) stays within 2^-8 of [0, e^slack] for z <= slack (a product with keep too). */
const boundExp = (b: CircuitBuilder, e: Reg, n: number, cfg: ProtocolConfig): Reg => b.bound(e, -(2 ** -8), Math.exp(looseMaxSlack(n, looseBits(cfg), b.f)) + 2 ** -8);

/** num / sum(num over axis), the sum scaled by 1/scale before the reciprocal (allPos). */
function normalize(b: CircuitBuilder, num: Reg, axis: number, cfg: ProtocolConfig, scale = 1): Reg {
  let s = b.reduceSum(num, [axis], true);
  if (scale !== 1) s = mulConst(b, s, 1 / scale, cfg);
  const bn = b.boundOf(num);
  if (bn !== undefined) b.bound(s, Math.min(0, (bn[0] * num.shape[axis]!) / scale), (bn[1] * num.shape[axis]!) / scale + 2 ** -b.f);
  if (cfg.reciprocalMethod === 'spline') {
    // A spline within 2.5e-4 relative and no Newton step (the rows are few, so the table's
    // breakpoints are cheap): 2 rounds after the sum (spline, the numerators' product).
    const w = mul(b, num, reciprocalStart(b, s, cfg, RECIP_SOFTMAX_TOL));
    return scale !== 1 ? mulConst(b, w, 1 / scale, cfg) : w;
  }
  const inv = reciprocal(b, s, { allPos: true }, cfg);
  // num * (scale / sum), then / scale: 1 / sum itself can be a few ulp (see the header).
  const w = mul(b, num, inv);
  return scale !== 1 ? mulConst(b, w, 1 / scale, cfg) : w;
}

/**
 * Softmax's parts before the last product, with the spline reciprocal: the numerators (exp,
 * times keep) and the per-row reciprocal of their sum divided by `scale`; softmax = num inv /
 * scale. A consumer that is linear along the axis (probs @ v) can take the product after
 * itself: (num @ v) inv / scale, with the reciprocal's round beside its own.
 */
export function softmaxParts(b: CircuitBuilder, x: Reg, axis: number, keep: Reg | undefined, cfg: ProtocolConfig): { num: Reg; inv: Reg; scale: number } {
  if (cfg.reciprocalMethod !== 'spline') typeError('softmaxParts needs reciprocalMethod=spline');
  return b.withProtocol('softmax', () => {
    const ax = axisOf(x, axis);
    const xs = pushMaskedDown(b, x, keep);
    let num = exp(b, shifted(b, xs, ax, cfg), cfg, cfg.expIterations, true);
    if (keep !== undefined) num = mul(b, num, keep);
    if (expBySpline(cfg)) boundExp(b, num, x.shape[ax]!, cfg);
    const scale = x.shape[ax]!;
    const s = mulConst(b, b.reduceSum(num, [ax], true), 1 / scale, cfg);
    const bn = b.boundOf(num);
    if (bn !== undefined) b.bound(s, Math.min(0, bn[0]), bn[1] + 2 ** -b.f);
    const inv = reciprocalStart(b, s, cfg, RECIP_SOFTMAX_TOL);
    return { num, inv, scale };
  });
}

/** Softmax over `axis`; `keep` (0/1 shares broadcast to x) zeroes masked entries exactly. */
export function softmax(b: CircuitBuilder, x: Reg, axis: number, keep?: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('softmax', () => {
    const ax = axisOf(x, axis);
    const xs = pushMaskedDown(b, x, keep);
    let e = exp(b, shifted(b, xs, ax, cfg), cfg, cfg.expIterations, true);
    if (keep !== undefined) e = mul(b, e, keep);
    if (expBySpline(cfg)) boundExp(b, e, x.shape[ax]!, cfg);
    return normalize(b, e, ax, cfg, x.shape[ax]!);
  });
}

export interface PolySoftmaxOptions {
  /** Degree m of q(z) = sum_{k<=m} z^k / k! (the paper: 2). */
  readonly degree: number;
  /** Subtract the row max first (as the paper's z - max(z)). */
  readonly shift: boolean;
  /** Clip bound B (|z| <= B); 0 or absent: no clipping. */
  readonly clip?: number;
}

/** Unclipped PolySoftmax is assumed to see |z| up to this (spam-bert's dev rows reach 24.4). */
export const POLY_SPAN = 30;

/** Largest sum/k at which the reciprocal stays within ~5e-3 (goldschmidt) / ~1e-2 (nr). */
const RECIPROCAL_CEILING: Readonly<Record<ProtocolConfig['reciprocalMethod'], number>> = { goldschmidt: 128, nr: 32, spline: 128 };

/** polyScale's cap: more would push short rows (sum ~ 1) below the reciprocal's window. */
const POLY_SCALE_MAX = 8;

/**
 * The power of two c (1..8) by which PolySoftmax's sum/n is divided further, so that a row of
 * keys at q's bound (z = -clip, or -POLY_SPAN unclipped; +-bound without the shift) lands under
 * the reciprocal's ceiling. Degree 2 unclipped: q(-30) = 421, so 4 (goldschmidt), 8 (nr).
 */
export function polyScale(opts: PolySoftmaxOptions, cfg: ProtocolConfig): number {
  const bound = (opts.clip ?? 0) > 0 ? opts.clip! : POLY_SPAN;
  const q = (z: number): number => {
    let t = 1;
    let s = 1;
    for (let k = 1; k <= opts.degree; k++) s += (t *= z / k);
    return Math.abs(s);
  };
  const qMax = opts.shift ? q(-bound) : Math.max(q(-bound), q(bound));
  const c = 2 ** Math.ceil(Math.log2(qMax / RECIPROCAL_CEILING[cfg.reciprocalMethod]));
  return Math.min(POLY_SCALE_MAX, Math.max(1, c));
}

/** PolySoftmax over `axis`. */
export function polySoftmax(b: CircuitBuilder, x: Reg, axis: number, opts: PolySoftmaxOptions, keep?: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('poly-softmax', () => {
    const ax = axisOf(x, axis);
    if (!Number.isInteger(opts.degree) || opts.degree < 1) typeError(`polySoftmax: degree must be a positive integer, got ${opts.degree}`);
    const xs = opts.shift ? pushMaskedDown(b, x, keep) : x;
    let z = opts.shift ? b.sub(xs, max(b, xs, ax, cfg)) : x;
    const clip = opts.clip ?? 0;
    if (clip > 0) {
      // Lower clip z >= -B: relu(z + B) - B. Without the shift z can also exceed B.
      z = addConst(b, relu(b, addConst(b, z, clip), cfg), -clip);
      if (!opts.shift) z = addConst(b, b.neg(relu(b, b.neg(addConst(b, z, -clip)), cfg)), clip);
    }
    const pw = powerTree(b, z, opts.degree);
    const terms: Reg[] = [];
    let fact = 1;
    for (let k = 1; k <= opts.degree; k++) {
      fact *= k;
      terms.push(k === 1 ? pw[1]! : mulConst(b, pw[k]!, 1 / fact));
    }
    let q = addConst(b, sum(b, terms), 1);
    if (keep !== undefined) q = mul(b, q, keep);
    return normalize(b, q, ax, cfg, x.shape[ax]! * polyScale(opts, cfg));
  });
}

/** MPCFormer's 2Quad: (x + c)^2 / sum (x + c)^2 over `axis` (masked by keep). */
export function twoQuad(b: CircuitBuilder, x: Reg, axis: number, c = 5, keep?: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('two-quad', () => {
    const ax = axisOf(x, axis);
    let q = square(b, addConst(b, x, c));
    if (keep !== undefined) q = mul(b, q, keep);
    return normalize(b, q, ax, cfg, x.shape[ax]! * c * c);
  });
}
