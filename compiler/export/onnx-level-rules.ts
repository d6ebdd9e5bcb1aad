// Export rules of the ONNX-level IR ops: each back to its ONNX form at the chosen opset.
// The canonical static IR keeps shapes, axes and bounds as attributes; ONNX takes most of
// them as int64 inputs, which become initializers here.

import { floatAttr, intAttr, intsAttr, stringAttr } from '../../ir/op.ts';
import { isFloatType, type ElemType } from '../../ir/types.ts';
import { cast, layerNorm, reduce, reshape, reshapeSym, softmaxAlong, type ExportContext, type ExportRule } from './export-rule.ts';
import { onnxFloat, onnxInt, onnxInts } from './onnx-writer.ts';

/** Same op name, inputs passed through, no attributes. */
function same(op: string, form: string): ExportRule {
  return {
    op,
    onnx: form,
    export: (ctx) => ctx.emit(op, [...Array(ctx.inputCount).keys()].map((i) => ctx.input(i))),
  };
}

const unary = (op: string): ExportRule => same(op, `${op}(X)`);
const binary = (op: string): ExportRule => same(op, `${op}(A, B)`);
const variadic = (op: string): ExportRule => same(op, `${op}(data_0, ...)`);

function reduction(op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin'): ExportRule {
  const since = op === 'ReduceSum' ? 13 : 18;
  return {
    op,
    onnx: `${op}(data, axes: int64 initializer) from opset ${since}, axes attribute before; no axes: Identity`,
    export: (ctx) => reduce(ctx, op, ctx.input(0), intsAttr(ctx.attrs, 'axes'), intAttr(ctx.attrs, 'keepdims')),
  };
}

function softmax(op: 'Softmax' | 'LogSoftmax'): ExportRule {
  return {
    op,
    onnx: `${op}(input) {axis}; before opset 13 a non-last axis is transposed last and back`,
    export: (ctx) => softmaxAlong(ctx, op, ctx.input(0), intAttr(ctx.attrs, 'axis'), ctx.inputType(0).shape.length),
  };
}

/** a <= b as not(a > b) where LessOrEqual / GreaterOrEqual do not exist yet (opset 11). */
function orEqual(op: 'LessOrEqual' | 'GreaterOrEqual'): ExportRule {
  const opposite = op === 'LessOrEqual' ? 'Greater' : 'Less';
  return {
    op,
    onnx: `${op}(A, B) from opset 12; Not(${opposite}(A, B)) at 11`,
    export(ctx) {
      const [a, b] = [ctx.input(0), ctx.input(1)];
      if (ctx.opset >= 12) return ctx.emit(op, [a, b]);
      return ctx.emit('Not', [ctx.emit(opposite, [a, b])]);
    },
  };
}

/** A Clip bound in the input's element type (integer bounds round inwards, as the IR does). */
function clipBound(ctx: ExportContext, v: number, elem: ElemType, lower: boolean): string {
  if (!Number.isFinite(v)) return '';
  const value = isFloatType(elem) ? v : lower ? Math.ceil(v) : Math.floor(v);
  return ctx.scalar(value, elem);
}

/** A scalar input of Range: ONNX wants 0-D tensors, the IR also accepts [1]. */
function scalarInput(ctx: ExportContext, i: number): string {
  return ctx.inputType(i).shape.length === 0 ? ctx.input(i) : reshape(ctx, ctx.input(i), []);
}

