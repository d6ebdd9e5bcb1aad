import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { inputNode } from '../../ir/node.ts';
import { numel, type ElemType } from '../../ir/types.ts';
import { expectClose, f, ravel, run, shapeArb, t, tensorArb, unravel, vals } from './helpers.ts';

const input = (elem: ElemType, shape: number[], name = 'x') => inputNode(name, { elem, shape, vis: 'client' });

/** Explicitly tiles x (shape s) to shape out by the numpy rule, with a naive index walk. */
function tileTo(x: ReturnType<typeof f>, out: number[]): ReturnType<typeof f> {
  const s = x.shape;
  const v: number[] = [];
  for (let k = 0; k < numel(out); k++) {
    const idx = unravel(k, out).slice(out.length - s.length).map((d, i) => (s[i] === 1 ? 0 : d));
    v.push(x.at(ravel(idx, s)));
  }
  return f(out, v);
}

/** A shape that broadcasts to `out`: some dims set to 1, some leading dims dropped. */
const broadcastableTo = (out: number[]) =>
  fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length })).map(([drop, ones]) =>
    out.map((d, i) => (ones[i] ? 1 : d)).slice(drop),
  );

describe('Add, Sub, Mul, Div on floats', () => {
  it('broadcasts a row over a matrix (hand-checked)', () => {
    const a = f([2, 3], [1, 2, 3, 4, 5, 6]);
    const b = f([3], [10, 20, 30]);
    expectClose(run('Add', [a, b]), [2, 3], [11, 22, 33, 14, 25, 36]);
    expectClose(run('Sub', [a, b]), [2, 3], [-9, -18, -27, -6, -15, -24]);
    expectClose(run('Mul', [b, a]), [2, 3], [10, 40, 90, 40, 100, 180]);
    expectClose(run('Div', [a, f([2, 1], [2, 4])]), [2, 3], [0.5, 1, 1.5, 1, 1.25, 1.5]);
  });

  it('agrees with explicitly tiled operands (property)', () => {
    const arb = shapeArb(0, 4).chain((out) =>
      fc.tuple(broadcastableTo(out), broadcastableTo(out)).chain(([sa, sb]) => fc.tuple(tensorArb(sa), tensorArb(sb))),
    );
    fc.assert(
      fc.property(arb, fc.constantFrom('Add', 'Sub', 'Mul', 'Max', 'Min'), ([a, b], op) => {
        const got = run(op, [a, b]);
        const out = got.shape as number[];
        const ta = tileTo(a, out);
        const tb = tileTo(b, out);
        const ref = { Add: (x: number, y: number) => x + y, Sub: (x: number, y: number) => x - y, Mul: (x: number, y: number) => x * y, Max: Math.max, Min: Math.min }[op]!;
        expect(vals(got)).toEqual(vals(ta).map((x, i) => ref(x, tb.at(i))));
      }),
      { numRuns: 150 },
    );
  });

  it('computes f32 in float64 (no rounding to f32 between ops)', () => {
    const a = t('f32', [1], [1]);
    const b = t('f32', [1], [3]);
    expect(run('Div', [a, b]).at(0)).toBe(1 / 3);
  });
});

describe('integer arithmetic wraps like ONNX', () => {
  it('uint8 wraps mod 256', () => {
    const a = t('u8', [3], [250, 3, 16]);
    const b = t('u8', [3], [10, 5, 17]);
    expect(vals(run('Add', [a, b]))).toEqual([4, 8, 33]);
    expect(vals(run('Sub', [a, b]))).toEqual([240, 254, 255]);
    expect(vals(run('Mul', [a, b]))).toEqual([(250 * 10) % 256, 15, (16 * 17) % 256]);
    expect(vals(run('Div', [a, b]))).toEqual([25, 0, 0]);
    expect(run('Add', [a, b]).dtype).toBe('u8');
  });

  it('int32 wraps mod 2^32 and divides toward zero', () => {
    const a = t('i32', [4], [2147483647, 123456789, -7, 7]);
    const b = t('i32', [4], [1, 987654321, 2, -2]);
    expect(run('Add', [a, b]).at(0)).toBe(-2147483648);
    expect(run('Mul', [a, b]).at(1)).toBe(Number(BigInt.asIntN(32, 123456789n * 987654321n)));
    expect(vals(run('Div', [a, b])).slice(2)).toEqual([-3, -3]);
  });

  it('int64 is exact and wraps mod 2^64', () => {
    const a = t('i64', [3], [9007199254740993n, 2n ** 62n, -9n]);
    const b = t('i64', [3], [1n, 4n, 4n]);
    const sum = run('Add', [a, b]);
    expect(sum.bigAt(0)).toBe(9007199254740994n);
    expect(run('Mul', [a, b]).bigAt(1)).toBe(0n);
    expect(run('Div', [a, b]).bigAt(2)).toBe(-2n);
    expect(run('Sub', [t('u64', [1], [0n]), t('u64', [1], [1n])]).bigAt(0)).toBe(2n ** 64n - 1n);
  });

  it('integer division by zero is an eval error', () => {
    expect(() => run('Div', [t('i32', [1], [1]), t('i32', [1], [0])])).toThrow(/division by zero/);
    expect(() => run('Div', [t('i64', [1], [1n]), t('i64', [1], [0n])])).toThrow(Ig3dcError);
  });
});

