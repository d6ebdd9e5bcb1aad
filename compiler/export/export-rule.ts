// What an export rule sees and may do: the IR node, the ONNX names of its inputs, and an
// emitter of default-domain ONNX nodes and initializers. Plus the opset-dependent helpers
// several rules share (reductions, casts, softmax over one axis).

import type { Attrs, Node } from '../../ir/node.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { ElemType, ValueType } from '../../ir/types.ts';
import { isStatic, sameDim, type SymDim } from './dynamic-axes.ts';
import { onnxInt, onnxInts, type OnnxAttrs } from './onnx-writer.ts';
import { onnxFromElem } from '../frontend/tensor-proto.ts';

export interface ExportContext {
  readonly node: Node;
  readonly attrs: Attrs;
  /** Default-domain opset the model is written for. */
  readonly opset: number;
  /** Number of IR inputs of the node. */
  readonly inputCount: number;
  /** ONNX tensor name of IR input i. */
  input(i: number): string;
  inputType(i: number): ValueType;
  /** A new ONNX node with one output; returns the output's tensor name. */
  emit(opType: string, inputs: readonly string[], attrs?: OnnxAttrs): string;
  /** A 1-D int64 initializer (shapes, axes, Slice bounds); `label` names it after the node. */
  ints(values: readonly number[], label: string): string;
  /** A shared 0-D initializer of element type `elem`. */
  scalar(value: number, elem: ElemType): string;
  /** An initializer holding `t`. */
  constant(t: Tensor, label: string): string;
  /** Throws Ig3dcError('unsupported') naming the node. */
  fail(message: string): never;
  /**
   * The node's output shape (`input` undefined) or IR input `input`'s shape in the dynamic
   * dimensions the export keeps (all static when it keeps none).
   */
  symShape(input?: number): readonly SymDim[];
  /** An integer (list) attribute in the dynamic dimensions; reading it this way declares the rule writes it shape-computed. */
  symInts(name: string): readonly SymDim[];
  /** A 1-D int64 tensor holding `dims`: an initializer when static, else computed from the inputs' Shape. */
  shapeTensor(dims: readonly SymDim[], label: string): string;
}

/** One entry of the export table: an IR op and how it becomes standard ONNX nodes. */
export interface ExportRule {
  readonly op: string;
  /** The ONNX form, one line, for docs and `ig3dc ops` (e.g. "Reshape(data, shape: int64 initializer)"). */
  readonly onnx: string;
  /** Emits the nodes; returns the tensor name holding the node's value. */
  export(ctx: ExportContext): string;
  /**
   * The rule writes shapes as constants (it reads the static IR shapes), so a node of it
   * whose shapes depend on a dynamic dimension keeps that dimension static.
   */
  readonly staticShapes?: boolean;
}

/** ONNX TensorProto.DataType of an element type, or an 'unsupported' error naming the node. */
export function onnxType(ctx: ExportContext, elem: ElemType): number {
  const code = onnxFromElem(elem);
  if (code === undefined) ctx.fail(`values of type ${elem} cannot be exported to ONNX (fixed-point ring elements have no ONNX type; export before lowering)`);
  return code;
}

export function cast(ctx: ExportContext, x: string, to: ElemType): string {
  return ctx.emit('Cast', [x], { to: onnxInt(onnxType(ctx, to)) });
}

/**
 * A reduction over explicit axes: axes as an attribute before the op took them as an input
 * (ReduceSum at 13, the others at 18), as an int64 input from then on. No axes: Identity
 * (an empty ONNX axes list would mean "all axes").
 */
export function reduce(ctx: ExportContext, op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax' | 'ReduceMin', x: string, axes: readonly number[], keepdims: number): string {
  if (axes.length === 0) return ctx.emit('Identity', [x]);
  const inputSince = op === 'ReduceSum' ? 13 : 18;
  const keep = onnxInt(keepdims !== 0 ? 1 : 0);
  if (ctx.opset >= inputSince) return ctx.emit(op, [x, ctx.ints(axes, 'axes')], { keepdims: keep });
  return ctx.emit(op, [x], { axes: onnxInts(axes), keepdims: keep });
}

/**
 * Softmax or LogSoftmax along one axis. From opset 13 that is the op; before, the op
 * normalizes over all axes from `axis` on, so a non-last axis is moved last and back.
 */
