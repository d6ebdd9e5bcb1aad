// Expand {shape}: broadcast the input with `shape` (bidirectional, as ONNX Expand).

import type { OpDef } from '../op.ts';
import { intsAttr, typeError } from '../op.ts';
import { broadcastShapes, stridesOf } from '../types.ts';
import { fmtShape, stridedCopy } from './broadcast.ts';

export const Expand: OpDef = {
  name: 'Expand',
  summary: 'broadcast the input with a shape (numpy rules, either side may be 1)',
  arity: [1, 1],
  attrs: { shape: { kind: 'ints', doc: 'shape to broadcast with' } },
  infer([x], attrs) {
    const shape = intsAttr(attrs, 'shape');
    const out = broadcastShapes(x!.shape, shape);
    if (out === undefined || shape.some((d) => d < 0)) typeError(`Expand of ${fmtShape(x!.shape)} with shape ${fmtShape(shape)}: shapes do not broadcast`);
    return { elem: x!.elem, shape: out };
  },
  evaluate([x], _attrs, out) {
    const rank = out.shape.length;
    const src = x!.shape;
    const s = stridesOf(src);
    const strides = new Array<number>(rank).fill(0);
    for (let i = 0; i < src.length; i++) strides[rank - src.length + i] = src[i] === 1 ? 0 : s[i]!;
    return stridedCopy(x!, out.elem, out.shape, 0, strides);
  },
};
