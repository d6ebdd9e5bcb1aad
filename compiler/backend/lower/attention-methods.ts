// Lowering of each attention method of AttentionSoftmax (ir/ops/transformer/
// attention-methods.ts defines their meaning), one entry per method, from the protocol
// library's building blocks with the cheapest choice for each:
//
// - exact: CrypTen's softmax, masked keys moved down additively (see softmax.ts).
// - poly: PolySoftmax, the keep mask multiplied in.
// - rsattn: ReLU, the row sum, one reciprocal (all positive), one product.
// - scale: local when the mask is public (s times the public 1/n); otherwise one reciprocal
//   of the kept-key count per batch row and one product.
// - scaled-relu / -relu2 / -gelu: the activation (ReLU: one comparison; squared: one more
//   square; GELU: the configured GELU), then 1/sqrt(n) as for scale.
// - 2quad: a square of s + c, the row sum, one reciprocal, one product.
//
// A method receives the scores of its heads [B, h, S, S] as shares and the keep mask
// [B, 1, 1, S]: public (a tensor), secret (shares), or undefined when every key is kept.

import type { Reg } from '../../../ir/circuit/types.ts';
import type { AttentionParams } from '../../../ir/ops/transformer/attention-methods.ts';
import { Tensor } from '../../../ir/tensor.ts';
import * as lib from '../protocols/index.ts';
import type { LowerContext } from './context.ts';
import { expandTo, mulPublic, scalarTensor, subPublic } from './local.ts';

export type KeepMask = { readonly kind: 'all' } | { readonly kind: 'public'; readonly value: Tensor } | { readonly kind: 'secret'; readonly reg: Reg };

export interface AttentionMethodLowering {
  /** Protocol name stamped on the method's own instructions (and so in cost reports). */
  readonly protocol: string;
  lower(ctx: LowerContext, x: Reg, keep: KeepMask, p: AttentionParams): Reg;
}

/** A lowering whose instructions carry its protocol name (the protocols it calls keep theirs inside). */
function named(protocol: string, lower: AttentionMethodLowering['lower']): AttentionMethodLowering {
  return { protocol, lower: (ctx, x, keep, p) => ctx.b.withProtocol(protocol, () => lower(ctx, x, keep, p)) };
}

/** Added to the scores of masked keys of exact heads. */
export const ADDITIVE_MASK_SHIFT = 64;

/** The mask as shares broadcastable to the scores, or undefined when it keeps everything. */
function keepReg(ctx: LowerContext, keep: KeepMask): Reg | undefined {
  if (keep.kind === 'all') return undefined;
  return keep.kind === 'secret' ? keep.reg : ctx.sharePublic(keep.value);
}

/** x with masked keys set to exactly 0: local for a public mask, one product for a secret one. */
function zeroMasked(ctx: LowerContext, x: Reg, keep: KeepMask): Reg {
  if (keep.kind === 'all') return x;
  if (keep.kind === 'public') return mulPublic(ctx, x, keep.value);
  return lib.mul(ctx.b, x, keep.reg);
}

/** Kept keys per batch row of a public [B,1,1,S] mask. */
function publicCounts(keep: Tensor): number[] {
  const [B, , , S] = keep.shape as [number, number, number, number];
  const n: number[] = [];
  for (let bi = 0; bi < B; bi++) {
    let c = 0;
    for (let j = 0; j < S; j++) if (keep.at(bi * S + j) !== 0) c++;
    n.push(c);
  }
  return n;
}

/**
 * x times d(n) per batch row, n the kept-key count: local for a public mask (0 where n = 0);
 * for a secret one, n = sum(keep) in shares and d(n) by a protocol (`secretFactor`).
 */
function timesLengthFactor(ctx: LowerContext, x: Reg, keep: KeepMask, S: number, d: (n: number) => number, secretFactor: (n: Reg) => Reg): Reg {
  const B = x.shape[0]!;
  if (keep.kind !== 'secret') {
    const counts = keep.kind === 'all' ? new Array<number>(B).fill(S) : publicCounts(keep.value);
    return mulPublic(ctx, x, Tensor.from('f64', [B, 1, 1, 1], counts.map((n) => (n === 0 ? 0 : d(n)))));
  }
  const n = ctx.b.reduceSum(keep.reg, [3], true);
  return lib.mul(ctx.b, x, expandTo(ctx, secretFactorAt(ctx, n, secretFactor), [B, 1, 1, 1]));
}

function secretFactorAt(ctx: LowerContext, n: Reg, f: (n: Reg) => Reg): Reg {
  return ctx.b.withProtocol('kept-count', () => f(n));
}

/**
 * 1/n for a secret count n in [1, S]: the reciprocal of n / sqrt(S) (which lies in
 * [1/sqrt S, sqrt S], inside the reciprocal's accurate window for S up to ~1000), over sqrt(S).
 */
