// The static cost of a circuit: rounds and bytes, online and preprocessing, and what the
// dealer sends, with breakdowns by op kind, layer and round. The compiler's report and the
// runtime's self-check both use it; the runtime's measured numbers must equal it exactly.
//
// Bytes per instruction are the op's own (gates/: each comm op says what each party sends,
// each dealer op what the dealer sends each party), so this file only sums and groups them.

import { numel } from '../types.ts';
import type { Circuit } from './circuit.ts';
import { findCircuitOp, isComm } from './ops.ts';
import { schedule, type Phase, type Schedule } from './schedule.ts';
import type { Instruction, OpKind, RegType } from './types.ts';

export { BYTES_PER_ELEMENT } from './gate.ts';

/** The numbers the runtime measures; the static cost must equal them. */
export interface CostSummary {
  readonly rounds: number;
  readonly preprocessingRounds: number;
  /** Bytes sent by P0 and by P1 (both phases). */
  readonly bytesPerParty: readonly [number, number];
  /** Bytes on the wire between P0 and P1, both directions, both phases. */
  readonly bytesTotal: number;
  /** Correction words the dealer sends, in bytes. */
  readonly dealerBytes: number;
  /** Dealer bytes to P0 and to P1 (FSS keys go to both; Beaver corrections to P1 only). */
  readonly dealerBytesPerParty: readonly [number, number];
}

export interface CostEntry {
  /** Distinct online rounds in which this part communicates. */
  rounds: number;
  preprocessingRounds: number;
  /** Online communication instructions (rounds if nothing were merged). */
  unmergedRounds: number;
  /** Online bytes on the wire. */
  bytes: number;
  preprocessingBytes: number;
  dealerBytes: number;
}

export interface RoundCost {
  readonly phase: Phase;
  /** 1-based within its phase. */
  readonly round: number;
  readonly bytesP0: number;
  readonly bytesP1: number;
  /** Communication instructions merged into this round. */
  readonly comms: number;
  readonly opKinds: readonly OpKind[];
}

export interface CircuitCost extends CostSummary {
  readonly unmergedRounds: number;
  readonly preprocessingUnmergedRounds: number;
  readonly onlineBytes: number;
  readonly preprocessingBytes: number;
  readonly byOpKind: Readonly<Record<string, CostEntry>>;
  /** Keyed `L<layer>`, or `-` for instructions outside any layer. */
  readonly byLayer: Readonly<Record<string, CostEntry>>;
  readonly byRound: readonly RoundCost[];
}

/** Bytes each party sends for one communication instruction: [P0, P1] (the op's own count). */
export function commBytes(ins: Instruction, registers: readonly RegType[]): [number, number] {
  return findCircuitOp(ins.op)?.comm?.bytes(ins, registers) ?? [0, 0];
}

/** Bytes the dealer sends to [P0, P1] for one instruction (the op's own count). */
export function dealerBytesPerParty(ins: Instruction, registers: readonly RegType[]): [number, number] {
  return findCircuitOp(ins.op)?.dealer?.bytes(ins, registers) ?? [0, 0];
}

/** Bytes the dealer sends (to both parties) for one instruction. */
export function dealerBytes(ins: Instruction, registers: readonly RegType[]): number {
  const [d0, d1] = dealerBytesPerParty(ins, registers);
  return d0 + d1;
}

function emptyEntry(): CostEntry {
  return { rounds: 0, preprocessingRounds: 0, unmergedRounds: 0, bytes: 0, preprocessingBytes: 0, dealerBytes: 0 };
}

export function layerKey(layer: number | undefined): string {
  return layer === undefined ? '-' : `L${layer}`;
}

