// Token pruning (CipherPrune) benchmarks, static costs only (nothing here runs the protocols):
// - compaction: the shift network against the bitonic-sort baseline, rounds and online bytes
//   per token count (width D = 768, BERT-base's hidden size, plus the two flag columns).
// - spam-bert: the static cost of every (segment, bucket) circuit the runtime would run
//   (compiler/tokens/segment-cost.ts), and over the first N dev mails (TOKENS_DEV_MAILS,
//   default 100) the buckets the pruned model's plaintext evaluator takes for each mail, the
//   mean static cost of those buckets (what a secure run measures), accuracy and kept tokens;
//   unpruned, token pruning (TOKENS_THRESHOLDS, default the 1-point file), IG-3D's prune-heads
//   + PolySoftmax, and both. Accuracy is also measured on TOKENS_ACC_MAILS (default 1000) dev
//   mails with onnxruntime on each exported static graph. Protocols: TOKENS_PROTOCOLS (best).
// - scaling: BERT-base-shaped models (12 layers) at 128, 256, 512 tokens, unpruned (one circuit)
//   and in segments at a fixed keep schedule (half the tokens dropped at each of the 11
//   boundaries): the segment circuits' static costs at the schedule's buckets, as a table and
//   a chart (bench/charts/token-scaling.svg, or TOKENS_SCALING_SVG).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadOnnxFile, importOnnx } from '../compiler/frontend/import.ts';
import { compactBitonic, compactShift, ltz, rsubConst } from '../compiler/backend/protocols/index.ts';
import { devRowFeeds } from '../compiler/tokens/calibrate.ts';
import { SegmentCircuits } from '../compiler/tokens/segment-circuits.ts';
import { bucketTable, expectedCost, runCost, staticCost, type StaticCost } from '../compiler/tokens/segment-cost.ts';
import { readDevSet } from '../compiler/tune/dev-set.ts';
import { AccuracyMeter, accuracyBackend, percent } from '../compiler/tune/accuracy.ts';
import { CircuitBuilder, circuitCost } from '../ir/circuit/index.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { lineChartSvg, type Panel } from './line-chart.ts';
import { makeBertOnnx } from './make-bert.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const fmt = (c: StaticCost): string => `${c.rounds.toFixed(1).replace(/\.0$/, '')} rounds, ${(c.bytesTotal / 1e6).toFixed(1)} MB on the wire (${(c.onlineBytes / 1e6).toFixed(1)} online), dealer ${(c.dealerBytes / 1e6).toFixed(1)} MB, LAN ${c.latency['lan']!.toFixed(2)} s, WAN ${c.latency['wan']!.toFixed(1)} s`;
const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');

/** Wall and CPU seconds of f, and the load average after it. */
function timed<T>(what: string, f: () => T): T {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = f();
  const cpu = process.cpuUsage(c0);
  console.log(`  [${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, load ${load()}]`);
  return out;
}

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

/** IG-3D on spam-bert as the token benchmarks combine it with token pruning: 30% of heads pruned, PolySoftmax on every layer's remaining heads. */
export const SPAM_IG3D_PASSES = 'prune-heads{ratio=0.3},softmax-to-poly{ratio=1,granularity=layer,shift=false,clip=4}';
/** The head importances SPAM_IG3D_PASSES reads. */
export const spamIg3dResources = (): Map<string, unknown> => new Map<string, unknown>([['importance', join(FIXTURES, 'importance.json')]]);

