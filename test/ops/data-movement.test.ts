import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { inputNode } from '../../ir/node.ts';
import { numel, type ElemType } from '../../ir/types.ts';
import { expectClose, f, ravel, run, shapeArb, t, tensorArb, unravel, vals } from './helpers.ts';

const input = (elem: ElemType, shape: number[], name = 'x', vis: 'public' | 'client' = 'public') => inputNode(name, { elem, shape, vis });
const iota = (shape: number[]) => f(shape, Array.from({ length: numel(shape) }, (_, i) => i));

describe('Reshape', () => {
  it('preserves data order (property)', () => {
    const arb = shapeArb(0, 4).chain((s) => fc.tuple(tensorArb(s), fc.shuffledSubarray(s, { minLength: s.length, maxLength: s.length })));
    fc.assert(
      fc.property(arb, ([x, perm]) => {
        // a reshape to the dims in another order, then flat: same elements in the same order
        const y = run('Reshape', [x], { shape: perm });
        expect(y.shape).toEqual(perm);
        expect(vals(run('Reshape', [y], { shape: [x.size] }))).toEqual(vals(x));
      }),
    );
  });
  it('keeps integer storage exact', () => {
    expect(run('Reshape', [t('i64', [2], [2n ** 60n, 1n])], { shape: [1, 2] }).bigAt(0)).toBe(2n ** 60n);
  });
  it('type rules', () => {
    expect(() => build('Reshape', [input('f32', [2, 3])], { shape: [4, 2] })).toThrow(/\[2,3\] \(6 elements\) to \[4,2\] \(8 elements\)/);
    expect(() => build('Reshape', [input('f32', [2, 3])], { shape: [-1, 2] })).toThrow(/concrete/);
  });
});

describe('Transpose', () => {
  it('hand-checked, and the default reverses axes', () => {
    const x = iota([2, 3]);
    expectClose(run('Transpose', [x], { perm: [1, 0] }), [3, 2], [0, 3, 1, 4, 2, 5]);
    expectClose(run('Transpose', [x]), [3, 2], [0, 3, 1, 4, 2, 5]);
    const y = run('Transpose', [iota([2, 3, 4])], { perm: [2, 0, 1] });
    expect(y.shape).toEqual([4, 2, 3]);
    // y[k, i, j] = x[i, j, k] = 12 i + 4 j + k
    expect(y.at(ravel([3, 1, 2], [4, 2, 3]))).toBe(12 + 8 + 3);
  });
  it('twice with the inverse permutation is the identity (property)', () => {
    const arb = shapeArb(1, 5, 3).chain((s) =>
      fc.tuple(tensorArb(s), fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length })),
    );
    fc.assert(
      fc.property(arb, ([x, perm]) => {
        const inv = perm.map((_, i) => perm.indexOf(i));
        const y = run('Transpose', [x], { perm });
        expect(y.shape).toEqual(perm.map((p) => x.shape[p]));
        const z = run('Transpose', [y], { perm: inv });
        expect(z.shape).toEqual(x.shape);
        expect(vals(z)).toEqual(vals(x));
      }),
    );
  });
  it('type rules', () => {
    expect(() => build('Transpose', [input('f32', [2, 3])], { perm: [0, 0] })).toThrow(/not a permutation/);
    expect(() => build('Transpose', [input('f32', [2, 3])], { perm: [0, 1, 2] })).toThrow(/3 entries for rank 2/);
  });
});

describe('Concat', () => {
  it('along each axis, negative axes too', () => {
    const a = iota([2, 2]);
    const b = f([2, 1], [10, 11]);
    expectClose(run('Concat', [a, b], { axis: 1 }), [2, 3], [0, 1, 10, 2, 3, 11]);
    expectClose(run('Concat', [a, b], { axis: -1 }), [2, 3], [0, 1, 10, 2, 3, 11]);
    expectClose(run('Concat', [a, f([1, 2], [7, 8]), a], { axis: 0 }), [5, 2], [0, 1, 2, 3, 7, 8, 0, 1, 2, 3]);
    expect(vals(run('Concat', [t('i64', [1], [1n]), t('i64', [2], [2n, 3n])], { axis: 0 }))).toEqual([1, 2, 3]);
  });
  it('type rules', () => {
    expect(() => build('Concat', [input('f32', [2, 2]), input('f32', [3, 3], 'y')], { axis: 0 })).toThrow(/differ off the axis/);
    expect(() => build('Concat', [input('f32', [2, 2])], { axis: 2 })).toThrow(/axis 2 is out of range for rank 2/);
    expect(() => build('Concat', [input('f32', [2]), input('i64', [2], 'y')], { axis: 0 })).toThrow(/one element type/);
  });
});

