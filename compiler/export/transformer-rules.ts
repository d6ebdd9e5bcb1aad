// Export rules of the transformer-level IR ops: each expanded into standard default-domain
// ONNX ops that compute the same function (so the optimized model runs anywhere).

import { boolAttr, floatAttr, intAttr, stringAttr } from '../../ir/op.ts';
import { Tensor } from '../../ir/tensor.ts';
import type { ElemType } from '../../ir/types.ts';
import { attentionMethodExport, type SoftmaxPieces } from './attention-methods.ts';
import { cast, geluErf, layerNorm, reduce, reshapeSym, type ExportContext, type ExportRule } from './export-rule.ts';
import { onnxInt, onnxInts } from './onnx-writer.ts';
import type { SymDim } from './dynamic-axes.ts';

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

const attentionSoftmax: ExportRule = {
  op: 'AttentionSoftmax',
  onnx:
    'per method group of heads (Slice or Gather on axis 1, Concat back in head order), each method as in compiler/export/attention-methods.ts: ' +
    'exact = Softmax(Where(keep, s, lowest)) * keep; poly = Where/ReduceMax shift, Clip, Horner Mul/Add, * keep, / ReduceSum; ' +
    'rsattn, 2quad = Relu or (s + c)^2, * keep, / (ReduceSum + eps); scale, scaled-* = s or the activation, * keep, / n or Sqrt(n)',
  export(ctx) {
    const methods = ctx.attrs['methods'] as readonly string[];
    const scoresType = ctx.inputType(0);
    const elem = scoresType.elem;
    const H = scoresType.shape[1]!;
    const keepType = ctx.inputType(1);
    const keepBool = keepType.elem === 'bool' ? ctx.input(1) : cast(ctx, ctx.input(1), 'bool');
    const keepFloat = cast(ctx, keepBool, elem);
    const anyKept = reduce(ctx, 'ReduceMax', keepFloat, [3], 1);
    // kept keys per row, 1 on rows with none (whose weights are 0 anyway): a safe divisor
    const count = ctx.emit('Add', [reduce(ctx, 'ReduceSum', keepFloat, [3], 1), ctx.emit('Sub', [ctx.scalar(1, elem), anyKept])]);
    const pieces: SoftmaxPieces = { keepBool, keepFloat, anyKept, count };
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
      const form = attentionMethodExport(method) ?? ctx.fail(`AttentionSoftmax method "${method}" has no ONNX form`);
      parts.push(form(ctx, part, pieces, elem));
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
      return m.shape.length === 2 ? reshapeSym(ctx, keep, ctx.symShape(0), ctx.symShape()) : keep;
    },
  },
  {
    op: 'SplitHeads',
    onnx: 'Transpose(Reshape(x, [B,S,H,d])) {perm=[0,2,1,3]}',
    export(ctx) {
      const [B, H, S, d] = ctx.symShape() as [SymDim, SymDim, SymDim, SymDim];
      const r = reshapeSym(ctx, ctx.input(0), ctx.symShape(0), [B, S, H, d]);
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
      const [B, H, S, d] = ctx.symShape(0) as [SymDim, SymDim, SymDim, SymDim];
      return reshapeSym(ctx, t, [B, S, H, d], ctx.symShape());
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
