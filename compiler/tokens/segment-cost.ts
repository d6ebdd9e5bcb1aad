// The static cost of a token-pruned model run in segments: per bucket, and for a run that
// took given buckets. A segment's cost is its encoder layer compiled for the bucket's token
// count (read off the per-layer breakdown of the model compiled at that length), plus the
// boundary protocol at the tokens it starts from: importance thresholds (one comparison per
// token), the oblivious shift-network compaction of the hidden state with the keep and
// reduction flags as two extra columns, and the opened count (one element, the declared leak).
// The part outside the encoder layers (embeddings, pooler, classifier) runs at the full length.
// Rounds and bytes of consecutive segments add: a boundary is a synchronization point.

import { circuitCost, type CircuitCost, type CostEntry } from '../../ir/circuit/index.ts';
import { boundaryCircuit } from './boundary.ts';
import type { Graph } from '../../ir/graph.ts';
import type { ProtocolConfig } from '../backend/protocols/index.ts';
import { PROFILES } from '../backend/report/latency.ts';
import { compileModel, type CompileOptions } from '../backend/compile.ts';

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

function fromEntry(e: CostEntry): StaticCost {
  // both parties send the same in every open; outputs (one direction) are outside the layers
  return { rounds: e.rounds, bytes: e.bytes, maxPartyBytes: e.bytes / 2 };
}

export function fromCircuitCost(c: CircuitCost): StaticCost {
  return { rounds: c.rounds, bytes: c.onlineBytes, maxPartyBytes: Math.max(...c.bytesPerParty) };
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
    const c = compileModel(load(n), options).cost;
    const layers: StaticCost[] = [];
    for (let l = 0; `L${l}` in c.byLayer; l++) layers.push(fromEntry(c.byLayer[`L${l}`]!));
    out.set(n, { layers, rest: fromEntry(c.byLayer['-'] ?? { rounds: 0, bytes: 0, unmergedRounds: 0, preprocessingRounds: 0, preprocessingBytes: 0, dealerBytes: 0 }) });
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
