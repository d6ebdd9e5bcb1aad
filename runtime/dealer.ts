// The trusted dealer: it knows the seeds it shares with P0 and with P1 and makes, for each
// dealer instruction, the words no seed gives a party (a triple's correction, an FSS key).
// What each op's material is lives with the op (ir/circuit/gates/); material is a pure
// function of the instruction and the two seeds, so the dealer can run in any process. It is
// made when the executing party reaches the instruction, so material streams instead of
// being held all at once.

import { circuitOp } from '../ir/circuit/ops.ts';
import type { DealerGate } from '../ir/circuit/gate.ts';
import type { Instruction, RegType } from '../ir/circuit/types.ts';

type Ring = BigUint64Array;

function dealerGate(op: string): DealerGate {
  const g = circuitOp(op).dealer;
  if (g === undefined) throw new Error(`dealer: '${op}' is not a dealer op`);
  return g;
}

/** The seed-derived values of a dealer instruction's outputs for one party (no bytes). */
export function dealerOwnShares(ins: Instruction, regs: readonly RegType[], party: 0 | 1, seed: Uint8Array): Ring[] {
  return dealerGate(ins.op).own(ins, regs, party, seed);
}

export class Dealer {
  /** Bytes sent to the parties so far (both). */
  bytes = 0;
  /** Words made for one party while serving the other, until asked for (keyed by the instruction's first output). */
  private readonly pending = [new Map<number, Ring>(), new Map<number, Ring>()] as const;
  constructor(
    private readonly s0d: Uint8Array,
    private readonly s1d: Uint8Array,
  ) {}

  /**
   * The words the dealer sends `party` for `ins` (undefined: none). `own`, when given for
   * P1, is P1's seed-derived values of it (dealerOwnShares): the dealer derives the same
   * values from the same seed, so where one thread runs both (in process) they are reused.
   */
  material(ins: Instruction, regs: readonly RegType[], party: 0 | 1, own?: readonly Ring[]): Ring | undefined {
    const key = ins.outputs[0]!;
    const waiting = this.pending[party].get(key);
    if (waiting !== undefined) {
      this.pending[party].delete(key);
      return waiting;
    }
    const words = dealerGate(ins.op).send(ins, regs, { s0d: this.s0d, s1d: this.s1d }, party === 1 ? own : undefined);
    for (const w of words) if (w !== undefined) this.bytes += w.byteLength;
    const other = words[1 - party];
    if (other !== undefined) this.pending[(1 - party) as 0 | 1].set(key, other);
    return words[party];
  }
}

/**
 * A party's full outputs of a dealer instruction: its seed values, plus the words the dealer
 * sends it (`receive`, given its own values; asked only when the op sends this party words).
 */
export function dealerShares(ins: Instruction, regs: readonly RegType[], party: 0 | 1, seed: Uint8Array, receive?: (own: readonly Ring[]) => Ring): Ring[] {
  const g = dealerGate(ins.op);
  const own = g.own(ins, regs, party, seed);
  const sent = g.bytes(ins, regs)[party] > 0;
  if (sent && receive === undefined) {
    // Every mode gives a party that receives words a source for them (in process, workers, TCP).
    throw new Error(`'${ins.op}' needs the dealer's words at party ${party}, and this party was given no source for them`);
  }
  return g.assemble(ins, regs, party, own, sent ? receive!(own) : undefined);
}
