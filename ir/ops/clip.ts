// Clip {min, max}: min(max(x, min), max), element-wise.

import type { OpDef } from '../op.ts';
import { floatAttr } from '../op.ts';
import { Tensor, allocComputeStorage, type BigStorage } from '../tensor.ts';
import { isFloatType } from '../types.ts';
import { bigData, isBigElem, unaryFloat } from './broadcast.ts';
import { requireNumeric } from './check.ts';

export const Clip: OpDef = {
  name: 'Clip',
  summary: 'min(max(x, min), max), element-wise',
  arity: [1, 1],
  attrs: {
    min: { kind: 'float', default: -Infinity, doc: 'lower bound' },
    max: { kind: 'float', default: Infinity, doc: 'upper bound' },
  },
  infer([x]) {
    requireNumeric('Clip', x!);
    return { elem: x!.elem, shape: x!.shape };
  },
  evaluate([x], attrs, out) {
    const lo = floatAttr(attrs, 'min');
    const hi = floatAttr(attrs, 'max');
    if (isFloatType(out.elem)) return unaryFloat(x!, out.elem, (v) => (v < lo ? lo : v > hi ? hi : v));
    const n = x!.size;
    if (isBigElem(out.elem)) {
      // integer bounds: the smallest integer >= lo and the largest <= hi
      const blo = Number.isFinite(lo) ? BigInt(Math.ceil(lo)) : undefined;
      const bhi = Number.isFinite(hi) ? BigInt(Math.floor(hi)) : undefined;
      const src = bigData(x!);
      const data = allocComputeStorage(out.elem, n) as BigStorage;
      for (let i = 0; i < n; i++) {
        let v = src[i]!;
        if (blo !== undefined && v < blo) v = blo;
        if (bhi !== undefined && v > bhi) v = bhi;
        data[i] = v;
      }
      return new Tensor(out.elem, out.shape, data);
    }
    const ilo = Math.ceil(lo);
    const ihi = Math.floor(hi);
    const src = x!.data as unknown as { [i: number]: number };
    const data = allocComputeStorage(out.elem, n) as Int32Array;
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      data[i] = v < ilo ? ilo : v > ihi ? ihi : v;
    }
    return new Tensor(out.elem, out.shape, data);
  },
};
