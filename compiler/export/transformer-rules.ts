// Export rules of the transformer-level IR ops: each expanded into standard default-domain
// ONNX ops that compute the same function (so the optimized model runs anywhere).

import { boolAttr, floatAttr, intAttr, stringAttr } from '../../ir/op.ts';
import { Tensor } from '../../ir/tensor.ts';
import type { ElemType } from '../../ir/types.ts';
import { cast, layerNorm, reduce, reshape, type ExportContext, type ExportRule } from './export-rule.ts';
import { onnxInt, onnxInts } from './onnx-writer.ts';

/** The most negative float32: an additive "minus infinity" that stays finite. */
const FLOAT32_LOWEST = -3.4028234663852886e38;

/** 0.5 x (1 + erf(x / sqrt 2)). */
function geluErf(ctx: ExportContext, x: string, elem: ElemType): string {
  const e = ctx.emit('Erf', [ctx.emit('Mul', [x, ctx.scalar(Math.SQRT1_2, elem)])]);
  return ctx.emit('Mul', [ctx.emit('Mul', [x, ctx.scalar(0.5, elem)]), ctx.emit('Add', [e, ctx.scalar(1, elem)])]);
}

/** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function geluTanh(ctx: ExportContext, x: string, elem: ElemType): string {
  const cube = ctx.emit('Mul', [ctx.emit('Mul', [x, x]), x]);
  const inner = ctx.emit('Add', [x, ctx.emit('Mul', [cube, ctx.scalar(0.044715, elem)])]);
  const t = ctx.emit('Tanh', [ctx.emit('Mul', [inner, ctx.scalar(Math.sqrt(2 / Math.PI), elem)])]);
  return ctx.emit('Mul', [ctx.emit('Mul', [x, ctx.scalar(0.5, elem)]), ctx.emit('Add', [t, ctx.scalar(1, elem)])]);
}

/** Heads [lo, hi) of a [B, H, S, S] tensor: the whole tensor when that is all of it. */
function headRange(ctx: ExportContext, x: string, positions: readonly number[], H: number): string {
  if (positions.length === H) return x;
  const contiguous = positions.every((p, i) => p === positions[0]! + i);
  if (contiguous) {
    const lo = positions[0]!;
    return ctx.emit('Slice', [x, ctx.ints([lo], 'starts'), ctx.ints([lo + positions.length], 'ends'), ctx.ints([1], 'axes')]);
  }
  return ctx.emit('Gather', [x, ctx.ints(positions, 'heads')], { axis: onnxInt(1) });
}

interface SoftmaxPieces {
  /** The keep mask as bool [B,1,1,S] (keep != 0). */
  readonly keepBool: string;
  /** The keep mask as exact 0/1 in the scores' element type. */
  readonly keepFloat: string;
  /** 1 when a batch row keeps any key, else 0: [B,1,1,1]. */
  readonly anyKept: string;
}

/** exact: Softmax over the scores with masked keys at the lowest float, times keep (a fully masked row is 0). */
function exactSoftmax(ctx: ExportContext, z: string, m: SoftmaxPieces, elem: ElemType): string {
  const masked = ctx.emit('Where', [m.keepBool, z, ctx.scalar(FLOAT32_LOWEST, elem)]);
  const p = ctx.emit('Softmax', [masked], { axis: onnxInt(3) });
  return ctx.emit('Mul', [p, m.keepFloat]);
}

/**
 * poly: z - max over kept keys (when shift), optional clamp, q(z) = sum z^k/k! by Horner,
 * times keep, divided by the row sum (plus 1 on rows with no kept key, which are 0 / 1 = 0).
 */
function polySoftmax(ctx: ExportContext, scores: string, m: SoftmaxPieces, elem: ElemType): string {
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
}

const attentionSoftmax: ExportRule = {
  op: 'AttentionSoftmax',
  onnx:
    'per method group of heads (Slice or Gather on axis 1, Concat back in head order): exact = Softmax(Where(keep, s, lowest)) * keep; ' +
    'poly = Where/ReduceMax shift, Clip, Horner Mul/Add, * keep, / ReduceSum',
  export(ctx) {
    const methods = ctx.attrs['methods'] as readonly string[];
    const scoresType = ctx.inputType(0);
    const elem = scoresType.elem;
    const H = scoresType.shape[1]!;
    const keepType = ctx.inputType(1);
    const keepBool = keepType.elem === 'bool' ? ctx.input(1) : cast(ctx, ctx.input(1), 'bool');
    const keepFloat = cast(ctx, keepBool, elem);
    const pieces: SoftmaxPieces = { keepBool, keepFloat, anyKept: reduce(ctx, 'ReduceMax', keepFloat, [3], 1) };
    const groups = new Map<string, number[]>();
    methods.forEach((method, h) => {
      let g = groups.get(method);
      if (g === undefined) groups.set(method, (g = []));
      g.push(h);
    });
    const parts: string[] = [];
    const order: number[] = [];
    for (const [method, positions] of groups) {
      const part = headRange(ctx, ctx.input(0), positions, H);
      if (method === 'exact') parts.push(exactSoftmax(ctx, part, pieces, elem));
      else if (method === 'poly') parts.push(polySoftmax(ctx, part, pieces, elem));
      else ctx.fail(`AttentionSoftmax method "${method}" has no ONNX form`);
      order.push(...positions);
    }
    if (parts.length === 1) return parts[0]!;
    const joined = ctx.emit('Concat', parts, { axis: onnxInt(1) });
    if (order.every((h, i) => h === i)) return joined;
    // joined head i is original position order[i]: gather position p from where it went
    const inverse = new Array<number>(order.length);
    order.forEach((p, i) => (inverse[p] = i));
    return ctx.emit('Gather', [joined, ctx.ints(inverse, 'head_order')], { axis: onnxInt(1) });
  },
};

