// Softmax and its polynomial replacements over one axis.
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
// Each sum is divided by a public constant k (the row length n; n c^2 for twoQuad) before the
// reciprocal and the result by k again (both local): at f = 16 the Newton iteration's y^2
// loses relative precision as 1/x shrinks (error about 2^-16 x^2), so a sum of 100 would come
// out ~15% off, while sum/n lies in (0, 1] where it is accurate. Costs are unchanged.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { normalizeAxis } from '../../../ir/types.ts';
import { typeError } from '../../../ir/op.ts';
import { addConst, mul, mulConst, square, sum, toFixed } from './arith.ts';
import { relu } from './compare.ts';
import { CRYPTEN, type ProtocolConfig } from './config.ts';
import { max } from './max.ts';
import { exp, powerTree, reciprocal } from './nonlinear.ts';

function axisOf(x: Reg, axis: number): number {
  const a = normalizeAxis(axis, x.shape.length);
  if (a === undefined) typeError(`softmax: axis ${axis} out of range for rank ${x.shape.length}`);
  return a;
}

/** Masked scores are moved this far down before the max (scores must stay well inside ±C/2). */
export const MASK_SHIFT = 4096;

function pushMaskedDown(b: CircuitBuilder, x: Reg, keep: Reg | undefined): Reg {
  if (keep === undefined) return x;
  return b.add(x, mulConst(b, addConst(b, toFixed(b, keep), -1), MASK_SHIFT));
}

/** num / sum(num over axis), the sum scaled by 1/scale before the reciprocal (allPos). */
function normalize(b: CircuitBuilder, num: Reg, axis: number, cfg: ProtocolConfig, scale = 1): Reg {
  let s = b.reduceSum(num, [axis], true);
  if (scale !== 1) s = mulConst(b, s, 1 / scale);
  let inv = reciprocal(b, s, { allPos: true }, cfg);
  if (scale !== 1) inv = mulConst(b, inv, 1 / scale);
  return mul(b, num, inv);
}

/** Softmax over `axis`; `keep` (0/1 shares broadcast to x) zeroes masked entries exactly. */
export function softmax(b: CircuitBuilder, x: Reg, axis: number, keep?: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('softmax', () => {
    const ax = axisOf(x, axis);
    const xs = pushMaskedDown(b, x, keep);
    let e = exp(b, b.sub(xs, max(b, xs, ax, cfg)), cfg);
    if (keep !== undefined) e = mul(b, e, keep);
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
    return normalize(b, q, ax, cfg, x.shape[ax]!);
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
