// The execution plan of one party: the schedule's order (preprocessing, then online; within a
// phase, the local work of depth d, then round d + 1), with four changes that save time and
// memory without changing what is sent:
//  - a preprocessing open (a weight mask W - B) travels with the online round that precedes
//    its first reader instead of in one preprocessing round at the start (see exchanges()),
//    so a layer's weight shares, masks and opened masks exist while that layer runs, not
//    all at once; its bytes still count as the preprocessing round's;
//  - sources (inputs, consts, dealer material) and the preprocessing phase's local work run
//    just before their first use, so triples and shared weights stream instead of all being
//    made at depth 0;
//  - a party skips local instructions whose results it never uses (P1 ignores the public
//    operand of add_pub/sub_pub/rsub_pub/xor_pub, so it need not compute e.g. E@F of a Beaver matmul);
//  - the local combination step of a Beaver protocol runs as one fused step (see Fusion).
// Registers are freed after their last use in this party's plan.

import type { Circuit } from '../ir/circuit/circuit.ts';
import { findCircuitOp, isComm } from '../ir/circuit/ops.ts';
import { executionOrder, schedule, type Phase, type Schedule } from '../ir/circuit/schedule.ts';
import type { Instruction } from '../ir/circuit/types.ts';

/** The communications of one round of the schedule (phase, round) that travel in a message. */
export interface RoundPart {
  readonly phase: Phase;
  readonly round: number;
  readonly comms: readonly number[];
}

/**
 * One exchange of messages: the comms of its own round (phase, round), then the
 * preprocessing opens it carries, by their round. `comms` is all of them in message order.
 */
export interface Exchange {
  readonly phase: Phase;
  readonly round: number;
  readonly comms: readonly number[];
  readonly parts: readonly RoundPart[];
}

export type Step = { readonly kind: 'local'; readonly ins: number } | ({ readonly kind: 'round' } & Exchange);

/**
 * A Beaver combination z = c + x1*p1 + x2*p2 (+ p1*p2 for party 0), with p1, p2 the opened
 * values (e, f), run as one step at its root instruction (add_pub / xor_pub) instead of the
 * five or six instructions the circuit spells it in: in one pass over the operands for
 * element-wise products, and for matmuls (party 0) as p1@(x1 + p2) + x2@p2, one matmul fewer.
 * Ring arithmetic is exact, so the result is the same bits; the skipped intermediates are
 * read by nothing else.
 */
export interface Fusion {
  readonly kind: 'mul' | 'and' | 'matmul';
  /** Whether the public product p1*p2 is added (party 0). */
  readonly withPublic: boolean;
  readonly c: number;
  readonly x1: number;
  readonly p1: number;
  readonly x2: number;
  readonly p2: number;
  /** The registers the fused step reads. */
  readonly leaves: readonly number[];
}

export interface PartyPlan {
  readonly schedule: Schedule;
  readonly steps: readonly Step[];
  /** Per register: the index of the last step that reads it (-1: never read). */
  readonly lastUse: Int32Array;
  /** Fused Beaver combinations by root instruction (their other instructions have no step). */
  readonly fusions: ReadonlyMap<number, Fusion>;
}