export const TRANSFORMER_RULES: readonly ExportRule[] = [
  {
    op: 'LayerNorm',
    onnx: 'LayerNormalization(x, gamma, beta) {axis=-1, epsilon} from opset 17; ReduceMean/Sub/Mul/ReduceMean/Add/Sqrt/Div/Mul/Add before',
    export(ctx) {
      const x = ctx.inputType(0);
      return layerNorm(ctx, ctx.input(0), ctx.input(1), ctx.input(2), -1, x.shape.length, floatAttr(ctx.attrs, 'epsilon'), x.elem);
    },
  },
  {
    op: 'Gelu',
    onnx: 'none: Mul(Mul(x, 0.5), Add(Erf(Mul(x, 1/sqrt 2)), 1)); tanh: the same with Tanh of the cubic',
    export(ctx) {
      const elem = ctx.inputType(0).elem;
      return stringAttr(ctx.attrs, 'approximate') === 'tanh' ? geluTanh(ctx, ctx.input(0), elem) : geluErf(ctx, ctx.input(0), elem);
    },
  },
  {
    op: 'GeluMix',
    onnx: 'Add(Mul(gelu(x), lambda), Mul(Relu(x), 1 - lambda)); lambda 1: gelu only, 0: Relu only',
    export(ctx) {
      const elem = ctx.inputType(0).elem;
      const lambda = floatAttr(ctx.attrs, 'lambda');
      const x = ctx.input(0);
      if (lambda === 1) return geluErf(ctx, x, elem);
      if (lambda === 0) return ctx.emit('Relu', [x]);
      const g = ctx.emit('Mul', [geluErf(ctx, x, elem), ctx.scalar(lambda, elem)]);
      const r = ctx.emit('Mul', [ctx.emit('Relu', [x]), ctx.scalar(1 - lambda, elem)]);
      return ctx.emit('Add', [g, r]);
    },
  },
  {
    op: 'Linear',
    onnx: 'Add(MatMul(x, W), b) (MatMul alone without b)',
    export(ctx) {
      const y = ctx.emit('MatMul', [ctx.input(0), ctx.input(1)]);
      return ctx.inputCount > 2 ? ctx.emit('Add', [y, ctx.input(2)]) : y;
    },
  },
  {
    op: 'Embedding',
    onnx: 'Gather(table, ids) {axis=0}',
    export: (ctx) => ctx.emit('Gather', [ctx.input(0), ctx.input(1)], { axis: onnxInt(0) }),
  },
  {
    op: 'AttentionMask',
    onnx: 'Cast(Cast(mask, BOOL), FLOAT) (mask != 0 as 0/1), Reshape to [B,1,1,S] from [B,S]',
    export(ctx) {
      const m = ctx.inputType(0);
      const asBool = m.elem === 'bool' ? ctx.input(0) : cast(ctx, ctx.input(0), 'bool');
      const keep = cast(ctx, asBool, ctx.node.type.elem);
      return m.shape.length === 2 ? reshape(ctx, keep, ctx.node.type.shape) : keep;
    },
  },
  {
    op: 'SplitHeads',
    onnx: 'Transpose(Reshape(x, [B,S,H,d])) {perm=[0,2,1,3]}',
    export(ctx) {
      const [B, H, S, d] = ctx.node.type.shape as [number, number, number, number];
      const r = reshape(ctx, ctx.input(0), [B, S, H, d]);
      return ctx.emit('Transpose', [r], { perm: onnxInts([0, 2, 1, 3]) });
    },
  },
  {
    op: 'AttentionScores',
    onnx: 'Mul(MatMul(q, Transpose(k) {perm=[0,1,3,2]}), scale) (no Mul when scale is 1)',
    export(ctx) {
      const kt = ctx.emit('Transpose', [ctx.input(1)], { perm: onnxInts([0, 1, 3, 2]) });
      const s = ctx.emit('MatMul', [ctx.input(0), kt]);
      const scale = floatAttr(ctx.attrs, 'scale');
      return scale === 1 ? s : ctx.emit('Mul', [s, ctx.scalar(scale, ctx.node.type.elem)]);
    },
  },
  attentionSoftmax,
  {
    op: 'AttentionContext',
    onnx: 'MatMul(probs, v)',
    export: (ctx) => ctx.emit('MatMul', [ctx.input(0), ctx.input(1)]),
  },
  {
    op: 'MergeHeads',
    onnx: 'Reshape(Transpose(x) {perm=[0,2,1,3]}, [B,S,H*d])',
    export(ctx) {
      const t = ctx.emit('Transpose', [ctx.input(0)], { perm: onnxInts([0, 2, 1, 3]) });
      return reshape(ctx, t, ctx.node.type.shape);
    },
  },
  {
    op: 'Pooler',
    onnx: 'Tanh(Add(MatMul(Gather(x, 0) {axis=1}, W), b))',
    export(ctx) {
      const first = ctx.emit('Gather', [ctx.input(0), ctx.constant(Tensor.scalar('i64', 0), 'first_token')], { axis: onnxInt(1) });
      const y = ctx.emit('Add', [ctx.emit('MatMul', [first, ctx.input(1)]), ctx.input(2)]);
      return ctx.emit('Tanh', [y]);
    },
  },
];
