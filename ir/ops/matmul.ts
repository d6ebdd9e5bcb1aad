// MatMul: numpy matmul (1-D operands promoted and the promoted axis dropped, batch dims
// broadcast). Floats run an i-k-j loop over Float64Arrays that accumulates into the output
// row; integers wrap like the element-wise ops.

import type { OpDef } from '../op.ts';
import { typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type BigStorage } from '../tensor.ts';
import { broadcastShapes, isFloatType, numel, type ElemType, type Shape } from '../types.ts';
import { bigData, broadcastIndex, float64Data, fmtShape, isBigElem } from './broadcast.ts';
import { requireNumeric, requireSameElem } from './check.ts';

/** out[oo + i*N + j] += sum_k A[ao + i*K + k] * B[bo + k*N + j]. */
export function matmulFloatInto(
  A: Float64Array,
  ao: number,
  B: Float64Array,
  bo: number,
  out: Float64Array,
  oo: number,
  M: number,
  K: number,
  N: number,
): void {
  for (let i = 0; i < M; i++) {
    const orow = oo + i * N;
    const arow = ao + i * K;
    for (let k = 0; k < K; k++) {
      const av = A[arow + k]!;
      const brow = bo + k * N;
      for (let j = 0; j < N; j++) out[orow + j]! += av * B[brow + j]!;
    }
  }
}

interface MatmulDims {
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly aBatch: Shape;
  readonly bBatch: Shape;
  readonly batch: number[];
  readonly out: number[];
}

function matmulDims(a: Shape, b: Shape): MatmulDims {
  if (a.length === 0 || b.length === 0) typeError(`MatMul needs operands of rank >= 1, got ${fmtShape(a)} x ${fmtShape(b)}`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const M = a2[a2.length - 2]!;
  const K = a2[a2.length - 1]!;
  const K2 = b2[b2.length - 2]!;
  const N = b2[b2.length - 1]!;
  if (K !== K2) typeError(`MatMul inner dimensions differ: ${fmtShape(a)} x ${fmtShape(b)}`);
  const aBatch = a2.slice(0, -2);
  const bBatch = b2.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);
  if (batch === undefined) typeError(`MatMul batch dimensions do not broadcast: ${fmtShape(a)} x ${fmtShape(b)}`);
  const out = [...batch];
  if (a.length > 1) out.push(M);
  if (b.length > 1) out.push(N);
  return { M, K, N, aBatch, bBatch, batch, out };
}

export const MatMul: OpDef = {
  name: 'MatMul',
  summary: 'matrix product with numpy semantics (1-D promotion, broadcast batch dims)',
  arity: [2, 2],
  attrs: {},
  infer([a, b]) {
    requireNumeric('MatMul', a!);
    requireNumeric('MatMul', b!);
    const elem = requireSameElem('MatMul', [a!, b!]);
    return { elem, shape: matmulDims(a!.shape, b!.shape).out };
  },
  evaluate([a, b], _attrs, out) {
    const { M, K, N, aBatch, bBatch, batch } = matmulDims(a!.shape, b!.shape);
    const nb = numel(batch);
    const ia = broadcastIndex(aBatch, batch);
    const ib = broadcastIndex(bBatch, batch);
    const aIdx = (p: number): number => (ia === undefined ? p : ia[p]!);
    const bIdx = (p: number): number => (ib === undefined ? p : ib[p]!);
    if (isFloatType(out.elem)) {
      const A = float64Data(a!);
      const B = float64Data(b!);
      const data = new Float64Array(nb * M * N);
      for (let p = 0; p < nb; p++) matmulFloatInto(A, aIdx(p) * M * K, B, bIdx(p) * K * N, data, p * M * N, M, K, N);
      return new Tensor(out.elem, out.shape, data);
    }
    return matmulInt(a!, b!, out.elem, out.shape, { M, K, N, nb, aIdx, bIdx });
  },
};

interface IntPlan {
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly nb: number;
  aIdx(p: number): number;
  bIdx(p: number): number;
}

/** Exact wrapping integer matmul (reference only: not a hot path at the ONNX level). */
function matmulInt(a: Tensor, b: Tensor, elem: ElemType, shape: Shape, plan: IntPlan): Tensor {
  const { M, K, N, nb } = plan;
  const n = nb * M * N;
  if (isBigElem(elem)) {
    const A = bigData(a);
    const B = bigData(b);
    const data = allocComputeStorage(elem, n) as BigStorage;
    for (let p = 0; p < nb; p++) {
      const ao = plan.aIdx(p) * M * K;
      const bo = plan.bIdx(p) * K * N;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let acc = 0n;
          for (let k = 0; k < K; k++) acc = BigInt.asUintN(64, acc + A[ao + i * K + k]! * B[bo + k * N + j]!);
          data[p * M * N + i * N + j] = acc;
        }
      }
    }
    return new Tensor(elem, shape, data);
  }
  const A = a.data as unknown as { [i: number]: number };
  const B = b.data as unknown as { [i: number]: number };
  const data = allocComputeStorage(elem, n) as Int32Array;
  for (let p = 0; p < nb; p++) {
    const ao = plan.aIdx(p) * M * K;
    const bo = plan.bIdx(p) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        // arithmetic mod 2^32; the result storage narrows further for 8-bit types
        let acc = 0;
        for (let k = 0; k < K; k++) acc = (acc + Math.imul(A[ao + i * K + k]!, B[bo + k * N + j]!)) | 0;
        data[p * M * N + i * N + j] = acc;
      }
    }
  }
  return new Tensor(elem, shape, data);
}
