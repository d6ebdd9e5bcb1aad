// Token pruning under MPC: spam-bert (128 tokens) in segments with both parties and the dealer
// in this process, on the first N dev mails (TOKENS_SECURE_MAILS, default 10) with a thresholds
// file (TOKENS_THRESHOLDS, default examples/tokens/spam-bert-1pt.json) and `best` protocols
// (TOKENS_PROTOCOLS: another preset, e.g. best,truncation=exact; TOKENS_REDUCE=reveal-count: with
// prune-tokens{reduce=reveal-count}; TOKENS_IG3D=1: after IG-3D's head pruning and PolySoftmax,
// bench/tokens.ts's SPAM_IG3D_PASSES).
// Per mail: the buckets taken, measured rounds and bytes (== the static cost of those buckets'
// circuits), wall and CPU seconds; then secure accuracy and agreement with the pruned model's
// plaintext evaluator, and the mean cost against the unpruned model's circuit. Segment circuits
// are compiled on first use; their compile time is reported apart. A long run resumes:
// TOKENS_SECURE_START=N starts at mail N, TOKENS_SECURE_ROWS=FILE appends one JSON line per mail,
// and TOKENS_SECURE_SUMMARY=FILE prints the totals over every mail such a file holds.

import { appendFileSync, readFileSync } from 'node:fs';
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
import { SPAM_IG3D_PASSES, spamIg3dResources } from './tokens.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const MB = (b: number): string => (b / 1e6).toFixed(1);

function argmax(t: Tensor): number {
  const v = t.toNumbers();
  return v.indexOf(Math.max(...v));
}

/** One mail's result, as a rows file holds it. */
interface MailRow {
  readonly mail: number;
  readonly label: number;
  readonly secure: number;
  readonly plain: number;
  readonly tokens: readonly number[];
  readonly plainTokens: readonly number[];
  readonly rounds: number;
  readonly bytes: number;
  readonly dealer: number;
  readonly wall: number;
  readonly cpu: number;
  readonly measuredEqualsStatic: boolean;
}

