// Import rules of the vision ops a ViT export uses: Conv as a patch embedding and
// BatchNormalization in inference mode. Both become ops that already exist (reshapes, a
// transpose, MatMul, Mul, Add), so everything after the frontend sees a ViT as a BERT-like
// graph: the patch embedding is a MatMul over the image's non-overlapping patches, which
// raising turns into a Linear.

import type { Node } from '../../ir/node.ts';
import { constValue } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import type { ImportContext } from './context.ts';
import type { OnnxOpSpec } from './onnx-ops.ts';

/** What the Conv import supports, for its errors. */
export const PATCH_CONV_SUPPORTED =
  'only patch-embedding Conv is supported: 2-D, one group, kernel_shape = strides, no padding (pads all 0, auto_pad NOTSET or VALID), dilations 1';

function patchConvError(ctx: ImportContext, why: string): never {
  return ctx.fail('unsupported', `Conv ${why}; ${PATCH_CONV_SUPPORTED}`);
}

/**
 * Conv(X [B,C,H,W], W [O,C,k,l], bias [O]?) with strides = kernel = [k,l] and no padding:
 * X's k x l patches (row-major over the patch grid, each flattened as C,k,l like W's rows)
 * times W^T, plus bias, returned in Conv's [B,O,H/k,W/l] layout (as a transpose and a
 * reshape, which the usual Flatten + Transpose of a ViT cancel).
 */
function importPatchConv(ctx: ImportContext): Node {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const xs = x.type.shape;
  const ws = w.type.shape;
  if (xs.length !== 4 || ws.length !== 4) patchConvError(ctx, `input is rank ${xs.length} with a rank-${ws.length} weight (a ${Math.max(xs.length, ws.length) - 2}-D convolution)`);
  const [B, C, H, Wd] = xs as [number, number, number, number];
  const [O, Cw, k, l] = ws as [number, number, number, number];
  const group = ctx.attrs.int('group', 1);
  if (group !== 1) patchConvError(ctx, `has group = ${group}`);
  if (Cw !== C) ctx.fail('shape', `Conv weight has ${Cw} input channels but the input has ${C}`);
  const kernel = ctx.attrs.ints('kernel_shape') ?? [k, l];
  if (kernel.length !== 2 || kernel[0] !== k || kernel[1] !== l) ctx.fail('shape', `Conv kernel_shape [${kernel.join(',')}] does not match the weight's [${k},${l}]`);
  const strides = ctx.attrs.ints('strides') ?? [1, 1];
  if (strides.length !== 2 || strides[0] !== k || strides[1] !== l) patchConvError(ctx, `has strides [${strides.join(',')}] and kernel [${k},${l}]`);
  const dilations = ctx.attrs.ints('dilations') ?? [1, 1];
  if (dilations.some((d) => d !== 1)) patchConvError(ctx, `has dilations [${dilations.join(',')}]`);
  const autoPad = ctx.attrs.string('auto_pad', 'NOTSET');
  const pads = ctx.attrs.ints('pads') ?? [0, 0, 0, 0];
  if ((autoPad !== 'NOTSET' && autoPad !== 'VALID') || pads.some((p) => p !== 0)) {
    patchConvError(ctx, autoPad !== 'NOTSET' && autoPad !== 'VALID' ? `has auto_pad ${autoPad}` : `has pads [${pads.join(',')}]`);
  }
  const [Hp, Wp] = [Math.floor(H / k), Math.floor(Wd / l)];
  if (Hp === 0 || Wp === 0) ctx.fail('shape', `Conv kernel [${k},${l}] is larger than the image [${H},${Wd}]`);
  // a remainder that no patch covers is dropped, as Conv does
  let img = x;
  if (Hp * k !== H || Wp * l !== Wd) img = ctx.build('Slice', [x], { starts: [0, 0], ends: [Hp * k, Wp * l], axes: [2, 3], steps: [1, 1] });
  const grid = ctx.build('Reshape', [img], { shape: [B, C, Hp, k, Wp, l] });
  const patchMajor = ctx.build('Transpose', [grid], { perm: [0, 2, 4, 1, 3, 5] });
  const patches = ctx.build('Reshape', [patchMajor], { shape: [B, Hp * Wp, C * k * l] });
  let y = ctx.build('MatMul', [patches, patchWeight(ctx, w, O, C * k * l)]);
  if (ctx.inputs[2] !== undefined) {
    const bias = ctx.inputs[2];
    if (bias.type.shape.length !== 1 || bias.type.shape[0] !== O) ctx.fail('shape', `Conv bias must be [${O}], got [${bias.type.shape.join(',')}]`);
    y = ctx.build('Add', [y, bias]);
  }
  const channelsFirst = ctx.build('Transpose', [y], { perm: [0, 2, 1] });
  return ctx.build('Reshape', [channelsFirst], { shape: [B, O, Hp, Wp] });
}

