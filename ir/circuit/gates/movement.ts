// Data movement and sums: the same on a share, a binary share or a public value.

import { Ig3dcError } from '../../diagnostics.ts';
import { typeError } from '../../op.ts';
import { numel } from '../../types.ts';
import * as K from '../../ring/kernels.ts';
import { ANY, checkShape, inputShape as shapeOf, inputValue as x, int, ints, outputShape, P, reg, sameScale, type CircuitOpDef } from '../gate.ts';
import { broadcastOrFail, concatShape, gatherShape, reduceShape, resolveAxes, resolvePerm, resolveSlice, transposeShape } from '../shape-rules.ts';

/** A possibly negative axis resolved against a rank. */
const axisOf = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

export const MOVEMENT_GATES: readonly CircuitOpDef[] = [
  {
    name: 'reshape',
    summary: 'same elements, new shape',
    cls: 'local',
    inputs: [ANY],
    attrs: { shape: { kind: 'ints' } },
    infer([a], at) {
      const shape = ints(at, 'shape');
      checkShape('reshape', shape);
      if (numel(shape) !== numel(a!.shape)) typeError(`reshape: [${a!.shape.join(',')}] cannot become [${shape.join(',')}]`);
      return [reg(a!.kind, shape, a!.scale)];
    },
    evaluate: (e) => [x(e, 0)],
  },
  {
    name: 'transpose',
    summary: 'permute axes (empty perm reverses them)',
    cls: 'local',
    inputs: [ANY],
    attrs: { perm: { kind: 'ints', default: [] } },
    infer([a], at) {
      return [reg(a!.kind, transposeShape('transpose', a!.shape, ints(at, 'perm')), a!.scale)];
    },
    evaluate: (e) => [K.transpose(x(e, 0), shapeOf(e, 0), resolvePerm(shapeOf(e, 0).length, ints(e.ins.attrs, 'perm')))],
  },
  {
    name: 'slice',
    summary: 'ONNX-style slice with positive steps',
    cls: 'local',
    inputs: [ANY],
    attrs: { starts: { kind: 'ints' }, ends: { kind: 'ints' }, axes: { kind: 'ints', default: [] }, steps: { kind: 'ints', default: [] } },
    infer([a], at) {
      const r = resolveSlice('slice', a!.shape, ints(at, 'starts'), ints(at, 'ends'), ints(at, 'axes'), ints(at, 'steps'));
      return [reg(a!.kind, r.shape, a!.scale)];
    },
    evaluate(e) {
      const at = e.ins.attrs;
      return [K.slice(x(e, 0), shapeOf(e, 0), resolveSlice('slice', shapeOf(e, 0), ints(at, 'starts'), ints(at, 'ends'), ints(at, 'axes'), ints(at, 'steps')))];
    },
  },
  {
    name: 'concat',
    summary: 'concatenate along an axis (same kind and scale)',
    cls: 'local',
    inputs: [ANY],
    variadic: true,
    attrs: { axis: { kind: 'int' } },
    infer(xs, at) {
      const first = xs[0]!;
      for (const a of xs) {
        if (a.kind !== first.kind) typeError(`concat: inputs of kinds ${first.kind} and ${a.kind}`);
        sameScale('concat', first, a);
      }
      return [reg(first.kind, concatShape('concat', xs.map((a) => a.shape), int(at, 'axis')), first.scale)];
    },
    evaluate: (e) =>
      [K.concat(e.ins.inputs.map((r) => e.get(r)), e.ins.inputs.map((r) => e.regs[r]!.shape), axisOf(int(e.ins.attrs, 'axis'), shapeOf(e, 0).length))],
  },
  {
    name: 'expand',
    summary: 'numpy broadcast to a shape',
    cls: 'local',
    inputs: [ANY],
    attrs: { shape: { kind: 'ints' } },
    infer([a], at) {
      checkShape('expand', ints(at, 'shape'));
      return [reg(a!.kind, broadcastOrFail('expand', a!.shape, ints(at, 'shape')), a!.scale)];
    },
    evaluate: (e) => [K.expandTo(x(e, 0), shapeOf(e, 0), outputShape(e))],
  },
  {
    name: 'gather',
    summary: 'take entries along an axis at public integer indices (inputs: data, indices)',
    cls: 'local',
    inputs: [ANY, P],
    attrs: { axis: { kind: 'int', default: 0 } },
    infer([a, idx], at) {
      if (idx!.scale !== 0) typeError(`gather: indices must be integers (@0), got @${idx!.scale}`);
      return [reg(a!.kind, gatherShape('gather', a!.shape, idx!.shape, int(at, 'axis')), a!.scale)];
    },
    evaluate(e) {
      const axis = axisOf(int(e.ins.attrs, 'axis'), shapeOf(e, 0).length);
      const out = K.gather(x(e, 0), shapeOf(e, 0), x(e, 1), axis);
      if (out === undefined) throw new Ig3dcError('eval', `gather index out of range for axis of size ${shapeOf(e, 0)[axis]}`, { node: `%${e.ins.outputs[0]}` });
      return [out];
    },
  },
  {
    name: 'reduce_sum',
    summary: 'sum over axes (all when empty)',
    cls: 'local',
    inputs: [['ashr', 'pub']],
    attrs: { axes: { kind: 'ints', default: [] }, keepdims: { kind: 'bool', default: true } },
    infer([a], at) {
      return [reg(a!.kind, reduceShape('reduce_sum', a!.shape, ints(at, 'axes'), at['keepdims'] as boolean), a!.scale)];
    },
    evaluate: (e) => [K.reduceSum(x(e, 0), shapeOf(e, 0), resolveAxes('reduce_sum', shapeOf(e, 0).length, ints(e.ins.attrs, 'axes')))],
  },
];
