// Shape {start, end}: the input's dims [start, end) as an i64 vector. Always public: shapes
// are static facts, never secret.

import type { OpDef } from '../op.ts';
import { intAttr } from '../op.ts';
import { Tensor } from '../tensor.ts';
import type { Shape as Dims } from '../types.ts';

/** ONNX Shape slicing: negative bounds count from the end, both clamped to [0, rank]. */
export function shapeRange(rank: number, start: number, end: number): [number, number] {
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return [clamp(start), clamp(end)];
}

function dimsOf(shape: Dims, attrs: Parameters<OpDef['infer']>[1]): number[] {
  const [s, e] = shapeRange(shape.length, intAttr(attrs, 'start'), intAttr(attrs, 'end'));
  return shape.slice(s, Math.max(s, e));
}

export const Shape: OpDef = {
  name: 'Shape',
  summary: "the input's dims [start, end) as a public i64 vector",
  arity: [1, 1],
  attrs: {
    start: { kind: 'int', default: 0, doc: 'first dim (negative counts from the end)' },
    end: { kind: 'int', default: 2147483647, doc: 'end dim, exclusive (clamped to the rank)' },
  },
  infer([x], attrs) {
    return { elem: 'i64', shape: [dimsOf(x!.shape, attrs).length] };
  },
  visibility: () => 'public',
  evaluate([x], attrs) {
    const dims = dimsOf(x!.shape, attrs);
    return Tensor.from('i64', [dims.length], dims);
  },
};