async function spamBert(limit: number, accRows: number): Promise<void> {
  const model = join(FIXTURES, 'spam-bert.onnx');
  const devFile = join(FIXTURES, 'spam-dev.json');
  const dev = readDevSet(devFile, limit);
  const S = dev.seq;
  const protocols = process.env['TOKENS_PROTOCOLS'] ?? 'best';
  const thresholds = process.env['TOKENS_THRESHOLDS'] ?? join(import.meta.dirname, '..', 'examples', 'tokens', 'spam-bert-1pt.json');
  const tokens = `prune-tokens{thresholds=${JSON.stringify(thresholds)},bucket=8}`;
  const ig3d = SPAM_IG3D_PASSES;
  const resources = spamIg3dResources();
  const variant = (g: Graph, passes: string): Graph => (passes === '' ? g : runPipeline(g, parsePipeline(passes), { resources }).graph);
  const raised = variant(loadOnnxFile(model, { batch: 1, seq: S }).graph, 'raise-bert');
  const inputs = raised.inputs.map((i) => i.name!);
  const feeds = (r: number) => devRowFeeds(dev, r, inputs);
  const argmax = (v: readonly number[]): number => (v[1]! > v[0]! ? 1 : 0);
  console.log(`spam-bert at ${S} tokens, ${protocols} protocols, thresholds ${thresholds}, first ${dev.rows} dev mails; ${cpus().length} cores, load ${load()}`);
  const rows: { name: string; accuracy: string; kept: string; cost: StaticCost; passes: string }[] = [];
  for (const [name, passes] of [
    ['unpruned', ''],
    ['IG-3D (prune-heads 0.3 + PolySoftmax)', ig3d],
  ] as const) {
    const g = variant(raised, passes);
    const cost = timed(`${name}: compiled`, () => staticCost(compileModel(g, { protocols, raise: false }).cost));
    let correct = 0;
    timed(`${name}: plaintext evaluator on ${dev.rows} mails`, () => {
      for (let r = 0; r < dev.rows; r++) if (argmax(evaluate(g, feeds(r)).get('logits')!.toNumbers()) === dev.labels[r]) correct++;
    });
    rows.push({ name, accuracy: `${((100 * correct) / dev.rows).toFixed(1)}%`, kept: String(S), cost, passes });
    console.log(`${name}: accuracy ${((100 * correct) / dev.rows).toFixed(1)}%; one circuit at ${S} tokens: ${fmt(cost)}`);
  }
  for (const [name, passes] of [
    ['token pruning', tokens],
    ['both', `${ig3d},${tokens}`],
  ] as const) {
    const src = new SegmentCircuits(variant(raised, passes), { protocols });
    const table = timed(`${name}: every bucket compiled ahead`, () => bucketTable(src));
    console.log(`${name}: static cost per (segment, bucket), ${table.length} circuits (rounds / MB on the wire / online MB / dealer MB / LAN s / WAN s)`);
    for (let k = 0; k < src.segments; k++) {
      const line = table.filter((b) => b.segment === k).map((b) => `${b.tokens}: ${b.cost.rounds}/${(b.cost.bytesTotal / 1e6).toFixed(1)}/${(b.cost.onlineBytes / 1e6).toFixed(1)}/${(b.cost.dealerBytes / 1e6).toFixed(1)}/${b.cost.latency['lan']!.toFixed(3)}/${b.cost.latency['wan']!.toFixed(2)}`);
      console.log(`  segment ${k}: ${line.join('  ')}`);
    }
    let correct = 0;
    const exp = timed(`${name}: plaintext evaluator in segments on ${dev.rows} mails`, () =>
      expectedCost(src, dev.rows, feeds, (r, run) => {
        if (argmax(run.outputs.get('logits')!.toNumbers()) === dev.labels[r]) correct++;
      }),
    );
    const acc = `${((100 * correct) / dev.rows).toFixed(1)}%`;
    console.log(`${name}: accuracy ${acc}; mean survivors after layers 0..${src.segments - 2}: ${exp.meanCounts.map((c) => c.toFixed(1)).join(', ')}; mean tokens per segment ${exp.meanTokens.map((c) => c.toFixed(1)).join(', ')}`);
    console.log(`  buckets taken: ${exp.paths.map((p) => `${p.tokens.join(',')} (${p.rows})`).join(', ')}`);
    console.log(`  expected cost per mail (mean static cost of the buckets taken): ${fmt(exp.mean)}`);
    rows.push({ name, accuracy: acc, kept: exp.meanCounts.map((c) => c.toFixed(1)).join(', '), cost: exp.mean, passes });
    // the unpruned path, for reference: every segment at the full length
    console.log(`  in segments with no token pruned (${Array(src.segments).fill(S).join(',')}): ${fmt(runCost(src, Array(src.segments).fill(S)))}`);
  }
  if (accRows > 0) {
    const big = readDevSet(devFile, accRows);
    const batch = 32;
    const batched = variant(loadOnnxFile(model, { batch, seq: S }).graph, 'raise-bert');
    const backend = await accuracyBackend();
    const meter = new AccuracyMeter(backend, big, batch, batched.inputs.map((n) => n.name!));
    console.log(`accuracy on the first ${big.rows} dev mails (${backend.name}${backend.fallbackReason !== undefined ? `: ${backend.fallbackReason}` : ''}, the static graph of each variant):`);
    for (const r of rows) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const count = await meter.measure(r.name, () => variant(batched, r.passes), Infinity);
      const cpu = process.cpuUsage(c0);
      console.log(`  ${r.name}: ${percent(count).toFixed(1)}% (${count.correct}/${count.seen}) [${((performance.now() - t0) / 1000).toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, load ${load()}]`);
      r.accuracy += ` (${percent(count).toFixed(1)}% on ${count.seen})`;
    }
  }
  console.log(`\n| | accuracy (first ${dev.rows}; on ${accRows}) | kept after layers 0.. | rounds | MB on the wire | online MB | dealer MB | LAN s | WAN s |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const c = r.cost;
    console.log(`| ${r.name} | ${r.accuracy} | ${r.kept} | ${c.rounds.toFixed(1).replace(/\.0$/, '')} | ${(c.bytesTotal / 1e6).toFixed(1)} | ${(c.onlineBytes / 1e6).toFixed(1)} | ${(c.dealerBytes / 1e6).toFixed(1)} | ${c.latency['lan']!.toFixed(2)} | ${c.latency['wan']!.toFixed(1)} |`);
  }
}

function scaling(): void {
  const protocols = process.env['TOKENS_PROTOCOLS'] ?? 'best';
  const seqs = (process.env['TOKENS_SCALING_SEQS'] ?? '128,256,512').split(',').map(Number);
  const L = 12;
  const bytes = makeBertOnnx({ layers: L, hidden: 768, heads: 12, intermediate: 3072, vocab: 2000, maxPositions: 512 });
  console.log(`BERT-base shape (12 layers, hidden 768, 12 heads, vocab 2000), ${protocols} protocols, static cost; load ${load()}`);
  console.log('seq   unpruned (one circuit)                              in segments, half the tokens kept per boundary (bucket 8)');
  const points: { S: number; full: StaticCost; seg: StaticCost }[] = [];
  for (const S of seqs) {
    const g = importOnnx(bytes, { batch: 1, seq: S }).graph;
    const full = timed(`seq ${S}: unpruned compiled`, () => staticCost(compileModel(g, { protocols }).cost));
    // any thresholds give the same circuits: a segment's cost depends on its bucket, not on the data
    const pruned = runPipeline(g, parsePipeline(`raise-bert,prune-tokens{theta=[${Array(L - 1).fill(0.01).join(',')}],bucket=8}`)).graph;
    const src = new SegmentCircuits(pruned, { protocols });
    const schedule = Array.from({ length: L }, (_, l) => Math.max(8, Math.ceil(S / 2 ** l / 8) * 8));
    const seg = timed(`seq ${S}: ${L} segment circuits compiled at ${schedule.join(',')}`, () => runCost(src, schedule));
    console.log(`${String(S).padEnd(5)} ${fmt(full)}\n      ${fmt(seg)}`);
    points.push({ S, full, seg });
  }
  const svg = process.env['TOKENS_SCALING_SVG'] ?? join(import.meta.dirname, 'charts', 'token-scaling.svg');
  writeFileSync(svg, scalingChart(points, protocols));
  console.log(`chart: ${svg}`);
}

/** Online GB and WAN seconds against the sequence length, each with "linear from the first length" dashed beside it. */
function scalingChart(points: readonly { S: number; full: StaticCost; seg: StaticCost }[], protocols: string): string {
  const xs = points.map((p) => p.S);
  const linear = (v: readonly number[]): number[] => xs.map((x) => (v[0]! * x) / xs[0]!);
  const panel = (title: string, yLabel: string, f: (c: StaticCost) => number): Panel => {
    const full = points.map((p) => f(p.full));
    const seg = points.map((p) => f(p.seg));
    return {
      title,
      yLabel,
      series: [
        { label: 'unpruned', values: full, color: '#c0392b' },
        { label: 'half the tokens kept per boundary', values: seg, color: '#2471a3' },
        { label: 'unpruned, linear from the first length', values: linear(full), color: '#c0392b', dashed: true },
        { label: 'pruned, linear from the first length', values: linear(seg), color: '#2471a3', dashed: true },
      ],
    };
  };
  return lineChartSvg(`BERT-base shape, 12 layers, ${protocols} protocols: cost against sequence length (static, from the circuits)`, 'tokens', xs, [
    panel('online bytes', 'GB', (c) => c.onlineBytes / 1e9),
    panel('WAN latency (44 MB/s, 40 ms)', 'seconds', (c) => c.latency['wan']!),
  ]);
}

export const tokensBenchmark: Benchmark = {
  name: 'tokens',
  summary: 'token pruning: compaction protocols (shift network vs bitonic sort), spam-bert kept tokens and static cost per bucket, BERT-base scaling with a keep schedule',
  cases: ['compaction', 'spam-bert', 'scaling'],
  async run(cases) {
    if (cases.includes('compaction')) compaction();
    if (cases.includes('spam-bert')) await spamBert(Number(process.env['TOKENS_DEV_MAILS'] ?? 100), Number(process.env['TOKENS_ACC_MAILS'] ?? 1000));
    if (cases.includes('scaling')) scaling();
  },
};
