// Costs per (layer, op kind), for the per-layer stacked bars and tables. Bytes are exact
// sums. A layer's online rounds are the distinct rounds in which it communicates; each of
// those rounds is credited to the op kind that sends the most bytes in it within the layer
// (ties: the first), so the kinds' rounds of a layer add up to the layer's rounds.

import type { Circuit } from '../../../ir/circuit/circuit.ts';
import { commBytes, dealerBytes, layerKey } from '../../../ir/circuit/cost.ts';
import { isComm } from '../../../ir/circuit/ops.ts';
import type { Schedule } from '../../../ir/circuit/schedule.ts';
import { OP_KINDS, type OpKind } from '../../../ir/circuit/types.ts';

export interface KindCost {
  rounds: number;
  unmergedRounds: number;
  bytes: number;
  preprocessingBytes: number;
  dealerBytes: number;
}

export interface LayerBreakdown {
  /** `L0`, `L1`, ... or `-` for what lies outside the encoder layers. */
  readonly layer: string;
  readonly rounds: number;
  readonly byKind: Readonly<Record<OpKind, KindCost>>;
}

function emptyKinds(): Record<OpKind, KindCost> {
  const out = {} as Record<OpKind, KindCost>;
  for (const k of OP_KINDS) out[k] = { rounds: 0, unmergedRounds: 0, bytes: 0, preprocessingBytes: 0, dealerBytes: 0 };
  return out;
}

/** Layers in order: `-` parts before the first layer are listed first, then L0, L1, ... */
export function layerOrder(keys: Iterable<string>): string[] {
  const ks = [...new Set(keys)];
  const num = (k: string): number => (k === '-' ? -1 : Number(k.slice(1)));
  return ks.sort((a, b) => num(a) - num(b));
}

export function layerBreakdown(c: Circuit, s: Schedule): LayerBreakdown[] {
  const layers = new Map<string, Record<OpKind, KindCost>>();
  // per layer: round depth -> bytes per kind in that round
  const roundKinds = new Map<string, Map<number, Map<OpKind, number>>>();
  const get = (key: string): Record<OpKind, KindCost> => {
    let l = layers.get(key);
    if (l === undefined) {
      l = emptyKinds();
      layers.set(key, l);
      roundKinds.set(key, new Map());
    }
    return l;
  };
  c.instructions.forEach((ins, i) => {
    const key = layerKey(ins.prov.layer);
    const kind = ins.prov.opKind;
    const db = dealerBytes(ins, c.registers);
    if (db > 0) get(key)[kind].dealerBytes += db;
    if (!isComm(ins.op)) return;
    const [b0, b1] = commBytes(ins, c.registers);
    const e = get(key)[kind];
    if (s.phase[i] === 'pre') {
      e.preprocessingBytes += b0 + b1;
      return;
    }
    e.bytes += b0 + b1;
    e.unmergedRounds++;
    const rounds = roundKinds.get(key)!;
    let m = rounds.get(s.depth[i]!);
    if (m === undefined) rounds.set(s.depth[i]!, (m = new Map()));
    m.set(kind, (m.get(kind) ?? 0) + b0 + b1 + 1e-9); // a zero-byte open still counts
  });
  return layerOrder(layers.keys()).map((key) => {
    const kinds = layers.get(key)!;
    const rounds = roundKinds.get(key)!;
    for (const m of rounds.values()) {
      let best: OpKind | undefined;
      let bestBytes = -1;
      for (const [k, v] of m) {
        if (v > bestBytes) {
          best = k;
          bestBytes = v;
        }
      }
      kinds[best!].rounds++;
    }
    return { layer: key, rounds: rounds.size, byKind: kinds };
  });
}
