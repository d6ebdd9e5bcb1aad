// Reshape {shape}: the same elements in row-major order under a new concrete shape.

import type { OpDef } from '../op.ts';
import { intsAttr, typeError } from '../op.ts';
import { numel } from '../types.ts';
import { asComputed, fmtShape } from './broadcast.ts';

export const Reshape: OpDef = {
  name: 'Reshape',
  summary: 'same elements, new concrete shape (row-major order kept)',
  arity: [1, 1],
  attrs: { shape: { kind: 'ints', doc: 'the result shape; every dim concrete (no 0-copy or -1)' } },
  infer([x], attrs) {
    const shape = intsAttr(attrs, 'shape');
    if (shape.some((d) => d < 0)) typeError(`Reshape shape ${fmtShape(shape)} must be concrete (no negative dims)`);
    if (numel(shape) !== numel(x!.shape)) {
      typeError(`Reshape of ${fmtShape(x!.shape)} (${numel(x!.shape)} elements) to ${fmtShape(shape)} (${numel(shape)} elements)`);
    }
    return { elem: x!.elem, shape };
  },
  evaluate([x], _attrs, out) {
    return asComputed(x!, out.shape);
  },
};
