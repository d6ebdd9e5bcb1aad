// The circuit of a segment boundary and its leakage rule. At n tokens of width D it compares
// each token's importance margins with zero (S - theta: survives; S - beta: full degree),
// compacts the hidden state with the survivor and reduction flags as two extra columns (the
// shift network), and reveals one value: the survivor count, the declared output `count`.
// The compacted shares stay with the parties as the next segment's inputs.
//
// The general checker already rejects an open that no dealer mask hides; a boundary must
// also declare nothing but its count: a declared output of the keep mask would pass the
// general rule, so `checkBoundaryLeaks` rejects it here.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { CircuitBuilder, checkLeakage, type Circuit } from '../../ir/circuit/index.ts';
import { compactShift, ltz, rsubConst, type ProtocolConfig } from '../backend/protocols/index.ts';

export const BOUNDARY_COUNT = 'count';

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
