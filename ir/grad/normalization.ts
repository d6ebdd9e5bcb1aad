// Reverse-mode rules of reductions and normalizations: ReduceSum/Mean/Max/Min, Softmax,
// LogSoftmax, LayerNormalization (ONNX) and LayerNorm (transformer level).

import type { Tensor } from '../tensor.ts';
import { numel } from '../types.ts';
import { floatAttr, intAttr, intsAttr } from '../op.ts';
import { axisIn } from '../ops/check.ts';
import { broadcastIndex, floatData } from '../ops/broadcast.ts';
import { reduceAxes } from '../ops/reduce.ts';
import type { Vjp } from './vjp.ts';
import { rowInvStd, rowMean } from '../ops/layer-norm.ts';

/** For reductions: the input shape with reduced axes set to 1, and each input element's output index. */
function reductionIndex(x: Tensor, axesAttr: readonly number[], op: string): Int32Array | undefined {
  const axes = reduceAxes(op, axesAttr, x.shape);
  const kept = x.shape.map((d, i) => (axes.has(i) ? 1 : d));
  return broadcastIndex(kept, x.shape);
}

function reduceVjp(kind: 'sum' | 'mean' | 'max' | 'min'): Vjp {
  return ({ node, inputs, output, grad, needs }) => {
    const x = inputs[0]!;
    if (!needs[0]) return [undefined];
    const idx = reductionIndex(x, intsAttr(node.attrs, 'axes'), node.op);
    const at = (k: number): number => (idx === undefined ? k : idx[k]!);
    const n = x.size;
    const g = new Float64Array(n);
    if (kind === 'sum' || kind === 'mean') {
      const scale = kind === 'mean' ? (output.size === 0 ? 0 : output.size / n) : 1;
      for (let k = 0; k < n; k++) g[k] = grad[at(k)]! * scale;
    } else {
      // the gradient goes to the first element holding the extreme value
      const X = floatData(x);
      const Y = floatData(output);
      const taken = new Uint8Array(output.size);
      for (let k = 0; k < n; k++) {
        const o = at(k);
        if (taken[o] === 0 && X[k] === Y[o]) {
          taken[o] = 1;
          g[k] = grad[o]!;
        }
      }
    }
    return [g];
  };
}

export const reduceSumVjp = reduceVjp('sum');
export const reduceMeanVjp = reduceVjp('mean');
export const reduceMaxVjp = reduceVjp('max');
export const reduceMinVjp = reduceVjp('min');

function softmaxVjp(log: boolean): Vjp {
  return ({ node, inputs, output, grad, needs }) => {
    if (!needs[0]) return [undefined];
    const shape = inputs[0]!.shape;
    const g = new Float64Array(grad.length);
    if (shape.length === 0) return [g];
    const axis = axisIn(node.op, intAttr(node.attrs, 'axis'), shape.length, shape);
    const d = shape[axis]!;
    const inner = numel(shape.slice(axis + 1));
    const outer = numel(shape.slice(0, axis));
    const Y = floatData(output);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * d * inner + i;
        let s = 0;
        if (log) {
          // y = x - lse: dx = g - softmax * sum(g)
          for (let j = 0; j < d; j++) s += grad[base + j * inner]!;
          for (let j = 0; j < d; j++) g[base + j * inner] = grad[base + j * inner]! - Math.exp(Y[base + j * inner]!) * s;
        } else {
          // dx = y * (g - sum(g * y))
          for (let j = 0; j < d; j++) s += grad[base + j * inner]! * Y[base + j * inner]!;
          for (let j = 0; j < d; j++) g[base + j * inner] = Y[base + j * inner]! * (grad[base + j * inner]! - s);
        }
      }
    }
    return [g];
  };
}

export const softmaxOpVjp = softmaxVjp(false);
export const logSoftmaxVjp = softmaxVjp(true);

/**
 * Rows of `inner` elements normalized with the biased variance, then y = xhat * S + B:
 * dxhat = g * S; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
 * dS = sum over rows of g * xhat; dB = sum over rows of g.
 */
function layerNormBackward(
  X: ArrayLike<number>, S: ArrayLike<number>, is: Int32Array | undefined, grad: Float64Array,
  outer: number, inner: number, eps: number,
  gx: Float64Array | undefined, gs: Float64Array | undefined, gb: Float64Array | undefined,
  ib: Int32Array | undefined,
): void {
  const xhat = new Float64Array(inner);
  const dxhat = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    const mean = rowMean(X, base, inner);
    const rstd = rowInvStd(X, base, inner, mean, eps);
    let m1 = 0;
    let m2 = 0;
    for (let j = 0; j < inner; j++) {
      const xh = (X[base + j]! - mean) * rstd;
      const gj = grad[base + j]!;
      xhat[j] = xh;
      const dxh = gj * S[is === undefined ? j : is[j]!]!;
      dxhat[j] = dxh;
      m1 += dxh;
      m2 += dxh * xh;
      if (gs !== undefined) gs[is === undefined ? j : is[j]!]! += gj * xh;
      if (gb !== undefined) gb[ib === undefined ? j : ib[j]!]! += gj;
    }
    if (gx !== undefined) {
      m1 /= inner;
      m2 /= inner;
      for (let j = 0; j < inner; j++) gx[base + j] = rstd * (dxhat[j]! - m1 - xhat[j]! * m2);
    }
  }
}

/** LayerNorm (x [..., D], gamma [D], beta [D]). */
export const layerNormVjp: Vjp = ({ node, inputs, grad, needs }) => {
  const [x, gamma, beta] = inputs as [Tensor, Tensor, Tensor];
  const D = x.shape[x.shape.length - 1]!;
  const outer = D === 0 ? 0 : x.size / D;
  const gx = needs[0] ? new Float64Array(x.size) : undefined;
  const gg = needs[1] ? new Float64Array(D) : undefined;
  const gb = needs[2] ? new Float64Array(beta.size) : undefined;
  layerNormBackward(floatData(x), floatData(gamma), undefined, grad, outer, D, floatAttr(node.attrs, 'epsilon'), gx, gg, gb, undefined);
  return [gx, gg, gb];
};

/** ONNX LayerNormalization (x, Scale, B?) over axes [axis, rank), Scale and B broadcast to them. */
export const layerNormalizationVjp: Vjp = ({ node, inputs, grad, needs }) => {
  const [x, scale, bias] = inputs as [Tensor, Tensor, Tensor | undefined];
  const axis = axisIn('LayerNormalization', intAttr(node.attrs, 'axis'), x.shape.length, x.shape);
  const tail = x.shape.slice(axis);
  const inner = numel(tail);
  const outer = inner === 0 ? 0 : x.size / inner;
  const is = broadcastIndex(scale.shape, tail);
  const ib = bias === undefined ? undefined : broadcastIndex(bias.shape, tail);
  const gx = needs[0] ? new Float64Array(x.size) : undefined;
  const gs = needs[1] ? new Float64Array(scale.size) : undefined;
  const gb = bias !== undefined && needs[2] ? new Float64Array(bias.size) : undefined;
  layerNormBackward(floatData(x), floatData(scale), is, grad, outer, inner, floatAttr(node.attrs, 'epsilon'), gx, gs, gb, ib);
  return [gx, gs, gb];
};
