// MatMul: numpy matmul (1-D operands promoted and the promoted axis dropped, batch dims
// broadcast), and the float matrix-product kernels shared with Gemm and the transformer ops.
// Integers wrap like the element-wise ops.
//
// Float kernels accumulate every output element exactly as the textbook i-k-j loop does:
// start from the value already in `out` (0, or a bias), then add A[i,k] * B[k,j] for
// k = 0, 1, ..., K-1 in order. Blocking only changes *which* elements are worked on when,
// never the order of the additions into one element, so results are bit-for-bit those of
// the simple loop. Speed comes from packing both operands into 4-wide interleaved strips
// (sequential reads, no strides in the inner loop), a 4x4 register tile of 16 accumulators
// over plain Float64Arrays, and blocking over K and N so that one panel of the packed right
// operand stays in L2 while the rows of the left operand stream past it.

import type { OpDef } from '../op.ts';
import { typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type BigStorage } from '../tensor.ts';
import { broadcastShapes, isFloatType, numel, type ElemType, type Shape } from '../types.ts';
import { bigData, broadcastIndex, floatData, fmtShape, isBigElem, type FloatArray } from './broadcast.ts';
import { requireNumeric, requireSameElem } from './check.ts';

/** Tile size of the register block (rows of A x columns of B). */
const R = 4;
/** Depth of one K block: a 4 x KC strip of each packed operand is 8 KiB. */
const KC = 256;
/** Columns per panel of the packed right operand: KC x NC doubles is 256 KiB (L2-sized). */
const NC = 128;

/** The right operand [K, N] repacked as ceil(N/4) strips of K rows x 4 columns (zero padded). */
export interface PackedRight {
  readonly K: number;
  readonly N: number;
  readonly data: Float64Array;
}

/**
 * Packs B where element (k, j) is B[bo + k*kStride + j*jStride]: a row-major [K, N] matrix
 * has strides (N, 1); a row-major [N, K] one read transposed (k^T) has strides (1, K).
 */
export function packRight(B: FloatArray, bo: number, kStride: number, jStride: number, K: number, N: number): PackedRight {
  const strips = (N + R - 1) >> 2;
  const P = new Float64Array(strips * K * R);
  if (jStride === 1) {
    for (let k = 0; k < K; k++) {
      const row = bo + k * kStride;
      for (let j = 0; j < N; j++) P[((j >> 2) * K + k) * R + (j & 3)] = B[row + j]!;
    }
  } else {
    for (let j = 0; j < N; j++) {
      const col = bo + j * jStride;
      const base = (j >> 2) * K * R + (j & 3);
      for (let k = 0; k < K; k++) P[base + k * R] = B[col + k * kStride]!;
    }
  }
  return { K, N, data: P };
}

/** Packs M x K rows of A (element (i, k) at A[ao + i*iStride + k*kStride]) as 4-row strips. */
function packLeft(A: FloatArray, ao: number, iStride: number, kStride: number, M: number, K: number): Float64Array {
  const strips = (M + R - 1) >> 2;
  const P = new Float64Array(strips * K * R);
  for (let i = 0; i < M; i++) {
    const row = ao + i * iStride;
    const base = (i >> 2) * K * R + (i & 3);
    if (kStride === 1) for (let k = 0; k < K; k++) P[base + k * R] = A[row + k]!;
    else for (let k = 0; k < K; k++) P[base + k * R] = A[row + k * kStride]!;
  }
  return P;
}

