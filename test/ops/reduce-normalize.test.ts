import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { inputNode } from '../../ir/node.ts';
import { numel, type ElemType } from '../../ir/types.ts';
import { expectClose, f, ravel, run, shapeArb, t, unravel, vals } from './helpers.ts';

const input = (elem: ElemType, shape: number[], name = 'x') => inputNode(name, { elem, shape, vis: 'public' });
const iota = (shape: number[]) => f(shape, Array.from({ length: numel(shape) }, (_, i) => i));

const floatTensor = (shape: number[]) =>
  fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: numel(shape), maxLength: numel(shape) }).map((v) => f(shape, v));

describe('reductions', () => {
  const x = iota([2, 3]); // [[0,1,2],[3,4,5]]
  it('over one axis, keepdims or not', () => {
    expectClose(run('ReduceSum', [x], { axes: [1] }), [2, 1], [3, 12]);
    expectClose(run('ReduceMean', [x], { axes: [0], keepdims: 0 }), [3], [1.5, 2.5, 3.5]);
    expectClose(run('ReduceMax', [x], { axes: [-1], keepdims: 0 }), [2], [2, 5]);
    expectClose(run('ReduceMin', [x], { axes: [0] }), [1, 3], [0, 1, 2]);
  });
  it('over several or all axes; [] reduces nothing', () => {
    expectClose(run('ReduceMean', [x], { axes: [0, 1] }), [1, 1], [2.5]);
    expectClose(run('ReduceSum', [iota([2, 3, 2])], { axes: [0, 2], keepdims: 0 }), [3], [0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11]);
    expectClose(run('ReduceSum', [x], { axes: [] }), [2, 3], [0, 1, 2, 3, 4, 5]);
  });
  it('integers: sums wrap, means truncate', () => {
    expect(vals(run('ReduceSum', [t('u8', [3], [200, 100, 1])], { axes: [0] }))).toEqual([45]);
    expect(run('ReduceSum', [t('i64', [2], [2n ** 62n, 2n ** 62n])], { axes: [0] }).bigAt(0)).toBe(-(2n ** 63n));
    expect(vals(run('ReduceMean', [t('i32', [2], [-3, 0])], { axes: [0] }))).toEqual([-1]);
    expect(vals(run('ReduceMax', [t('i64', [3], [-5n, 7n, 2n])], { axes: [0] }))).toEqual([7]);
  });
  it('agree with a naive loop (property)', () => {
    const arb = shapeArb(1, 4).chain((s) => fc.tuple(floatTensor(s), fc.subarray([...s.keys()]), fc.boolean()));
    fc.assert(
      fc.property(arb, ([x, axes, keep]) => {
        const got = run('ReduceSum', [x], { axes, keepdims: keep ? 1 : 0 });
        const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const want = new Array<number>(numel(kept)).fill(0);
        for (let k = 0; k < x.size; k++) want[ravel(unravel(k, x.shape).map((v, i) => (axes.includes(i) ? 0 : v)), kept)]! += x.at(k);
        expect(got.shape).toEqual(keep ? kept : x.shape.filter((_, i) => !axes.includes(i)));
        expectClose(got, got.shape, want, 1e-12);
      }),
    );
  });
  it('type rules', () => {
    expect(() => build('ReduceMean', [input('f32', [2, 3])], { axes: [2] })).toThrow(/axis 2 is out of range for shape \[2,3\]/);
    expect(() => build('ReduceMean', [input('f32', [2, 3])], { axes: [1, -1] })).toThrow(/appears twice/);
    expect(() => build('ReduceMean', [input('f32', [2, 3])], {})).toThrow(/requires attribute 'axes'/);
  });
});

