// Cast {to}: element type conversion, numpy semantics.
//
// float -> int truncates toward zero and wraps into the target width; x -> bool is x != 0;
// a cast to f32 rounds with Math.fround (the one place the reference evaluator rounds to
// float32; everything else computes in float64).

import type { OpDef } from '../op.ts';
import { stringAttr, typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type Storage } from '../tensor.ts';
import { ELEM_TYPES, isElemType, isFloatType, type ElemType } from '../types.ts';
import { isBigElem, isBigStorage, type AnyArray } from './broadcast.ts';

/** Converts elements of `src` (any storage) into fresh compute storage of element type `to`. */
export function convertStorage(src: Storage, to: ElemType): Storage {
  const n = src.length;
  const out = allocComputeStorage(to, n);
  const S = src as AnyArray;
  if (isFloatType(to)) {
    const o = out as Float64Array;
    const round = to === 'f32';
    for (let i = 0; i < n; i++) {
      const v = Number(S[i]!);
      o[i] = round ? Math.fround(v) : v;
    }
  } else if (to === 'bool') {
    const o = out as Uint8Array;
    for (let i = 0; i < n; i++) {
      const v = S[i]!;
      o[i] = typeof v === 'bigint' ? (v !== 0n ? 1 : 0) : v !== 0 ? 1 : 0;
    }
  } else if (isBigElem(to)) {
    const o = out as BigInt64Array | BigUint64Array;
    if (isBigStorage(src)) {
      // the target array wraps into its own signedness
      for (let i = 0; i < n; i++) o[i] = src[i]!;
    } else {
      const s = src as unknown as { [i: number]: number };
      for (let i = 0; i < n; i++) {
        const v = s[i]!;
        o[i] = Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
      }
    }
  } else {
    const o = out as unknown as { [i: number]: number };
    if (isBigStorage(src)) {
      for (let i = 0; i < n; i++) o[i] = Number(BigInt.asIntN(32, src[i]!));
    } else {
      // typed-array stores truncate toward zero and wrap into the target width
      const s = src as unknown as { [i: number]: number };
      for (let i = 0; i < n; i++) o[i] = Math.trunc(s[i]!);
    }
  }
  return out;
}

/** The tensor converted to element type `to` (shares data when it already has the type). */
export function castTensor(t: Tensor, to: ElemType): Tensor {
  if (t.dtype === to && !isFloatType(to)) return t;
  if (t.dtype === to && t.data instanceof Float64Array) return t;
  return new Tensor(to, t.shape, convertStorage(t.data, to));
}

export const Cast: OpDef = {
  name: 'Cast',
  summary: 'element type conversion (float->int truncates, ->bool is x != 0, ->f32 rounds)',
  arity: [1, 1],
  attrs: { to: { kind: 'string', doc: 'target element type, e.g. "f32"' } },
  infer([x], attrs) {
    const to = stringAttr(attrs, 'to');
    if (!isElemType(to)) typeError(`Cast target '${to}' is not an element type (one of ${ELEM_TYPES.join(', ')})`);
    return { elem: to, shape: x!.shape };
  },
  evaluate([x], attrs) {
    return castTensor(x!, stringAttr(attrs, 'to') as ElemType);
  },
};
