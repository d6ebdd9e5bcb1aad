import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { inputNode } from '../../ir/node.ts';
import { erf } from '../../ir/ops/erf.ts';
import type { ElemType } from '../../ir/types.ts';
import { expectClose, f, run, t, vals } from './helpers.ts';

const input = (elem: ElemType, shape: number[], name = 'x') => inputNode(name, { elem, shape, vis: 'public' });

describe('unary ops', () => {
  it('compute the textbook values', () => {
    const x = f([4], [-2, -0.5, 0, 1.5]);
    expectClose(run('Neg', [x]), [4], [2, 0.5, 0, -1.5]);
    expectClose(run('Abs', [x]), [4], [2, 0.5, 0, 1.5]);
    expectClose(run('Relu', [x]), [4], [0, 0, 0, 1.5]);
    expectClose(run('Floor', [x]), [4], [-2, -1, 0, 1]);
    expectClose(run('Ceil', [x]), [4], [-2, -0, 0, 2]);
    expectClose(run('Exp', [x]), [4], [Math.exp(-2), Math.exp(-0.5), 1, Math.exp(1.5)]);
    expectClose(run('Tanh', [x]), [4], [-0.9640275800758169, -0.46211715726000974, 0, 0.9051482536448664]);
    expectClose(run('Sigmoid', [f([3], [0, 2, -800])]), [3], [0.5, 1 / (1 + Math.exp(-2)), 0]);
    expectClose(run('Sqrt', [f([2], [4, 2])]), [2], [2, Math.SQRT2]);
    expectClose(run('Log', [f([2], [1, Math.E])]), [2], [0, 1]);
    expectClose(run('Reciprocal', [f([2], [4, -0.5])]), [2], [0.25, -2]);
    expectClose(run('Identity', [x]), [4], [-2, -0.5, 0, 1.5]);
  });

  it('Erf matches published values to double precision', () => {
    // Abramowitz & Stegun table 7.1 / high-precision references
    const table: [number, number][] = [
      [0, 0],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [5, 0.9999999999984626],
      [-1.5, -0.9661051464753108],
      [10, 1],
    ];
    for (const [x, want] of table) expect(Math.abs(erf(x) - want)).toBeLessThan(4e-16 + 1e-15 * Math.abs(want));
    expectClose(run('Erf', [f([2], [1, -1])]), [2], [0.8427007929497149, -0.8427007929497149]);
  });

  it('Erf is odd and increasing (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -8, max: 8, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (x, d) => {
        expect(erf(-x)).toBe(-erf(x));
        expect(erf(x + d)).toBeGreaterThanOrEqual(erf(x));
      }),
    );
  });

  it('Neg and Abs on integers wrap', () => {
    expect(vals(run('Neg', [t('i8', [2], [-128, 5])]))).toEqual([-128, -5]);
    expect(vals(run('Abs', [t('i32', [2], [-3, 4])]))).toEqual([3, 4]);
    expect(run('Neg', [t('i64', [1], [2n ** 62n])]).bigAt(0)).toBe(-(2n ** 62n));
  });

  it('type rules', () => {
    expect(() => build('Sqrt', [input('i64', [2])], {}, { name: 's' })).toThrow(/node 's'.*Sqrt needs a float input, got i64/);
    expect(() => build('Neg', [input('u8', [2])])).toThrow(/signed/);
    expect(build('Identity', [input('bool', [2])]).type.elem).toBe('bool');
  });
});

