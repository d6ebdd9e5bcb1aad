// Shape rules shared by the circuit verifier and the runtime: matmul, slice, transpose,
// gather, reduce and broadcast, resolved once into plain numbers.

import { typeError } from '../op.ts';
import { broadcastShapes, normalizeAxis, shapesEqual, type Shape } from '../types.ts';

export function broadcastOrFail(op: string, a: Shape, b: Shape): number[] {
  const s = broadcastShapes(a, b);
  if (s === undefined) typeError(`${op}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
  return s;
}

/** `[..., m, k] @ [..., k, n]` with broadcast batch dimensions. */
export function matmulShape(op: string, a: Shape, b: Shape): number[] {
  if (a.length < 2 || b.length < 2) typeError(`${op} needs operands of rank >= 2, got [${a.join(',')}] and [${b.join(',')}]`);
  const m = a[a.length - 2]!;
  const k = a[a.length - 1]!;
  const k2 = b[b.length - 2]!;
  const n = b[b.length - 1]!;
  if (k !== k2) typeError(`${op}: inner dimensions differ: [${a.join(',')}] @ [${b.join(',')}]`);
  const batch = broadcastOrFail(op, a.slice(0, -2), b.slice(0, -2));
  return [...batch, m, n];
}

export function transposeShape(op: string, s: Shape, perm: readonly number[]): number[] {
  const p = perm.length === 0 ? s.map((_, i) => s.length - 1 - i) : perm;
  const sorted = [...p].sort((x, y) => x - y);
  if (p.length !== s.length || sorted.some((v, i) => v !== i)) {
    typeError(`${op}: perm [${p.join(',')}] is not a permutation of the ${s.length} axes`);
  }
  return p.map((i) => s[i]!);
}

export function resolvePerm(rank: number, perm: readonly number[]): number[] {
  return perm.length === 0 ? Array.from({ length: rank }, (_, i) => rank - 1 - i) : [...perm];
}

/** A slice resolved to one (start, step, count) per axis. */
export interface ResolvedSlice {
  readonly starts: number[];
  readonly steps: number[];
  readonly shape: number[];
}

/** ONNX-style slice: negative starts/ends count from the end and are clamped; steps are positive. */
export function resolveSlice(
  op: string,
  s: Shape,
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[],
  steps: readonly number[],
): ResolvedSlice {
  const ax = axes.length === 0 ? starts.map((_, i) => i) : axes;
  if (starts.length !== ends.length || ax.length !== starts.length || (steps.length !== 0 && steps.length !== starts.length)) {
    typeError(`${op}: starts, ends, axes and steps must have the same length`);
  }
  const outStarts = s.map(() => 0);
  const outSteps = s.map(() => 1);
  const shape = [...s];
  const seen = new Set<number>();
  for (let i = 0; i < ax.length; i++) {
    const a = normalizeAxis(ax[i]!, s.length);
    if (a === undefined || seen.has(a)) typeError(`${op}: bad or repeated axis ${ax[i]} for rank ${s.length}`);
    seen.add(a);
    const dim = s[a]!;
    const step = steps.length === 0 ? 1 : steps[i]!;
    if (step <= 0) typeError(`${op}: steps must be positive, got ${step}`);
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const b = clamp(starts[i]!);
    const e = clamp(ends[i]!);
    outStarts[a] = b;
    outSteps[a] = step;
    shape[a] = e > b ? Math.ceil((e - b) / step) : 0;
  }
  return { starts: outStarts, steps: outSteps, shape };
}

export function gatherShape(op: string, data: Shape, idx: Shape, axis: number): number[] {
  const a = normalizeAxis(axis, data.length);
  if (a === undefined) typeError(`${op}: axis ${axis} out of range for rank ${data.length}`);
  return [...data.slice(0, a), ...idx, ...data.slice(a + 1)];
}

/** Normalized, sorted reduction axes (all axes when `axes` is empty). */
export function resolveAxes(op: string, rank: number, axes: readonly number[]): number[] {
  if (axes.length === 0) return Array.from({ length: rank }, (_, i) => i);
  const out = new Set<number>();
  for (const ax of axes) {
    const a = normalizeAxis(ax, rank);
    if (a === undefined || out.has(a)) typeError(`${op}: bad or repeated axis ${ax} for rank ${rank}`);
    out.add(a);
  }
  return [...out].sort((x, y) => x - y);
}

export function reduceShape(op: string, s: Shape, axes: readonly number[], keepdims: boolean): number[] {
  const r = new Set(resolveAxes(op, s.length, axes));
  const out: number[] = [];
  s.forEach((d, i) => {
    if (!r.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

export function concatShape(op: string, shapes: readonly Shape[], axis: number): number[] {
  const first = shapes[0]!;
  const a = normalizeAxis(axis, first.length);
  if (a === undefined) typeError(`${op}: axis ${axis} out of range for rank ${first.length}`);
  const out = [...first];
  for (const s of shapes.slice(1)) {
    if (s.length !== first.length || s.some((d, i) => i !== a && d !== first[i])) {
      typeError(`${op}: shapes [${first.join(',')}] and [${s.join(',')}] differ outside axis ${a}`);
    }
    out[a] = out[a]! + s[a]!;
  }
  return out;
}

export function sameShape(op: string, a: Shape, b: Shape): void {
  if (!shapesEqual(a, b)) typeError(`${op}: shapes [${a.join(',')}] and [${b.join(',')}] differ`);
}
