// The circuit of a segment boundary and its leakage rule. At n tokens of width D it compares
// each token's importance margins with zero (S - theta: survives; S - beta: full degree),
// compacts the hidden state with the survivor and reduction flags as two extra columns (the
// shift network), and reveals one value: the survivor count, the declared output `count`.
// The compacted shares stay with the parties as the next segment's inputs.
//
// The general checker already rejects an open that no dealer mask hides; a boundary must
// also declare nothing but its count: a declared output of the keep mask would pass the
// general rule, so `checkBoundaryLeaks` rejects it here. A boundary of
// prune-tokens{reduce=reveal-count} may also reveal the number of reduced tokens, `reduced`
// (one element per example), and only when the caller permits it.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { CircuitBuilder, checkLeakage, type Circuit } from '../../ir/circuit/index.ts';
import { compactShift, ltz, rsubConst, type ProtocolConfig } from '../backend/protocols/index.ts';

export const BOUNDARY_COUNT = 'count';
/** What a boundary of prune-tokens{reduce=reveal-count} reveals besides its count. */
export const BOUNDARY_REDUCED = 'reduced';

/** The reveals a boundary is permitted besides its survivor count. */
export interface BoundaryPermits {
  /** The number of reduced tokens per example (prune-tokens{reduce=reveal-count}). */
  readonly reduced?: boolean;
}

export interface BoundaryCircuitOptions {
  readonly cfg?: ProtocolConfig;
  /** Test hook: also reveal the keep flags (a circuit the checker must reject). */
  readonly revealKeep?: 'open' | 'output';
}

export function boundaryCircuit(n: number, D: number, options: BoundaryCircuitOptions = {}): Circuit {
  const b = new CircuitBuilder();
  const hidden = b.input('hidden', 1, [n, D]);
  const margin = b.input('margins', 1, [n, 2]); // S - theta, S - beta per token
  const flags = rsubConst(b, 1, ltz(b, margin, options.cfg)); // [n, 2] arithmetic bits at scale 0
  const keep = b.slice(flags, [0], [1], [1]);
  const flagsFixed = b.mulPub(flags, b.constant(1, b.f)); // exact 2^f * bit: travels with the rows
  compactShift(b, b.concat([hidden, flagsFixed], 1), keep, options.cfg);
  b.output(b.reduceSum(keep, [0, 1], false), BOUNDARY_COUNT);
  if (options.revealKeep === 'open') b.open([keep]);
  if (options.revealKeep === 'output') b.output(keep, 'keep');
  return b.build();
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
