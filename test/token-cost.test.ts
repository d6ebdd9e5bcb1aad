// The static cost of a token-pruned model comes from the segment circuits the runtime runs:
// for each bert-tiny case, the cost the report gives for the buckets the plaintext evaluator
// takes equals what the in-process run in segments measures (rounds, bytes per party, dealer
// bytes), built independently as `ig3dc compile` and `ig3dc run` build them; the expected cost
// over rows is the mean of those runs; the per-bucket table holds every bucket a run can take.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SegmentCostReport } from '../compiler/cli/commands/compile-segments.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { segmentCircuitsOf } from '../compiler/tokens/segment-circuits.ts';
import { bucketTable, expectedCost, runCost, type StaticCost } from '../compiler/tokens/segment-cost.ts';
import { costSummary, type CostSummary } from '../ir/circuit/cost.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { Tensor } from '../ir/tensor.ts';
import { parsePipeline } from '../passes/index.ts';
import { runSegmentedCircuits } from '../runtime/segments.ts';
import { tempDir, writeBundle } from './importance-helpers.ts';
import { ig3dc, killAll } from './process-helpers.ts';

const ROOT = join(import.meta.dirname, '..');
const TINY = join(ROOT, 'examples', 'bert-tiny.onnx');
const CASES = readCasesFile(join(ROOT, 'examples', 'bert-tiny.cases.json'));
const PASSES = 'prune-tokens{theta=[0.05],bucket=8}';

const shapesOf = (feeds: ReadonlyMap<string, Tensor>): Record<string, number[]> => Object.fromEntries([...feeds].map(([k, t]) => [k, [...t.shape]]));
/** The segment circuits as the CLI builds them (a fresh compile cache each time). */
const circuitsFor = (feeds: ReadonlyMap<string, Tensor>, passes = PASSES) => segmentCircuitsOf(loadOnnxFile(TINY, { inputShapes: shapesOf(feeds) }).graph, parsePipeline(passes), { protocols: 'best' });

/** What the runtime measured, summed over the segments of one in-process run. */
function measured(feeds: ReadonlyMap<string, Tensor>, seed: number, passes = PASSES): { tokens: number[]; shapes: string[]; cost: CostSummary } {
  const run = runSegmentedCircuits(circuitsFor(feeds, passes), { inputs: feeds, seed: new Uint8Array(16).fill(seed) });
  const sum = run.steps.map((s) => costSummary(s.cost)).reduce((a, c) => ({
    rounds: a.rounds + c.rounds,
    preprocessingRounds: a.preprocessingRounds + c.preprocessingRounds,
    bytesPerParty: [a.bytesPerParty[0] + c.bytesPerParty[0], a.bytesPerParty[1] + c.bytesPerParty[1]],
    bytesTotal: a.bytesTotal + c.bytesTotal,
    dealerBytes: a.dealerBytes + c.dealerBytes,
    dealerBytesPerParty: [a.dealerBytesPerParty[0] + c.dealerBytesPerParty[0], a.dealerBytesPerParty[1] + c.dealerBytesPerParty[1]],
  }));
  return { tokens: run.steps.map((s) => s.tokens), shapes: run.steps.map((s) => s.shape.join('+')), cost: sum };
}

/** Row r of a batched case, as its own inference. */
function rowOf(feeds: ReadonlyMap<string, Tensor>, r: number): Map<string, Tensor> {
  return new Map(
    [...feeds].map(([k, t]) => {
      const S = t.shape[1]!;
      return [k, new Tensor(t.dtype, [1, S], (t.data as BigInt64Array).slice(r * S, (r + 1) * S))];
    }),
  );
}

const summaryOf = (c: StaticCost): CostSummary => costSummary(c);

// the two rows of case b2_s32, each as its own inference, and what the runtime measures for each
const B2 = CASES.find((c) => c.name === 'b2_s32')!.inputs;
const rows = [rowOf(B2, 0), rowOf(B2, 1)];
let runsOfRows: { tokens: number[]; shapes: string[]; cost: CostSummary }[] | undefined;
const rowRuns = () => (runsOfRows ??= rows.map((f, i) => measured(f, 5 + i)));