export function softmaxAlong(ctx: ExportContext, op: 'Softmax' | 'LogSoftmax', x: string, axis: number, rank: number): string {
  const a = axis < 0 ? axis + rank : axis;
  if (ctx.opset >= 13 || a === rank - 1) return ctx.emit(op, [x], { axis: onnxInt(a) });
  const perm = [...Array(rank).keys()];
  perm[a] = rank - 1;
  perm[rank - 1] = a;
  const t = ctx.emit('Transpose', [x], { perm: onnxInts(perm) });
  const s = ctx.emit(op, [t], { axis: onnxInt(rank - 1) });
  return ctx.emit('Transpose', [s], { perm: onnxInts(perm) });
}

/** Reshape to a static shape (allowzero from opset 14 when a dimension is 0). */
export function reshape(ctx: ExportContext, x: string, shape: readonly number[]): string {
  const attrs: OnnxAttrs = ctx.opset >= 14 && shape.includes(0) ? { allowzero: onnxInt(1) } : {};
  return ctx.emit('Reshape', [x, ctx.ints(shape, 'shape')], attrs);
}

/**
 * Reshape of `x` (shape `from`) to `to`, in the dynamic dimensions: a static target as an
 * initializer; else 0 where a dimension is the input's at the same axis, -1 for the one
 * dimension left, or a target computed from the inputs' Shape when more are left.
 */
export function reshapeSym(ctx: ExportContext, x: string, from: readonly SymDim[], to: readonly SymDim[]): string {
  if (to.every(isStatic)) return reshape(ctx, x, to.map((d) => d.c));
  const spec: number[] = [];
  let open = 0;
  let computed = false;
  to.forEach((d, i) => {
    if (isStatic(d)) {
      spec.push(d.c);
      if (d.c === 0) computed = true;
    } else if (i < from.length && sameDim(d, from[i]!)) spec.push(0);
    else {
      spec.push(-1);
      open++;
    }
  });
  if (!computed && open <= 1) return ctx.emit('Reshape', [x, ctx.ints(spec, 'shape')]);
  const attrs: OnnxAttrs = ctx.opset >= 14 && to.some((d) => isStatic(d) && d.c === 0) ? { allowzero: onnxInt(1) } : {};
  return ctx.emit('Reshape', [x, ctx.shapeTensor(to, 'shape')], attrs);
}

/**
 * Layer normalization over axes [axis, rank): LayerNormalization from opset 17, else
 * ReduceMean / Sub / Mul / ReduceMean / Add / Sqrt / Div / Mul / Add.
 */
export function layerNorm(ctx: ExportContext, x: string, scale: string, bias: string | undefined, axis: number, rank: number, epsilon: number, elem: ElemType): string {
  const a = axis < 0 ? axis + rank : axis;
  if (ctx.opset >= 17) {
    const inputs = bias !== undefined ? [x, scale, bias] : [x, scale];
    return ctx.emit('LayerNormalization', inputs, { axis: onnxInt(a), epsilon: { kind: 'float', value: epsilon } });
  }
  const axes = [...Array(rank - a).keys()].map((i) => a + i);
  const mean = reduce(ctx, 'ReduceMean', x, axes, 1);
  const d = ctx.emit('Sub', [x, mean]);
  const variance = reduce(ctx, 'ReduceMean', ctx.emit('Mul', [d, d]), axes, 1);
  const std = ctx.emit('Sqrt', [ctx.emit('Add', [variance, ctx.scalar(epsilon, elem)])]);
  const y = ctx.emit('Mul', [ctx.emit('Div', [d, std]), scale]);
  return bias !== undefined ? ctx.emit('Add', [y, bias]) : y;
}

/** 0.5 x (1 + erf(x / sqrt 2)). */
export function geluErf(ctx: ExportContext, x: string, elem: ElemType): string {
  const e = ctx.emit('Erf', [ctx.emit('Mul', [x, ctx.scalar(Math.SQRT1_2, elem)])]);
  return ctx.emit('Mul', [ctx.emit('Mul', [x, ctx.scalar(0.5, elem)]), ctx.emit('Add', [e, ctx.scalar(1, elem)])]);
}
