// Reverse-mode rules of the matrix products: MatMul (numpy batching and 1-D promotion),
// Gemm, Linear, Pooler. For Y = A B: dA = dY B^T, dB = A^T dY; a batch operand broadcast
// over the product's batch receives the sum over that batch.
//
// The transposed operands are never materialized: the shared packing kernel reads them
// through swapped strides. The transposed pack of a weight (W^T for dX = dY W^T) is cached
// per weight tensor, since the same weight is used by every backward pass.

import type { Tensor } from '../tensor.ts';
import { broadcastShapes, isFloatType, numel } from '../types.ts';
import { broadcastIndex, floatData, type FloatArray } from '../ops/broadcast.ts';
import { matmulPackedInto, packRight, type PackedRight } from '../ops/matmul.ts';
import { floatAttr, intAttr } from '../op.ts';
import { reduceToShape, type Vjp } from './vjp.ts';

/**
 * out[oo + i*N + j] += sum_k A(i,k) B(k,j) with A(i,k) = A[ao + i*ai + k*ak] and
 * B(k,j) = B[bo + k*bk + j*bj].
 */
export function stridedMatmulInto(
  A: FloatArray, ao: number, ai: number, ak: number,
  B: FloatArray, bo: number, bk: number, bj: number,
  out: Float64Array, oo: number, M: number, K: number, N: number,
): void {
  if (M === 0 || N === 0 || K === 0) return;
  matmulPackedInto(A, ao, M, packRight(B, bo, bk, bj, K, N), out, oo, ai, ak);
}

const transposedPacks = new WeakMap<Tensor, PackedRight>();

/** W^T packed as a right operand, for a weight W [K, N] (cached per tensor). */
function packedTranspose(w: Tensor): PackedRight {
  let p = transposedPacks.get(w);
  if (p === undefined) {
    const [K, N] = w.shape as [number, number];
    p = packRight(floatData(w), 0, 1, N, N, K);
    transposedPacks.set(w, p);
  }
  return p;
}

export const matmulVjp: Vjp = ({ inputs, output, grad, needs }) => {
  const [a, b] = inputs as [Tensor, Tensor];
  if (!isFloatType(a.dtype)) return [undefined, undefined];
  const a2 = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape;
  const b2 = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape;
  const M = a2[a2.length - 2]!;
  const K = a2[a2.length - 1]!;
  const N = b2[b2.length - 1]!;
  const aBatch = a2.slice(0, -2);
  const bBatch = b2.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch)!;
  const nb = numel(batch);
  const ia = broadcastIndex(aBatch, batch);
  const ib = broadcastIndex(bBatch, batch);
  const A = floatData(a);
  const B = floatData(b);
  const ga = needs[0] ? new Float64Array(a.size) : undefined;
  const gb = needs[1] ? new Float64Array(b.size) : undefined;
  for (let p = 0; p < nb; p++) {
    const ao = (ia === undefined ? p : ia[p]!) * M * K;
    const bo = (ib === undefined ? p : ib[p]!) * K * N;
    const go = p * M * N;
    // dA[M,K] += dY[M,N] B^T[N,K]
    if (ga !== undefined) stridedMatmulInto(grad, go, N, 1, B, bo, 1, N, ga, ao, M, N, K);
    // dB[K,N] += A^T[K,M] dY[M,N]
    if (gb !== undefined) stridedMatmulInto(A, ao, 1, K, grad, go, N, 1, gb, bo, K, M, N);
  }
  return [ga, gb];
};

