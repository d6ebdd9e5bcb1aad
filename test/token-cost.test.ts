// The static cost of a segmented run: per-layer costs of the model compiled at each bucket,
// plus the boundary circuit. For the unpruned run the parts must add up to exactly the
// compiled model's own report (rounds, online bytes, LAN/WAN latency); a pruned run that took
// smaller buckets costs fewer bytes and exactly one boundary circuit more per boundary.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { estimateLatency, PROFILES } from '../compiler/backend/report/latency.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { addCost, boundaryCost, latencyOf, layerCostTable, runCost } from '../compiler/tokens/segment-cost.ts';

const TINY = join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx');
const load = (n: number) => loadOnnxFile(TINY, { batch: 1, seq: n }).graph;

describe('static cost of the buckets a run took', () => {
  const table = layerCostTable(load, [16, 8]);

  it('the unpruned run is the compiled model, exactly', () => {
    const cost = compileModel(load(16)).cost;
    const run = runCost(table, [16], 128);
    expect(run.rounds).toBe(cost.rounds);
    expect(run.bytes).toBe(cost.onlineBytes);
    const lat = latencyOf(run);
    for (const p of PROFILES) expect(lat[p.name]).toBeCloseTo(estimateLatency(cost, p).seconds, 12);
  });

  it('a pruned run: layer 0 at 16 tokens, the boundary at 16, layer 1 at its bucket of 8', () => {
    const t16 = table.get(16)!;
    const t8 = table.get(8)!;
    const want = addCost(addCost(addCost(t16.rest, t16.layers[0]!), boundaryCost(16, 128)), t8.layers[1]!);
    expect(runCost(table, [16, 8], 128)).toEqual(want);
    expect(want.bytes).toBeLessThan(runCost(table, [16], 128).bytes);
    expect(() => runCost(table, [16, 24], 128)).toThrow(/no layer costs for 24 tokens/);
  });
});
