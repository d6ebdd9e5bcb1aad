// Oblivious compaction of tokens: the rows of x whose secret keep flag is 1 move to the
// front in their order, the other rows become zeros; nothing about the flags is opened.
//
// `compactShift` (ours): a kept row i must move up by d_i = the number of pruned rows
// before it, a prefix sum (local: a public triangular matmul). d's bits come from one
// arithmetic-to-binary adder and one bit conversion; then log2(S) stages move every row
// whose current bit k is set up by 2^k (least significant bit first: no two kept rows ever
// meet). A stage is one round of Beaver products u = bit * row (and bit * bits: rows carry
// their bits along) and the local y_j = v_j - u_j + u_{j+2^k}. Rounds: 7 (adder) + 1 (bits) +
// 1 (zero the pruned rows) + log2 S; bytes about 16 S (D + log2 S + 2) per stage.
//
// `compactBitonic` (the baseline CipherPrune measures against): a bitonic sorting network on
// the unique keys (1 - k_i) S + i, each compare-exchange one comparison and one product
// swapping key and row: log2 S (log2 S + 1) / 2 layers of 9 rounds.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { mul, rsubConst } from './arith.ts';
import { a2bWord, b2aBit, lt } from './compare.ts';
import { CRYPTEN, type ProtocolConfig } from './config.ts';

/** A public [S, S] 0/1 matrix at scale 0. */
function publicMatrix(b: CircuitBuilder, S: number, at: (i: number, j: number) => boolean): Reg {
  const v = new Array<number>(S * S);
  for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) v[i * S + j] = at(i, j) ? 1 : 0;
  return b.constant(Tensor.from('f64', [S, S], v), 0);
}

/** Rows of x moved up by s (row j takes row j + s; the last s rows are zero): a local public matmul. */
function shiftUp(b: CircuitBuilder, x: Reg, s: number): Reg {
  const S = x.shape[0]!;
  return b.matmulPub(publicMatrix(b, S, (i, j) => j === i + s), x);
}

function log2Ceil(n: number): number {
  let k = 0;
  while (1 << k < n) k++;
  return k;
}

/**
 * x [S, D] (scale f) and keep [S, 1] (arithmetic bits at scale 0) -> compacted x [S, D].
 * The count of kept rows is not computed here; a segment boundary opens it (sum of keep).
 */
export function compactShift(b: CircuitBuilder, x: Reg, keep: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('compact-shift', () => shiftRows(b, x, keep, shiftBits(b, keep, cfg)));
}

/**
 * The shift amounts of a compaction: the bits of d_i = the number of pruned rows before row i,
 * as arithmetic bits at scale 0 ([S, log2 S]). keep is [S, 1] (arithmetic bits at scale 0).
 * Several values compacted by the same flags share one set of bits (shiftRows).
 */
export function shiftBits(b: CircuitBuilder, keep: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('compact-shift', () => {
    const S = keep.shape[0]!;
    const stages = log2Ceil(S);
    // d_i = sum_{j < i} (1 - k_j), an integer at scale 0
    const pruned = rsubConst(b, 1, keep);
    const d = b.matmulPub(publicMatrix(b, S, (i, j) => j < i), pruned);
    const word = a2bWord(b, d, cfg);
    const one = b.constantRing(new BigUint64Array([1n]), [], 0);
    const bitList = Array.from({ length: stages }, (_, k) => b2aBit(b, b.andPub(b.shr(word, k), one)));
    return b.concat(bitList, 1);
  });
}

/** x [S, D] compacted by keep [S, 1] with the shift bits of keep (shiftBits): the shift network's stages. */
export function shiftRows(b: CircuitBuilder, x: Reg, keep: Reg, shiftBitsOfKeep: Reg): Reg {
  return b.withProtocol('compact-shift', () => {
    const stages = shiftBitsOfKeep.shape[1]!;
    // pruned rows lose payload and bits, so they never move; bits stay exact at scale 0
    let v = mul(b, keep, x);
    let bits = mul(b, keep, shiftBitsOfKeep);
    for (let k = 0; k < stages; k++) {
      const bit = b.slice(bits, [k], [k + 1], [1]);
      const u = mul(b, bit, v);
      const w = mul(b, bit, bits);
      v = b.add(b.sub(v, u), shiftUp(b, u, 1 << k));
      bits = b.add(b.sub(bits, w), shiftUp(b, w, 1 << k));
    }
    return v;
  });
}

/** The bitonic-sort baseline: sorts rows by (1 - keep) S + i, ascending; pruned rows are zeroed first. */
export function compactBitonic(b: CircuitBuilder, x: Reg, keep: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('compact-bitonic', () => {
    const S = x.shape[0]!;
    const D = x.shape[1]!;
    if ((S & (S - 1)) !== 0) throw new Error(`compactBitonic: S = ${S} must be a power of two`);
    const index = b.constant(Tensor.from('f64', [S, 1], Array.from({ length: S }, (_, i) => i)), x.scale);
    const key = b.addPub(b.mulPub(rsubConst(b, 1, keep), b.constant(S, x.scale)), index);
    let v = b.concat([mul(b, keep, x), key], 1); // [S, D+1], the key in the last column (scale f)
    for (let size = 2; size <= S; size *= 2) {
      for (let stride = size / 2; stride >= 1; stride /= 2) {
        // pairs (i, i + stride) within blocks of 2 stride; ascending unless (i & size) (bitonic)
        const lo: number[] = [];
        const hi: number[] = [];
        for (let i = 0; i < S; i++) {
          if ((i & stride) !== 0) continue;
          const up = (i & size) === 0;
          lo.push(up ? i : i + stride);
          hi.push(up ? i + stride : i);
        }
        const pick = (rows: number[]): Reg => b.matmulPub(publicMatrix1(b, rows, S), v);
        const a = pick(lo);
        const c = pick(hi);
        const ka = b.slice(a, [D], [D + 1], [1]);
        const kc = b.slice(c, [D], [D + 1], [1]);
        const u = mul(b, lt(b, kc, ka, cfg), b.sub(a, c)); // swap where out of order
        const a2 = b.sub(a, u);
        const c2 = b.add(c, u);
        v = b.add(b.matmulPub(publicScatter(b, lo, S), a2), b.matmulPub(publicScatter(b, hi, S), c2));
      }
    }
    return b.slice(v, [0], [D], [1]);
  });
}

/** [rows.length, S]: selects the given rows. */
function publicMatrix1(b: CircuitBuilder, rows: readonly number[], S: number): Reg {
  const v = new Array<number>(rows.length * S).fill(0);
  rows.forEach((r, i) => (v[i * S + r] = 1));
  return b.constant(Tensor.from('f64', [rows.length, S], v), 0);
}

/** [S, rows.length]: puts row i back at rows[i]. */
function publicScatter(b: CircuitBuilder, rows: readonly number[], S: number): Reg {
  const v = new Array<number>(S * rows.length).fill(0);
  rows.forEach((r, i) => (v[r * rows.length + i] = 1));
  return b.constant(Tensor.from('f64', [S, rows.length], v), 0);
}
