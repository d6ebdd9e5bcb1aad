// The execution plan of one party: the schedule's order (preprocessing, then online; within a
// phase, the local work of depth d, then round d + 1), with two changes that save time and
// memory without changing what is sent:
//  - sources (inputs, consts, dealer material) run just before their first use, so triples
//    and shared weights stream instead of all being made at depth 0;
//  - a party skips local instructions whose results it never uses (P1 ignores the public
//    operand of add_pub/sub_pub/rsub_pub/xor_pub, so it need not compute e.g. E@F of a Beaver matmul).
// Registers are freed after their last use in this party's plan.

import type { Circuit } from '../ir/circuit/circuit.ts';
import { findCircuitOp, isComm } from '../ir/circuit/ops.ts';
import { executionOrder, schedule, type Phase, type Schedule } from '../ir/circuit/schedule.ts';
import type { Instruction } from '../ir/circuit/types.ts';

export type Step =
  | { readonly kind: 'local'; readonly ins: number }
  | { readonly kind: 'round'; readonly phase: Phase; readonly round: number; readonly comms: readonly number[] };

export interface PartyPlan {
  readonly schedule: Schedule;
  readonly steps: readonly Step[];
  /** Per register: the index of the last step that reads it (-1: never read). */
  readonly lastUse: Int32Array;
}

const isSource = (ins: Instruction): boolean => {
  const cls = findCircuitOp(ins.op)?.cls;
  return cls === 'source' || cls === 'dealer';
};

/** Inputs of `ins` that party `p` actually reads. */
export function usedInputs(ins: Instruction, p: 0 | 1): readonly number[] {
  if (p === 1 && (ins.op === 'add_pub' || ins.op === 'sub_pub' || ins.op === 'rsub_pub' || ins.op === 'xor_pub')) return [ins.inputs[0]!];
  return ins.inputs;
}

export function planParty(c: Circuit, p: 0 | 1, keep: ReadonlySet<number> = new Set(), s: Schedule = schedule(c)): PartyPlan {
  const order = executionOrder(c, s);
  const ins = c.instructions;

  // Liveness, backwards: communications and sources always run; a local op runs when the party uses one of its results.
  const needed = new Uint8Array(c.registers.length);
  for (const r of keep) needed[r] = 1;
  const runs = new Uint8Array(ins.length);
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    const x = ins[i]!;
    const run = isComm(x.op) || isSource(x) || x.outputs.some((r) => needed[r] === 1);
    if (!run) continue;
    runs[i] = 1;
    for (const r of usedInputs(x, p)) needed[r] = 1;
  }

  // Steps, with sources placed before their first reader.
  const steps: Step[] = [];
  const emitted = new Uint8Array(ins.length);
  const defOf = new Int32Array(c.registers.length).fill(-1);
  ins.forEach((x, i) => {
    if (isSource(x)) for (const r of x.outputs) defOf[r] = i;
  });
  const pull = (x: Instruction): void => {
    for (const r of usedInputs(x, p)) {
      const d = defOf[r]!;
      if (d >= 0 && !emitted[d]) {
        emitted[d] = 1;
        steps.push({ kind: 'local', ins: d });
      }
    }
  };
  let pos = 0;
  for (const phase of ['pre', 'online'] as const) {
    const rounds = phase === 'pre' ? s.roundsOf.pre : s.roundsOf.online;
    for (let d = 0; d <= rounds.length; d++) {
      while (pos < order.length && !isComm(ins[order[pos]!]!.op) && s.phase[order[pos]!] === phase && s.depth[order[pos]!] === d) {
        const i = order[pos++]!;
        if (isSource(ins[i]!)) continue; // placed on demand (or at the end when never read)
        if (!runs[i]) continue;
        pull(ins[i]!);
        steps.push({ kind: 'local', ins: i });
      }
      if (d < rounds.length) {
        const comms = rounds[d]!;
        for (const i of comms) pull(ins[i]!);
        steps.push({ kind: 'round', phase, round: d + 1, comms });
        pos += comms.length;
      }
    }
  }
  if (pos !== order.length) throw new Error(`plan stopped at ${pos} of ${order.length} instructions`);
  // Sources nobody reads still run (an input is still checked; a dealer op still costs its bytes).
  ins.forEach((x, i) => {
    if (isSource(x) && !emitted[i]) steps.push({ kind: 'local', ins: i });
  });

  const lastUse = new Int32Array(c.registers.length).fill(-1);
  steps.forEach((st, k) => {
    const list = st.kind === 'local' ? [st.ins] : st.comms;
    for (const i of list) for (const r of usedInputs(ins[i]!, p)) lastUse[r] = k;
  });
  return { schedule: s, steps, lastUse };
}