/** C[o + r*ldc + c] += sum over kc steps of Ap[pa + 4k + r] * Bp[pb + 4k + c], for r, c < 4. */
function tile4x4(Ap: Float64Array, pa: number, Bp: Float64Array, pb: number, kc: number, C: Float64Array, o: number, ldc: number): void {
  const o1 = o + ldc;
  const o2 = o1 + ldc;
  const o3 = o2 + ldc;
  let c00 = C[o]!, c01 = C[o + 1]!, c02 = C[o + 2]!, c03 = C[o + 3]!;
  let c10 = C[o1]!, c11 = C[o1 + 1]!, c12 = C[o1 + 2]!, c13 = C[o1 + 3]!;
  let c20 = C[o2]!, c21 = C[o2 + 1]!, c22 = C[o2 + 2]!, c23 = C[o2 + 3]!;
  let c30 = C[o3]!, c31 = C[o3 + 1]!, c32 = C[o3 + 2]!, c33 = C[o3 + 3]!;
  const end = pa + kc * R;
  for (; pa < end; pa += R, pb += R) {
    const a0 = Ap[pa]!, a1 = Ap[pa + 1]!, a2 = Ap[pa + 2]!, a3 = Ap[pa + 3]!;
    const b0 = Bp[pb]!, b1 = Bp[pb + 1]!, b2 = Bp[pb + 2]!, b3 = Bp[pb + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  C[o] = c00; C[o + 1] = c01; C[o + 2] = c02; C[o + 3] = c03;
  C[o1] = c10; C[o1 + 1] = c11; C[o1 + 2] = c12; C[o1 + 3] = c13;
  C[o2] = c20; C[o2 + 1] = c21; C[o2 + 2] = c22; C[o2 + 3] = c23;
  C[o3] = c30; C[o3 + 1] = c31; C[o3 + 2] = c32; C[o3 + 3] = c33;
}

/**
 * out[oo + i*N + j] += sum_k A(i, k) * B(k, j) for a packed B, where A(i, k) is
 * A[ao + i*iStride + k*kStride] (defaults: row-major [M, K]).
 */
export function matmulPackedInto(
  A: FloatArray,
  ao: number,
  M: number,
  right: PackedRight,
  out: Float64Array,
  oo: number,
  iStride: number = right.K,
  kStride = 1,
): void {
  const { K, N, data: Bp } = right;
  if (M === 0 || N === 0 || K === 0) return;
  const Ap = packLeft(A, ao, iStride, kStride, M, K);
  const mStrips = (M + R - 1) >> 2;
  const nStrips = (N + R - 1) >> 2;
  const panel = NC / R;
  const edge = new Float64Array(R * R);
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = Math.min(KC, K - k0);
    for (let s0 = 0; s0 < nStrips; s0 += panel) {
      const s1 = Math.min(nStrips, s0 + panel);
      for (let ib = 0; ib < mStrips; ib++) {
        const pa = (ib * K + k0) * R;
        const i0 = ib * R;
        const rows = Math.min(R, M - i0);
        for (let s = s0; s < s1; s++) {
          const pb = (s * K + k0) * R;
          const j0 = s * R;
          const cols = Math.min(R, N - j0);
          const o = oo + i0 * N + j0;
          if (rows === R && cols === R) {
            tile4x4(Ap, pa, Bp, pb, kc, out, o, N);
          } else {
            // ragged edge: work on a zero-padded copy, write back only the real elements
            edge.fill(0);
            for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) edge[r * R + c] = out[o + r * N + c]!;
            tile4x4(Ap, pa, Bp, pb, kc, edge, 0, R);
            for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[o + r * N + c] = edge[r * R + c]!;
          }
        }
      }
    }
  }
}

/** Below this many multiply-adds (or with fewer than 4 rows) packing costs more than it saves. */
const SMALL = 4096;

/** The textbook i-k-j loop (the reference order every kernel here reproduces). */
function matmulSimpleInto(A: FloatArray, ao: number, B: FloatArray, bo: number, out: Float64Array, oo: number, M: number, K: number, N: number): void {
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

/** out[oo + i*N + j] += sum_k A[ao + i*K + k] * B[bo + k*N + j], k in increasing order. */
export function matmulFloatInto(
  A: FloatArray,
  ao: number,
  B: FloatArray,
  bo: number,
  out: Float64Array,
  oo: number,
  M: number,
  K: number,
  N: number,
): void {
  if (M < R || M * K * N < SMALL) matmulSimpleInto(A, ao, B, bo, out, oo, M, K, N);
  else matmulPackedInto(A, ao, M, packRight(B, bo, N, 1, K, N), out, oo);
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
      const A = floatData(a!);
      const B = floatData(b!);
      const data = new Float64Array(nb * M * N);
      if (M < 4 || M * K * N < SMALL) {
        for (let p = 0; p < nb; p++) matmulFloatInto(A, aIdx(p) * M * K, B, bIdx(p) * K * N, data, p * M * N, M, K, N);
      } else {
        // a right operand broadcast over the batch is packed once
        const packed = new Map<number, PackedRight>();
        for (let p = 0; p < nb; p++) {
          const bo = bIdx(p) * K * N;
          let right = packed.get(bo);
          if (right === undefined) {
            right = packRight(B, bo, N, 1, K, N);
            if (ib !== undefined) packed.set(bo, right);
          }
          matmulPackedInto(A, aIdx(p) * M * K, M, right, data, p * M * N);
        }
      }
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
