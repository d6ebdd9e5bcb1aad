// Tile {repeats}: repeat the whole tensor repeats[i] times along axis i.
//
// Evaluated as a strided walk over the interleaved shape [r0, d0, r1, d1, ...] with stride 0
// on the repeat axes, which flattens to the tiled [r0*d0, r1*d1, ...].

import type { OpDef } from '../op.ts';
import { intsAttr, typeError } from '../op.ts';
import { Tensor } from '../tensor.ts';
import { stridesOf } from '../types.ts';
import { fmtShape, stridedCopy } from './broadcast.ts';

export const Tile: OpDef = {
  name: 'Tile',
  summary: 'repeat the tensor repeats[i] times along each axis i',
  arity: [1, 1],
  attrs: { repeats: { kind: 'ints', doc: 'one non-negative count per axis' } },
  infer([x], attrs) {
    const r = intsAttr(attrs, 'repeats');
    if (r.length !== x!.shape.length) typeError(`Tile repeats ${fmtShape(r)} must have one entry per axis of ${fmtShape(x!.shape)}`);
    if (r.some((v) => v < 0)) typeError(`Tile repeats ${fmtShape(r)} must be non-negative`);
    return { elem: x!.elem, shape: x!.shape.map((d, i) => d * r[i]!) };
  },
  evaluate([x], attrs, out) {
    const r = intsAttr(attrs, 'repeats');
    const s = stridesOf(x!.shape);
    const shape: number[] = [];
    const strides: number[] = [];
    x!.shape.forEach((d, i) => {
      shape.push(r[i]!, d);
      strides.push(0, s[i]!);
    });
    const t = stridedCopy(x!, out.elem, shape, 0, strides);
    return new Tensor(out.elem, out.shape, t.data);
  },
};
