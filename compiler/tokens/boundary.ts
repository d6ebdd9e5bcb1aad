// The leakage rule of a segment boundary (a segment circuit that ends at a token-pruning
// boundary, segment-circuits.ts): it compares each token's importance margins with zero,
// compacts the hidden state and masks with the survivor flags (the shift network), hands the
// compacted shares off to the next segment and reveals one value to both parties: the
// survivor count, the declared output `count`.
//
// The general checker already rejects an open that no dealer mask hides; a boundary must
// also declare nothing but its count: a declared output of the keep mask would pass the
// general rule, so `checkBoundaryLeaks` rejects it here.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { checkLeakage, type Circuit } from '../../ir/circuit/index.ts';

export const BOUNDARY_COUNT = 'count';

/** The general leakage rule, and: a boundary reveals its count and nothing else. */
export function checkBoundaryLeaks(c: Circuit): void {
  checkLeakage(c);
  const extra = c.outputs.filter((o) => o.name !== BOUNDARY_COUNT);
  if (extra.length > 0) {
    throw new Ig3dcError('verify', `a token-pruning boundary may reveal only its survivor count ('${BOUNDARY_COUNT}'); it also reveals ${extra.map((o) => `'${o.name}'`).join(', ')}`);
  }
  const count = c.outputs.find((o) => o.name === BOUNDARY_COUNT);
  if (count === undefined || c.registers[count.reg]!.shape.length > 1) {
    throw new Ig3dcError('verify', `a token-pruning boundary must reveal its survivor count, one element per example, named '${BOUNDARY_COUNT}'`);
  }
}