/**
 * ONNX slicing of one axis written out: the indices taken. (ONNX clamps a negative-step
 * start into [0, d-1], where numpy would give an empty slice for a start below -d.)
 */
function naiveIndices(d: number, start: number, end: number, step: number): number[] {
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  const out: number[] = [];
  if (step > 0) {
    s = Math.max(0, Math.min(s, d));
    e = Math.max(0, Math.min(e, d));
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    s = Math.max(0, Math.min(s, d - 1));
    e = Math.max(-1, Math.min(e, d - 1));
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

describe('Slice', () => {
  it('hand-checked, including a negative step through index 0', () => {
    const x = iota([3, 4]);
    expectClose(run('Slice', [x], { starts: [0, 1], ends: [2, 3], axes: [0, 1], steps: [1, 1] }), [2, 2], [1, 2, 5, 6]);
    expectClose(run('Slice', [x], { starts: [3], ends: [-5], axes: [1], steps: [-2] }), [3, 2], [3, 1, 7, 5, 11, 9]);
    expectClose(run('Slice', [x], { starts: [-1], ends: [1000], axes: [0], steps: [1] }), [1, 4], [8, 9, 10, 11]);
    expect(run('Slice', [x], { starts: [5], ends: [9], axes: [1], steps: [1] }).shape).toEqual([3, 0]);
  });
  it('agrees with a naive index walk (property)', () => {
    const arb = shapeArb(1, 3, 5).chain((s) =>
      fc.tuple(
        tensorArb(s),
        fc.tuple(...s.map((d) => fc.tuple(fc.integer({ min: -d - 2, max: d + 2 }), fc.integer({ min: -d - 2, max: d + 2 }), fc.constantFrom(-3, -2, -1, 1, 2, 3)))),
        fc.shuffledSubarray([...s.keys()], { minLength: 1 }),
      ),
    );
    fc.assert(
      fc.property(arb, ([x, specs, axes]) => {
        const s = x.shape;
        const y = run('Slice', [x], {
          starts: axes.map((a) => specs[a]![0]),
          ends: axes.map((a) => specs[a]![1]),
          axes,
          steps: axes.map((a) => specs[a]![2]),
        });
        const taken = s.map((d, a) => (axes.includes(a) ? naiveIndices(d, ...specs[a]!) : [...Array(d).keys()]));
        const shape = taken.map((l) => l.length);
        expect(y.shape).toEqual(shape);
        const want: number[] = [];
        for (let k = 0; k < numel(shape); k++) want.push(x.at(ravel(unravel(k, shape).map((i, a) => taken[a]![i]!), s)));
        expect(vals(y)).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });
  it('type rules', () => {
    expect(() => build('Slice', [input('f32', [2, 3])], { starts: [0], ends: [1], axes: [2], steps: [1] })).toThrow(/axis 2 is out of range/);
    expect(() => build('Slice', [input('f32', [2, 3])], { starts: [0], ends: [1], axes: [0], steps: [0] })).toThrow(/step must not be 0/);
    expect(() => build('Slice', [input('f32', [2, 3])], { starts: [0, 0], ends: [1], axes: [0], steps: [1] })).toThrow(/differ in length/);
  });
});

describe('Gather', () => {
  it('along axis 0 and 1, with negative and 2-D indices', () => {
    const x = iota([3, 3]);
    expectClose(run('Gather', [x, t('i64', [2], [2, -3])]), [2, 3], [6, 7, 8, 0, 1, 2]);
    expectClose(run('Gather', [x, t('i32', [1, 2], [0, 2])], { axis: 1 }), [3, 1, 2], [0, 2, 3, 5, 6, 8]);
    expectClose(run('Gather', [x, t('i64', [], [1])], { axis: -1 }), [3], [1, 4, 7]);
    expect(vals(run('Gather', [f([10], [...Array(10).keys()]), t('i64', [3], [0, -9, -10])]))).toEqual([0, 1, 0]);
  });
  it('an out-of-range index is an eval error naming it', () => {
    expect(() => run('Gather', [iota([3]), t('i64', [1], [3])])).toThrow(Ig3dcError);
    expect(() => run('Gather', [iota([3]), t('i64', [1], [-4])])).toThrow(/index -4 is out of range for axis 0 of size 3/);
  });
  it('type rules', () => {
    expect(() => build('Gather', [input('f32', [3]), input('f32', [1], 'i')])).toThrow(/indices must be i32 or i64/);
    expect(() => build('Gather', [input('f32', [3]), input('i64', [1], 'i')], { axis: 1 })).toThrow(/out of range/);
  });
});

describe('Expand and Tile', () => {
  it('Expand broadcasts both ways', () => {
    const x = f([3, 1], [1, 2, 3]);
    expectClose(run('Expand', [x], { shape: [2, 1, 2] }), [2, 3, 2], [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    expectClose(run('Expand', [x], { shape: [1] }), [3, 1], [1, 2, 3]);
    expect(() => build('Expand', [input('f32', [3, 2])], { shape: [4] })).toThrow(/do not broadcast/);
  });
  it('Tile repeats the whole tensor', () => {
    const x = f([2, 2], [1, 2, 3, 4]);
    expectClose(run('Tile', [x], { repeats: [1, 2] }), [2, 4], [1, 2, 1, 2, 3, 4, 3, 4]);
    expectClose(run('Tile', [x], { repeats: [2, 1] }), [4, 2], [1, 2, 3, 4, 1, 2, 3, 4]);
    expect(run('Tile', [x], { repeats: [0, 1] }).shape).toEqual([0, 2]);
    expect(() => build('Tile', [input('f32', [2, 2])], { repeats: [2] })).toThrow(/one entry per axis/);
  });
});

describe('Shape and Range', () => {
  it('Shape slices dims with clamping and is always public', () => {
    const x = iota([3, 4, 5]);
    expect(vals(run('Shape', [x]))).toEqual([3, 4, 5]);
    expect(vals(run('Shape', [x], { start: 1 }))).toEqual([4, 5]);
    expect(vals(run('Shape', [x], { start: -1 }))).toEqual([5]);
    expect(vals(run('Shape', [x], { end: -1 }))).toEqual([3, 4]);
    expect(vals(run('Shape', [x], { start: -10, end: 10 }))).toEqual([3, 4, 5]);
    expect(vals(run('Shape', [x], { start: 2, end: 1 }))).toEqual([]);
    expect(run('Shape', [x]).dtype).toBe('i64');
    expect(build('Shape', [input('f32', [2, 7], 'x', 'client')]).type).toEqual({ elem: 'i64', shape: [2], vis: 'public' });
  });
  it('Range produces ceil((limit - start) / delta) elements', () => {
    expect(vals(run('Range', [t('i64', [], [1]), t('i64', [], [10]), t('i64', [], [3])]))).toEqual([1, 4, 7]);
    expect(vals(run('Range', [t('i32', [], [10]), t('i32', [], [4]), t('i32', [], [-3])]))).toEqual([10, 7]);
    expectClose(run('Range', [f([], [0]), f([], [1]), f([], [0.25])]), [4], [0, 0.25, 0.5, 0.75]);
    expect(vals(run('Range', [f([], [5]), f([], [1]), f([], [1])]))).toEqual([]);
  });
  it('Range needs its size to be built as a node', () => {
    const s = input('i64', [], 's');
    expect(() => build('Range', [s, input('i64', [], 'l'), input('i64', [], 'd')])).toThrow(/size/);
    expect(build('Range', [s, input('i64', [], 'l'), input('i64', [], 'd')], { size: 4 }).type.shape).toEqual([4]);
  });
});
