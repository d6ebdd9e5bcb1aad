// The pairwise seeds of a run: P0-P1 (input sharing), P0-dealer and P1-dealer (correlated
// randomness). The streams drawn from them are ir/ring/stream.ts.

import { createHash, randomBytes } from 'node:crypto';

export { prgBits, prgRing } from '../ir/ring/stream.ts';

export interface PartySeeds {
  /** Shared by P0 and P1. */
  readonly s01: Uint8Array;
  /** Shared by P0 and the dealer. */
  readonly s0d: Uint8Array;
  /** Shared by P1 and the dealer. */
  readonly s1d: Uint8Array;
}

function derive(master: Uint8Array, label: string): Uint8Array {
  return createHash('sha256').update(master).update(`ig3dc/${label}`).digest().subarray(0, 16);
}

/** The three pairwise seeds derived from a master seed (a fresh random one when absent). */
export function deriveSeeds(master: Uint8Array = randomBytes(16)): PartySeeds {
  return { s01: derive(master, 'p0-p1'), s0d: derive(master, 'p0-dealer'), s1d: derive(master, 'p1-dealer') };
}
