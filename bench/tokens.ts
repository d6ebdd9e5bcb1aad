// Token pruning (CipherPrune) benchmarks, static costs only (nothing here runs the protocols):
// - compaction: the shift network against the bitonic-sort baseline, rounds and online bytes
//   per token count (width D = 768, BERT-base's hidden size, plus the two flag columns).
// - spam-bert: plaintext accuracy and kept tokens per layer over the first N dev mails
//   (TOKENS_DEV_MAILS, default 200) for a few uniform thresholds or a calibrated file
//   (TOKENS_THRESHOLDS), and the static cost of the buckets each mail took, against the
//   unpruned model (alone, and with IG-3D's prune-heads + softmax-to-poly).
// - scaling: BERT-base-shaped encoder layers at 128, 256, 512 tokens, unpruned and with a
//   fixed keep schedule (half the tokens dropped at each of the 11 boundaries), static cost.

import { join } from 'node:path';
import { loadOnnxFile, importOnnx } from '../compiler/frontend/import.ts';
import { compactBitonic, compactShift, ltz, rsubConst } from '../compiler/backend/protocols/index.ts';
import { CircuitBuilder, circuitCost } from '../ir/circuit/index.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { readTensorBundle } from '../ir/tensor-json.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { SegmentCache, runSegments } from '../passes/tokens/index.ts';
import { addCost, boundaryCost, latencyOf, layerCostTable, runCost, ZERO_COST, type StaticCost } from '../compiler/tokens/segment-cost.ts';
import { makeBertOnnx } from './make-bert.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const fmt = (c: StaticCost): string => {
  const l = latencyOf(c);
  return `${c.rounds} rounds, ${(c.bytes / 1e6).toFixed(1)} MB, LAN ${l['lan']!.toFixed(2)} s, WAN ${l['wan']!.toFixed(1)} s`;
};

function compaction(): void {
  console.log('compaction of n tokens x 770 columns (hidden 768 + 2 flags), rounds including the 8 of the comparison making the flags / online MB');
  console.log('n     shift-network           bitonic-sort            rounds ratio');
  for (const n of [8, 16, 32, 64, 128, 256, 512]) {
    const cost = (f: typeof compactShift): { rounds: number; mb: number } => {
      const b = new CircuitBuilder();
      const keep = rsubConst(b, 1, ltz(b, b.input('k', 1, [n, 1]))); // flags as a comparison leaves them
      const y = f(b, b.input('x', 1, [n, 770]), keep);
      b.output(y, 'y');
      const c = circuitCost(b.build());
      return { rounds: c.rounds, mb: c.onlineBytes / 1e6 };
    };
    const s = cost(compactShift);
    const t = cost(compactBitonic);
    console.log(`${String(n).padEnd(5)} ${`${s.rounds} / ${s.mb.toFixed(1)}`.padEnd(23)} ${`${t.rounds} / ${t.mb.toFixed(1)}`.padEnd(23)} ${(t.rounds / s.rounds).toFixed(1)}x`);
  }
}