/**
 * W [O,C,k,l] as the [C*k*l, O] matrix of the patch MatMul: a constant of W's owner when W is
 * one (so raising sees a Linear's weight), else a reshape and a transpose of the value.
 */
function patchWeight(ctx: ImportContext, w: Node, O: number, K: number): Node {
  const t = constValue(w);
  if (t === undefined) return ctx.build('Transpose', [ctx.build('Reshape', [w], { shape: [O, K] })], { perm: [1, 0] });
  const src = t.toFloat64();
  const out = new Float64Array(O * K);
  for (let o = 0; o < O; o++) for (let q = 0; q < K; q++) out[q * O + o] = src[o * K + q]!;
  return ctx.constant(Tensor.from(t.dtype, [K, O], out), w.type.vis, w.loc.name);
}

/**
 * BatchNormalization in inference mode with constant statistics: Y = X a + c per channel
 * (axis 1), a = scale / sqrt(var + eps), c = bias - mean a, computed here in float64 and
 * owned by whoever owns the statistics. Under MPC, X a is a multiplication by the server's
 * secret per element; the `fold-batch-norm` pass (in the default raising pipeline, after
 * raise-bert) folds a and c into a neighbouring Linear where every reader is one, or into the
 * Linear that produces X (passes/fold-batch-norm.ts). canonicalize does not: its rewrites are
 * bit-exact, and a fold re-associates.
 */
function importBatchNorm(ctx: ImportContext): Node {
  const x = ctx.input(0);
  if (ctx.attrs.int('training_mode', 0) !== 0) ctx.fail('unsupported', 'BatchNormalization in training mode is not supported (export the model in eval mode)');
  if (ctx.outputs.slice(1).some((o) => o !== '')) ctx.fail('unsupported', 'BatchNormalization running-statistics outputs are not supported (inference mode has one output)');
  const shape = x.type.shape;
  if (shape.length < 2) ctx.fail('shape', `BatchNormalization input must have a channel axis (rank >= 2), got rank ${shape.length}`);
  const C = shape[1]!;
  const names = ['scale', 'B', 'input_mean', 'input_var'];
  const params = names.map((what, i) => {
    const node = ctx.input(i + 1);
    const t = constValue(node);
    if (t === undefined) ctx.fail('unsupported', `BatchNormalization ${what} must be a constant (inference mode uses stored statistics)`);
    if (t.size !== C) ctx.fail('shape', `BatchNormalization ${what} has ${t.size} elements but the input has ${C} channels`);
    return { t, vis: node.type.vis };
  });
  const [scale, bias, mean, variance] = params.map((p) => p.t.toFloat64()) as [Float64Array, Float64Array, Float64Array, Float64Array];
  const eps = ctx.attrs.float('epsilon', 1e-5);
  const a = scale.map((s, i) => s / Math.sqrt(variance[i]! + eps));
  const c = bias.map((b, i) => b - mean[i]! * a[i]!);
  const perChannel = [C, ...shape.slice(2).map(() => 1)];
  const vis = params.some((p) => p.vis !== 'public') ? params.find((p) => p.vis !== 'public')!.vis : 'public';
  const elem = x.type.elem;
  const scaled = ctx.build('Mul', [x, ctx.constant(Tensor.from(elem, perChannel, a), vis, `${ctx.name}.scale`)]);
  return ctx.build('Add', [scaled, ctx.constant(Tensor.from(elem, perChannel, c), vis, `${ctx.name}.shift`)]);
}

export function visionOps(all: readonly [number, number]): readonly OnnxOpSpec[] {
  return [
    {
      name: 'Conv',
      opsets: all,
      inputs: [{ name: 'X' }, { name: 'W' }, { name: 'B', optional: true }],
      outputs: 1,
      attrs: [
        { name: 'auto_pad', kind: 'string', default: 'NOTSET' },
        { name: 'dilations', kind: 'ints' },
        { name: 'group', kind: 'int', default: 1 },
        { name: 'kernel_shape', kind: 'ints' },
        { name: 'pads', kind: 'ints' },
        { name: 'strides', kind: 'ints' },
      ],
      import: importPatchConv,
    },
    {
      name: 'BatchNormalization',
      opsets: all,
      inputs: [{ name: 'X' }, { name: 'scale' }, { name: 'B' }, { name: 'input_mean' }, { name: 'input_var' }],
      outputs: 1,
      attrs: [
        { name: 'epsilon', kind: 'float', default: 1e-5 },
        { name: 'momentum', kind: 'float', default: 0.9 },
        { name: 'training_mode', kind: 'int', default: 0, opsets: [14, all[1]] },
      ],
      import: importBatchNorm,
    },
  ];
}
