// Gather {axis}: pick slices of `data` along one axis by integer indices (negative indices
// count from the end). Result shape: data[:axis] + indices.shape + data[axis+1:].

import type { OpDef } from '../op.ts';
import { evalError, intAttr, typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type Storage } from '../tensor.ts';
import { isFloatType, numel } from '../types.ts';
import { floatData, type AnyArray } from './broadcast.ts';
import { axisIn } from './check.ts';

export const Gather: OpDef = {
  name: 'Gather',
  summary: 'select slices along an axis by int32/int64 indices (negative indices wrap)',
  arity: [2, 2],
  attrs: { axis: { kind: 'int', default: 0, doc: 'the axis indexed (negative counts from the end)' } },
  infer([data, indices], attrs) {
    if (indices!.elem !== 'i32' && indices!.elem !== 'i64') typeError(`Gather indices must be i32 or i64, got ${indices!.elem}`);
    const rank = data!.shape.length;
    if (rank === 0) typeError('Gather needs data of rank >= 1, got a scalar');
    const axis = axisIn('Gather', intAttr(attrs, 'axis'), rank, data!.shape);
    return { elem: data!.elem, shape: [...data!.shape.slice(0, axis), ...indices!.shape, ...data!.shape.slice(axis + 1)] };
  },
  evaluate([data, indices], attrs, out) {
    const shape = data!.shape;
    const attrAxis = intAttr(attrs, 'axis');
    const axis = attrAxis < 0 ? attrAxis + shape.length : attrAxis;
    const dim = shape[axis]!;
    const outer = numel(shape.slice(0, axis));
    const inner = numel(shape.slice(axis + 1));
    const nIdx = indices!.size;
    const idx = new Array<number>(nIdx);
    for (let i = 0; i < nIdx; i++) {
      const v = indices!.at(i);
      const j = v < 0 ? v + dim : v;
      if (!(j >= 0 && j < dim)) evalError(`Gather index ${indices!.data[i]} is out of range for axis ${axis} of size ${dim}`);
      idx[i] = j;
    }
    const src = (isFloatType(out.elem) ? floatData(data!) : data!.data) as AnyArray;
    const res = allocComputeStorage(out.elem, outer * nIdx * inner) as unknown as AnyArray;
    let k = 0;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < nIdx; i++) {
        const from = (o * dim + idx[i]!) * inner;
        for (let j = 0; j < inner; j++) res[k++] = src[from + j]!;
      }
    }
    return new Tensor(out.elem, out.shape, res as unknown as Storage);
  },
};