function reciprocalCount(ctx: LowerContext, n: Reg, S: number): Reg {
  const r = Math.sqrt(S);
  return lib.mulConst(ctx.b, lib.reciprocal(ctx.b, lib.mulConst(ctx.b, n, 1 / r, ctx.config), { allPos: true }, ctx.config), 1 / r, ctx.config);
}

/** 1/sqrt(n) for a secret count n in [1, S]: invSqrt is accurate on about [0.1, 100], so n is scaled into it. */
function invSqrtCount(ctx: LowerContext, n: Reg, S: number): Reg {
  const c = S > 100 ? 0.1 : 1;
  return lib.mulConst(ctx.b, lib.invSqrt(ctx.b, lib.mulConst(ctx.b, n, c, ctx.config), ctx.config), Math.sqrt(c), ctx.config);
}

/** u / (sum u + eps) over the keys, the sum divided by `scale` before the reciprocal (its window). */
function normalizeRows(ctx: LowerContext, u: Reg, eps: number, scale: number): Reg {
  const b = ctx.b;
  let s = b.reduceSum(u, [u.shape.length - 1], true);
  if (eps !== 0) s = lib.addConst(b, s, eps);
  s = lib.mulConst(b, s, 1 / scale, ctx.config);
  const inv = lib.reciprocal(b, s, { allPos: true }, ctx.config);
  return lib.mulConst(b, lib.mul(b, u, inv), 1 / scale, ctx.config);
}

/** scores + (keep - 1) * shift: local (the keep mask is 0/1, the shift an integer). */
function additiveMask(ctx: LowerContext, x: Reg, keep: Reg): Reg {
  return ctx.b.withProtocol('additive-mask', () => {
    const shifted = subPublic(ctx, mulPublic(ctx, keep, scalarTensor(ADDITIVE_MASK_SHIFT)), scalarTensor(ADDITIVE_MASK_SHIFT));
    return ctx.b.add(x, expandTo(ctx, shifted, x.shape));
  });
}

const rowLength = (x: Reg): number => x.shape[x.shape.length - 1]!;

/** sigma(s) / sqrt(n), masked keys 0. */
function lengthScaled(ctx: LowerContext, activated: Reg, keep: KeepMask, S: number): Reg {
  return timesLengthFactor(ctx, zeroMasked(ctx, activated, keep), keep, S, (n) => 1 / Math.sqrt(n), (n) => invSqrtCount(ctx, n, S));
}

const LOWERINGS: Readonly<Record<string, AttentionMethodLowering>> = {
  exact: {
    protocol: 'softmax',
    lower(ctx, x, keep) {
      const k = keepReg(ctx, keep);
      const scores = k === undefined ? x : additiveMask(ctx, x, k);
      if (ctx.deferNow) {
        // AttentionContext multiplies by the per-row reciprocal after its matmul (see context.ts).
        const { num, inv, scale } = lib.softmaxParts(ctx.b, scores, x.shape.length - 1, undefined, ctx.config);
        ctx.rowScaled.set(num.id, { inv, scale });
        return num;
      }
      return ctx.p.softmax(scores, x.shape.length - 1);
    },
  },
  poly: {
    protocol: 'poly-softmax',
    lower: (ctx, x, keep, p) => ctx.p.polySoftmax(x, x.shape.length - 1, { degree: p.degree, shift: p.shift, clip: p.clip }, keepReg(ctx, keep)),
  },
  rsattn: named('rs-attention', (ctx, x, keep, p) => normalizeRows(ctx, zeroMasked(ctx, ctx.p.relu(x), keep), p.eps, Math.sqrt(rowLength(x)))),
  scale: named('scale-attention', (ctx, x, keep) => {
    const S = rowLength(x);
    return timesLengthFactor(ctx, zeroMasked(ctx, x, keep), keep, S, (n) => 1 / n, (n) => reciprocalCount(ctx, n, S));
  }),
  'scaled-relu': named('scaled-relu-attention', (ctx, x, keep) => lengthScaled(ctx, ctx.p.relu(x), keep, rowLength(x))),
  'scaled-relu2': named('scaled-relu2-attention', (ctx, x, keep) => lengthScaled(ctx, ctx.p.square(ctx.p.relu(x)), keep, rowLength(x))),
  'scaled-gelu': named('scaled-gelu-attention', (ctx, x, keep) => lengthScaled(ctx, ctx.p.gelu(x, 'erf'), keep, rowLength(x))),
  '2quad': named('two-quad', (ctx, x, keep, p) => {
    const q = zeroMasked(ctx, ctx.p.square(lib.addConst(ctx.b, x, p.c)), keep);
    return normalizeRows(ctx, q, p.eps, rowLength(x) * Math.max(1, p.c * p.c));
  }),
};

/** The lowering of a method; every method of ir/ops/transformer/attention-methods.ts has one. */
export function attentionMethodLowering(name: string): AttentionMethodLowering | undefined {
  return LOWERINGS[name];
}

export function loweredAttentionMethods(): string[] {
  return Object.keys(LOWERINGS);
}
