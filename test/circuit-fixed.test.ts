import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFixed, decodeFixedArray, encodeFixed, encodeFixedArray } from '../ir/circuit/fixed.ts';

const M64 = (1n << 64n) - 1n;

/** Reference encoding with BigInt: round(x * 2^f) mod 2^64 (Math.round semantics). */
function refEncode(x: number, f: number): bigint {
  return BigInt(Math.round(x * 2 ** f)) & M64;
}

describe('fixed-point encoding', () => {
  it('matches a BigInt reference for every double in range', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 0, max: 40 }), (x, f) => {
        if (Math.abs(x * 2 ** f) < 2 ** 62) expect(encodeFixed(x, f)).toBe(refEncode(x, f));
        else if (Math.abs(x * 2 ** f) >= 2 ** 63) expect(() => encodeFixed(x, f)).toThrow(/out of range/);
      }),
      { numRuns: 2000 },
    );
  });

  it('decode is the two\'s complement value divided by 2^f', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: M64 }), fc.integer({ min: 0, max: 40 }), (r, f) => {
        expect(decodeFixed(r, f)).toBe(Number(BigInt.asIntN(64, r)) / 2 ** f);
      }),
      { numRuns: 2000 },
    );
  });

  it('decode(encode(x)) is within half a unit of the last place for |x| < 2^40', () => {
    fc.assert(
      fc.property(fc.double({ min: -(2 ** 40), max: 2 ** 40, noNaN: true }), (x) => {
        expect(Math.abs(decodeFixed(encodeFixed(x, 16), 16) - x)).toBeLessThanOrEqual(2 ** -17);
      }),
      { numRuns: 2000 },
    );
  });

  it('encode(decode(r)) is the identity on ring elements below 2^53 in magnitude', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 52n), max: 1n << 52n }), fc.integer({ min: 0, max: 30 }), (v, f) => {
        const r = BigInt.asUintN(64, v);
        expect(encodeFixed(decodeFixed(r, f), f)).toBe(r);
      }),
    );
  });

  it('array versions agree with the scalar ones; negative values wrap', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 40 }), (xs) => {
        const enc = encodeFixedArray(xs, 16);
        xs.forEach((x, i) => expect(enc[i]).toBe(refEncode(x, 16)));
        const dec = decodeFixedArray(enc, 16);
        xs.forEach((x, i) => expect(Math.abs(dec[i]! - x)).toBeLessThanOrEqual(2 ** -17));
      }),
    );
    expect(encodeFixed(-1, 16)).toBe((1n << 64n) - 65536n);
    expect(decodeFixed((1n << 64n) - 1n, 0)).toBe(-1);
  });

  it('rejects non-finite values', () => {
    expect(() => encodeFixedArray([1, Number.NaN], 16)).toThrow(/element 1/);
    expect(() => encodeFixed(Number.POSITIVE_INFINITY, 16)).toThrow(RangeError);
    expect(() => encodeFixed(2 ** 47, 16)).toThrow(/out of range/);
    expect(encodeFixed(-(2 ** 47), 16)).toBe(1n << 63n);
  });
});
