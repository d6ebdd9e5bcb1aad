// Ring kernels over Z_2^64 on BigUint64Array: element-wise arithmetic with broadcast, matmul,
// truncation, bit operations and data movement.
//
// Arithmetic runs in the WebAssembly kernels of ring-wasm.ts (operands are copied into the
// module's memory and the result copied out: memcpy, never a BigInt per element). Data
// movement copies contiguous runs with TypedArray.set and everything else through the
// wasm gather kernel with an index array, so no path touches elements one BigInt at a time.

import { broadcastShapes, numel, stridesOf, type Shape } from '../types.ts';
import type { ResolvedSlice } from '../circuit/shape-rules.ts';
import { ringKernels, type BinaryOp, type ShiftOp } from './ring-wasm.ts';
import { allocRing, recycle } from './pool.ts';

export type Ring = BigUint64Array;
export type { BinaryOp } from './ring-wasm.ts';

const W = ringKernels();
/** Largest element-wise chunk copied into wasm memory at once (keeps the arena small). */
const CHUNK = 1 << 19;
/** Columns of the transposed right operand processed together: a block of about 256 KiB stays in cache. */
const L2_BYTES = 256 * 1024;
/**
 * Inner-dimension block of long dot products (the embedding one-hot @ table has k = the
 * vocabulary size). A block of A's rows (m x K_BLOCK) is read again for every block of
 * columns: at 8192 with BERT's m = 128 that is 8 MB per 4 columns, and the one-hot product ran
 * at about 80% of the kernel's speed; at 1024 (1 MB, 32 columns a block) it runs at full speed.
 */
const K_BLOCK = 1024;
/** Elements of B (and as many of its transpose) in the wasm arena at once. */
const PANEL = 1 << 21;

/** Makes the wasm arena at least `bytes` long. */
function reserve(bytes: number): void {
  const have = W.memory.buffer.byteLength;
  if (bytes > have) W.memory.grow(Math.ceil((bytes - have) / 65536));
}

function put(off: number, x: Ring): void {
  new BigUint64Array(W.memory.buffer, off, x.length).set(x);
}

function takeInto(off: number, out: Ring, at = 0, n = out.length - at): void {
  out.set(new BigUint64Array(W.memory.buffer, off, n), at);
}

/** The bytes `r` needs, rounded to 8. */
const bytesOf = (n: number): number => n * 8;

/** Ring multiply-accumulates done by ringMatmul in this thread (for throughput reports). */
export const ringStats = { macs: 0 };

/** C[m,n] = A[m,k] @ B[k,n] mod 2^64 (row-major), written into `out` (or a new array). */
export function ringMatmul(a: Ring, b: Ring, m: number, k: number, n: number, out: Ring = allocRing(m * n)): Ring {
  ringStats.macs += m * k * n;
  if (m === 0 || n === 0) return out;
  if (k === 0) {
    out.fill(0n);
    return out;
  }
  // Blocks: kc of the inner dimension (so a long k does not stream all of A once per column
  // block), jb columns of B^T (a kc x jb block of about 256 KiB stays in cache).
  const kc = k <= K_BLOCK ? k : K_BLOCK;
  let jb = Math.max(2, Math.floor(L2_BYTES / (8 * kc)));
  jb -= jb % 2;
  // B goes into the arena a panel of nb columns at a time (a multiple of jb, at most about
  // PANEL elements): wasm memory never shrinks, and a whole embedding table (and its
  // transpose) would keep hundreds of MB in every thread that ever multiplied by one.
  let nb = Math.max(jb, Math.floor(PANEL / k));
  nb -= nb % jb;
  if (nb >= n) nb = n;
  const A = 0;
  const P = A + bytesOf(m * k);
  const PT = P + bytesOf(k * nb);
  const O = PT + bytesOf(k * nb);
  reserve(O + bytesOf(m * n));
  put(A, a);
  for (let p0 = 0; p0 < n; p0 += nb) {
    const w = Math.min(nb, n - p0);
    if (w === n) put(P, b);
    else {
      const panel = new BigUint64Array(W.memory.buffer, P, k * w);
      for (let r = 0; r < k; r++) panel.set(b.subarray(r * n + p0, r * n + p0 + w), r * w);
    }
    W.transpose(PT, P, k, w);
    for (let k0 = 0; k0 < k; k0 += kc) {
      const kn = Math.min(kc, k - k0);
      const run = k0 === 0 ? W.matmul_nt : W.matmul_nt_acc;
      for (let j0 = 0; j0 < w; j0 += jb) run(O + 8 * (p0 + j0), A + 8 * k0, PT + 8 * (k * j0 + k0), m, kn, Math.min(jb, w - j0), n, k);
    }
  }
  takeInto(O, out);
  return out;
}