describe('Softmax and LogSoftmax', () => {
  it('hand-checked on the default (last) axis and on axis 0', () => {
    const x = f([2, 2], [0, Math.log(3), 1, 1]);
    expectClose(run('Softmax', [x]), [2, 2], [0.25, 0.75, 0.5, 0.5]);
    expectClose(run('Softmax', [x], { axis: 0 }), [2, 2], [1 / (1 + Math.E), 3 / (3 + Math.E), Math.E / (1 + Math.E), Math.E / (3 + Math.E)]);
    expectClose(run('LogSoftmax', [x]), [2, 2], [Math.log(0.25), Math.log(0.75), Math.log(0.5), Math.log(0.5)]);
  });
  it('is stable for large inputs and huge negative masks', () => {
    expectClose(run('Softmax', [f([1, 3], [1000, 1000, -3.4028234663852886e38])]), [1, 3], [0.5, 0.5, 0]);
  });
  it('rows along any axis sum to 1 (property)', () => {
    const arb = shapeArb(1, 4).chain((s) => fc.tuple(floatTensor(s), fc.integer({ min: -s.length, max: s.length - 1 })));
    fc.assert(
      fc.property(arb, ([x, axis]) => {
        const y = run('Softmax', [x], { axis });
        const a = axis < 0 ? axis + x.shape.length : axis;
        const sums = run('ReduceSum', [y], { axes: [a] });
        for (const v of vals(sums)) expect(Math.abs(v - 1)).toBeLessThan(1e-12);
        for (const v of vals(y)) expect(v).toBeGreaterThan(0);
        // LogSoftmax is its logarithm
        const ly = run('LogSoftmax', [x], { axis });
        vals(ly).forEach((v, i) => expect(Math.abs(Math.exp(v) - y.at(i))).toBeLessThan(1e-12));
      }),
    );
  });
  it('type rules', () => {
    expect(() => build('Softmax', [input('f32', [2, 3])], { axis: 2 })).toThrow(/axis 2 is out of range for rank 2/);
    expect(() => build('Softmax', [input('i64', [2, 3])])).toThrow(/float/);
  });
});

/** LayerNorm over axes [axis, rank) written out directly. */
function naiveLayerNorm(x: number[], shape: number[], axis: number, scale: number[], bias: number[], eps: number): number[] {
  const inner = numel(shape.slice(axis));
  const out: number[] = [];
  for (let o = 0; o < x.length / inner; o++) {
    const row = x.slice(o * inner, (o + 1) * inner);
    const mean = row.reduce((a, b) => a + b, 0) / inner;
    const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / inner;
    row.forEach((r, j) => out.push(((r - mean) / Math.sqrt(v + eps)) * scale[j]! + bias[j]!));
  }
  return out;
}

describe('LayerNormalization', () => {
  it('hand-checked over the last axis (the default)', () => {
    // row [1, 3]: mean 2, var 1 -> [-1, 1] / sqrt(1 + eps)
    const y = run('LayerNormalization', [f([1, 2], [1, 3]), f([2], [2, 3]), f([2], [10, 20])], { epsilon: 0 });
    expectClose(y, [1, 2], [8, 23]);
    const d = run('LayerNormalization', [f([1, 2], [1, 3]), f([2], [1, 1])]);
    expectClose(d, [1, 2], [-1 / Math.sqrt(1 + 1e-5), 1 / Math.sqrt(1 + 1e-5)]);
  });
  it('agrees with a naive loop for every axis, negative axes and broadcast Scale/B (property)', () => {
    const arb = shapeArb(1, 4).chain((s) =>
      fc.integer({ min: -s.length, max: s.length - 1 }).chain((axis) => {
        const a = axis < 0 ? axis + s.length : axis;
        const tail = s.slice(a);
        return fc.tuple(floatTensor(s), fc.constant(axis), floatTensor(tail), floatTensor(tail.slice(1)), fc.double({ min: 1e-6, max: 0.5, noNaN: true }));
      }),
    );
    fc.assert(
      fc.property(arb, ([x, axis, scale, bias, eps]) => {
        const a = axis < 0 ? axis + x.shape.length : axis;
        const tail = x.shape.slice(a);
        const y = run('LayerNormalization', [x, scale, bias], { axis, epsilon: eps });
        // bias has one axis less: tile it explicitly over the first tail axis
        const bt = Array.from({ length: numel(tail) }, (_, j) => bias.at(j % Math.max(1, bias.size)));
        const want = naiveLayerNorm(vals(x), [...x.shape], a, vals(scale), bt, eps);
        expectClose(y, x.shape, want, 1e-9);
      }),
    );
  });
  it('type rules', () => {
    expect(() => build('LayerNormalization', [input('f32', [2, 4]), input('f32', [3], 's')])).toThrow(/Scale \[3\] does not broadcast to the normalized shape \[4\]/);
    expect(() => build('LayerNormalization', [input('f32', [2, 4]), input('f32', [4], 's')], { axis: 2 })).toThrow(/out of range/);
    expect(build('LayerNormalization', [input('f32', [2, 3, 4]), input('f32', [3, 4], 's')], { axis: -2 }).type.shape).toEqual([2, 3, 4]);
  });
});