function spamBert(limit: number): void {
  const model = join(FIXTURES, 'spam-bert.onnx');
  const bundle = readTensorBundle(join(FIXTURES, 'spam-dev.json'));
  const ids = bundle.tensors.get('input_ids')!;
  const mask = bundle.tensors.get('attention_mask')!;
  const labels = bundle.tensors.get('labels')!;
  const S = 128;
  const raised = runPipeline(loadOnnxFile(model, { batch: 1, seq: S }).graph, parsePipeline('raise-bert')).graph;
  const feeds = (r: number): Map<string, Tensor> => {
    const row = (t: Tensor): bigint[] => Array.from({ length: S }, (_, j) => BigInt(t.at(r * S + j)));
    return new Map([
      ['input_ids', Tensor.from('i64', [1, S], row(ids))],
      ['attention_mask', Tensor.from('i64', [1, S], row(mask))],
      ['token_type_ids', Tensor.zeros('i64', [1, S])],
    ]);
  };
  const argmax = (v: number[]): number => (v[1]! > v[0]! ? 1 : 0);
  const n = Math.min(limit, bundle.tensors.get('labels')!.shape[0]!);
  let base = 0;
  const basePred: number[] = [];
  for (let r = 0; r < n; r++) {
    const p = argmax(evaluate(raised, feeds(r)).get('logits')!.toNumbers());
    basePred.push(p);
    if (p === labels.at(r)) base++;
  }
  const L = raised.nodes().filter((x) => x.op === 'AttentionSoftmax').length;
  const D = raised.nodes().find((x) => x.op === 'Pooler')!.inputs[0]!.type.shape[2]!;
  const buckets = Array.from({ length: S / 8 }, (_, i) => 8 * (i + 1));
  const loadAt = (k: number) => loadOnnxFile(model, { batch: 1, seq: k }).graph;
  const t0 = performance.now();
  const table = layerCostTable(loadAt, buckets);
  const ig3dPasses = 'prune-heads{ratio=0.3},softmax-to-poly{ratio=1,granularity=layer,shift=false,clip=4}';
  const resources = new Map<string, unknown>([['importance', join(FIXTURES, 'importance.json')]]);
  const tableIg3d = layerCostTable(loadAt, buckets, { passes: ig3dPasses, resources });
  console.log(`spam-bert: ${L} layers, hidden ${D}; per-bucket layer costs compiled for ${buckets.length} buckets in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`unpruned: accuracy ${((100 * base) / n).toFixed(1)}% on the first ${n} dev mails; static ${fmt(runCost(table, [S], D))}; with IG-3D ${fmt(runCost(tableIg3d, [S], D))}`);
  // TOKENS_THRESHOLDS=FILE (from `ig3dc tune --tokens -o FILE`) measures that choice alone
  const file = process.env['TOKENS_THRESHOLDS'];
  const candidates = file !== undefined ? [`thresholds=${JSON.stringify(file)}`] : [0.001, 0.002, 0.004, 0.008].map((t) => `theta=[${Array(L - 1).fill(t).join(',')}]`);
  for (const theta of candidates) {
    const pruned = runPipeline(raised, parsePipeline(`prune-tokens{${theta},bucket=8}`)).graph;
    const cache = new SegmentCache(pruned);
    let correct = 0;
    let agree = 0;
    const kept = Array<number>(L - 1).fill(0);
    let cost: StaticCost = ZERO_COST;
    let costIg3d: StaticCost = ZERO_COST;
    for (let r = 0; r < n; r++) {
      const run = runSegments(cache, feeds(r));
      const p = argmax(run.outputs.get('logits')!.toNumbers());
      if (p === labels.at(r)) correct++;
      if (p === basePred[r]) agree++;
      run.counts.forEach((c, i) => (kept[i]! += c));
      cost = addCost(cost, runCost(table, run.tokens, D));
      costIg3d = addCost(costIg3d, runCost(tableIg3d, run.tokens, D));
    }
    const mean = (c: StaticCost): StaticCost => ({ rounds: c.rounds / n, bytes: c.bytes / n, maxPartyBytes: c.maxPartyBytes / n });
    console.log(`${theta}: accuracy ${((100 * correct) / n).toFixed(1)}% (agrees with unpruned on ${agree}/${n}); mean kept tokens after layers 0..${L - 2}: ${kept.map((k) => (k / n).toFixed(1)).join(', ')}`);
    console.log(`  mean static cost over the run's buckets: ${fmt(mean(cost))}; with IG-3D: ${fmt(mean(costIg3d))}`);
  }
}

function scaling(): void {
  const bytes = makeBertOnnx({ layers: 1, hidden: 768, heads: 12, intermediate: 3072, vocab: 2000, maxPositions: 512 });
  const load = (n: number) => importOnnx(bytes, { batch: 1, seq: n }).graph;
  const L = 12;
  console.log('BERT-base shape (12 layers of one compiled layer; embeddings and classifier left out), static cost');
  console.log('seq   unpruned                                          keep half per boundary (fixed schedule)');
  for (const S of [128, 256, 512]) {
    const schedule = Array.from({ length: L }, (_, l) => Math.max(8, Math.ceil(S / 2 ** l / 8) * 8));
    const table = layerCostTable(load, [...new Set(schedule)]);
    let full: StaticCost = ZERO_COST;
    let pruned: StaticCost = ZERO_COST;
    for (let l = 0; l < L; l++) {
      full = addCost(full, table.get(S)!.layers[0]!);
      pruned = addCost(pruned, table.get(schedule[l]!)!.layers[0]!);
      if (l + 1 < L) pruned = addCost(pruned, boundaryCost(schedule[l]!, 768));
    }
    console.log(`${String(S).padEnd(5)} ${fmt(full).padEnd(49)} ${fmt(pruned)}`);
  }
}

export const tokensBenchmark: Benchmark = {
  name: 'tokens',
  summary: 'token pruning: compaction protocols (shift network vs bitonic sort), spam-bert kept tokens and static cost per bucket, BERT-base scaling with a keep schedule',
  cases: ['compaction', 'spam-bert', 'scaling'],
  async run(cases) {
    if (cases.includes('compaction')) compaction();
    if (cases.includes('spam-bert')) spamBert(Number(process.env['TOKENS_DEV_MAILS'] ?? 200));
    if (cases.includes('scaling')) scaling();
  },
};
