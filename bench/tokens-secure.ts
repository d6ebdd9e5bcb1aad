// Token pruning under MPC: spam-bert (128 tokens) in segments with both parties and the dealer
// in this process, on the first N dev mails (TOKENS_SECURE_MAILS, default 10) with a thresholds
// file (TOKENS_THRESHOLDS, default examples/tokens/spam-bert-1pt.json) and `best` protocols
// (TOKENS_REDUCE=reveal-count: with prune-tokens{reduce=reveal-count}).
// Per mail: the buckets taken, measured rounds and bytes (== the static cost of those buckets'
// circuits), wall and CPU seconds; then secure accuracy and agreement with the pruned model's
// plaintext evaluator, and the mean cost against the unpruned model's circuit. Segment circuits
// are compiled on first use; their compile time is reported apart.

import { join } from 'node:path';
import { loadavg } from 'node:os';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { SegmentCircuits } from '../compiler/tokens/segment-circuits.ts';
import { readDevSet } from '../compiler/tune/dev-set.ts';
import { costSummary } from '../ir/circuit/cost.ts';
import { Tensor } from '../ir/tensor.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { runSegments } from '../passes/tokens/index.ts';
import { runSegmentedCircuits } from '../runtime/segments.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const MB = (b: number): string => (b / 1e6).toFixed(1);

function argmax(t: Tensor): number {
  const v = t.toNumbers();
  return v.indexOf(Math.max(...v));
}

export function tokensSecure(mails: number, thresholds: string): void {
  const onnx = join(FIXTURES, 'spam-bert.onnx');
  const dev = readDevSet(join(FIXTURES, 'spam-dev.json'), mails);
  const g = loadOnnxFile(onnx, { batch: 1, seq: dev.seq }).graph;
  const reduce = process.env['TOKENS_REDUCE'] === 'reveal-count' ? ',reduce=reveal-count' : '';
  const pruned = runPipeline(g, parsePipeline(`raise-bert,canonicalize,prune-tokens{thresholds=${JSON.stringify(thresholds)}${reduce}}`)).graph;
  const src = new SegmentCircuits(pruned, { protocols: 'best' });
  const unpruned = costSummary(compileModel(g, { protocols: 'best' }).cost);
  console.log(`spam-bert in segments under MPC (best protocols, in process), first ${mails} dev mails, thresholds ${thresholds}; load average at start ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log('mail  label secure plain  tokens per segment   rounds  MB on the wire  dealer MB  wall s  CPU s  measured==static');
  let agree = 0;
  let correct = 0;
  let plainCorrect = 0;
  let rounds = 0;
  let bytes = 0;
  let dealer = 0;
  for (let r = 0; r < dev.rows; r++) {
    const row = (a: Int32Array): Tensor => new Tensor('i64', [1, dev.seq], BigInt64Array.from(a.subarray(r * dev.seq, (r + 1) * dev.seq), (v) => BigInt(v)));
    const feeds = new Map([
      ['input_ids', row(dev.inputIds)],
      ['attention_mask', row(dev.attentionMask)],
      ['token_type_ids', row(dev.tokenTypeIds)],
    ]);
    src.get(0, dev.seq); // compile segment 0 outside the timing
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const run = runSegmentedCircuits(src, { inputs: feeds });
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const plain = runSegments(src.graphs, feeds);
    const s = argmax(run.outputs.get('logits')!);
    const p = argmax(plain.outputs.get('logits')!);
    const label = dev.labels[r]!;
    agree += s === p ? 1 : 0;
    correct += s === label ? 1 : 0;
    plainCorrect += p === label ? 1 : 0;
    const m = run.steps.map((st) => costSummary(st.cost));
    const match = run.steps.every((st, k) => JSON.stringify(m[k]) === JSON.stringify(costSummary(src.compiled(st.segment, st.shape).cost)));
    const rr = m.reduce((a, x) => a + x.rounds, 0);
    const bb = m.reduce((a, x) => a + x.bytesTotal, 0);
    const dd = m.reduce((a, x) => a + x.dealerBytes, 0);
    rounds += rr;
    bytes += bb;
    dealer += dd;
    console.log(
      `${String(r).padEnd(5)} ${String(label).padEnd(5)} ${String(s).padEnd(6)} ${String(p).padEnd(5)}  ${run.steps.map((st) => st.shape.join('+')).join(',').padEnd(18)} ${String(rr).padStart(6)}  ${MB(bb).padStart(14)}  ${MB(dd).padStart(9)}  ${wall.toFixed(1).padStart(6)}  ${((cpu.user + cpu.system) / 1e6).toFixed(1).padStart(5)}  ${match ? 'yes' : 'NO'}`,
    );
  }
  const n = dev.rows;
  console.log(`secure accuracy ${((100 * correct) / n).toFixed(1)}%, pruned plaintext ${((100 * plainCorrect) / n).toFixed(1)}%, secure = plaintext on ${agree}/${n}`);
  console.log(`mean per mail: ${(rounds / n).toFixed(1)} rounds, ${MB(bytes / n)} MB on the wire, ${MB(dealer / n)} MB from the dealer`);
  console.log(`unpruned (one circuit at ${dev.seq} tokens): ${unpruned.rounds} rounds, ${MB(unpruned.bytesTotal)} MB on the wire, ${MB(unpruned.dealerBytes)} MB from the dealer`);
  console.log(`segment circuits compiled on first use: ${src.compiles.length}, ${src.compiles.reduce((a, c) => a + c.seconds, 0).toFixed(1)} s; load average at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

export const tokensSecureBenchmark: Benchmark = {
  name: 'tokens-secure',
  summary: 'spam-bert token-pruned in segments under MPC: buckets taken, measured cost (== static) per mail, secure vs plaintext accuracy, against the unpruned circuit',
  cases: ['spam-bert'],
  async run() {
    tokensSecure(Number(process.env['TOKENS_SECURE_MAILS'] ?? 10), process.env['TOKENS_THRESHOLDS'] ?? join(import.meta.dirname, '..', 'examples', 'tokens', 'spam-bert-1pt.json'));
  },
};
