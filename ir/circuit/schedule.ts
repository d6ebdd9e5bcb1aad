// The schedule: the depth (communication rounds before it can run) of every instruction,
// split into a preprocessing phase and an online phase.
//
// As in MP-SPDZ's allocator, a communication's depth is 1 + the deepest of its inputs and a
// local instruction's is the deepest of its inputs; everything communicated at one depth is
// one round (one merged message per direction). An instruction is in the preprocessing phase
// when nothing it depends on is a client input (party 1): weight masks (W - B) are opened
// once per model. `output` is always online. Preprocessing values are ready when the online
// phase starts, so they count as depth 0 there.

import { isClientSource, type Circuit } from './circuit.ts';
import { isComm } from './ops.ts';

export type Phase = 'pre' | 'online';

export interface Schedule {
  /** Per instruction: its phase. */
  readonly phase: readonly Phase[];
  /** Per instruction: its depth within its phase. */
  readonly depth: Int32Array;
  /** Online rounds (= the critical path of online communications). */
  readonly rounds: number;
  readonly preprocessingRounds: number;
  /** Online communication instructions: the rounds of a sequential (unmerged) execution. */
  readonly unmergedRounds: number;
  readonly preprocessingUnmergedRounds: number;
  /** roundsOf.online[d - 1]: indices of the communication instructions of online round d, in order. */
  readonly roundsOf: { readonly pre: readonly (readonly number[])[]; readonly online: readonly (readonly number[])[] };
}

export function schedule(c: Circuit): Schedule {
  const nReg = c.registers.length;
  const client = new Uint8Array(nReg);
  const regDepth = new Int32Array(nReg);
  const regOnline = new Uint8Array(nReg);
  const n = c.instructions.length;
  const phase: Phase[] = new Array<Phase>(n);
  const depth = new Int32Array(n);
  let rounds = 0;
  let preRounds = 0;
  let unmerged = 0;
  let preUnmerged = 0;
  c.instructions.forEach((ins, i) => {
    let dep = isClientSource(ins);
    for (const r of ins.inputs) if (client[r]) dep = true;
    const online = dep || ins.op === 'output' || ins.op === 'reveal';
    let d = 0;
    for (const r of ins.inputs) {
      // In the online phase, preprocessing results are available from the start.
      const rd = online && !regOnline[r] ? 0 : regDepth[r]!;
      if (rd > d) d = rd;
    }
    const comm = isComm(ins.op);
    if (comm) d += 1;
    phase[i] = online ? 'online' : 'pre';
    depth[i] = d;
    if (comm) {
      if (online) {
        unmerged++;
        if (d > rounds) rounds = d;
      } else {
        preUnmerged++;
        if (d > preRounds) preRounds = d;
      }
    }
    for (const r of ins.outputs) {
      client[r] = dep ? 1 : 0;
      regDepth[r] = d;
      regOnline[r] = online ? 1 : 0;
    }
  });
  const pre: number[][] = Array.from({ length: preRounds }, () => []);
  const onl: number[][] = Array.from({ length: rounds }, () => []);
  c.instructions.forEach((ins, i) => {
    if (!isComm(ins.op)) return;
    (phase[i] === 'online' ? onl : pre)[depth[i]! - 1]!.push(i);
  });
  return {
    phase,
    depth,
    rounds,
    preprocessingRounds: preRounds,
    unmergedRounds: unmerged,
    preprocessingUnmergedRounds: preUnmerged,
    roundsOf: { pre, online: onl },
  };
}

/**
 * The order the runtime executes instructions in: the preprocessing phase, then the online
 * phase; within a phase, for d = 0, 1, ...: the local work of depth d (in circuit order), then
 * the communications of round d + 1.
 */
export function executionOrder(c: Circuit, s: Schedule): number[] {
  const order: number[] = [];
  for (const ph of ['pre', 'online'] as const) {
    const maxD = ph === 'pre' ? s.preprocessingRounds : s.rounds;
    const local: number[][] = Array.from({ length: maxD + 1 }, () => []);
    c.instructions.forEach((ins, i) => {
      if (s.phase[i] === ph && !isComm(ins.op)) local[s.depth[i]!]!.push(i);
    });
    const comms = ph === 'pre' ? s.roundsOf.pre : s.roundsOf.online;
    for (let d = 0; d <= maxD; d++) {
      order.push(...local[d]!);
      if (d < maxD) order.push(...comms[d]!);
    }
  }
  return order;
}
