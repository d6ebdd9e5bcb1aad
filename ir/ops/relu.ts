// Relu: max(x, 0), element-wise.

import type { OpDef } from '../op.ts';
import { typeError } from '../op.ts';
import { isFloatType } from '../types.ts';
import { mapFloat } from './broadcast.ts';

export const Relu: OpDef = {
  name: 'Relu',
  summary: 'max(x, 0), element-wise',
  arity: [1, 1],
  attrs: {},
  infer([x]) {
    if (!isFloatType(x!.elem)) typeError(`Relu needs a float input, got ${x!.elem}`);
    return { elem: x!.elem, shape: x!.shape };
  },
  evaluate([x], _attrs, out) {
    return mapFloat([x!], out.elem, out.shape, (v) => (v > 0 ? v : 0));
  },
};