export const ONNX_LEVEL_RULES: readonly ExportRule[] = [
  // element-wise
  binary('Add'),
  binary('Sub'),
  binary('Mul'),
  binary('Div'),
  same('Pow', 'Pow(X, Y)'),
  variadic('Max'),
  variadic('Min'),
  binary('Equal'),
  binary('Less'),
  binary('Greater'),
  orEqual('LessOrEqual'),
  orEqual('GreaterOrEqual'),
  binary('And'),
  binary('Or'),
  binary('Xor'),
  unary('Not'),
  {
    op: 'Where',
    onnx: 'Where(condition, X, Y); on bools Or(And(c, X), And(Not(c), Y)) (onnxruntime has no bool Where kernel)',
    export(ctx) {
      const [c, x, y] = [ctx.input(0), ctx.input(1), ctx.input(2)];
      if (ctx.node.type.elem !== 'bool') return ctx.emit('Where', [c, x, y]);
      return ctx.emit('Or', [ctx.emit('And', [c, x]), ctx.emit('And', [ctx.emit('Not', [c]), y])]);
    },
  },
  unary('Relu'),
  unary('Abs'),
  unary('Ceil'),
  unary('Erf'),
  unary('Exp'),
  unary('Floor'),
  unary('Log'),
  unary('Neg'),
  unary('Reciprocal'),
  unary('Sigmoid'),
  unary('Sqrt'),
  unary('Tanh'),
  same('Identity', 'Identity(input)'),
  {
    op: 'Cast',
    onnx: 'Cast(input) {to: the ONNX data type of `to`}',
    export: (ctx) => cast(ctx, ctx.input(0), stringAttr(ctx.attrs, 'to') as ElemType),
  },
  {
    op: 'Clip',
    onnx: "Clip(input, min?, max?) with the finite bounds as scalar initializers ('' when absent); integers at opset 11: Where(Less/Greater)",
    export(ctx) {
      const elem = ctx.inputType(0).elem;
      const lo = clipBound(ctx, floatAttr(ctx.attrs, 'min'), elem, true);
      const hi = clipBound(ctx, floatAttr(ctx.attrs, 'max'), elem, false);
      if (ctx.opset < 12 && !isFloatType(elem)) {
        // Clip-11 takes floats only: clamp integers with Where
        let y = ctx.input(0);
        if (lo !== '') y = ctx.emit('Where', [ctx.emit('Less', [y, lo]), lo, y]);
        if (hi !== '') y = ctx.emit('Where', [ctx.emit('Greater', [y, hi]), hi, y]);
        return y;
      }
      const inputs = [ctx.input(0), lo, hi];
      while (inputs[inputs.length - 1] === '') inputs.pop();
      return ctx.emit('Clip', inputs);
    },
  },
  // linear algebra
  same('MatMul', 'MatMul(A, B)'),
  {
    op: 'Gemm',
    onnx: 'Gemm(A, B, C?) {alpha, beta, transA, transB}',
    export(ctx) {
      const inputs = [...Array(ctx.inputCount).keys()].map((i) => ctx.input(i));
      return ctx.emit('Gemm', inputs, {
        alpha: onnxFloat(floatAttr(ctx.attrs, 'alpha')),
        beta: onnxFloat(floatAttr(ctx.attrs, 'beta')),
        transA: onnxInt(intAttr(ctx.attrs, 'transA')),
        transB: onnxInt(intAttr(ctx.attrs, 'transB')),
      });
    },
  },
  // shape and data movement
  {
    op: 'Reshape',
    onnx: 'Reshape(data, shape: int64 initializer) (allowzero=1 from opset 14 for 0-size dims); dynamic dims as 0 (same as the input), -1 (the one left) or Shape/Gather/Concat',
    export: (ctx) => reshapeSym(ctx, ctx.input(0), ctx.symShape(0), ctx.symInts('shape')),
  },
  {
    op: 'Transpose',
    onnx: 'Transpose(data) {perm} (perm [] is omitted: reversed axes)',
    export(ctx) {
      const perm = intsAttr(ctx.attrs, 'perm');
      return ctx.emit('Transpose', [ctx.input(0)], perm.length > 0 ? { perm: onnxInts(perm) } : {});
    },
  },
  {
    op: 'Concat',
    onnx: 'Concat(inputs...) {axis}',
    export: (ctx) => ctx.emit('Concat', [...Array(ctx.inputCount).keys()].map((i) => ctx.input(i)), { axis: onnxInt(intAttr(ctx.attrs, 'axis')) }),
  },
  {
    op: 'Slice',
    onnx: 'Slice(data, starts, ends, axes?, steps?: int64 initializers)',
    export(ctx) {
      const starts = ctx.symInts('starts');
      let axes = intsAttr(ctx.attrs, 'axes');
      const steps = intsAttr(ctx.attrs, 'steps');
      // steps need an axes input before them
      if (axes.length === 0 && steps.length > 0) axes = starts.map((_, i) => i);
      const inputs = [ctx.input(0), ctx.shapeTensor(starts, 'starts'), ctx.shapeTensor(ctx.symInts('ends'), 'ends')];
      if (axes.length > 0) inputs.push(ctx.ints(axes, 'axes'));
      if (steps.length > 0) inputs.push(ctx.ints(steps, 'steps'));
      return ctx.emit('Slice', inputs);
    },
  },
  {
    op: 'Gather',
    onnx: 'Gather(data, indices) {axis}',
    export: (ctx) => ctx.emit('Gather', [ctx.input(0), ctx.input(1)], { axis: onnxInt(intAttr(ctx.attrs, 'axis')) }),
  },
  {
    op: 'Expand',
    onnx: 'Expand(input, shape: int64 initializer)',
    export: (ctx) => ctx.emit('Expand', [ctx.input(0), ctx.shapeTensor(ctx.symInts('shape'), 'shape')]),
  },
  {
    op: 'Tile',
    onnx: 'Tile(input, repeats: int64 initializer)',
    export: (ctx) => ctx.emit('Tile', [ctx.input(0), ctx.shapeTensor(ctx.symInts('repeats'), 'repeats')]),
  },
  {
    op: 'Shape',
    onnx: 'Shape(data) {start, end} from opset 15; Shape + Slice before',
    export(ctx) {
      const rank = ctx.inputType(0).shape.length;
      const start = intAttr(ctx.attrs, 'start');
      const end = intAttr(ctx.attrs, 'end');
      const whole = start === 0 && end >= rank;
      if (whole) return ctx.emit('Shape', [ctx.input(0)]);
      if (ctx.opset >= 15) return ctx.emit('Shape', [ctx.input(0)], { start: onnxInt(start), end: onnxInt(Math.min(end, rank)) });
      const dims = ctx.emit('Shape', [ctx.input(0)]);
      return ctx.emit('Slice', [dims, ctx.ints([start], 'starts'), ctx.ints([Math.min(end, rank)], 'ends'), ctx.ints([0], 'axes')]);
    },
  },
  {
    op: 'Range',
    onnx: 'Range(start, limit, delta) (0-D inputs)',
    export: (ctx) => ctx.emit('Range', [0, 1, 2].map((i) => scalarInput(ctx, i))),
  },
  // reductions and normalization
  reduction('ReduceMean'),
  reduction('ReduceSum'),
  reduction('ReduceMax'),
  reduction('ReduceMin'),
  softmax('Softmax'),
  softmax('LogSoftmax'),
  {
    op: 'LayerNormalization',
    onnx: 'LayerNormalization(X, Scale, B?) {axis, epsilon} from opset 17; decomposed (ReduceMean, Sub, Mul, Add, Sqrt, Div) before',
    export(ctx) {
      const bias = ctx.inputCount > 2 ? ctx.input(2) : undefined;
      const x = ctx.inputType(0);
      return layerNorm(ctx, ctx.input(0), ctx.input(1), bias, intAttr(ctx.attrs, 'axis'), x.shape.length, floatAttr(ctx.attrs, 'epsilon'), x.elem);
    },
  },
];
