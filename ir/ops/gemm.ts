// Gemm {alpha, beta, transA, transB}: alpha * A' B' + beta * C, with A', B' optionally
// transposed 2-D operands and C unidirectionally broadcast to [M, N].

import type { OpDef } from '../op.ts';
import { floatAttr, intAttr, typeError } from '../op.ts';
import { Tensor } from '../tensor.ts';
import { broadcastShapes, shapesEqual, type Shape } from '../types.ts';
import { broadcastIndex, float64Data, floatData, fmtShape } from './broadcast.ts';
import { requireFloat, requireSameElem } from './check.ts';
import { matmulFloatInto, matmulPackedInto, packRight } from './matmul.ts';

function gemmDims(a: Shape, b: Shape, transA: number, transB: number): { M: number; K: number; N: number } {
  if (a.length !== 2 || b.length !== 2) typeError(`Gemm needs 2-D A and B, got ${fmtShape(a)} and ${fmtShape(b)}`);
  const [M, K] = transA ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [K2, N] = transB ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  if (K !== K2) {
    typeError(`Gemm inner dimensions differ: A ${fmtShape(a)}${transA ? ' (transposed)' : ''} x B ${fmtShape(b)}${transB ? ' (transposed)' : ''}`);
  }
  return { M, K, N };
}

export const Gemm: OpDef = {
  name: 'Gemm',
  summary: 'alpha * op(A) op(B) + beta * C for 2-D A, B; C broadcast to [M, N]',
  arity: [2, 3],
  attrs: {
    alpha: { kind: 'float', default: 1, doc: 'scale of the product' },
    beta: { kind: 'float', default: 1, doc: 'scale of C' },
    transA: { kind: 'int', default: 0, doc: 'transpose A first' },
    transB: { kind: 'int', default: 0, doc: 'transpose B first' },
  },
  infer(types, attrs) {
    for (const t of types) requireFloat('Gemm', t);
    const elem = requireSameElem('Gemm', types);
    const { M, N } = gemmDims(types[0]!.shape, types[1]!.shape, intAttr(attrs, 'transA'), intAttr(attrs, 'transB'));
    const c = types[2];
    if (c !== undefined) {
      const bc = broadcastShapes(c.shape, [M, N]);
      if (bc === undefined || !shapesEqual(bc, [M, N])) typeError(`Gemm C ${fmtShape(c.shape)} does not broadcast to [${M},${N}]`);
    }
    return { elem, shape: [M, N] };
  },
  evaluate([a, b, c], attrs, out) {
    const transA = intAttr(attrs, 'transA');
    const transB = intAttr(attrs, 'transB');
    const alpha = floatAttr(attrs, 'alpha');
    const beta = floatAttr(attrs, 'beta');
    const { M, K, N } = gemmDims(a!.shape, b!.shape, transA, transB);
    const A = floatData(a!);
    const B = floatData(b!);
    const data = new Float64Array(M * N);
    if (!transA && !transB) matmulFloatInto(A, 0, B, 0, data, 0, M, K, N);
    // transposed operands are read with swapped strides while packing
    else matmulPackedInto(A, 0, M, packRight(B, 0, transB ? 1 : N, transB ? K : 1, K, N), data, 0, transA ? 1 : K, transA ? M : 1);
    if (alpha !== 1) for (let i = 0; i < data.length; i++) data[i]! *= alpha;
    if (c !== undefined) {
      const C = float64Data(c);
      const ic = broadcastIndex(c.shape, [M, N]);
      for (let i = 0; i < data.length; i++) data[i]! += beta * C[ic === undefined ? i : ic[i]!]!;
    }
    return new Tensor(out.elem, out.shape, data);
  },
};
