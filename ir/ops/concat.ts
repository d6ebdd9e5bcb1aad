// Concat {axis}: join inputs along one axis; all other dims must agree.

import type { OpDef } from '../op.ts';
import { intAttr, typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type Storage } from '../tensor.ts';
import { isFloatType, numel } from '../types.ts';
import { fmtShape, floatData, type AnyArray } from './broadcast.ts';
import { axisIn, requireSameElem } from './check.ts';

export const Concat: OpDef = {
  name: 'Concat',
  summary: 'join 1 or more inputs along an axis',
  arity: [1, Infinity],
  attrs: { axis: { kind: 'int', doc: 'the axis to join along (negative counts from the end)' } },
  infer(types, attrs) {
    const elem = requireSameElem('Concat', types);
    const first = types[0]!.shape;
    const rank = first.length;
    if (rank === 0) typeError('Concat of scalars: operands need rank >= 1');
    const axis = axisIn('Concat', intAttr(attrs, 'axis'), rank, first);
    const out = [...first];
    out[axis] = 0;
    for (const t of types) {
      const s = t.shape;
      if (s.length !== rank || s.some((d, i) => i !== axis && d !== first[i])) {
        typeError(`Concat along axis ${axis}: shapes ${types.map((x) => fmtShape(x.shape)).join(', ')} differ off the axis`);
      }
      out[axis]! += s[axis]!;
    }
    return { elem, shape: out };
  },
  evaluate(inputs, attrs, out) {
    const rank = out.shape.length;
    const axis = intAttr(attrs, 'axis') < 0 ? intAttr(attrs, 'axis') + rank : intAttr(attrs, 'axis');
    // blocks: outer = product of dims before axis; each input contributes dim*inner per outer step
    const outer = numel(out.shape.slice(0, axis));
    const inner = numel(out.shape.slice(axis + 1));
    const data = allocComputeStorage(out.elem, numel(out.shape)) as unknown as AnyArray;
    const float = isFloatType(out.elem);
    const rowLen = out.shape[axis]! * inner;
    let colOffset = 0;
    for (const t of inputs) {
      const src = (float ? floatData(t) : t.data) as AnyArray;
      const block = t.shape[axis]! * inner;
      for (let o = 0; o < outer; o++) {
        const dst = o * rowLen + colOffset;
        const from = o * block;
        for (let j = 0; j < block; j++) data[dst + j] = src[from + j]!;
      }
      colOffset += block;
    }
    return new Tensor(out.elem, out.shape, data as unknown as Storage);
  },
};
