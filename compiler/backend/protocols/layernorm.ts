// LayerNorm over the last axis, as the measured CrypTen BERT builds it (CrypTen has no
// LayerNorm): mean; d = x - mean; var = mean(d^2); r = invSqrt(var + eps); d * r; times
// gamma; plus beta. Private gamma/beta: 1 + 17 + 1 + 1 = 20 rounds, 48.6 B/elem for [128,768];
// public: 19 rounds (gamma multiplies locally), 32.5 B/elem.
//
// Variant `fused`: (d * gamma) * r — the gamma product runs beside invSqrt, so with a private
// gamma one round fewer after merging (the same communication instructions and bytes).
//
// eps is encoded at f fractional bits; BERT's 1e-12 rounds to 0 at f = 16 (as in CrypTen).
//
// With `invSqrtMethod: spline` (FSS): the sum of squares as `normalized`, then one spline gives
// the normalized sum, the power-of-4 factor and a start, and one Newton step runs inside the
// output products: 4 rounds in all (square, spline, two products); see spline.ts rsqrtTable.
//
// With `invSqrtMethod: normalized` (not CrypTen's): 1/sqrt(var) = sqrt(D) / sqrt(sum d^2), the
// squares summed before one truncation, and invSqrt converging on [2^-16, 4^9) instead of
// [0.1, 100]. Random-init BERT embeddings have variance ~1e-3: 65 ulp at f = 16 (a 1.5% error
// after CrypTen's per-element truncation and division), where CrypTen's 3 iterations are
// also far from converged.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { addConst, mul, mulConst, mulPublic, square } from './arith.ts';
import { CRYPTEN, type ProtocolConfig } from './config.ts';
import { invSqrt, invSqrtNewtonFactor, invSqrtSpline } from './nonlinear.ts';

/** gamma and beta are [D] (D = the last axis), shared (`ashr`) or public (`pub`). */
export function layerNorm(b: CircuitBuilder, x: Reg, gamma: Reg, beta: Reg, eps: number, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol(`layernorm-${cfg.layerNorm}`, () => {
    const d = x.shape[x.shape.length - 1]!;
    const scaleBy = (v: Reg, g: Reg): Reg => (g.kind === 'pub' ? mulPublic(b, v, g) : mul(b, v, g));
    const mean = mulConst(b, b.reduceSum(x, [-1], true), 1 / d, cfg);
    const diff = b.sub(x, mean);
    let r: Reg;
    if (cfg.invSqrtMethod === 'spline') {
      // One spline gives xn = x 4^-t, y0, y0^2 and 2^-t sqrt(D) y0; the Newton step
      // y0 (1.5 - 0.5 xn y0^2) folds into the output: (d gamma 2^-t sqrt(D) y0) (1.5 - 0.5 xn y0^2).
      // Rounds: square, spline, {xn y0^2, d gamma (..) y0}, the last product. (2^-t sqrt(D) y0
      // is rounded to 2^-f: relative error below 2^(t-f+1)/sqrt(D), 7e-4 at the top bucket with
      // D = 128, 1.5e-5 for t = 4, i.e. a row variance near 1 with D = 768.)
      const ss = b.trunc(b.reduceSum(square(b, diff, cfg, false), [-1], true), b.f);
      const bx = b.boundOf(x);
      // sum (x_i - mean)^2 <= d (hi - lo)^2 / 4 (the most a row within [lo, hi] can vary), plus
      // the mean's ulp and the squares' truncation
      if (bx !== undefined) b.bound(ss, 0, (d * (bx[1] - bx[0] + 2 ** -b.f) ** 2) / 4 + d * 2 ** -b.f);
      const sse = addConst(b, ss, eps * d);
      if (bx !== undefined) b.bound(sse, 0, (d * (bx[1] - bx[0] + 2 ** -b.f) ** 2) / 4 + d * 2 ** -b.f + eps * d + 2 ** -b.f);
      const s = invSqrtSpline(b, sse, cfg, Math.sqrt(d));
      const y = mul(b, mul(b, scaleBy(diff, gamma), s.f1y0), invSqrtNewtonFactor(b, s));
      return beta.kind === 'pub' ? b.addPub(y, beta) : b.add(y, beta);
    }
    if (cfg.invSqrtMethod === 'normalized') {
      // 1/sqrt(var) = sqrt(D) / sqrt(sum d^2): the squares summed at 2f and truncated once.
      const ss = b.trunc(b.reduceSum(square(b, diff, cfg, false), [-1], true), b.f);
      r = invSqrt(b, addConst(b, ss, eps * d), cfg, Math.sqrt(d));
    } else {
      const variance = mulConst(b, b.reduceSum(square(b, diff), [-1], true), 1 / d, cfg);
      r = invSqrt(b, addConst(b, variance, eps), cfg);
    }
    const y = cfg.layerNorm === 'fused' ? mul(b, scaleBy(diff, gamma), r) : scaleBy(mul(b, diff, r), gamma);
    return beta.kind === 'pub' ? b.addPub(y, beta) : b.add(y, beta);
  });
}
