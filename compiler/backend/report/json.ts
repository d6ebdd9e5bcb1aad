// cost.json: the static cost for scripts. Top-level fields (stable): rounds,
// criticalPathRounds, unmergedRounds, preprocessingRounds, bytesPerParty, bytesTotal,
// onlineBytesTotal, preprocessingBytesTotal, dealerBytes, latencySeconds {lan, wan},
// perLayer, perOp, perRound, fssWidths (FSS keys per op kind and protocol at each bit width,
// with their dealer bytes; empty without FSS); plus what the numbers are about (model, protocols, pipeline).

import type { CostEntry } from '../../../ir/circuit/cost.ts';
import type { Compiled } from '../compile.ts';
import { layerBreakdown } from './breakdown.ts';
import { fssWidthRows, type FssWidthRow } from './fss-widths.ts';
import { criticalPathRounds } from './critical-path.ts';
import { estimateDealerLatency, estimateLatency, LATENCY_FORMULA, phaseBytes, PROFILES } from './latency.ts';

export const COST_JSON_FORMAT = 'ig3dc-cost/1';

export interface CostJson {
  readonly format: string;
  readonly model: string;
  readonly protocols: string;
  readonly pipeline: readonly string[];
  readonly f: number;
  readonly instructions: number;
  readonly rounds: number;
  readonly criticalPathRounds: number;
  readonly unmergedRounds: number;
  readonly preprocessingRounds: number;
  readonly preprocessingUnmergedRounds: number;
  readonly bytesPerParty: readonly [number, number];
  readonly onlineBytesPerParty: readonly [number, number];
  readonly bytesTotal: number;
  readonly onlineBytesTotal: number;
  readonly preprocessingBytesTotal: number;
  readonly dealerBytes: number;
  readonly dealerBytesPerParty: readonly [number, number];
  readonly dealerLatencySeconds: Readonly<Record<string, number>>;
  readonly latencySeconds: Readonly<Record<string, number>>;
  readonly preprocessingLatencySeconds: Readonly<Record<string, number>>;
  readonly latencyFormula: string;
  readonly networkProfiles: readonly { name: string; bandwidthBytesPerSecond: number; rttSeconds: number }[];
  readonly perLayer: Readonly<Record<string, CostEntry & { byOpKind: Record<string, unknown> }>>;
  readonly perOp: Readonly<Record<string, CostEntry>>;
  readonly perRound: readonly unknown[];
  readonly fssWidths: readonly FssWidthRow[];
  readonly warnings: readonly string[];
}

export function costJson(c: Compiled, model = c.circuit.name): CostJson {
  const cost = c.cost;
  const breakdown = layerBreakdown(c.circuit, c.schedule);
  const perLayer: Record<string, CostEntry & { byOpKind: Record<string, unknown> }> = {};
  for (const l of breakdown) {
    const byOpKind: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(l.byKind)) {
      if (v.bytes + v.preprocessingBytes + v.dealerBytes + v.unmergedRounds > 0) byOpKind[k] = v;
    }
    perLayer[l.layer] = { ...cost.byLayer[l.layer]!, byOpKind };
  }
  const lat: Record<string, number> = {};
  const pre: Record<string, number> = {};
  const dealer: Record<string, number> = {};
  for (const p of PROFILES) {
    dealer[p.name] = estimateDealerLatency(cost, p).seconds;
    lat[p.name] = estimateLatency(cost, p).seconds;
    pre[p.name] = estimateLatency(cost, p, 'pre').seconds;
  }
  return {
    format: COST_JSON_FORMAT,
    model,
    protocols: c.protocols.name,
    pipeline: c.pipeline,
    f: c.circuit.f,
    instructions: c.circuit.instructions.length,
    rounds: cost.rounds,
    criticalPathRounds: criticalPathRounds(c.circuit),
    unmergedRounds: cost.unmergedRounds,
    preprocessingRounds: cost.preprocessingRounds,
    preprocessingUnmergedRounds: cost.preprocessingUnmergedRounds,
    bytesPerParty: cost.bytesPerParty,
    onlineBytesPerParty: phaseBytes(cost, 'online'),
    bytesTotal: cost.bytesTotal,
    onlineBytesTotal: cost.onlineBytes,
    preprocessingBytesTotal: cost.preprocessingBytes,
    dealerBytes: cost.dealerBytes,
    dealerBytesPerParty: cost.dealerBytesPerParty,
    dealerLatencySeconds: dealer,
    latencySeconds: lat,
    preprocessingLatencySeconds: pre,
    latencyFormula: LATENCY_FORMULA,
    networkProfiles: PROFILES.map((p) => ({ name: p.name, bandwidthBytesPerSecond: p.bandwidth, rttSeconds: p.rtt })),
    perLayer,
    perOp: cost.byOpKind,
    perRound: cost.byRound,
    fssWidths: fssWidthRows(c.circuit),
    warnings: c.warnings,
  };
}
