// The ONNX form of each attention method of AttentionSoftmax (ir/ops/transformer/
// attention-methods.ts defines them), over the scores of that method's heads [B, h, S, S].
// Masked keys are multiplied by the 0/1 keep mask (exactly 0); a row with no kept key gets
// weights 0 (its divisors are made 1 there, never 0 / 0).

import { boolAttr, floatAttr, intAttr } from '../../ir/op.ts';
import type { ElemType } from '../../ir/types.ts';
import { geluErf, reduce, type ExportContext } from './export-rule.ts';
import { onnxInt } from './onnx-writer.ts';

/** The most negative float32: an additive "minus infinity" that stays finite. */
const FLOAT32_LOWEST = -3.4028234663852886e38;

export interface SoftmaxPieces {
  /** The keep mask as bool [B,1,1,S] (keep != 0). */
  readonly keepBool: string;
  /** The keep mask as exact 0/1 in the scores' element type. */
  readonly keepFloat: string;
  /** 1 when a batch row keeps any key, else 0: [B,1,1,1]. */
  readonly anyKept: string;
  /** Kept keys per row, 1 where there are none: [B,1,1,1]. */
  readonly count: string;
}

export type AttentionMethodExport = (ctx: ExportContext, scores: string, m: SoftmaxPieces, elem: ElemType) => string;

/** exact: Softmax over the scores with masked keys at the lowest float, times keep (a fully masked row is 0). */
const exact: AttentionMethodExport = (ctx, z, m, elem) => {
  const masked = ctx.emit('Where', [m.keepBool, z, ctx.scalar(FLOAT32_LOWEST, elem)]);
  const p = ctx.emit('Softmax', [masked], { axis: onnxInt(3) });
  return ctx.emit('Mul', [p, m.keepFloat]);
};

/**
 * poly: z - max over kept keys (when shift), optional clamp, q(z) = sum z^k/k! by Horner,
 * times keep, divided by the row sum (plus 1 on rows with no kept key, which are 0 / 1 = 0).
 */
const poly: AttentionMethodExport = (ctx, scores, m, elem) => {
  const degree = intAttr(ctx.attrs, 'degree');
  const clip = floatAttr(ctx.attrs, 'clip');
  let z = scores;
  if (boolAttr(ctx.attrs, 'shift')) {
    const masked = ctx.emit('Where', [m.keepBool, z, ctx.scalar(FLOAT32_LOWEST, elem)]);
    // a row with no kept key would shift by the lowest float: shift by 0 there instead
    const max = ctx.emit('Mul', [reduce(ctx, 'ReduceMax', masked, [3], 1), m.anyKept]);
    z = ctx.emit('Sub', [z, max]);
  }
  if (clip > 0) z = ctx.emit('Clip', [z, ctx.scalar(-clip, elem), ctx.scalar(clip, elem)]);
  // Horner, as the evaluator: r = 1 + r z / k for k = degree .. 1
  let r = ctx.emit('Add', [ctx.emit('Mul', [z, ctx.scalar(1 / degree, elem)]), ctx.scalar(1, elem)]);
  for (let k = degree - 1; k >= 1; k--) {
    let rz = ctx.emit('Mul', [r, z]);
    if (k !== 1) rz = ctx.emit('Mul', [rz, ctx.scalar(1 / k, elem)]);
    r = ctx.emit('Add', [rz, ctx.scalar(1, elem)]);
  }
  const num = ctx.emit('Mul', [r, m.keepFloat]);
  const sum = reduce(ctx, 'ReduceSum', num, [3], 1);
  const den = ctx.emit('Add', [sum, ctx.emit('Sub', [ctx.scalar(1, elem), m.anyKept])]);
  return ctx.emit('Div', [num, den]);
};

/** u * keep / (sum(u * keep) + eps), a zero denominator made 1 (the evaluator's 0 weights). */
function normalized(ctx: ExportContext, u: string, m: SoftmaxPieces, elem: ElemType): string {
  const num = ctx.emit('Mul', [u, m.keepFloat]);
  let den = reduce(ctx, 'ReduceSum', num, [3], 1);
  const eps = floatAttr(ctx.attrs, 'eps');
  if (eps !== 0) den = ctx.emit('Add', [den, ctx.scalar(eps, elem)]);
  const zero = ctx.emit('Cast', [ctx.emit('Equal', [den, ctx.scalar(0, elem)])], { to: onnxInt(elem === 'f64' ? 11 : 1) });
  return ctx.emit('Div', [num, ctx.emit('Add', [den, zero])]);
}

/** u * keep / d(n), d the identity or Sqrt. */
function lengthScaled(ctx: ExportContext, u: string, m: SoftmaxPieces, root: boolean): string {
  return ctx.emit('Div', [ctx.emit('Mul', [u, m.keepFloat]), root ? ctx.emit('Sqrt', [m.count]) : m.count]);
}

const EXPORTS: Readonly<Record<string, AttentionMethodExport>> = {
  exact,
  poly,
  rsattn: (ctx, z, m, elem) => normalized(ctx, ctx.emit('Relu', [z]), m, elem),
  scale: (ctx, z, m) => lengthScaled(ctx, z, m, false),
  'scaled-relu': (ctx, z, m) => lengthScaled(ctx, ctx.emit('Relu', [z]), m, true),
  'scaled-gelu': (ctx, z, m, elem) => lengthScaled(ctx, geluErf(ctx, z, elem), m, true),
  'scaled-relu2': (ctx, z, m) => {
    const r = ctx.emit('Relu', [z]);
    return lengthScaled(ctx, ctx.emit('Mul', [r, r]), m, true);
  },
  '2quad': (ctx, z, m, elem) => {
    const shifted = ctx.emit('Add', [z, ctx.scalar(floatAttr(ctx.attrs, 'c'), elem)]);
    return normalized(ctx, ctx.emit('Mul', [shifted, shifted]), m, elem);
  },
};

export function attentionMethodExport(name: string): AttentionMethodExport | undefined {
  return EXPORTS[name];
}