export interface PlanOptions {
  /** Fuse Beaver combinations (default true). */
  readonly fuse?: boolean;
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

const sameShape = (c: Circuit, regs: readonly number[]): boolean => {
  const s0 = c.registers[regs[0]!]!.shape;
  return regs.every((r) => {
    const s = c.registers[r]!.shape;
    return s.length === s0.length && s.every((d, i) => d === s0[i]);
  });
};

/**
 * The Beaver combinations of `c` party `p` can fuse: root add_pub(add(add(c, T1), T2), P) (or
 * the xor / and_pub / and_pp form), T1 = x1*p1, T2 = x2*p2, P = p1*p2, each intermediate read
 * only by its parent and not kept. Returns the fusions and the instructions they absorb.
 */
function findFusions(c: Circuit, p: 0 | 1, keep: ReadonlySet<number>, runs: Uint8Array): { fusions: Map<number, Fusion>; absorbed: Set<number> } {
  const ins = c.instructions;
  const readers = new Int32Array(c.registers.length);
  const def = new Int32Array(c.registers.length).fill(-1);
  ins.forEach((x, i) => {
    for (const r of x.inputs) readers[r]!++;
    for (const r of x.outputs) def[r] = i;
  });
  const fusions = new Map<number, Fusion>();
  const absorbed = new Set<number>();
  const inner = (r: number, ops: readonly string[]): number => {
    const d = def[r]!;
    if (d < 0 || readers[r] !== 1 || keep.has(r) || !ops.includes(ins[d]!.op) || ins[d]!.outputs.length !== 1) return -1;
    return d;
  };
  ins.forEach((root, i) => {
    if (!runs[i] || (root.op !== 'add_pub' && root.op !== 'xor_pub')) return;
    const arith = root.op === 'add_pub';
    const sum = arith ? ['add'] : ['xor'];
    const prods = arith ? ['mul_pub', 'matmul_pub'] : ['and_pub'];
    const iS = inner(root.inputs[0]!, sum);
    const iS1 = iS < 0 ? -1 : inner(ins[iS]!.inputs[0]!, sum);
    const iT2 = iS < 0 ? -1 : inner(ins[iS]!.inputs[1]!, prods);
    const iT1 = iS1 < 0 ? -1 : inner(ins[iS1]!.inputs[1]!, prods);
    const iP = inner(root.inputs[1]!, arith ? ['mul_pp', 'matmul_pp'] : ['and_pp']);
    if (iS < 0 || iS1 < 0 || iT1 < 0 || iT2 < 0 || iP < 0) return;
    const [T1, T2, P] = [ins[iT1]!, ins[iT2]!, ins[iP]!];
    const matmul = T1.op === 'matmul_pub';
    if ((T2.op === 'matmul_pub') !== matmul || (P.op === 'matmul_pp') !== matmul) return;
    const cReg = ins[iS1]!.inputs[0]!;
    const [x1, p1] = [T1.inputs[0]!, T1.inputs[1]!];
    const [x2, p2] = [T2.inputs[0]!, T2.inputs[1]!];
    if (matmul) {
      // T1 = p1 @ x1 (public on the left), T2 = x2 @ p2, P = p1 @ p2.
      if (T1.attrs['side'] !== 'left' || T2.attrs['side'] !== 'right' || P.inputs[0] !== p1 || P.inputs[1] !== p2) return;
      if (!sameShape(c, [x1, p2]) || !sameShape(c, [root.outputs[0]!, cReg, T1.outputs[0]!, T2.outputs[0]!, ins[iS]!.outputs[0]!, ins[iS1]!.outputs[0]!])) return;
      // Party 1 computes both matmuls anyway: nothing to gain.
      if (p === 1) return;
    } else {
      const [q1, q2] = [P.inputs[0]!, P.inputs[1]!];
      if (!((q1 === p1 && q2 === p2) || (q1 === p2 && q2 === p1))) return;
      const all = [root.outputs[0]!, cReg, x1, p1, x2, p2, ...[iS, iS1, iT1, iT2, iP].map((j) => ins[j]!.outputs[0]!)];
      if (!sameShape(c, all)) return;
    }
    const kind = matmul ? 'matmul' : arith ? 'mul' : 'and';
    fusions.set(i, { kind, withPublic: p === 0, c: cReg, x1, p1, x2, p2, leaves: [...new Set([cReg, x1, p1, x2, p2])] });
    for (const j of [iS, iS1, iT1, iT2, iP]) absorbed.add(j);
  });
  return { fusions, absorbed };
}

/**
 * The exchanges of a run, the same for both parties (a function of the circuit and its
 * schedule). A preprocessing open whose value is first needed after online round d (by
 * anything, on either party) travels with round d's message, when d >= 1; its inputs are made
 * before that message. Opens needed before the first online round stay in their
 * preprocessing round, which is left out when nothing stays in it. Chains of preprocessing
 * opens keep their order: an open's inputs are needed one round before it travels.
 */
export function exchanges(c: Circuit, s: Schedule = schedule(c)): Exchange[] {
  const ins = c.instructions;
  const def = new Int32Array(c.registers.length).fill(-1);
  ins.forEach((x, i) => {
    for (const r of x.outputs) def[r] = i;
  });
  // need[i]: the online stretch (0: before round 1, d: after round d) by which a preprocessing
  // instruction's outputs are needed; -1: in the preprocessing phase itself.
  const need = new Float64Array(ins.length).fill(Infinity);
  const carrier = new Int32Array(ins.length);
  for (let j = ins.length - 1; j >= 0; j--) {
    const x = ins[j]!;
    const comm = isComm(x.op);
    let at: number;
    if (s.phase[j] === 'online') at = comm ? s.depth[j]! - 1 : s.depth[j]!;
    else if (comm) {
      carrier[j] = need[j]! >= 1 && need[j]! !== Infinity ? need[j]! : 0;
      at = carrier[j]! >= 1 ? carrier[j]! - 1 : -1;
    } else at = need[j]!;
    for (const r of x.inputs) {
      const d = def[r]!;
      if (d >= 0 && s.phase[d] === 'pre' && at < need[d]!) need[d] = at;
    }
  }
  const out: Exchange[] = [];
  s.roundsOf.pre.forEach((comms, d) => {
    const stay = comms.filter((i) => carrier[i] === 0);
    if (stay.length > 0) out.push({ phase: 'pre', round: d + 1, comms: stay, parts: [{ phase: 'pre', round: d + 1, comms: stay }] });
  });
  s.roundsOf.online.forEach((own, d) => {
    const parts: RoundPart[] = [{ phase: 'online', round: d + 1, comms: own }];
    s.roundsOf.pre.forEach((comms, e) => {
      const moved = comms.filter((i) => carrier[i] === d + 1);
      if (moved.length > 0) parts.push({ phase: 'pre', round: e + 1, comms: moved });
    });
    out.push({ phase: 'online', round: d + 1, comms: parts.flatMap((pt) => pt.comms), parts });
  });
  return out;
}

export function planParty(c: Circuit, p: 0 | 1, keep: ReadonlySet<number> = new Set(), s: Schedule = schedule(c), opts: PlanOptions = {}): PartyPlan {
  const order = executionOrder(c, s);
  const ins = c.instructions;

  // Liveness, backwards: communications and sources always run; a local op runs when the party uses one of its results.
  const needed = new Uint8Array(c.registers.length);
  for (const r of keep) needed[r] = 1;
  const runs = new Uint8Array(ins.length);
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k]!;
    const x = ins[i]!;
    const run = isComm(x.op) || isSource(x) || x.op === 'handoff' || x.outputs.some((r) => needed[r] === 1);
    if (!run) continue;
    runs[i] = 1;
    for (const r of usedInputs(x, p)) needed[r] = 1;
  }

  const { fusions, absorbed } = opts.fuse === false ? { fusions: new Map<number, Fusion>(), absorbed: new Set<number>() } : findFusions(c, p, keep, runs);
  for (const j of absorbed) runs[j] = 0;
  const reads = (i: number): readonly number[] => fusions.get(i)?.leaves ?? usedInputs(ins[i]!, p);

  // Steps. Sources and the preprocessing phase's local work are placed just before their first reader.
  const steps: Step[] = [];
  const emitted = new Uint8Array(ins.length);
  const onDemand = (x: Instruction, i: number): boolean => isSource(x) || (s.phase[i] === 'pre' && !isComm(x.op));
  const defOf = new Int32Array(c.registers.length).fill(-1);
  ins.forEach((x, i) => {
    if (onDemand(x, i)) for (const r of x.outputs) defOf[r] = i;
  });
  const emit = (d: number): void => {
    emitted[d] = 1;
    pull(d);
    steps.push({ kind: 'local', ins: d });
  };
  function pull(i: number): void {
    for (const r of reads(i)) {
      const d = defOf[r]!;
      if (d >= 0 && !emitted[d]) emit(d);
    }
  }
  const exch = exchanges(c, s);
  for (const ex of exch) {
    if (ex.phase === 'pre') {
      for (const i of ex.comms) pull(i);
      steps.push({ kind: 'round', ...ex });
    }
  }
  const local: number[][] = Array.from({ length: s.rounds + 1 }, () => []);
  for (const i of order) if (s.phase[i] === 'online' && !isComm(ins[i]!.op) && runs[i]) local[s.depth[i]!]!.push(i);
  const online = exch.filter((ex) => ex.phase === 'online');
  for (let d = 0; d <= s.rounds; d++) {
    for (const i of local[d]!) {
      pull(i);
      steps.push({ kind: 'local', ins: i });
    }
    if (d < s.rounds) {
      const ex = online[d]!;
      for (const i of ex.comms) pull(i);
      steps.push({ kind: 'round', ...ex });
    }
  }
  // Sources nobody reads still run (an input is still checked; a dealer op still costs its
  // bytes), and so does preprocessing work whose results are kept.
  ins.forEach((x, i) => {
    if (!emitted[i] && (isSource(x) || (onDemand(x, i) && runs[i]))) emit(i);
  });

  const lastUse = new Int32Array(c.registers.length).fill(-1);
  steps.forEach((st, k) => {
    const list = st.kind === 'local' ? [st.ins] : st.comms;
    for (const i of list) for (const r of reads(i)) lastUse[r] = k;
  });
  return { schedule: s, steps, lastUse, fusions };
}