/** For each element of `outShape`, the index of the element of `inShape` it broadcasts from; undefined when the shapes are equal. */
export function broadcastIndex(inShape: Shape, outShape: Shape): Int32Array | undefined {
  if (inShape.length === outShape.length && inShape.every((d, i) => d === outShape[i])) return undefined;
  return stridedIndex(outShape, broadcastStrides(inShape, outShape), 0);
}

/** Per output axis, the input stride (0 where the input is broadcast). */
function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const rank = outShape.length;
  const inStrides = stridesOf(inShape);
  const st = new Array<number>(rank).fill(0);
  for (let i = 0; i < rank; i++) {
    const j = i - (rank - inShape.length);
    if (j >= 0 && inShape[j] !== 1) st[i] = inStrides[j]!;
  }
  return st;
}

/** Input element index of every output element of a strided view. */
function stridedIndex(outShape: Shape, st: readonly number[], base: number): Int32Array {
  const n = numel(outShape);
  const rank = outShape.length;
  const idx = new Int32Array(n);
  const counter = new Array<number>(rank).fill(0);
  let at = base;
  for (let e = 0; e < n; e++) {
    idx[e] = at;
    for (let ax = rank - 1; ax >= 0; ax--) {
      counter[ax]!++;
      at += st[ax]!;
      if (counter[ax]! < outShape[ax]!) break;
      at -= st[ax]! * counter[ax]!;
      counter[ax] = 0;
    }
  }
  return idx;
}

/** out[i] = a[idx[i]] through the wasm gather kernel, in chunks. */
function gatherIndex(a: Ring, idx: Int32Array, out: Ring = allocRing(idx.length)): Ring {
  const A = 0;
  const I = bytesOf(a.length);
  const chunk = Math.min(CHUNK, idx.length);
  const O = I + 4 * chunk + (chunk % 2 === 1 ? 4 : 0);
  reserve(O + bytesOf(chunk));
  put(A, a);
  for (let s = 0; s < idx.length; s += chunk) {
    const n = Math.min(chunk, idx.length - s);
    new Int32Array(W.memory.buffer, I, n).set(idx.subarray(s, s + n));
    W.gather(O, A, I, n);
    takeInto(O, out, s, n);
  }
  return out;
}

/**
 * The strided view (outShape, per-axis input strides, base offset) of `a` as a new array:
 * contiguous runs along the last axis are block copies, anything else goes through gather.
 */
export function stridedCopy(a: Ring, outShape: Shape, st: readonly number[], base: number): Ring {
  const n = numel(outShape);
  const out = allocRing(n);
  if (n === 0) return out;
  const rank = outShape.length;
  const last = rank === 0 ? 1 : outShape[rank - 1]!;
  const fill = rank > 0 && st[rank - 1] === 0 && last >= 4; // a broadcast last axis: each row is one value
  if (rank === 0 || (st[rank - 1] !== 1 && !fill) || last < 4) return gatherIndex(a, stridedIndex(outShape, st, base), out);
  const outer = outShape.slice(0, -1);
  const starts = stridedIndex(outer, st.slice(0, -1), base);
  if (fill) for (let r = 0; r < starts.length; r++) out.fill(a[starts[r]!]!, r * last, (r + 1) * last);
  else for (let r = 0; r < starts.length; r++) out.set(a.subarray(starts[r]!, starts[r]! + last), r * last);
  return out;
}

