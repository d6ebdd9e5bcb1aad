// Polynomial reduction in segments, static costs of the buckets taken (nothing here runs the
// protocols): spam-bert at 128 tokens on the first N dev mails (TOKENS_REDUCE_MAILS, default
// 20) with a thresholds file that has beta (TOKENS_THRESHOLDS, default
// examples/tokens/spam-bert-1pt.json), `best` protocols, three ways per mail:
// - select: prune-tokens as it is by default (both degrees for every token, selected per token;
//   reveals the survivor count only),
// - full: the same theta without reduction (beta = theta),
// - split: prune-tokens{reduce=reveal-count} (also reveals the reduced count; each degree on its
//   own rows).
// Per segment: the mean over the mails of the rounds and MB on the wire (both parties) of the
// circuit of the shape each mail took, and the mean shape; then the totals.

import { join } from 'node:path';
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { SegmentCircuits } from '../compiler/tokens/segment-circuits.ts';
import { readDevSet } from '../compiler/tune/dev-set.ts';
import { costSummary } from '../ir/circuit/cost.ts';
import { Tensor } from '../ir/tensor.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { runSegments } from '../passes/tokens/index.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');

export function tokensReduce(mails: number, thresholds: string): void {
  const dev = readDevSet(join(FIXTURES, 'spam-dev.json'), mails);
  const g = runPipeline(loadOnnxFile(join(FIXTURES, 'spam-bert.onnx'), { batch: 1, seq: dev.seq }).graph, parsePipeline('raise-bert,canonicalize')).graph;
  const file = JSON.parse(readFileSync(thresholds, 'utf8')) as { theta: number[]; beta: number[] };
  const q = JSON.stringify(thresholds);
  const ways = [
    ['select', `prune-tokens{thresholds=${q}}`],
    ['full', `prune-tokens{theta=[${file.theta.join(',')}]}`],
    ['split', `prune-tokens{thresholds=${q},reduce=reveal-count}`],
  ] as const;
  console.log(`spam-bert reduction in segments, static cost of the shapes taken (best protocols), first ${mails} dev mails, ${thresholds} (theta ${file.theta.join('/')}, beta ${file.beta.join('/')}); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const totals: string[] = [];
  for (const [name, pipeline] of ways) {
    const src = new SegmentCircuits(runPipeline(g, parsePipeline(pipeline)).graph, { protocols: 'best' });
    const segs = src.segments;
    const rounds = new Array<number>(segs).fill(0);
    const bytes = new Array<number>(segs).fill(0);
    const rows = new Array<number>(segs).fill(0);
    const reducedRows = new Array<number>(segs).fill(0);
    const shapes = new Map<string, number>();
    for (let r = 0; r < dev.rows; r++) {
      const row = (a: Int32Array): Tensor => new Tensor('i64', [1, dev.seq], BigInt64Array.from(a.subarray(r * dev.seq, (r + 1) * dev.seq), (v) => BigInt(v)));
      const feeds = new Map([
        ['input_ids', row(dev.inputIds)],
        ['attention_mask', row(dev.attentionMask)],
        ['token_type_ids', row(dev.tokenTypeIds)],
      ]);
      const run = runSegments(src.graphs, feeds);
      shapes.set(run.shapes.map((s) => s.join('+')).join(','), (shapes.get(run.shapes.map((s) => s.join('+')).join(',')) ?? 0) + 1);
      run.shapes.forEach((s, k) => {
        const c = costSummary(src.compiled(k, s).cost);
        rounds[k]! += c.rounds;
        bytes[k]! += c.bytesTotal;
        rows[k]! += s.reduce((a, b) => a + b, 0);
        reducedRows[k]! += s.length > 1 ? s[1]! : 0;
      });
    }
    const n = dev.rows;
    console.log(`${name}: ${pipeline}`);
    for (let k = 0; k < segs; k++) {
      const red = name === 'split' && k > 0 ? ` (${(reducedRows[k]! / n).toFixed(1)} of them reduced)` : '';
      console.log(`  segment ${k}: ${(rows[k]! / n).toFixed(1)} rows${red}, ${(rounds[k]! / n).toFixed(1)} rounds, ${(bytes[k]! / n / 1e6).toFixed(1)} MB`);
    }
    const R = rounds.reduce((a, b) => a + b, 0) / n;
    const B = bytes.reduce((a, b) => a + b, 0) / n / 1e6;
    totals.push(`${name.padEnd(7)} ${R.toFixed(1)} rounds, ${B.toFixed(1)} MB per mail`);
    console.log(`  shapes taken: ${[...shapes].map(([s, c]) => `${s} (${c})`).join('; ')}; ${src.compiles.length} circuits compiled`);
  }
  console.log(totals.join('\n'));
  const cpu = process.cpuUsage(c0);
  console.log(`wall ${((performance.now() - t0) / 1000).toFixed(1)} s, CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

export const tokensReduceBenchmark: Benchmark = {
  name: 'tokens-reduce',
  summary: 'spam-bert polynomial reduction in segments: per-segment static cost of per-token selection, full degree, and reduce=reveal-count over dev mails',
  cases: ['spam-bert'],
  async run() {
    tokensReduce(Number(process.env['TOKENS_REDUCE_MAILS'] ?? 20), process.env['TOKENS_THRESHOLDS'] ?? join(import.meta.dirname, '..', 'examples', 'tokens', 'spam-bert-1pt.json'));
  },
};
