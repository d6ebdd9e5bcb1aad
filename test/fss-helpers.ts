// What the FSS gate tests share: each party's key as the dealer and the gate make it (root
// seeds, constant shares, correction words, split into the gate's two registers), and an
// opened value with the parties' shares of its mask.

import { randomBytes } from 'node:crypto';
import { fssKeys, fssKeyWords, type FssMode } from '../ir/circuit/gates/fss.ts';

export const M64 = (1n << 64n) - 1n;
export const rand64 = (): bigint => randomBytes(8).readBigUInt64LE(0);

/** Each party's key as the gate's two registers: [correction words, root seeds | constant shares]; `drop`: low input bits ignored. */
export function gateKeys(mode: FssMode, bits: number, rho: BigUint64Array, drop = 0): [[BigUint64Array, BigUint64Array], [BigUint64Array, BigUint64Array]] {
  const n = rho.length;
  const roots = [randomBytes(16 * n), randomBytes(16 * n)] as const;
  const g = mode === 'ltz' ? 1 : 2;
  const p0Consts = BigUint64Array.from({ length: g * n }, () => rand64());
  const [toP0, toP1] = fssKeys(mode, bits, rho, roots, p0Consts, drop);
  const key = (p: 0 | 1): BigUint64Array => {
    const k = new BigUint64Array(fssKeyWords(bits, mode, drop) * n);
    k.set(new BigUint64Array(roots[p].buffer.slice(roots[p].byteOffset, roots[p].byteOffset + 16 * n)), 0);
    if (p === 0) k.set(p0Consts, 2 * n), k.set(toP0, (2 + g) * n);
    else k.set(toP1, 2 * n);
    return k;
  };
  const split = (k: BigUint64Array): [BigUint64Array, BigUint64Array] => [k.subarray((2 + g) * n), k.subarray(0, (2 + g) * n)];
  return [split(key(0)), split(key(1))];
}

/** The opened values X = x + rho and the parties' shares of the open's mask r = -rho. */
export function opened(xs: readonly bigint[], rhos: readonly bigint[]): { X: BigUint64Array; r0: BigUint64Array; r1: BigUint64Array } {
  const r0 = BigUint64Array.from(xs.map(() => rand64()));
  return {
    X: BigUint64Array.from(xs.map((x, i) => (x + rhos[i]!) & M64)),
    r0,
    r1: BigUint64Array.from(rhos.map((p, i) => (-p - r0[i]!) & M64)),
  };
}