/** Element-wise binary op on equal-length arrays (wasm, chunked). */
function binaryFlat(a: Ring, b: Ring, op: BinaryOp, out: Ring = allocRing(a.length)): Ring {
  const n = a.length;
  const chunk = Math.min(CHUNK, n);
  const A = 0;
  const B = bytesOf(chunk);
  reserve(B + bytesOf(chunk));
  const fn = W[`bin_${op}`];
  for (let s = 0; s < n; s += chunk) {
    const len = Math.min(chunk, n - s);
    put(A, a.subarray(s, s + len));
    put(B, b.subarray(s, s + len));
    fn(A, A, B, len);
    takeInto(A, out, s, len);
  }
  return out;
}

/** Element-wise binary op with numpy broadcast. */
export function ringBinary(a: Ring, sa: Shape, b: Ring, sb: Shape, op: BinaryOp): Ring {
  const shape = broadcastShapes(sa, sb)!;
  const ea = expandTo(a, sa, shape);
  const eb = expandTo(b, sb, shape);
  const out = binaryFlat(ea, eb, op);
  if (ea !== a) recycle(ea);
  if (eb !== b) recycle(eb);
  return out;
}

/** a + b, into `out` when given (which may be `a` or `b`: each chunk is read before it is written). */
export function ringAdd(a: Ring, b: Ring, out?: Ring): Ring {
  return binaryFlat(a, b, 'add', out);
}

/** a - b, into `out` when given (which may be `a` or `b`: each chunk is read before it is written). */
export function ringSub(a: Ring, b: Ring, out?: Ring): Ring {
  return binaryFlat(a, b, 'sub', out);
}

export function ringXor(a: Ring, b: Ring): Ring {
  return binaryFlat(a, b, 'xor');
}

export function ringMul(a: Ring, b: Ring): Ring {
  return binaryFlat(a, b, 'mul');
}

export function ringAnd(a: Ring, b: Ring): Ring {
  return binaryFlat(a, b, 'and');
}

/** A five-operand element-wise wasm kernel over equal-length arrays, in chunks (operands that are the same array are copied in once). */
function fused5(fn: (out: number, p1: number, p2: number, p3: number, p4: number, p5: number, n: number) => void, ins: readonly Ring[]): Ring {
  const n = ins[0]!.length;
  const out = allocRing(n);
  const chunk = Math.min(CHUNK, n);
  const slot = bytesOf(chunk);
  const distinct = [...new Set(ins)];
  reserve((distinct.length + 1) * slot);
  const at = ins.map((x) => (distinct.indexOf(x) + 1) * slot);
  for (let s = 0; s < n; s += chunk) {
    const len = Math.min(chunk, n - s);
    distinct.forEach((x, j) => put((j + 1) * slot, x.subarray(s, s + len)));
    fn(0, at[0]!, at[1]!, at[2]!, at[3]!, at[4]!, len);
    takeInto(0, out, s, len);
  }
  return out;
}

/**
 * The Beaver combination c + x1*p1 + x2*p2 (+ p1*p2 when `withPublic`) on equal-length arrays
 * in one wasm pass; `and` kind: c ^ (x1&p1) ^ (x2&p2) (^ (p1&p2)).
 */
export function ringBeaverCombine(kind: 'mul' | 'and', withPublic: boolean, c: Ring, x1: Ring, p1: Ring, x2: Ring, p2: Ring): Ring {
  return fused5(W[`combine_${kind}${withPublic ? '_pub' : ''}`], [c, x1, p1, x2, p2]);
}

