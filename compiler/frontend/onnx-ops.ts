// The ONNX operators we import, as data: name, opset range, inputs, attributes with
// defaults, and a rule mapping the node to IR. One table drives validation, the list of
// supported operators (CLI, README) and the unsupported-operator error.
//
// Import rules produce the canonical static IR of ir/ops: everything a shape depends on
// (Reshape targets, axes, Slice bounds, Expand shapes) becomes an attribute, read from
// inputs that are constants after folding; negative axes are normalized; Unsqueeze,
// Squeeze and Flatten become Reshape; Constant, ConstantOfShape and Shape become constants.

import type { Node } from '../../ir/node.ts';
import { constValue } from '../../ir/node.ts';
import { Tensor, allocStorage } from '../../ir/tensor.ts';
import { rangeLength } from '../../ir/ops/range.ts';
import { numel, type ElemType } from '../../ir/types.ts';
import type { ImportContext } from './context.ts';
import { OPSET_RANGE } from './decode.ts';
import { elemFromOnnx, onnxDtypeName, SUPPORTED_ONNX_DTYPES } from './tensor-proto.ts';
import { visionOps } from './vision-ops.ts';

export interface OnnxInputSpec {
  readonly name: string;
  readonly optional?: boolean;
  /** Takes the rest of the inputs (at least one unless optional). */
  readonly variadic?: boolean;
}

export type OnnxAttrKind = 'int' | 'float' | 'string' | 'tensor' | 'ints' | 'floats';

export interface OnnxAttrSpec {
  readonly name: string;
  readonly kind: OnnxAttrKind;
  /** Absent: required or meaningful only when given. */
  readonly default?: number | string | readonly number[];
  /** Opsets where the attribute exists (defaults to the op's range). */
  readonly opsets?: readonly [number, number];
}

export interface OnnxOpSpec {
  readonly name: string;
  /** Inclusive range of default-domain opset versions the import rule handles. */
  readonly opsets: readonly [number, number];
  /** Inputs; `opsets` on a rule with version-dependent inputs is handled inside `import`. */
  readonly inputs: readonly OnnxInputSpec[];
  /** How many leading outputs the import can produce; further outputs must be unused. */
  readonly outputs: number;
  readonly attrs: readonly OnnxAttrSpec[];
  /**
   * Maps the node to IR: the node of output 0, or one entry per output (undefined for
   * outputs that are not requested, i.e. have an empty name).
   */
  import(ctx: ImportContext): Node | readonly (Node | undefined)[];
}

const [MIN_OPSET, MAX_OPSET] = OPSET_RANGE;
const ALL: readonly [number, number] = [MIN_OPSET, MAX_OPSET];

// ---- helpers ----------------------------------------------------------------------------

