// Where: cond ? x : y, element-wise with broadcasting of all three operands.

import type { OpDef } from '../op.ts';
import { Tensor, allocComputeStorage, type Storage } from '../tensor.ts';
import { isFloatType, numel } from '../types.ts';
import { broadcastAll, broadcastIndex, floatData, type AnyArray } from './broadcast.ts';
import { requireBool } from './check.ts';
import { typeError } from '../op.ts';

export const Where: OpDef = {
  name: 'Where',
  summary: 'cond ? x : y, element-wise with broadcasting',
  arity: [3, 3],
  attrs: {},
  infer([c, x, y]) {
    requireBool('Where', c!, 'condition');
    if (x!.elem !== y!.elem) typeError(`Where needs x and y of one element type, got ${x!.elem} and ${y!.elem}`);
    return { elem: x!.elem, shape: broadcastAll('Where', [c!.shape, x!.shape, y!.shape]) };
  },
  evaluate([c, x, y], _attrs, out) {
    const n = numel(out.shape);
    const data = allocComputeStorage(out.elem, n) as unknown as AnyArray;
    const C = c!.data as Uint8Array;
    const float = isFloatType(out.elem);
    const X = (float ? floatData(x!) : x!.data) as AnyArray;
    const Y = (float ? floatData(y!) : y!.data) as AnyArray;
    const ic = broadcastIndex(c!.shape, out.shape);
    const ix = broadcastIndex(x!.shape, out.shape);
    const iy = broadcastIndex(y!.shape, out.shape);
    for (let k = 0; k < n; k++) {
      data[k] = C[ic === undefined ? k : ic[k]!] ? X[ix === undefined ? k : ix[k]!]! : Y[iy === undefined ? k : iy[k]!]!;
    }
    return new Tensor(out.elem, out.shape, data as unknown as Storage);
  },
};
