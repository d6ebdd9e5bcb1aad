// ReduceMean, ReduceSum, ReduceMax, ReduceMin {axes, keepdims}: reduce over the listed axes
// (explicit; negative axes count from the end; an empty list reduces nothing).

import type { OpDef } from '../op.ts';
import { evalError, intAttr, intsAttr, typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type BigStorage } from '../tensor.ts';
import { isFloatType, numel, type Shape } from '../types.ts';
import { bigData, broadcastIndex, floatData, fmtShape, isBigElem } from './broadcast.ts';
import { requireNumeric } from './check.ts';

type Kind = 'mean' | 'sum' | 'max' | 'min';

/** The reduced axes, normalized and checked. */
export function reduceAxes(op: string, axes: readonly number[], shape: Shape): Set<number> {
  const rank = shape.length;
  const set = new Set<number>();
  for (const a of axes) {
    const n = a < 0 ? a + rank : a;
    if (!(n >= 0 && n < rank)) typeError(`${op} axis ${a} is out of range for shape ${fmtShape(shape)}`);
    if (set.has(n)) typeError(`${op} axis ${n} appears twice in axes ${fmtShape(axes)}`);
    set.add(n);
  }
  return set;
}

function reduceOp(name: string, kind: Kind, summary: string): OpDef {
  return {
    name,
    summary,
    arity: [1, 1],
    attrs: {
      axes: { kind: 'ints', doc: 'axes to reduce (explicit; [] reduces nothing)' },
      keepdims: { kind: 'int', default: 1, doc: '1: keep reduced axes as size 1' },
    },
    infer([x], attrs) {
      requireNumeric(name, x!);
      const axes = reduceAxes(name, intsAttr(attrs, 'axes'), x!.shape);
      const keep = intAttr(attrs, 'keepdims') !== 0;
      const shape: number[] = [];
      x!.shape.forEach((d, i) => {
        if (!axes.has(i)) shape.push(d);
        else if (keep) shape.push(1);
      });
      return { elem: x!.elem, shape };
    },
    evaluate([x], attrs, out) {
      const axes = reduceAxes(name, intsAttr(attrs, 'axes'), x!.shape);
      const kept = x!.shape.map((d, i) => (axes.has(i) ? 1 : d));
      const nOut = numel(kept);
      const n = x!.size;
      const count = nOut === 0 ? 0 : n / nOut;
      // for every input element, the output element it folds into
      const idx = broadcastIndex(kept, x!.shape);
      const at = (k: number): number => (idx === undefined ? k : idx[k]!);
      if (isFloatType(out.elem)) {
        const X = floatData(x!);
        const acc = new Float64Array(nOut);
        if (kind === 'max') acc.fill(-Infinity);
        if (kind === 'min') acc.fill(Infinity);
        if (kind === 'sum' || kind === 'mean') for (let k = 0; k < n; k++) acc[at(k)]! += X[k]!;
        else if (kind === 'max') {
          for (let k = 0; k < n; k++) {
            const v = X[k]!;
            const o = at(k);
            if (v > acc[o]! || v !== v) acc[o] = v;
          }
        } else {
          for (let k = 0; k < n; k++) {
            const v = X[k]!;
            const o = at(k);
            if (v < acc[o]! || v !== v) acc[o] = v;
          }
        }
        if (kind === 'mean') for (let o = 0; o < nOut; o++) acc[o]! /= count;
        return new Tensor(out.elem, out.shape, acc);
      }
      if (isBigElem(out.elem)) {
        const X = bigData(x!);
        const acc = new Array<bigint | undefined>(nOut).fill(undefined);
        for (let k = 0; k < n; k++) {
          const v = X[k]!;
          const o = at(k);
          const a = acc[o];
          if (a === undefined) acc[o] = v;
          else if (kind === 'sum' || kind === 'mean') acc[o] = BigInt.asIntN(64, a + v);
          else if (kind === 'max') acc[o] = v > a ? v : a;
          else acc[o] = v < a ? v : a;
        }
        if (kind === 'mean' && count === 0 && nOut > 0) evalError('ReduceMean over an empty axis has no mean');
        const data = allocComputeStorage(out.elem, nOut) as BigStorage;
        for (let o = 0; o < nOut; o++) {
          const a = acc[o] ?? 0n;
          data[o] = kind === 'mean' ? a / BigInt(count) : a;
        }
        return new Tensor(out.elem, out.shape, data);
      }
      const X = x!.data as unknown as { [i: number]: number };
      const acc = new Float64Array(nOut);
      if (kind === 'max') acc.fill(-Infinity);
      if (kind === 'min') acc.fill(Infinity);
      for (let k = 0; k < n; k++) {
        const v = X[k]!;
        const o = at(k);
        if (kind === 'sum') acc[o] = (acc[o]! + v) | 0; // wraps mod 2^32; storage narrows further
        else if (kind === 'mean') acc[o]! += v;
        else if (kind === 'max') acc[o] = v > acc[o]! ? v : acc[o]!;
        else acc[o] = v < acc[o]! ? v : acc[o]!;
      }
      const data = allocComputeStorage(out.elem, nOut) as Int32Array;
      for (let o = 0; o < nOut; o++) data[o] = kind === 'mean' ? Math.trunc(acc[o]! / count) : acc[o]!;
      return new Tensor(out.elem, out.shape, data);
    },
  };
}

export const ReduceMean = reduceOp('ReduceMean', 'mean', 'mean over the listed axes');
export const ReduceSum = reduceOp('ReduceSum', 'sum', 'sum over the listed axes (integers wrap)');
export const ReduceMax = reduceOp('ReduceMax', 'max', 'maximum over the listed axes');
export const ReduceMin = reduceOp('ReduceMin', 'min', 'minimum over the listed axes');