function normAxis(ctx: ImportContext, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    ctx.fail('shape', `${ctx.opType} ${what} ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

function normAxes(ctx: ImportContext, axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => normAxis(ctx, a, rank, 'axis'));
  if (new Set(out).size !== out.length) ctx.fail('shape', `${ctx.opType} axes [${axes.join(',')}] repeat an axis`);
  return out;
}

function reshape(ctx: ImportContext, x: Node, shape: readonly number[]): Node {
  return ctx.build('Reshape', [x], { shape: [...shape] });
}

function shapeOf(x: Node): readonly number[] {
  return x.type.shape;
}

/** Element-wise op with a fixed number of inputs and no attributes. */
function simple(name: string, inputNames: readonly string[], opsets: readonly [number, number] = ALL): OnnxOpSpec {
  return {
    name,
    opsets,
    inputs: inputNames.map((n) => ({ name: n })),
    outputs: 1,
    attrs: [],
    import: (ctx) => ctx.build(name, inputNames.map((_, i) => ctx.input(i))),
  };
}

function variadic(name: string): OnnxOpSpec {
  return {
    name,
    opsets: ALL,
    inputs: [{ name: 'data_0', variadic: true }],
    outputs: 1,
    attrs: [],
    import: (ctx) => ctx.build(name, presentInputs(ctx)),
  };
}

function presentInputs(ctx: ImportContext): Node[] {
  return ctx.inputs.map((n, i) => n ?? ctx.input(i));
}

function scalarOf(ctx: ImportContext, t: Tensor, what: string): number {
  if (t.size !== 1) ctx.fail('shape', `${ctx.opType} ${what} must be a scalar, got shape [${t.shape.join(',')}]`);
  return t.at(0);
}

/** The axes of a reduction: from the attribute (older opsets) or the second input. */
function reduceAxes(ctx: ImportContext, axesInputSince: number): number[] | undefined {
  if (ctx.opset >= axesInputSince) {
    if (ctx.attrs.has('axes')) ctx.fail('decode', `${ctx.opType}-${axesInputSince}+ takes axes as an input, not an attribute`);
    return ctx.constInts(1, 'axes');
  }
  if (ctx.inputs.length > 1) ctx.fail('decode', `${ctx.opType} before opset ${axesInputSince} takes axes as an attribute, not an input`);
  return ctx.attrs.ints('axes');
}

function reduce(name: string, axesInputSince: number): OnnxOpSpec {
  return {
    name,
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'axes', optional: true }],
    outputs: 1,
    attrs: [
      { name: 'axes', kind: 'ints', opsets: [MIN_OPSET, axesInputSince - 1] },
      { name: 'keepdims', kind: 'int', default: 1 },
      { name: 'noop_with_empty_axes', kind: 'int', default: 0, opsets: [axesInputSince, MAX_OPSET] },
    ],
    import(ctx) {
      const x = ctx.input(0);
      const rank = shapeOf(x).length;
      const given = reduceAxes(ctx, axesInputSince);
      const keepdims = ctx.attrs.int('keepdims', 1);
      let axes: number[];
      if (given === undefined || given.length === 0) {
        // no axes: reduce everything, unless told that empty axes mean "do nothing"
        if (ctx.attrs.int('noop_with_empty_axes', 0) !== 0) return ctx.build('Identity', [x]);
        axes = [...Array(rank).keys()];
      } else {
        axes = normAxes(ctx, given, rank);
      }
      return ctx.build(name, [x], { axes, keepdims: keepdims !== 0 ? 1 : 0 });
    },
  };
}

/** Softmax / LogSoftmax: opset 13 normalizes along one axis; before 13 over the input coerced to 2-D at `axis`. */
function softmax(name: string): OnnxOpSpec {
  return {
    name,
    opsets: ALL,
    inputs: [{ name: 'input' }],
    outputs: 1,
    attrs: [{ name: 'axis', kind: 'int', default: -1 }],
    import(ctx) {
      const x = ctx.input(0);
      const shape = shapeOf(x);
      const rank = shape.length;
      if (ctx.opset >= 13) return ctx.build(name, [x], { axis: normAxis(ctx, ctx.attrs.int('axis', -1), rank) });
      const axis = ctx.attrs.int('axis', 1);
      const a = axis < 0 ? axis + rank : axis;
      if (a < 0 || a > rank) ctx.fail('shape', `${name} axis ${axis} is out of range for rank ${rank}`);
      if (a === rank - 1) return ctx.build(name, [x], { axis: a });
      // flatten-to-2D semantics: [prod(d < axis), prod(d >= axis)], normalize along axis 1
      const flat = reshape(ctx, x, [numel(shape.slice(0, a)), numel(shape.slice(a))]);
      return reshape(ctx, ctx.build(name, [flat], { axis: 1 }), shape);
    },
  };
}

/**
 * An Identity whose input is a constant is that constant (same data) under the output's
 * name: exporters dedupe equal weights into one initializer and re-name it with Identity,
 * and the re-named parameter is the one later passes look for.
 */
function identityOf(ctx: ImportContext, x: Node): Node {
  const data = constValue(x);
  if (data !== undefined) return ctx.constant(data, x.type.vis, ctx.outputs[0] || ctx.name);
  return ctx.build('Identity', [x]);
}

function castTarget(ctx: ImportContext, code: number): ElemType {
  const elem = elemFromOnnx(code);
  if (elem === undefined) ctx.fail('unsupported', `Cast to ${onnxDtypeName(code)} is not supported (supported: ${SUPPORTED_ONNX_DTYPES})`);
  return elem;
}

function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

// ---- the table --------------------------------------------------------------------------

const OPS: readonly OnnxOpSpec[] = [
  simple('Add', ['A', 'B']),
  simple('Sub', ['A', 'B']),
  simple('Mul', ['A', 'B']),
  simple('Div', ['A', 'B']),
  simple('Pow', ['X', 'Y']),
  variadic('Max'),
  variadic('Min'),
  simple('Equal', ['A', 'B']),
  simple('Less', ['A', 'B']),
  simple('Greater', ['A', 'B']),
  simple('LessOrEqual', ['A', 'B'], [12, MAX_OPSET]),
  simple('GreaterOrEqual', ['A', 'B'], [12, MAX_OPSET]),
  simple('And', ['A', 'B']),
  simple('Or', ['A', 'B']),
  simple('Xor', ['A', 'B']),
  simple('Not', ['X']),
  simple('Where', ['condition', 'X', 'Y']),
  simple('Neg', ['X']),
  simple('Abs', ['X']),
  simple('Sqrt', ['X']),
  simple('Exp', ['input']),
  simple('Log', ['input']),
  simple('Erf', ['input']),
  simple('Tanh', ['input']),
  simple('Sigmoid', ['X']),
  simple('Relu', ['X']),
  simple('Reciprocal', ['X']),
  simple('Floor', ['X']),
  simple('Ceil', ['X']),
  simple('MatMul', ['A', 'B']),
  {
    name: 'Identity',
    opsets: ALL,
    inputs: [{ name: 'input' }],
    outputs: 1,
    attrs: [],
    import: (ctx) => identityOf(ctx, ctx.input(0)),
  },
  {
    // inference: dropout is the identity; the mask output is not supported
    name: 'Dropout',
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'ratio', optional: true }, { name: 'training_mode', optional: true }],
    outputs: 1,
    attrs: [
      { name: 'seed', kind: 'int' },
      { name: 'ratio', kind: 'float', opsets: [MIN_OPSET, 11] },
    ],
    import(ctx) {
      const mode = ctx.inputs[2] !== undefined ? ctx.constInput(2, 'training_mode') : undefined;
      if (mode !== undefined && mode.size > 0 && mode.at(0) !== 0) ctx.fail('unsupported', 'Dropout in training mode is not supported (export the model in eval mode)');
      return identityOf(ctx, ctx.input(0));
    },
  },
  {
    name: 'Cast',
    opsets: ALL,
    inputs: [{ name: 'input' }],
    outputs: 1,
    attrs: [{ name: 'to', kind: 'int' }],
    import(ctx) {
      const to = ctx.attrs.int('to') ?? ctx.fail('decode', "Cast has no 'to' attribute");
      return ctx.build('Cast', [ctx.input(0)], { to: castTarget(ctx, to) });
    },
  },
  {
    name: 'CastLike',
    opsets: [15, MAX_OPSET],
    inputs: [{ name: 'input' }, { name: 'target_type' }],
    outputs: 1,
    attrs: [],
    import: (ctx) => ctx.build('Cast', [ctx.input(0)], { to: ctx.input(1).type.elem }),
  },
  {
    name: 'Clip',
    opsets: ALL,
    inputs: [{ name: 'input' }, { name: 'min', optional: true }, { name: 'max', optional: true }],
    outputs: 1,
    attrs: [],
    import(ctx) {
      const attrs: Record<string, number> = {};
      const min = ctx.constInput(1, 'min');
      const max = ctx.constInput(2, 'max');
      if (min !== undefined) attrs.min = scalarOf(ctx, min, 'min');
      if (max !== undefined) attrs.max = scalarOf(ctx, max, 'max');
      return ctx.build('Clip', [ctx.input(0)], attrs);
    },
  },
  {
    name: 'Gemm',
    opsets: ALL,
    inputs: [{ name: 'A' }, { name: 'B' }, { name: 'C', optional: true }],
    outputs: 1,
    attrs: [
      { name: 'alpha', kind: 'float', default: 1 },
      { name: 'beta', kind: 'float', default: 1 },
      { name: 'transA', kind: 'int', default: 0 },
      { name: 'transB', kind: 'int', default: 0 },
    ],
    import(ctx) {
      const inputs = [ctx.input(0), ctx.input(1)];
      if (ctx.inputs[2] !== undefined) inputs.push(ctx.inputs[2]);
      return ctx.build('Gemm', inputs, {
        alpha: ctx.attrs.float('alpha', 1),
        beta: ctx.attrs.float('beta', 1),
        transA: ctx.attrs.int('transA', 0) !== 0 ? 1 : 0,
        transB: ctx.attrs.int('transB', 0) !== 0 ? 1 : 0,
      });
    },
  },
  {
    name: 'Constant',
    opsets: ALL,
    inputs: [],
    outputs: 1,
    attrs: [
      { name: 'value', kind: 'tensor' },
      { name: 'value_float', kind: 'float' },
      { name: 'value_floats', kind: 'floats' },
      { name: 'value_int', kind: 'int' },
      { name: 'value_ints', kind: 'ints' },
    ],
    import(ctx) {
      const given = ctx.attrs.names();
      if (given.length !== 1) ctx.fail('decode', `Constant must have exactly one value attribute, got ${given.length ? given.join(', ') : 'none'}`);
      const which = given[0]!;
      switch (which) {
        case 'value':
          return ctx.constant(ctx.attrs.tensor('value')!);
        case 'value_float':
          return ctx.constant(Tensor.scalar('f32', ctx.attrs.float('value_float', 0)));
        case 'value_floats': {
          const v = ctx.attrs.floats('value_floats')!;
          return ctx.constant(Tensor.from('f32', [v.length], v));
        }
        case 'value_int':
          return ctx.constant(Tensor.scalar('i64', ctx.attrs.int('value_int', 0)));
        case 'value_ints': {
          const v = ctx.attrs.ints('value_ints')!;
          return ctx.constant(Tensor.from('i64', [v.length], v));
        }
        default:
          return ctx.fail('unsupported', `Constant with attribute '${which}' is not supported (only numeric tensors)`);
      }
    },
  },
  {
    name: 'ConstantOfShape',
    opsets: ALL,
    inputs: [{ name: 'input' }],
    outputs: 1,
    attrs: [{ name: 'value', kind: 'tensor' }],
    import(ctx) {
      const shape = ctx.constInts(0, 'shape')!;
      if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) ctx.fail('shape', `ConstantOfShape shape [${shape.join(',')}] has a negative or huge dimension`);
      const value = ctx.attrs.tensor('value') ?? Tensor.scalar('f32', 0);
      if (value.size !== 1) ctx.fail('shape', `ConstantOfShape value must have one element, got ${value.size}`);
      const n = numel(shape);
      const data = allocStorage(value.dtype, n);
      (data as unknown as { fill(v: number | bigint): void }).fill(value.data[0]!);
      return ctx.constant(new Tensor(value.dtype, shape, data));
    },
  },
  {
    // shapes are static: Shape is a public constant computed from the input's type
    name: 'Shape',
    opsets: ALL,
    inputs: [{ name: 'data' }],
    outputs: 1,
    attrs: [
      { name: 'start', kind: 'int', default: 0, opsets: [15, MAX_OPSET] },
      { name: 'end', kind: 'int', opsets: [15, MAX_OPSET] },
    ],
    import(ctx) {
      const shape = shapeOf(ctx.input(0));
      const r = shape.length;
      const bound = (v: number): number => clampInt(v < 0 ? v + r : v, 0, r);
      const start = bound(ctx.attrs.int('start', 0));
      const end = bound(ctx.attrs.int('end', r));
      const dims = shape.slice(start, Math.max(start, end));
      return ctx.constant(Tensor.from('i64', [dims.length], dims));
    },
  },
  {
    name: 'Size',
    opsets: ALL,
    inputs: [{ name: 'data' }],
    outputs: 1,
    attrs: [],
    import: (ctx) => ctx.constant(Tensor.scalar('i64', numel(shapeOf(ctx.input(0))))),
  },
  {
    name: 'Reshape',
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'shape' }],
    outputs: 1,
    attrs: [{ name: 'allowzero', kind: 'int', default: 0, opsets: [14, MAX_OPSET] }],
    import(ctx) {
      const x = ctx.input(0);
      const target = ctx.constInts(1, 'target shape')!;
      const allowzero = ctx.opset >= 14 && ctx.attrs.int('allowzero', 0) !== 0;
      const inShape = shapeOf(x);
      const out = target.map((d, i) => {
        if (d === 0 && !allowzero) {
          if (i >= inShape.length) ctx.fail('shape', `Reshape target [${target.join(',')}] copies dimension ${i} (0) from an input of rank ${inShape.length}`);
          return inShape[i]!;
        }
        return d;
      });
      const minus = out.flatMap((d, i) => (d === -1 ? [i] : []));
      if (minus.length > 1 || out.some((d) => d < -1 || !Number.isSafeInteger(d))) ctx.fail('shape', `Reshape target [${target.join(',')}] is invalid`);
      const total = numel(inShape);
      if (minus.length === 1) {
        const known = numel(out.filter((d) => d !== -1));
        if (known === 0 || total % known !== 0) {
          ctx.fail('shape', `Reshape cannot infer the -1 in [${target.join(',')}] for an input of shape [${inShape.join(',')}]`);
        }
        out[minus[0]!] = total / known;
      }
      if (numel(out) !== total) ctx.fail('shape', `Reshape from [${inShape.join(',')}] to [${out.join(',')}] changes the number of elements`);
      return reshape(ctx, x, out);
    },
  },
  {
    name: 'Flatten',
    opsets: ALL,
    inputs: [{ name: 'input' }],
    outputs: 1,
    attrs: [{ name: 'axis', kind: 'int', default: 1 }],
    import(ctx) {
      const x = ctx.input(0);
      const shape = shapeOf(x);
      const axis = ctx.attrs.int('axis', 1);
      const a = axis < 0 ? axis + shape.length : axis;
      if (a < 0 || a > shape.length) ctx.fail('shape', `Flatten axis ${axis} is out of range for rank ${shape.length}`);
      return reshape(ctx, x, [numel(shape.slice(0, a)), numel(shape.slice(a))]);
    },
  },
  {
    name: 'Unsqueeze',
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'axes', optional: true }],
    outputs: 1,
    attrs: [{ name: 'axes', kind: 'ints', opsets: [MIN_OPSET, 12] }],
    import(ctx) {
      const x = ctx.input(0);
      const axes = (ctx.opset >= 13 ? ctx.constInts(1, 'axes') : ctx.attrs.ints('axes')) ?? ctx.fail('decode', 'Unsqueeze needs axes');
      const shape = shapeOf(x);
      const rank = shape.length + axes.length;
      const norm = new Set(normAxes(ctx, axes, rank));
      const out: number[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(norm.has(i) ? 1 : shape[k++]!);
      return reshape(ctx, x, out);
    },
  },
  {
    name: 'Squeeze',
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'axes', optional: true }],
    outputs: 1,
    attrs: [{ name: 'axes', kind: 'ints', opsets: [MIN_OPSET, 12] }],
    import(ctx) {
      const x = ctx.input(0);
      const shape = shapeOf(x);
      const axes = ctx.opset >= 13 ? ctx.constInts(1, 'axes') : ctx.attrs.ints('axes');
      let drop: Set<number>;
      if (axes === undefined || axes.length === 0) {
        drop = new Set(shape.flatMap((d, i) => (d === 1 ? [i] : [])));
      } else {
        drop = new Set(normAxes(ctx, axes, shape.length));
        for (const a of drop) if (shape[a] !== 1) ctx.fail('shape', `Squeeze axis ${a} has size ${shape[a]}, not 1 (input shape [${shape.join(',')}])`);
      }
      return reshape(ctx, x, shape.filter((_, i) => !drop.has(i)));
    },
  },
  {
    name: 'Transpose',
    opsets: ALL,
    inputs: [{ name: 'data' }],
    outputs: 1,
    attrs: [{ name: 'perm', kind: 'ints' }],
    import(ctx) {
      const x = ctx.input(0);
      const rank = shapeOf(x).length;
      const perm = ctx.attrs.ints('perm') ?? [...Array(rank).keys()].reverse();
      return ctx.build('Transpose', [x], { perm });
    },
  },
  {
    name: 'Concat',
    opsets: ALL,
    inputs: [{ name: 'inputs', variadic: true }],
    outputs: 1,
    attrs: [{ name: 'axis', kind: 'int' }],
    import(ctx) {
      const xs = presentInputs(ctx);
      const axis = ctx.attrs.int('axis') ?? ctx.fail('decode', "Concat has no 'axis' attribute");
      return ctx.build('Concat', xs, { axis: normAxis(ctx, axis, shapeOf(xs[0]!).length) });
    },
  },
  {
    name: 'Gather',
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'indices' }],
    outputs: 1,
    attrs: [{ name: 'axis', kind: 'int', default: 0 }],
    import(ctx) {
      const x = ctx.input(0);
      return ctx.build('Gather', [x, ctx.input(1)], { axis: normAxis(ctx, ctx.attrs.int('axis', 0), shapeOf(x).length) });
    },
  },
  {
    name: 'Slice',
    opsets: ALL,
    inputs: [{ name: 'data' }, { name: 'starts' }, { name: 'ends' }, { name: 'axes', optional: true }, { name: 'steps', optional: true }],
    outputs: 1,
    attrs: [],
    import(ctx) {
      const x = ctx.input(0);
      const shape = shapeOf(x);
      const starts = ctx.constInts(1, 'starts')!;
      const ends = ctx.constInts(2, 'ends')!;
      const axesIn = ctx.constInts(3, 'axes') ?? starts.map((_, i) => i);
      const steps = ctx.constInts(4, 'steps') ?? starts.map(() => 1);
      if (ends.length !== starts.length || axesIn.length !== starts.length || steps.length !== starts.length) {
        ctx.fail('shape', `Slice starts, ends, axes and steps must have the same length (${starts.length}, ${ends.length}, ${axesIn.length}, ${steps.length})`);
      }
      const axes = normAxes(ctx, axesIn, shape.length);
      const s: number[] = [];
      const e: number[] = [];
      axes.forEach((axis, i) => {
        const dim = shape[axis]!;
        const step = steps[i]!;
        if (step === 0) ctx.fail('shape', 'Slice step cannot be 0');
        let start = starts[i]!;
        let end = ends[i]!;
        if (start < 0) start += dim;
        if (end < 0) end += dim;
        if (step > 0) {
          s.push(clampInt(start, 0, dim));
          e.push(clampInt(end, 0, dim));
        } else {
          s.push(clampInt(start, 0, dim - 1));
          // "through index 0" is -1 after clamping; written as -dim-1 so it means the same
          // whether or not negative ends are normalized again
          const c = clampInt(end, -1, dim - 1);
          e.push(c === -1 ? -dim - 1 : c);
        }
      });
      return ctx.build('Slice', [x], { starts: s, ends: e, axes, steps: [...steps] });
    },
  },
  {
    name: 'Expand',
    opsets: ALL,
    inputs: [{ name: 'input' }, { name: 'shape' }],
    outputs: 1,
    attrs: [],
    import: (ctx) => ctx.build('Expand', [ctx.input(0)], { shape: ctx.constInts(1, 'shape')! }),
  },
  {
    name: 'Tile',
    opsets: ALL,
    inputs: [{ name: 'input' }, { name: 'repeats' }],
    outputs: 1,
    attrs: [],
    import: (ctx) => ctx.build('Tile', [ctx.input(0)], { repeats: ctx.constInts(1, 'repeats')! }),
  },
  {
    // the length depends on the values, so they must be constants
    name: 'Range',
    opsets: ALL,
    inputs: [{ name: 'start' }, { name: 'limit' }, { name: 'delta' }],
    outputs: 1,
    attrs: [],
    import(ctx) {
      const [start, limit, delta] = [0, 1, 2].map((i) => ctx.constInput(i, ['start', 'limit', 'delta'][i]!)!);
      for (const t of [start!, limit!, delta!]) scalarOf(ctx, t, 'input');
      return ctx.build('Range', [ctx.input(0), ctx.input(1), ctx.input(2)], { size: rangeLength(start!, limit!, delta!) });
    },
  },
  reduce('ReduceMean', 18),
  reduce('ReduceSum', 13),
  reduce('ReduceMax', 18),
  reduce('ReduceMin', 18),
  softmax('Softmax'),
  softmax('LogSoftmax'),
  {
    name: 'LayerNormalization',
    opsets: [17, MAX_OPSET],
    inputs: [{ name: 'X' }, { name: 'Scale' }, { name: 'B', optional: true }],
    outputs: 3,
    attrs: [
      { name: 'axis', kind: 'int', default: -1 },
      { name: 'epsilon', kind: 'float', default: 1e-5 },
      { name: 'stash_type', kind: 'int', default: 1 },
    ],
    import(ctx) {
      const x = ctx.input(0);
      const inputs = [x, ctx.input(1)];
      if (ctx.inputs[2] !== undefined) inputs.push(ctx.inputs[2]);
      const rank = shapeOf(x).length;
      const axis = normAxis(ctx, ctx.attrs.int('axis', -1), rank);
      const epsilon = ctx.attrs.float('epsilon', 1e-5);
      const y = ctx.build('LayerNormalization', inputs, { axis, epsilon });
      const wantMean = (ctx.outputs[1] ?? '') !== '';
      const wantInvStd = (ctx.outputs[2] ?? '') !== '';
      if (!wantMean && !wantInvStd) return y;
      // the optional statistics outputs, written out: Mean and 1 / sqrt(Var + epsilon)
      const axes = [...Array(rank - axis).keys()].map((i) => axis + i);
      const mean = ctx.build('ReduceMean', [x], { axes, keepdims: 1 });
      let invStd: Node | undefined;
      if (wantInvStd) {
        const d = ctx.build('Sub', [x, mean]);
        const variance = ctx.build('ReduceMean', [ctx.build('Mul', [d, d])], { axes, keepdims: 1 });
        const eps = ctx.constant(Tensor.scalar(x.type.elem, epsilon));
        invStd = ctx.build('Reciprocal', [ctx.build('Sqrt', [ctx.build('Add', [variance, eps])])]);
      }
      return [y, wantMean ? mean : undefined, invStd];
    },
  },
  ...visionOps(ALL),
];

const BY_NAME = new Map(OPS.map((o) => [o.name, o]));

/** The import rule of an ONNX op at an opset, or undefined when unsupported. */
export function findOnnxOp(opType: string, opset: number): OnnxOpSpec | undefined {
  const spec = BY_NAME.get(opType);
  if (spec === undefined || opset < spec.opsets[0] || opset > spec.opsets[1]) return undefined;
  return spec;
}

export function onnxOpSpecs(): readonly OnnxOpSpec[] {
  return OPS;
}

/** The supported ONNX ops (default domain) with their opset ranges, sorted by name. */
export function supportedOnnxOps(): { name: string; opsets: readonly [number, number] }[] {
  return [...OPS].map((o) => ({ name: o.name, opsets: o.opsets })).sort((a, b) => a.name.localeCompare(b.name));
}

/** One line: `Abs, Add, ..., LayerNormalization (17-18), ...` (ranges shown when narrower than the default). */
export function formatSupportedOps(): string {
  return supportedOnnxOps()
    .map((o) => (o.opsets[0] === MIN_OPSET && o.opsets[1] === MAX_OPSET ? o.name : `${o.name} (opset ${o.opsets[0]}-${o.opsets[1]})`))
    .join(', ');
}

/** Whether a node's attribute is known to the op's spec at the opset. */
export function attrSpecAt(spec: OnnxOpSpec, name: string, opset: number): OnnxAttrSpec | undefined {
  const a = spec.attrs.find((s) => s.name === name);
  if (a === undefined) return undefined;
  const [lo, hi] = a.opsets ?? spec.opsets;
  return opset >= lo && opset <= hi ? a : undefined;
}
