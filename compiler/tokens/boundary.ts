// The leakage rule of a segment boundary (a segment circuit that ends at a token-pruning
// boundary, segment-circuits.ts): it compares each token's importance margins with zero,
// compacts the hidden state and masks with the survivor flags (the shift network), hands the
// compacted shares off to the next segment and reveals one value to both parties: the
// survivor count, the declared output `count`.
//
// The general checker already rejects an open that no dealer mask hides; a boundary must
// also declare nothing but its count: a declared output of the keep mask would pass the
// general rule, so `checkBoundaryLeaks` rejects it here. A boundary of
// prune-tokens{reduce=reveal-count} may also reveal the number of reduced tokens, `reduced`
// (one element per example), and only when the caller permits it.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { checkLeakage, type Circuit } from '../../ir/circuit/index.ts';

export const BOUNDARY_COUNT = 'count';
/** What a boundary of prune-tokens{reduce=reveal-count} reveals besides its count. */
export const BOUNDARY_REDUCED = 'reduced';

/** The reveals a boundary is permitted besides its survivor count. */
export interface BoundaryPermits {
  /** The number of reduced tokens per example (prune-tokens{reduce=reveal-count}). */
  readonly reduced?: boolean;
}

/** The general leakage rule, and: a boundary reveals its count and nothing else (but what `permits` allows). */
export function checkBoundaryLeaks(c: Circuit, permits: BoundaryPermits = {}): void {
  checkLeakage(c);
  const allowed = new Set([BOUNDARY_COUNT, ...(permits.reduced === true ? [BOUNDARY_REDUCED] : [])]);
  const extra = c.outputs.filter((o) => !allowed.has(o.name));
  if (extra.length > 0) {
    const may = permits.reduced === true ? `its survivor count ('${BOUNDARY_COUNT}') and its reduced count ('${BOUNDARY_REDUCED}')` : `its survivor count ('${BOUNDARY_COUNT}')`;
    throw new Ig3dcError('verify', `a token-pruning boundary may reveal only ${may}; it also reveals ${extra.map((o) => `'${o.name}'`).join(', ')}`);
  }
  for (const name of allowed) {
    const out = c.outputs.find((o) => o.name === name);
    if (name === BOUNDARY_COUNT && out === undefined) throw new Ig3dcError('verify', `a token-pruning boundary must reveal its survivor count, one element per example, named '${BOUNDARY_COUNT}'`);
    if (out !== undefined && c.registers[out.reg]!.shape.length > 1) throw new Ig3dcError('verify', `a token-pruning boundary's '${name}' must be one element per example, got shape [${c.registers[out.reg]!.shape.join(',')}]`);
  }
}