describe('comparisons, logic and Where', () => {
  it('compare with broadcasting into bool', () => {
    const a = t('i32', [2, 2], [1, 2, 3, 4]);
    const b = t('i32', [2], [2, 2]);
    const eq = run('Equal', [a, b]);
    expect(eq.dtype).toBe('bool');
    expect(vals(eq)).toEqual([0, 1, 0, 0]);
    expect(vals(run('Less', [a, b]))).toEqual([1, 0, 0, 0]);
    expect(vals(run('Greater', [a, b]))).toEqual([0, 0, 1, 1]);
    expect(vals(run('LessOrEqual', [a, b]))).toEqual([1, 1, 0, 0]);
    expect(vals(run('GreaterOrEqual', [a, b]))).toEqual([0, 1, 1, 1]);
  });
  it('compares int64 exactly beyond 2^53', () => {
    expect(vals(run('Equal', [t('i64', [1], [2n ** 53n + 1n]), t('i64', [1], [2n ** 53n])]))).toEqual([0]);
    expect(vals(run('Less', [t('i64', [1], [2n ** 53n]), t('i64', [1], [2n ** 53n + 1n])]))).toEqual([1]);
  });
  it('boolean logic', () => {
    const a = t('bool', [4], [0, 0, 1, 1]);
    const b = t('bool', [4], [0, 1, 0, 1]);
    expect(vals(run('And', [a, b]))).toEqual([0, 0, 0, 1]);
    expect(vals(run('Or', [a, b]))).toEqual([0, 1, 1, 1]);
    expect(vals(run('Xor', [a, b]))).toEqual([0, 1, 1, 0]);
    expect(vals(run('Not', [a]))).toEqual([1, 1, 0, 0]);
  });
  it('Where broadcasts all three operands', () => {
    const c = t('bool', [2, 1], [1, 0]);
    const x = f([3], [1, 2, 3]);
    const y = f([], [-1]);
    expectClose(run('Where', [c, x, y]), [2, 3], [1, 2, 3, -1, -1, -1]);
    const li = run('Where', [t('bool', [2], [0, 1]), t('i64', [2], [1n, 2n]), t('i64', [2], [9n, 8n])]);
    expect(li.dtype).toBe('i64');
    expect(vals(li)).toEqual([9, 2]);
  });
  it('type rules', () => {
    expect(() => build('Where', [input('f32', [2]), input('f32', [2], 'a'), input('f32', [2], 'b')])).toThrow(/bool condition/);
    expect(() => build('Where', [input('bool', [2]), input('f32', [2], 'a'), input('i64', [2], 'b')])).toThrow(/one element type/);
    expect(() => build('And', [input('i32', [2]), input('i32', [2], 'y')])).toThrow(/needs a bool/);
    expect(() => build('Less', [input('f32', [2]), input('f64', [2], 'y')])).toThrow(/one element type/);
  });
});

describe('Cast', () => {
  it('float -> int truncates toward zero and wraps into the target width', () => {
    const x = f([5], [2.7, -2.7, 300, -1, 0.5]);
    expect(vals(run('Cast', [x], { to: 'i32' }))).toEqual([2, -2, 300, -1, 0]);
    expect(vals(run('Cast', [x], { to: 'u8' }))).toEqual([2, 254, 44, 255, 0]);
    expect(vals(run('Cast', [x], { to: 'i64' }))).toEqual([2, -2, 300, -1, 0]);
  });
  it('to bool is x != 0; from bool is 0/1', () => {
    expect(vals(run('Cast', [f([3], [0, -0.1, 2])], { to: 'bool' }))).toEqual([0, 1, 1]);
    expect(vals(run('Cast', [t('i64', [2], [0n, 5n])], { to: 'bool' }))).toEqual([0, 1]);
    expect(vals(run('Cast', [t('bool', [2], [0, 1])], { to: 'f32' }))).toEqual([0, 1]);
  });
  it('to f32 rounds with Math.fround; to f64 keeps the value', () => {
    const x = t('f64', [1], [0.1]);
    const y = run('Cast', [x], { to: 'f32' });
    expect(y.dtype).toBe('f32');
    expect(y.at(0)).toBe(Math.fround(0.1));
    expect(run('Cast', [t('f32', [1], [0.1])], { to: 'f64' }).at(0)).toBe(Math.fround(0.1));
  });
  it('between integer types (i64 beyond 2^53 stays exact, narrowing wraps)', () => {
    expect(run('Cast', [t('i64', [1], [2n ** 60n + 1n])], { to: 'u64' }).bigAt(0)).toBe(2n ** 60n + 1n);
    expect(vals(run('Cast', [t('i64', [2], [2n ** 32n + 7n, -1n])], { to: 'i32' }))).toEqual([7, -1]);
    expect(vals(run('Cast', [t('i64', [1], [-1n])], { to: 'u8' }))).toEqual([255]);
  });
  it('rejects an unknown target type', () => {
    expect(() => build('Cast', [input('f32', [1])], { to: 'float16' })).toThrow(/not an element type/);
    expect(() => build('Cast', [input('f32', [1])], {})).toThrow(/requires attribute 'to'/);
  });
});

describe('Clip', () => {
  it('clamps floats and integers', () => {
    expectClose(run('Clip', [f([4], [-3, -1, 1, 3])], { min: -2, max: 2 }), [4], [-2, -1, 1, 2]);
    expectClose(run('Clip', [f([2], [-3, 3])], { max: 0 }), [2], [-3, 0]);
    expect(vals(run('Clip', [t('i32', [3], [-5, 0, 5])], { min: -1.5, max: 2.5 }))).toEqual([-1, 0, 2]);
    expect(vals(run('Clip', [t('i64', [3], [-5n, 0n, 5n])], { min: 0 }))).toEqual([0, 0, 5]);
  });
});