/** The dealer's correction word (a0 + a1) * (b0 + b1) - c0, or ((a0 ^ a1) & (b0 ^ b1)) ^ c0 for `and`, in one wasm pass. */
export function ringTriple(kind: 'mul' | 'and', a0: Ring, a1: Ring, b0: Ring, b1: Ring, c0: Ring): Ring {
  return fused5(W[`triple_${kind}`], [a0, a1, b0, b1, c0]);
}

function unaryFlat(a: Ring, run: (out: number, src: number, n: number) => void): Ring {
  const n = a.length;
  const out = allocRing(n);
  const chunk = Math.min(CHUNK, n);
  reserve(bytesOf(chunk));
  for (let s = 0; s < n; s += chunk) {
    const len = Math.min(chunk, n - s);
    put(0, a.subarray(s, s + len));
    run(0, 0, len);
    takeInto(0, out, s, len);
  }
  return out;
}

export function ringNeg(a: Ring): Ring {
  return unaryFlat(a, (o, x, n) => W.neg(o, x, n));
}

function shift(a: Ring, kind: ShiftOp, bits: number): Ring {
  const fn = W[`shift_${kind}`];
  return unaryFlat(a, (o, x, n) => fn(o, x, n, bits));
}

/** Arithmetic (sign-preserving) shift right of each element. */
export function ringSar(a: Ring, bits: number): Ring {
  return shift(a, 'sar', bits);
}

/** -((-x) >> bits), arithmetic shift: party 1's half of local truncation. */
export function ringNegSarNeg(a: Ring, bits: number): Ring {
  return shift(a, 'nsn', bits);
}

export function ringShl(a: Ring, bits: number): Ring {
  return shift(a, 'shl', bits);
}

/** Logical shift right. */
export function ringShr(a: Ring, bits: number): Ring {
  return shift(a, 'shr', bits);
}

/** Batched matmul `[..., m, k] @ [..., k, n]` with broadcast batch dimensions. */
export function ringBatchedMatmul(a: Ring, sa: Shape, b: Ring, sb: Shape): Ring {
  const m = sa[sa.length - 2]!;
  const k = sa[sa.length - 1]!;
  const n = sb[sb.length - 1]!;
  const ba = sa.slice(0, -2);
  const bb = sb.slice(0, -2);
  const batch = broadcastShapes(ba, bb)!;
  const nb = numel(batch);
  const out = allocRing(nb * m * n);
  const ia = broadcastIndex(ba, batch);
  const ib = broadcastIndex(bb, batch);
  for (let t = 0; t < nb; t++) {
    const ta = ia === undefined ? t : ia[t]!;
    const tb = ib === undefined ? t : ib[t]!;
    ringMatmul(a.subarray(ta * m * k, (ta + 1) * m * k), b.subarray(tb * k * n, (tb + 1) * k * n), m, k, n, out.subarray(t * m * n, (t + 1) * m * n));
  }
  return out;
}

/** Copies `a` into `outShape` by numpy broadcast (returns `a` itself when the shapes are equal). */
export function expandTo(a: Ring, sa: Shape, outShape: Shape): Ring {
  if (sa.length === outShape.length && sa.every((d, i) => d === outShape[i])) return a;
  return stridedCopy(a, outShape, broadcastStrides(sa, outShape), 0);
}

export function transpose(a: Ring, s: Shape, perm: readonly number[]): Ring {
  const rank = s.length;
  // Swapping the last two axes (K^T in attention, B^T): the wasm transpose per matrix.
  if (rank >= 2 && perm[rank - 2] === rank - 1 && perm[rank - 1] === rank - 2 && perm.slice(0, -2).every((p, i) => p === i)) {
    const rows = s[rank - 2]!;
    const cols = s[rank - 1]!;
    const mat = rows * cols;
    const nb = mat === 0 ? 0 : a.length / mat;
    const out = allocRing(a.length);
    reserve(bytesOf(2 * mat));
    for (let t = 0; t < nb; t++) {
      put(0, a.subarray(t * mat, (t + 1) * mat));
      W.transpose(bytesOf(mat), 0, rows, cols);
      takeInto(bytesOf(mat), out, t * mat, mat);
    }
    return out;
  }
  const inStrides = stridesOf(s);
  return stridedCopy(a, perm.map((p) => s[p]!), perm.map((p) => inStrides[p]!), 0);
}