describe('the static cost of a token-pruned model is the segment circuits\' (bert-tiny)', () => {
  // b1_s8 keeps all 8 tokens (one bucket); in b2_s32 the larger count over the batch is 11, so segment 1 runs at 16
  it.each(CASES.filter((c) => c.name !== 'b2_s128').map((c) => ({ name: c.name, feeds: c.inputs })))('case $name: the report\'s cost of the buckets taken == the in-process run\'s measured cost', ({ feeds }) => {
    const report = expectedCost(circuitsFor(feeds), 1, () => feeds);
    const run = measured(feeds, 3);
    expect(report.paths.map((p) => p.tokens)).toEqual([run.tokens]);
    expect(summaryOf(report.mean)).toEqual(run.cost);
  });

  it('reduce=reveal-count: the report prices the [full, reduced] shapes a run takes', () => {
    const passes = 'prune-tokens{theta=[0.02],beta=[0.05],bucket=8,reduce=reveal-count}';
    const report = expectedCost(circuitsFor(B2, passes), 1, () => B2);
    const run = measured(B2, 7, passes);
    expect(run.shapes[1]).toMatch(/^\d+\+[1-9]\d*$/); // some tokens were reduced: the split shape is exercised
    expect(report.paths.map((p) => p.shapes.map((sh) => sh.join('+')))).toEqual([run.shapes]);
    expect(summaryOf(report.mean)).toEqual(run.cost);
  });

  it('the expected cost over rows is the mean of what each row\'s run measures', () => {
    const report = expectedCost(circuitsFor(rows[0]!), rows.length, (r) => rows[r]!);
    const runs = rowRuns();
    expect(runs.map((r) => r.tokens)).toEqual([
      [32, 8],
      [32, 16],
    ]);
    expect(report.meanTokens).toEqual([32, 12]);
    expect(report.paths.map((p) => [p.tokens, p.rows])).toEqual([
      [[32, 8], 1],
      [[32, 16], 1],
    ]);
    const mean = (f: (c: CostSummary) => number): number => (f(runs[0]!.cost) + f(runs[1]!.cost)) / 2;
    expect(report.mean.rounds).toBe(mean((c) => c.rounds));
    expect(report.mean.bytesTotal).toBe(mean((c) => c.bytesTotal));
    expect(report.mean.bytesPerParty).toEqual([mean((c) => c.bytesPerParty[0]), mean((c) => c.bytesPerParty[1])]);
    expect(report.mean.dealerBytes).toBe(mean((c) => c.dealerBytes));
    // each path's cost is that run's measured cost
    for (const p of report.paths) expect(summaryOf(p.cost)).toEqual(runs.find((r) => r.tokens.join() === p.tokens.join())!.cost);
  });

  it('the per-bucket table: segment 0 at the sequence, segment 1 at every multiple of the bucket; a run costs the sum of its rows', () => {
    const src = circuitsFor(rows[0]!);
    const table = bucketTable(src);
    expect(table.map((b) => [b.segment, b.tokens])).toEqual([
      [0, 32],
      [1, 8],
      [1, 16],
      [1, 24],
      [1, 32],
    ]);
    // more tokens cost more bytes; latency adds up per segment
    const seg1 = table.filter((b) => b.segment === 1).map((b) => b.cost.bytesTotal);
    expect(seg1).toEqual([...seg1].sort((a, b) => a - b));
    const cost = runCost(src, [32, 16]);
    expect(cost.bytesTotal).toBe(table[0]!.cost.bytesTotal + table[2]!.cost.bytesTotal);
    expect(cost.latency['wan']).toBeCloseTo(table[0]!.cost.latency['wan']! + table[2]!.cost.latency['wan']!, 12);
    expect(() => runCost(src, [32])).toThrow(/a run of 2 segments takes 2 token counts, got \[32\]/);
  });
});

describe('ig3dc compile with prune-tokens: the cost of every bucket, and the expected cost over a dev set', () => {
  afterAll(killAll);
  const dir = tempDir();
  const ints = (t: Tensor): number[] => t.toNumbers();
  const dev = writeBundle(dir, 'dev', {
    input_ids: { shape: [2, 32], data: ints(B2.get('input_ids')!) },
    attention_mask: { shape: [2, 32], data: ints(B2.get('attention_mask')!) },
    token_type_ids: { shape: [2, 32], data: ints(B2.get('token_type_ids')!) },
    labels: { shape: [2], data: [0, 1] },
  });

  it('--data DEV --json: the per-bucket costs of the segment circuits, and per row the mean of what the runs measure', async () => {
    const r = await ig3dc(['compile', TINY, '--passes', PASSES, '--protocols', 'best', '--data', dev, '--json']).done;
    expect(r.stderr).not.toMatch(/Error|at /);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as SegmentCostReport;
    expect([report.seq, report.segments, report.protocols]).toEqual([32, 2, 'best']);
    const table = bucketTable(circuitsFor(rows[0]!));
    expect(report.buckets.map((b) => [b.segment, b.tokens, summaryOf(b.cost)])).toEqual(table.map((b) => [b.segment, b.tokens, summaryOf(b.cost)]));
    const runs = rowRuns();
    const e = report.expected!;
    expect(e.rows).toBe(2);
    expect(e.meanTokens).toEqual([32, 12]);
    expect(e.mean.rounds).toBe((runs[0]!.cost.rounds + runs[1]!.cost.rounds) / 2);
    expect(e.mean.bytesTotal).toBe((runs[0]!.cost.bytesTotal + runs[1]!.cost.bytesTotal) / 2);
    expect(e.mean.dealerBytes).toBe((runs[0]!.cost.dealerBytes + runs[1]!.cost.dealerBytes) / 2);
    // pruning saves bytes against the same model unpruned
    expect(e.mean.bytesTotal).toBeLessThan(report.unpruned.bytesTotal);
  });

  it('the table for people: one row per (segment, bucket), the expected cost against unpruned', async () => {
    const r = await ig3dc(['compile', TINY, '--passes', PASSES, '--protocols', 'best', '--data', dev, '--examples', '1']).done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/5 \(segment, bucket\) circuits/);
    expect(r.stdout).toMatch(/^segment {2}tokens {2}rounds {2}MB on the wire/m);
    expect(r.stdout.match(/^ +1 +(8|16|24|32) +\d+ /gm)).toHaveLength(4);
    expect(r.stdout).toMatch(/expected cost over the first 1 rows of .*dev.json/);
    expect(r.stdout).toMatch(/buckets taken: 32,8 \(1\)/);
    expect(r.stdout).toMatch(/per row: \d+ rounds, [\d.]+ MB on the wire/);
  });

  it('options that make one circuit are refused in segments; --data without prune-tokens is a usage error', async () => {
    const a = await ig3dc(['compile', TINY, '--seq', '16', '--passes', PASSES, '-o', join(dir, 'x.circuit')]).done;
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/-o: a model pruned by prune-tokens runs in segments, one circuit per \(segment, bucket\); write them all with -o FILE.segments \(for serve\/dealer\), or add --no-segments/);
    const b = await ig3dc(['compile', TINY, '--seq', '32', '--data', dev]).done;
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--data: the expected cost over a dev set is for a model pruned in segments/);
    expect(b.stderr).not.toMatch(/ at /);
  });
});