export const gemmVjp: Vjp = ({ node, inputs, output, grad, needs }) => {
  const [a, b, c] = inputs as [Tensor, Tensor, Tensor | undefined];
  const transA = intAttr(node.attrs, 'transA') !== 0;
  const transB = intAttr(node.attrs, 'transB') !== 0;
  const alpha = floatAttr(node.attrs, 'alpha');
  const beta = floatAttr(node.attrs, 'beta');
  const [M, N] = output.shape as [number, number];
  const K = transA ? a.shape[0]! : a.shape[1]!;
  const A = floatData(a);
  const B = floatData(b);
  // op(A)(i,k) = A[i*K + k] or A[k*M + i]; op(B)(k,j) = B[k*N + j] or B[j*K + k]
  const [aI, aK] = transA ? [1, M] : [K, 1];
  const [bK, bJ] = transB ? [1, K] : [N, 1];
  let ga: Float64Array | undefined;
  let gb: Float64Array | undefined;
  if (needs[0]) {
    // d op(A)(i,k) = alpha sum_j dY(i,j) op(B)(k,j); stored at A's layout via the output strides
    const t = new Float64Array(M * K);
    stridedMatmulInto(grad, 0, N, 1, B, 0, bJ, bK, t, 0, M, N, K);
    ga = new Float64Array(a.size);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) ga[i * aI + k * aK] = alpha * t[i * K + k]!;
  }
  if (needs[1]) {
    const t = new Float64Array(K * N);
    stridedMatmulInto(A, 0, aK, aI, grad, 0, N, 1, t, 0, K, M, N);
    gb = new Float64Array(b.size);
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) gb[k * bK + j * bJ] = alpha * t[k * N + j]!;
  }
  let gc: Float64Array | undefined;
  if (c !== undefined && needs[2]) {
    gc = reduceToShape(grad, [M, N], c.shape).slice();
    for (let i = 0; i < gc.length; i++) gc[i]! *= beta;
  }
  return [ga, gb, gc];
};

export const linearVjp: Vjp = ({ inputs, grad, needs }) => {
  const [x, w, b] = inputs as [Tensor, Tensor, Tensor | undefined];
  const [K, N] = w.shape as [number, number];
  const M = K === 0 ? grad.length / Math.max(N, 1) : x.size / K;
  let gx: Float64Array | undefined;
  if (needs[0]) {
    gx = new Float64Array(x.size);
    if (M > 0 && N > 0 && K > 0) matmulPackedInto(grad, 0, M, packedTranspose(w), gx, 0);
  }
  let gw: Float64Array | undefined;
  if (needs[1]) {
    gw = new Float64Array(K * N);
    stridedMatmulInto(floatData(x), 0, 1, K, grad, 0, N, 1, gw, 0, K, M, N);
  }
  let gb: Float64Array | undefined;
  if (b !== undefined && needs[2]) {
    gb = new Float64Array(N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) gb[j]! += grad[i * N + j]!;
  }
  return [gx, gw, gb];
};

/** Y = tanh(x[:, 0, :] W + b). */
export const poolerVjp: Vjp = ({ inputs, output, grad, needs }) => {
  const [x, w] = inputs as [Tensor, Tensor, Tensor];
  const [B, S, D] = x.shape as [number, number, number];
  const N = w.shape[1]!;
  const Y = floatData(output);
  const dz = new Float64Array(B * N);
  for (let k = 0; k < dz.length; k++) dz[k] = grad[k]! * (1 - Y[k]! * Y[k]!);
  let gx: Float64Array | undefined;
  if (needs[0]) {
    gx = new Float64Array(x.size);
    for (let i = 0; i < B; i++) stridedMatmulInto(dz, i * N, N, 1, floatData(w), 0, 1, N, gx, i * S * D, 1, N, D);
  }
  let gw: Float64Array | undefined;
  if (needs[1]) {
    gw = new Float64Array(D * N);
    // dW[D,N] += x0^T[D,B] dz[B,N], x0(b, k) = x[b*S*D + k]
    stridedMatmulInto(floatData(x), 0, 1, S * D, dz, 0, N, 1, gw, 0, D, B, N);
  }
  let gb: Float64Array | undefined;
  if (needs[2]) {
    gb = new Float64Array(N);
    for (let i = 0; i < B; i++) for (let j = 0; j < N; j++) gb[j]! += dz[i * N + j]!;
  }
  return [gx, gw, gb];
};