describe('Pow', () => {
  it('floats, with broadcasting', () => {
    expectClose(run('Pow', [f([3], [1, 2, 4]), f([], [0.5])]), [3], [1, Math.SQRT2, 2]);
  });
  it('mixed types: result has the base type', () => {
    const r1 = run('Pow', [t('i64', [3], [1, 2, 3]), t('f32', [3], [4, 5, 6])]);
    expect(r1.dtype).toBe('i64');
    expect(vals(r1)).toEqual([1, 32, 729]);
    const r2 = run('Pow', [t('f32', [3], [1, 2, 3]), t('i64', [3], [4, 5, 6])]);
    expect(r2.dtype).toBe('f32');
    expect(vals(r2)).toEqual([1, 32, 729]);
    expect(vals(run('Pow', [t('i32', [3], [1, 2, 3]), t('f32', [3], [4, 5, 6])]))).toEqual([1, 32, 729]);
    expect(vals(run('Pow', [t('i32', [2], [3, 2]), t('i32', [2], [4, 31])]))).toEqual([81, -2147483648]);
    expect(vals(run('Pow', [t('i32', [1], [2]), t('u64', [1], [5n])]))).toEqual([32]);
    expect(run('Pow', [t('i64', [1], [3n]), t('i64', [1], [40n])]).bigAt(0)).toBe(BigInt.asIntN(64, 3n ** 40n));
  });
  it('a negative integer exponent of an integer is an eval error', () => {
    expect(() => run('Pow', [t('i32', [1], [2]), t('i32', [1], [-1])])).toThrow(/negative exponent/);
  });
});

describe('Max, Min (variadic)', () => {
  it('folds three broadcast inputs', () => {
    const a = f([2, 1], [1, 5]);
    const b = f([3], [0, 3, 6]);
    const c = f([], [4]);
    expectClose(run('Max', [a, b, c]), [2, 3], [4, 4, 6, 5, 5, 6]);
    expectClose(run('Min', [a, b, c]), [2, 3], [0, 1, 1, 0, 3, 4]);
    expectClose(run('Max', [a]), [2, 1], [1, 5]);
  });
  it('integers', () => {
    expect(vals(run('Max', [t('i32', [2], [-1, 5]), t('i32', [2], [3, -7])]))).toEqual([3, 5]);
    expect(run('Min', [t('i64', [1], [-(2n ** 60n)]), t('i64', [1], [1n])]).bigAt(0)).toBe(-(2n ** 60n));
  });
});

describe('type rules', () => {
  it('rejects mixed element types with a clear message', () => {
    expect(() => build('Add', [input('f32', [2]), input('i64', [2], 'y')], {}, { name: 'add0' })).toThrow(/node 'add0'.*one element type.*f32 and i64/);
  });
  it('rejects shapes that do not broadcast, naming them', () => {
    expect(() => build('Mul', [input('f32', [2, 3]), input('f32', [4], 'y')])).toThrow(/do not broadcast: \[2,3\] and \[4\]/);
  });
  it('rejects bool arithmetic', () => {
    expect(() => build('Add', [input('bool', [2]), input('bool', [2], 'y')])).toThrow(Ig3dcError);
  });
  it('infers the broadcast shape and joins visibility', () => {
    const x = input('f32', [4, 1, 3]);
    const w = inputNode('w', { elem: 'f32', shape: [5, 1], vis: 'server' });
    expect(build('Add', [x, w]).type).toEqual({ elem: 'f32', shape: [4, 5, 3], vis: 'shared' });
    expect(build('Pow', [x, input('i64', [], 'e')]).type.elem).toBe('f32');
  });
});
