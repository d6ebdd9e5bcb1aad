// LayerNormalization {axis, epsilon}: normalize over axes [axis, rank) with the biased
// variance, then scale and shift: (x - mean) / sqrt(var + epsilon) * Scale + B.
// Scale and B broadcast (unidirectionally) to X's trailing shape X.shape[axis:].

import type { OpDef } from '../op.ts';
import { floatAttr, intAttr, typeError } from '../op.ts';
import { Tensor } from '../tensor.ts';
import { broadcastShapes, numel, shapesEqual, type Shape } from '../types.ts';
import { broadcastIndex, floatData, fmtShape } from './broadcast.ts';
import { axisIn, requireFloat, requireSameElem } from './check.ts';

function trailing(x: Shape, axisAttr: number): { axis: number; tail: number[] } {
  if (x.length === 0) typeError('LayerNormalization needs an input of rank >= 1');
  const axis = axisIn('LayerNormalization', axisAttr, x.length, x);
  return { axis, tail: x.slice(axis) };
}

export const LayerNormalization: OpDef = {
  name: 'LayerNormalization',
  summary: '(x - mean) / sqrt(var + eps) * Scale + B over axes [axis, rank)',
  arity: [2, 3],
  attrs: {
    axis: { kind: 'int', default: -1, doc: 'first normalized axis (negative counts from the end)' },
    epsilon: { kind: 'float', default: 1e-5, doc: 'added to the variance' },
  },
  infer(types, attrs) {
    for (const t of types) requireFloat('LayerNormalization', t);
    const elem = requireSameElem('LayerNormalization', types);
    const x = types[0]!.shape;
    const { tail } = trailing(x, intAttr(attrs, 'axis'));
    for (const [i, what] of [[1, 'Scale'], [2, 'B']] as const) {
      const t = types[i];
      if (t === undefined) continue;
      const b = broadcastShapes(t.shape, tail);
      if (b === undefined || !shapesEqual(b, tail)) {
        typeError(`LayerNormalization ${what} ${fmtShape(t.shape)} does not broadcast to the normalized shape ${fmtShape(tail)} of ${fmtShape(x)}`);
      }
    }
    return { elem, shape: x };
  },
  evaluate([x, scale, bias], attrs, out) {
    const eps = floatAttr(attrs, 'epsilon');
    const { tail } = trailing(x!.shape, intAttr(attrs, 'axis'));
    const inner = numel(tail);
    const outer = inner === 0 ? 0 : x!.size / inner;
    const X = floatData(x!);
    const S = floatData(scale!);
    const is = broadcastIndex(scale!.shape, tail);
    const B = bias === undefined ? undefined : floatData(bias);
    const ib = bias === undefined ? undefined : broadcastIndex(bias.shape, tail);
    const Y = new Float64Array(X.length);
    layerNormRows(X, Y, outer, inner, eps, S, is, B, ib);
    return new Tensor(out.elem, out.shape, Y);
  },
};

/** Mean of X[base .. base+inner). */
export function rowMean(X: ArrayLike<number>, base: number, inner: number): number {
  let mean = 0;
  for (let j = 0; j < inner; j++) mean += X[base + j]!;
  return mean / inner;
}

/** 1 / sqrt(biased variance + eps) of X[base .. base+inner) around `mean`. */
export function rowInvStd(X: ArrayLike<number>, base: number, inner: number, mean: number, eps: number): number {
  let v = 0;
  for (let j = 0; j < inner; j++) {
    const c = X[base + j]! - mean;
    v += c * c;
  }
  return 1 / Math.sqrt(v / inner + eps);
}

/**
 * Normalizes `outer` consecutive rows of `inner` elements of X into Y with the biased
 * variance, then scales and shifts. `is`/`ib` map a row position to the scale/bias element
 * (undefined: the identity).
 */
export function layerNormRows(
  X: ArrayLike<number>,
  Y: Float64Array,
  outer: number,
  inner: number,
  eps: number,
  S: ArrayLike<number>,
  is: Int32Array | undefined,
  B: ArrayLike<number> | undefined,
  ib: Int32Array | undefined,
): void {
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    const mean = rowMean(X, base, inner);
    const inv = rowInvStd(X, base, inner, mean, eps);
    for (let j = 0; j < inner; j++) {
      let y = (X[base + j]! - mean) * inv * S[is === undefined ? j : is[j]!]!;
      if (B !== undefined) y += B[ib === undefined ? j : ib[j]!]!;
      Y[base + j] = y;
    }
  }
}