export function circuitCost(c: Circuit, s: Schedule = schedule(c)): CircuitCost {
  const byOpKind: Record<string, CostEntry> = {};
  const byLayer: Record<string, CostEntry> = {};
  const roundSets = new Map<CostEntry, { pre: Set<number>; online: Set<number> }>();
  const entry = (table: Record<string, CostEntry>, key: string): CostEntry => {
    let e = table[key];
    if (e === undefined) {
      e = emptyEntry();
      table[key] = e;
      roundSets.set(e, { pre: new Set(), online: new Set() });
    }
    return e;
  };
  const sent: [number, number] = [0, 0];
  let onlineBytes = 0;
  let preBytes = 0;
  let dealer = 0;
  const dealerTo: [number, number] = [0, 0];
  const rounds = new Map<string, { bytesP0: number; bytesP1: number; comms: number; kinds: Set<OpKind> }>();
  c.instructions.forEach((ins, i) => {
    const targets = [entry(byOpKind, ins.prov.opKind), entry(byLayer, layerKey(ins.prov.layer))];
    const [d0, d1] = dealerBytesPerParty(ins, c.registers);
    const db = d0 + d1;
    if (db > 0) {
      dealer += db;
      dealerTo[0] += d0;
      dealerTo[1] += d1;
      for (const e of targets) e.dealerBytes += db;
    }
    const [b0, b1] = commBytes(ins, c.registers);
    if (b0 + b1 === 0 && !isComm(ins.op)) return;
    const online = s.phase[i] === 'online';
    const d = s.depth[i]!;
    sent[0] += b0;
    sent[1] += b1;
    if (online) onlineBytes += b0 + b1;
    else preBytes += b0 + b1;
    for (const e of targets) {
      const rs = roundSets.get(e)!;
      if (online) {
        e.bytes += b0 + b1;
        e.unmergedRounds++;
        rs.online.add(d);
      } else {
        e.preprocessingBytes += b0 + b1;
        rs.pre.add(d);
      }
    }
    const key = `${s.phase[i]}:${d}`;
    let r = rounds.get(key);
    if (r === undefined) {
      r = { bytesP0: 0, bytesP1: 0, comms: 0, kinds: new Set() };
      rounds.set(key, r);
    }
    r.bytesP0 += b0;
    r.bytesP1 += b1;
    r.comms++;
    r.kinds.add(ins.prov.opKind);
  });
  for (const [e, rs] of roundSets) {
    e.rounds = rs.online.size;
    e.preprocessingRounds = rs.pre.size;
  }
  const byRound: RoundCost[] = [];
  for (const phase of ['pre', 'online'] as const) {
    const n = phase === 'pre' ? s.preprocessingRounds : s.rounds;
    for (let d = 1; d <= n; d++) {
      const r = rounds.get(`${phase}:${d}`);
      byRound.push({
        phase,
        round: d,
        bytesP0: r?.bytesP0 ?? 0,
        bytesP1: r?.bytesP1 ?? 0,
        comms: r?.comms ?? 0,
        opKinds: r === undefined ? [] : [...r.kinds].sort(),
      });
    }
  }
  return {
    rounds: s.rounds,
    preprocessingRounds: s.preprocessingRounds,
    unmergedRounds: s.unmergedRounds,
    preprocessingUnmergedRounds: s.preprocessingUnmergedRounds,
    bytesPerParty: [sent[0], sent[1]],
    bytesTotal: sent[0] + sent[1],
    onlineBytes,
    preprocessingBytes: preBytes,
    dealerBytes: dealer,
    dealerBytesPerParty: dealerTo,
    byOpKind,
    byLayer,
    byRound,
  };
}

/** The summary part of a cost, for comparing with a measured one. */
export function costSummary(c: CostSummary): CostSummary {
  return {
    rounds: c.rounds,
    preprocessingRounds: c.preprocessingRounds,
    bytesPerParty: [c.bytesPerParty[0], c.bytesPerParty[1]],
    bytesTotal: c.bytesTotal,
    dealerBytes: c.dealerBytes,
    dealerBytesPerParty: [c.dealerBytesPerParty[0], c.dealerBytesPerParty[1]],
  };
}
