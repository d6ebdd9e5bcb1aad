// Range {size}: start, start+delta, ... up to (excluding) limit, from three scalar inputs.
//
// Its length depends on input values, not types, so a node carries it as `size` (the
// constant folder fills it with rangeLength); the evaluator checks the two agree.

import type { OpDef } from '../op.ts';
import { evalError, intAttr, typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type BigStorage } from '../tensor.ts';
import { numel } from '../types.ts';
import { isBigElem } from './broadcast.ts';
import { requireNumeric, requireSameElem } from './check.ts';

/** Number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0). */
export function rangeLength(start: Tensor, limit: Tensor, delta: Tensor): number {
  if (isBigElem(start.dtype)) {
    const s = start.bigAt(0);
    const l = limit.bigAt(0);
    const d = delta.bigAt(0);
    if (d === 0n) evalError('Range delta must not be 0');
    const diff = l - s;
    // ceiling division of bigints
    let q = diff / d;
    if (q * d !== diff && diff > 0n === d > 0n) q += 1n;
    return q > 0n ? Number(q) : 0;
  }
  const d = delta.at(0);
  if (d === 0) evalError('Range delta must not be 0');
  return Math.max(Math.ceil((limit.at(0) - start.at(0)) / d), 0);
}

export const Range: OpDef = {
  name: 'Range',
  summary: 'arithmetic sequence from scalar start, limit, delta (length given as size)',
  arity: [3, 3],
  attrs: { size: { kind: 'int', default: -1, doc: 'number of elements; -1 is unknown (fold it with foldOp)' } },
  infer(types, attrs) {
    for (const t of types) {
      requireNumeric('Range', t);
      if (numel(t.shape) !== 1 || t.shape.length > 1) typeError(`Range inputs must be scalars, got shape [${t.shape.join(',')}]`);
    }
    const elem = requireSameElem('Range', types);
    const size = intAttr(attrs, 'size');
    if (size < 0) typeError('Range length depends on its input values: give it as attribute size (constant inputs only)');
    return { elem, shape: [size] };
  },
  evaluate([start, limit, delta], attrs, out) {
    const n = rangeLength(start!, limit!, delta!);
    const size = intAttr(attrs, 'size');
    if (size >= 0 && size !== n) evalError(`Range has ${n} elements but its size attribute says ${size}`);
    const data = allocComputeStorage(out.elem, n);
    if (isBigElem(out.elem)) {
      const s = start!.bigAt(0);
      const d = delta!.bigAt(0);
      const o = data as BigStorage;
      for (let i = 0; i < n; i++) o[i] = s + BigInt(i) * d;
    } else {
      const s = start!.at(0);
      const d = delta!.at(0);
      const o = data as Float64Array;
      for (let i = 0; i < n; i++) o[i] = s + i * d;
    }
    return new Tensor(out.elem, [n], data);
  },
};
