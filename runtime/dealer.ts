// Correlated randomness (trusted dealer). Each party derives its own shares of a triple from
// the seed it shares with the dealer (no bytes); the dealer, who knows both seeds, computes the
// one share no seed gives (P1's c = a*b - c0) and sends it: these correction words are the
// dealer's bytes. Material is made when the executing party reaches the instruction, so
// triples stream instead of being held all at once.

import { numel } from '../ir/types.ts';
import type { Instruction, RegType } from '../ir/circuit/types.ts';
import * as K from './kernels.ts';
import { prgBits, prgRing } from './prg.ts';
import { recycle } from './pool.ts';

type Ring = BigUint64Array;

/** The seed-derived shares of a dealer instruction's outputs for one party (P1's corrected slot left as its seed value). */
export function dealerOwnShares(ins: Instruction, regs: readonly RegType[], party: 0 | 1, seed: Uint8Array): Ring[] {
  const o = ins.outputs;
  const n = (j: number): number => numel(regs[o[j]!]!.shape);
  const rand = (j: number): Ring => prgRing(seed, o[j]!, n(j));
  switch (ins.op) {
    case 'beaver':
    case 'beaver_matmul':
    case 'beaver_and':
      return party === 0 ? [rand(0), rand(1), rand(2)] : [rand(0), rand(1)];
    case 'beaver_square':
      return party === 0 ? [rand(0), rand(1)] : [rand(0)];
    case 'rand_bit':
      // The bit is b0 XOR b1 of the two seed-derived bits: its binary sharing is free.
      return party === 0 ? [rand(0), prgBits(seed, o[1]!, n(1))] : [prgBits(seed, o[1]!, n(1))];
    default:
      throw new Error(`dealer: '${ins.op}' is not a dealer op`);
  }
}

/** Where P1's correction goes among the instruction's outputs. */
export function correctionSlot(op: string): number {
  switch (op) {
    case 'beaver':
    case 'beaver_matmul':
    case 'beaver_and':
      return 2;
    case 'beaver_square':
      return 1;
    case 'rand_bit':
      return 0;
    default:
      throw new Error(`dealer: '${op}' is not a dealer op`);
  }
}

/** The dealer: knows both parties' dealer seeds and computes P1's correction words. */
export class Dealer {
  /** Correction bytes sent to P1 so far. */
  bytes = 0;
  constructor(
    private readonly s0d: Uint8Array,
    private readonly s1d: Uint8Array,
  ) {}

  /**
   * P1's correction words for `ins`. `p1Own`, when given, is P1's seed-derived shares of it
   * (dealerOwnShares for party 1): the dealer derives the same values from the same seed, so
   * where P1 hosts the dealer they are reused instead of generated twice.
   */
  correction(ins: Instruction, regs: readonly RegType[], p1Own?: readonly Ring[]): Ring {
    const o = ins.outputs;
    const n = (j: number): number => numel(regs[o[j]!]!.shape);
    // Every array made here goes back to the pool once used (P1's own shares stay P1's).
    const temps: Ring[] = [];
    const temp = (a: Ring): Ring => (temps.push(a), a);
    const r0 = (j: number): Ring => temp(prgRing(this.s0d, o[j]!, n(j)));
    const r1 = (j: number): Ring => p1Own?.[j] ?? temp(prgRing(this.s1d, o[j]!, n(j)));
    let c: Ring;
    switch (ins.op) {
      case 'beaver_and':
        c = K.ringTriple('and', r0(0), r1(0), r0(1), r1(1), r0(2));
        break;
      case 'beaver':
        c = K.ringTriple('mul', r0(0), r1(0), r0(1), r1(1), r0(2));
        break;
      case 'beaver_matmul': {
        const a = K.ringAdd(r0(0), r1(0));
        const b = K.ringAdd(r0(1), r1(1));
        const ab = K.ringBatchedMatmul(a, regs[o[0]!]!.shape, b, regs[o[1]!]!.shape);
        c = K.ringSub(ab, r0(2));
        recycle(a), recycle(b), recycle(ab);
        break;
      }
      case 'beaver_square': {
        const [a0, a1] = [r0(0), r1(0)];
        c = K.ringTriple('mul', a0, a1, a0, a1, r0(1));
        break;
      }
      case 'rand_bit': {
        const bit = temp(K.ringXor(temp(prgBits(this.s0d, o[1]!, n(1))), p1Own?.[0] ?? temp(prgBits(this.s1d, o[1]!, n(1)))));
        c = K.ringSub(bit, r0(0));
        break;
      }
      default:
        throw new Error(`dealer: '${ins.op}' is not a dealer op`);
    }
    for (const t of temps) recycle(t);
    this.bytes += c.byteLength;
    return c;
  }
}

/** A party's full outputs of a dealer instruction: its seed shares, plus (P1) the correction (given its own shares) in its slot. */
export function dealerShares(ins: Instruction, regs: readonly RegType[], party: 0 | 1, seed: Uint8Array, correction?: (own: readonly Ring[]) => Ring): Ring[] {
  const own = dealerOwnShares(ins, regs, party, seed);
  if (party === 0) return own;
  const out = [...own];
  out.splice(correctionSlot(ins.op), 0, correction!(own));
  return out;
}
