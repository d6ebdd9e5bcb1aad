// Slice {starts, ends, axes, steps}: ONNX slice semantics (negative starts/ends count from
// the end, then clamp to the dim; negative steps walk backwards, and an end of -(dim+1)
// or less means "through index 0").

import type { OpDef } from '../op.ts';
import { intsAttr, typeError } from '../op.ts';
import { stridesOf, type Shape } from '../types.ts';
import { fmtShape, stridedCopy } from './broadcast.ts';

interface SlicePlan {
  /** Per input axis: first index taken, step, count. */
  readonly start: number[];
  readonly step: number[];
  readonly shape: number[];
}

export function slicePlan(shape: Shape, starts: readonly number[], ends: readonly number[], axesAttr: readonly number[], stepsAttr: readonly number[]): SlicePlan {
  const rank = shape.length;
  const n = starts.length;
  if (ends.length !== n) typeError(`Slice starts ${fmtShape(starts)} and ends ${fmtShape(ends)} differ in length`);
  const axes = axesAttr.length === 0 ? Array.from({ length: n }, (_, i) => i) : axesAttr;
  const steps = stepsAttr.length === 0 ? new Array<number>(n).fill(1) : stepsAttr;
  if (axes.length !== n) typeError(`Slice axes ${fmtShape(axes)} must have one entry per start (${n})`);
  if (steps.length !== n) typeError(`Slice steps ${fmtShape(steps)} must have one entry per start (${n})`);
  const start = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const out = [...shape];
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const a = axes[i]! < 0 ? axes[i]! + rank : axes[i]!;
    if (!(a >= 0 && a < rank)) typeError(`Slice axis ${axes[i]} is out of range for shape ${fmtShape(shape)}`);
    if (seen.has(a)) typeError(`Slice axis ${a} appears twice in axes ${fmtShape(axes)}`);
    seen.add(a);
    const d = shape[a]!;
    const st = steps[i]!;
    if (st === 0) typeError('Slice step must not be 0');
    let s = starts[i]! < 0 ? starts[i]! + d : starts[i]!;
    let e = ends[i]! < 0 ? ends[i]! + d : ends[i]!;
    if (st > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    const len = d === 0 ? 0 : Math.max(0, Math.ceil((e - s) / st));
    start[a] = len === 0 ? 0 : s;
    step[a] = st;
    out[a] = len;
  }
  return { start, step, shape: out };
}

function planFor(shape: Shape, attrs: Parameters<OpDef['infer']>[1]): SlicePlan {
  return slicePlan(shape, intsAttr(attrs, 'starts'), intsAttr(attrs, 'ends'), intsAttr(attrs, 'axes'), intsAttr(attrs, 'steps'));
}

export const Slice: OpDef = {
  name: 'Slice',
  summary: 'strided slice along some axes (ONNX semantics, clamped; negative steps allowed)',
  arity: [1, 1],
  attrs: {
    starts: { kind: 'ints', doc: 'first index per sliced axis' },
    ends: { kind: 'ints', doc: 'end (exclusive) per sliced axis' },
    axes: { kind: 'ints', default: [], doc: 'the sliced axes; [] means 0..n-1' },
    steps: { kind: 'ints', default: [], doc: 'step per sliced axis; [] means all 1' },
  },
  infer([x], attrs) {
    return { elem: x!.elem, shape: planFor(x!.shape, attrs).shape };
  },
  evaluate([x], attrs, out) {
    const plan = planFor(x!.shape, attrs);
    const s = stridesOf(x!.shape);
    let offset = 0;
    for (let a = 0; a < s.length; a++) offset += plan.start[a]! * s[a]!;
    return stridedCopy(x!, out.elem, out.shape, offset, plan.step.map((st, a) => st * s[a]!));
  },
};