export function tokensSecure(mails: number, thresholds: string, start = 0, rowsFile?: string): void {
  const onnx = join(FIXTURES, 'spam-bert.onnx');
  const dev = readDevSet(join(FIXTURES, 'spam-dev.json'), start + mails);
  const g = loadOnnxFile(onnx, { batch: 1, seq: dev.seq }).graph;
  const reduce = process.env['TOKENS_REDUCE'] === 'reveal-count' ? ',reduce=reveal-count' : '';
  const protocols = process.env['TOKENS_PROTOCOLS'] ?? 'best';
  const ig3d = process.env['TOKENS_IG3D'] === '1' ? `${SPAM_IG3D_PASSES},` : '';
  const resources = spamIg3dResources();
  const pruned = runPipeline(g, parsePipeline(`raise-bert,canonicalize,${ig3d}prune-tokens{thresholds=${JSON.stringify(thresholds)}${reduce}}`), { resources }).graph;
  const src = new SegmentCircuits(pruned, { protocols });
  const base = ig3d === '' ? g : runPipeline(g, parsePipeline(`raise-bert,canonicalize,${ig3d.slice(0, -1)}`), { resources }).graph;
  const unpruned = costSummary(compileModel(base, { protocols, raise: ig3d === '' }).cost);
  console.log(`spam-bert ${ig3d === '' ? '' : 'with IG-3D '}in segments under MPC (${protocols} protocols, in process), mails ${start}..${start + mails - 1} of the dev set, thresholds ${thresholds}; load average at start ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log('mail  label secure plain  tokens per segment   rounds  MB on the wire  dealer MB  wall s  CPU s  measured==static');
  let agree = 0;
  let correct = 0;
  let plainCorrect = 0;
  let rounds = 0;
  let bytes = 0;
  let dealer = 0;
  for (let r = start; r < dev.rows; r++) {
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
    if (rowsFile !== undefined) {
      const line: MailRow = {
        mail: r, label, secure: s, plain: p, tokens: run.steps.map((st) => st.tokens), plainTokens: plain.tokens,
        rounds: rr, bytes: bb, dealer: dd, wall, cpu: (cpu.user + cpu.system) / 1e6, measuredEqualsStatic: match,
      };
      appendFileSync(rowsFile, `${JSON.stringify(line)}\n`);
    }
    console.log(
      `${String(r).padEnd(5)} ${String(label).padEnd(5)} ${String(s).padEnd(6)} ${String(p).padEnd(5)}  ${run.steps.map((st) => st.shape.join('+')).join(',').padEnd(18)} ${String(rr).padStart(6)}  ${MB(bb).padStart(14)}  ${MB(dd).padStart(9)}  ${wall.toFixed(1).padStart(6)}  ${((cpu.user + cpu.system) / 1e6).toFixed(1).padStart(5)}  ${match ? 'yes' : 'NO'}`,
    );
  }
  const n = dev.rows - start;
  console.log(`secure accuracy ${((100 * correct) / n).toFixed(1)}%, pruned plaintext ${((100 * plainCorrect) / n).toFixed(1)}%, secure = plaintext on ${agree}/${n}`);
  console.log(`mean per mail: ${(rounds / n).toFixed(1)} rounds, ${MB(bytes / n)} MB on the wire, ${MB(dealer / n)} MB from the dealer`);
  console.log(`${ig3d === '' ? 'unpruned' : 'IG-3D without token pruning'} (one circuit at ${dev.seq} tokens): ${unpruned.rounds} rounds, ${MB(unpruned.bytesTotal)} MB on the wire, ${MB(unpruned.dealerBytes)} MB from the dealer`);
  console.log(`segment circuits compiled on first use: ${src.compiles.length}, ${src.compiles.reduce((a, c) => a + c.seconds, 0).toFixed(1)} s; load average at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

/** Totals over every mail a rows file holds (several runs may have appended to it). */
export function summarizeRows(file: string): void {
  const rows = new Map<number, MailRow>();
  for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim() !== '') { const row = JSON.parse(line) as MailRow; rows.set(row.mail, row); }
  const all = [...rows.values()];
  const n = all.length;
  const sum = (f: (m: MailRow) => number): number => all.reduce((a, m) => a + f(m), 0);
  console.log(`${n} mails (${Math.min(...rows.keys())}..${Math.max(...rows.keys())})`);
  console.log(`secure accuracy ${((100 * sum((m) => (m.secure === m.label ? 1 : 0))) / n).toFixed(2)}%, pruned plaintext ${((100 * sum((m) => (m.plain === m.label ? 1 : 0))) / n).toFixed(2)}%, secure = plaintext on ${sum((m) => (m.secure === m.plain ? 1 : 0))}/${n}`);
  console.log(`same tokens per segment as plaintext on ${sum((m) => (JSON.stringify(m.tokens) === JSON.stringify(m.plainTokens) ? 1 : 0))}/${n}; measured == static on ${sum((m) => (m.measuredEqualsStatic ? 1 : 0))}/${n}`);
  const segs = Math.max(...all.map((m) => m.tokens.length));
  const kept = Array.from({ length: segs }, (_, k) => sum((m) => m.tokens[k] ?? 0) / n);
  console.log(`mean tokens per segment (bucketed): ${kept.map((x) => x.toFixed(1)).join(', ')}`);
  console.log(`mean per mail: ${(sum((m) => m.rounds) / n).toFixed(1)} rounds, ${MB(sum((m) => m.bytes) / n)} MB on the wire, ${MB(sum((m) => m.dealer) / n)} MB from the dealer, ${(sum((m) => m.wall) / n).toFixed(1)} s wall, ${(sum((m) => m.cpu) / n).toFixed(1)} CPU s`);
}

export const tokensSecureBenchmark: Benchmark = {
  name: 'tokens-secure',
  summary: 'spam-bert token-pruned in segments under MPC: buckets taken, measured cost (== static) per mail, secure vs plaintext accuracy, against the unpruned circuit',
  cases: ['spam-bert'],
  async run() {
    const summary = process.env['TOKENS_SECURE_SUMMARY'];
    if (summary !== undefined) return summarizeRows(summary);
    tokensSecure(
      Number(process.env['TOKENS_SECURE_MAILS'] ?? 10),
      process.env['TOKENS_THRESHOLDS'] ?? join(import.meta.dirname, '..', 'examples', 'tokens', 'spam-bert-1pt.json'),
      Number(process.env['TOKENS_SECURE_START'] ?? 0),
      process.env['TOKENS_SECURE_ROWS'],
    );
  },
};
