// Transpose {perm}: result axis i is input axis perm[i]; the empty perm means reversed axes.

import type { OpDef } from '../op.ts';
import { intsAttr, typeError } from '../op.ts';
import { stridesOf, type Shape } from '../types.ts';
import { fmtShape, stridedCopy } from './broadcast.ts';

/** The permutation, normalized (negative axes allowed), or a type error. */
export function permOf(perm: readonly number[], shape: Shape): number[] {
  const rank = shape.length;
  if (perm.length === 0) return Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank) typeError(`Transpose perm ${fmtShape(perm)} has ${perm.length} entries for rank ${rank} (shape ${fmtShape(shape)})`);
  const p = perm.map((a) => (a < 0 ? a + rank : a));
  const seen = new Set<number>();
  for (const a of p) {
    if (!(a >= 0 && a < rank) || seen.has(a)) typeError(`Transpose perm ${fmtShape(perm)} is not a permutation of 0..${rank - 1}`);
    seen.add(a);
  }
  return p;
}

export const Transpose: OpDef = {
  name: 'Transpose',
  summary: 'permute axes (result axis i = input axis perm[i]; [] reverses)',
  arity: [1, 1],
  attrs: { perm: { kind: 'ints', default: [], doc: 'the permutation; [] means reversed axes' } },
  infer([x], attrs) {
    const p = permOf(intsAttr(attrs, 'perm'), x!.shape);
    return { elem: x!.elem, shape: p.map((a) => x!.shape[a]!) };
  },
  evaluate([x], attrs, out) {
    const p = permOf(intsAttr(attrs, 'perm'), x!.shape);
    const s = stridesOf(x!.shape);
    return stridedCopy(x!, out.elem, out.shape, 0, p.map((a) => s[a]!));
  },
};