export function slice(a: Ring, s: Shape, r: ResolvedSlice): Ring {
  const inStrides = stridesOf(s);
  let base = 0;
  for (let i = 0; i < s.length; i++) base += r.starts[i]! * inStrides[i]!;
  return stridedCopy(a, r.shape, inStrides.map((x, i) => x * r.steps[i]!), base);
}

export function concat(parts: readonly Ring[], shapes: readonly Shape[], axis: number): Ring {
  const first = shapes[0]!;
  const outer = numel(first.slice(0, axis));
  const inner = numel(first.slice(axis + 1));
  let total = 0;
  for (const p of parts) total += p.length;
  const out = allocRing(total);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    parts.forEach((p, j) => {
      const chunk = shapes[j]![axis]! * inner;
      out.set(p.subarray(o * chunk, (o + 1) * chunk), at);
      at += chunk;
    });
  }
  return out;
}

/** Gather along `axis` at integer indices (negative counts from the end). Returns undefined when an index is out of range. */
export function gather(a: Ring, s: Shape, indices: Ring, axis: number): Ring | undefined {
  const outer = numel(s.slice(0, axis));
  const dim = s[axis]!;
  const inner = numel(s.slice(axis + 1));
  const at = new Int32Array(indices.length);
  for (let t = 0; t < indices.length; t++) {
    let i = Number(BigInt.asIntN(64, indices[t]!));
    if (i < 0) i += dim;
    if (i < 0 || i >= dim) return undefined;
    at[t] = i;
  }
  const out = allocRing(outer * indices.length * inner);
  let to = 0;
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < at.length; t++) {
      const from = (o * dim + at[t]!) * inner;
      out.set(a.subarray(from, from + inner), to);
      to += inner;
    }
  }
  return out;
}

/** Sum over the (sorted, normalized) axes; the result has the kept axes in order. */
export function reduceSum(a: Ring, s: Shape, axes: readonly number[]): Ring {
  const red = [...new Set(axes)].sort((x, y) => x - y);
  if (red.length === 0) return a.slice();
  const contiguous = red.every((ax, i) => ax === red[0]! + i);
  let src = a;
  let shape: Shape = s;
  if (!contiguous) {
    // Move the reduced axes to the end (kept axes keep their order), then reduce those.
    const kept = s.map((_, i) => i).filter((i) => !red.includes(i));
    const perm = [...kept, ...red];
    src = transpose(a, s, perm);
    shape = perm.map((p) => s[p]!);
    return reduceRange(src, shape, kept.length, shape.length);
  }
  return reduceRange(src, shape, red[0]!, red[red.length - 1]! + 1);
}

/** Sum over axes [from, to) of `shape`. */
function reduceRange(a: Ring, shape: Shape, from: number, to: number): Ring {
  const outer = numel(shape.slice(0, from));
  const red = numel(shape.slice(from, to));
  const inner = numel(shape.slice(to));
  const out = allocRing(outer * inner);
  if (out.length === 0) return out;
  // Rows of `red * inner` input elements per output row: stream `outer` in chunks.
  const rowsPer = Math.max(1, Math.floor(CHUNK / Math.max(1, red * inner)));
  const inBytes = bytesOf(Math.min(outer, rowsPer) * red * inner);
  reserve(inBytes + bytesOf(Math.min(outer, rowsPer) * inner));
  for (let o = 0; o < outer; o += rowsPer) {
    const rows = Math.min(rowsPer, outer - o);
    put(0, a.subarray(o * red * inner, (o + rows) * red * inner));
    W.reduce(inBytes, 0, rows, red, inner);
    takeInto(inBytes, out, o * inner, rows * inner);
  }
  return out;
}
