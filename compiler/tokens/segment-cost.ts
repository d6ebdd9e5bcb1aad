// The static cost of a token-pruned model run in segments: per bucket, and for a run that
// took given buckets. A segment's cost is its encoder layer compiled for the bucket's token
// count (read off the per-layer breakdown of the model compiled at that length), plus the
// boundary protocol at the tokens it starts from: importance thresholds (one comparison per
// token), the oblivious shift-network compaction of the hidden state with the keep and
// reduction flags as two extra columns, and the opened count (one element, the declared leak).
// The part outside the encoder layers (embeddings, pooler, classifier) runs at the full length.
// Rounds and bytes of consecutive segments add: a boundary is a synchronization point.

import { circuitCost, commBytes, layerKey, type CircuitCost, type CostEntry } from '../../ir/circuit/index.ts';
import { boundaryCircuit } from './boundary.ts';
import type { Graph } from '../../ir/graph.ts';
import type { ProtocolConfig } from '../backend/protocols/index.ts';
import { phaseBytes, PROFILES } from '../backend/report/latency.ts';
import { compileModel, type CompileOptions, type Compiled } from '../backend/compile.ts';

export interface StaticCost {
  rounds: number;
  /** Online bytes, both parties. */
  bytes: number;
  /** Online bytes of the larger sender (what the latency formula uses). */
  maxPartyBytes: number;
}

export const ZERO_COST: StaticCost = { rounds: 0, bytes: 0, maxPartyBytes: 0 };

export function addCost(a: StaticCost, b: StaticCost): StaticCost {
  return { rounds: a.rounds + b.rounds, bytes: a.bytes + b.bytes, maxPartyBytes: a.maxPartyBytes + b.maxPartyBytes };
}

/** Seconds under each network profile (rounds x RTT + larger sender's bytes / bandwidth). */
export function latencyOf(c: StaticCost): Record<string, number> {
  return Object.fromEntries(PROFILES.map((p) => [p.name, c.rounds * p.rtt + c.maxPartyBytes / p.bandwidth]));
}

/**
 * Per layer key (`L<l>` or `-`): online rounds and bytes from the report's breakdown, and
 * the larger sender's online bytes summed from the layer's communications (the server
 * receives more than it sends in a linear layer, so the split is not half and half).
 */
function byLayer(compiled: Compiled): Map<string, StaticCost> {
  const c = compiled.circuit;
  const perParty = new Map<string, [number, number]>();
  c.instructions.forEach((ins, i) => {
    if (compiled.schedule.phase[i] !== 'online') return;
    const [b0, b1] = commBytes(ins, c.registers);
    if (b0 === 0 && b1 === 0) return;
    const key = layerKey(ins.prov.layer);
    const acc = perParty.get(key) ?? [0, 0];
    perParty.set(key, [acc[0] + b0, acc[1] + b1]);
  });
  const out = new Map<string, StaticCost>();
  for (const [key, e] of Object.entries(compiled.cost.byLayer) as [string, CostEntry][]) {
    const [p0, p1] = perParty.get(key) ?? [0, 0];
    out.set(key, { rounds: e.rounds, bytes: e.bytes, maxPartyBytes: Math.max(p0, p1) });
  }
  return out;
}

export function fromCircuitCost(c: CircuitCost): StaticCost {
  return { rounds: c.rounds, bytes: c.onlineBytes, maxPartyBytes: Math.max(...phaseBytes(c, 'online')) };
}

const boundaryCache = new Map<string, StaticCost>();

/** The boundary protocol at n tokens of width D (boundary.ts). */
export function boundaryCost(n: number, D: number, cfg?: ProtocolConfig): StaticCost {
  const key = `${n}x${D}:${cfg?.name ?? 'crypten'}`;
  let c = boundaryCache.get(key);
  if (c === undefined) boundaryCache.set(key, (c = fromCircuitCost(circuitCost(boundaryCircuit(n, D, cfg !== undefined ? { cfg } : {})))));
  return c;
}

export interface LayerCosts {
  /** Per encoder layer, the cost at this many tokens. */
  readonly layers: readonly StaticCost[];
  /** Everything outside the encoder layers. */
  readonly rest: StaticCost;
}

/**
 * Compiles the model at each token count and reads the per-layer costs. `load(n)` gives the
 * ONNX-level (or raised) graph bound to n tokens.
 */
export function layerCostTable(load: (n: number) => Graph, counts: readonly number[], options: CompileOptions = {}): Map<number, LayerCosts> {
  const out = new Map<number, LayerCosts>();
  for (const n of counts) {
    const costs = byLayer(compileModel(load(n), options));
    const layers: StaticCost[] = [];
    for (let l = 0; costs.has(`L${l}`); l++) layers.push(costs.get(`L${l}`)!);
    out.set(n, { layers, rest: costs.get('-') ?? ZERO_COST });
  }
  return out;
}

/**
 * The static cost of a run whose segments ran on `tokens` (tokens[0] = S for layer 0, then
 * the bucket of each boundary's count): the unpruned model is `tokens` all equal to S.
 */
export function runCost(table: ReadonlyMap<number, LayerCosts>, tokens: readonly number[], D: number, cfg?: ProtocolConfig): StaticCost {
  const full = table.get(tokens[0]!)!;
  let total = full.rest;
  const L = full.layers.length;
  for (let l = 0; l < L; l++) {
    const n = tokens[l] ?? tokens[tokens.length - 1]!;
    const t = table.get(n);
    if (t === undefined) throw new Error(`no layer costs for ${n} tokens (compile that bucket first)`);
    total = addCost(total, t.layers[l]!);
    if (l + 1 < L && tokens.length > 1) total = addCost(total, boundaryCost(n, D, cfg));
  }
  return total;
}
