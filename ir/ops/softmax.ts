// Softmax and LogSoftmax {axis}: along one axis (opset-13 semantics), numerically stable
// (the maximum along the axis is subtracted first).

import type { OpDef } from '../op.ts';
import { intAttr } from '../op.ts';
import { Tensor } from '../tensor.ts';
import { numel } from '../types.ts';
import { floatData } from './broadcast.ts';
import { axisIn, requireFloat } from './check.ts';

function softmaxOp(name: string, log: boolean, summary: string): OpDef {
  return {
    name,
    summary,
    arity: [1, 1],
    attrs: { axis: { kind: 'int', default: -1, doc: 'the normalized axis (negative counts from the end)' } },
    infer([x], attrs) {
      requireFloat(name, x!);
      if (x!.shape.length > 0) axisIn(name, intAttr(attrs, 'axis'), x!.shape.length, x!.shape);
      return { elem: x!.elem, shape: x!.shape };
    },
    evaluate([x], attrs, out) {
      const shape = x!.shape;
      const X = floatData(x!);
      const Y = new Float64Array(X.length);
      if (shape.length === 0) {
        Y[0] = log ? 0 : 1;
        return new Tensor(out.elem, shape, Y);
      }
      const axis = axisIn(name, intAttr(attrs, 'axis'), shape.length, shape);
      const d = shape[axis]!;
      const inner = numel(shape.slice(axis + 1));
      const outer = numel(shape.slice(0, axis));
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * d * inner + i;
          let max = -Infinity;
          for (let j = 0; j < d; j++) {
            const v = X[base + j * inner]!;
            if (v > max) max = v;
          }
          let sum = 0;
          for (let j = 0; j < d; j++) {
            const e = Math.exp(X[base + j * inner]! - max);
            Y[base + j * inner] = e;
            sum += e;
          }
          if (log) {
            const ls = Math.log(sum);
            for (let j = 0; j < d; j++) Y[base + j * inner] = X[base + j * inner]! - max - ls;
          } else {
            for (let j = 0; j < d; j++) Y[base + j * inner]! /= sum;
          }
        }
      }
      return new Tensor(out.elem, shape, Y);
    },
  };
}

export const Softmax = softmaxOp('Softmax', false, 'exp(x) / sum(exp(x)) along an axis (stable)');
export const LogSoftmax = softmaxOp('LogSoftmax', true, 'x - log(sum(exp(x))) along an axis (stable)');
