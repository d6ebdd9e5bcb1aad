// `ig3dc compile MODEL --passes '...,prune-tokens{..}' [--data DEV [--examples N]] [--json]`:
// the static cost of a token-pruned model as it runs, in segments (compiler/tokens/
// segment-cost.ts). It compiles every (segment, bucket) circuit a run can take, the circuits
// `ig3dc run` executes, and prints each one's cost; with a labelled dev set, the buckets the
// pruned model's plaintext evaluator takes for each row (the parties open the same counts)
// and the expected cost per row, the mean of those buckets' costs, against the model compiled
// with the same passes but prune-tokens (one circuit at the full length).

import { Ig3dcError } from '../../../ir/diagnostics.ts';
import type { Graph } from '../../../ir/graph.ts';
import type { PipelineStep } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { compileModel, resolveProtocols } from '../../backend/compile.ts';
import { LATENCY_FORMULA } from '../../backend/report/latency.ts';
import { loadModel } from '../../load.ts';
import { devRowFeeds } from '../../tokens/calibrate.ts';
import { segmentCircuitsOf } from '../../tokens/segment-circuits.ts';
import { bucketTable, expectedCost, staticCost, type BucketCost, type BucketPath, type StaticCost } from '../../tokens/segment-cost.ts';
import { checkLabelledDevSetFits, readDevSet } from '../../tune/dev-set.ts';
import { writeOut, writeOutput } from '../run-command.ts';
import { modelSummaryLine, type CompileCommandOptions } from './compile.ts';

export const PRUNE_TOKENS = 'prune-tokens';

export interface SegmentCostReport {
  readonly model: string;
  /** The model summary line (layers, heads, sizes, binding). */
  readonly summary: string;
  readonly protocols: string;
  readonly passes: string;
  readonly batch: number;
  readonly seq: number;
  readonly segments: number;
  /** Every (segment, bucket) a run can take, with its circuit's static cost. */
  readonly buckets: readonly BucketCost[];
  readonly compileSeconds: number;
  /** The same passes without prune-tokens: one circuit at the full length. */
  readonly unpruned: StaticCost;
  readonly latencyFormula: string;
  /** With --data: the mean over the rows of the cost of the buckets each took. */
  readonly expected?: {
    readonly file: string;
    readonly rows: number;
    /** The pruned model's plaintext accuracy on the rows (percent). */
    readonly accuracy: number;
    readonly meanCounts: readonly number[];
    readonly meanTokens: readonly number[];
    readonly paths: readonly BucketPath[];
    readonly mean: StaticCost;
  };
}

const argmax = (v: readonly number[]): number => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);

export interface CompileSegmentsOptions extends CompileCommandOptions {
  /** A labelled dev set: the expected cost over its rows. */
  data?: string;
  examples?: number;
}

/** Options of `compile` that make one circuit: they do not apply to a model in segments. */
function refuseSingleCircuitOptions(opts: CompileSegmentsOptions): void {
  const one = [
    ['-o', opts.output],
    ['--report-html', opts.reportHtml],
    ['--compare', opts.compare],
    ['--compare-protocols', opts.compareProtocols],
  ].filter(([, v]) => v !== undefined && v !== false);
  if (one.length > 0) {
    throw new Ig3dcError('usage', `${one.map(([k]) => k).join(', ')}: a model pruned by prune-tokens runs in segments, one circuit per (segment, bucket); write them all with -o FILE.segments (for serve/dealer), or add --no-segments for the static pruned circuit at the full length`);
  }
}

export async function segmentCostReport(model: string, opts: CompileSegmentsOptions, passes: readonly PipelineStep[]): Promise<SegmentCostReport> {
  refuseSingleCircuitOptions(opts);
  if (opts.examples !== undefined && opts.data === undefined) throw new Ig3dcError('usage', '--examples: give the dev set with --data DEV');
  const dev = opts.data !== undefined ? readDevSet(opts.data, opts.examples) : undefined;
  if (dev !== undefined && opts.batch !== undefined && opts.batch !== 1) {
    throw new Ig3dcError('usage', `--data: the expected cost is per inference of one dev row; --batch ${opts.batch} would group rows (use --batch 1)`);
  }
  if (dev !== undefined && opts.seq !== undefined && opts.seq !== dev.seq) {
    throw new Ig3dcError('usage', `--seq ${opts.seq}: the dev set's rows have ${dev.seq} tokens`, { file: dev.file });
  }
  const protocols = resolveProtocols(opts.protocols ?? 'crypten');
  const graph: Graph = loadModel(model, dev !== undefined ? { ...opts, batch: 1, seq: dev.seq } : opts);
  if (dev !== undefined) checkLabelledDevSetFits(dev, graph, model);
  const resources = new Map<string, unknown>();
  if (opts.importance !== undefined) resources.set(IMPORTANCE_RESOURCE, opts.importance);
  const common = {
    protocols,
    ...(opts.fracBits !== undefined ? { f: opts.fracBits } : {}),
    verify: opts.verify !== false,
    resources,
    onNote: (pass: string, message: string) => process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`),
  };
  const within = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof Ig3dcError) throw e.within({ file: model });
      throw e;
    }
  };
  const src = within(() => segmentCircuitsOf(graph, passes, common));
  const t0 = performance.now();
  const buckets = within(() => bucketTable(src));
  const compileSeconds = (performance.now() - t0) / 1000;
  const unpruned = within(() => staticCost(compileModel(graph, { ...common, passes: passes.filter((s) => s.pass.name !== PRUNE_TOKENS) }).cost));
  const ids = graph.inputs[0]!.type.shape;
  let expected: SegmentCostReport['expected'];
  if (dev !== undefined) {
    const inputs = graph.inputs.map((i) => i.name!);
    let correct = 0;
    const e = expectedCost(src, dev.rows, (r) => devRowFeeds(dev, r, inputs), (r, run) => {
      const out = run.outputs.get('logits') ?? [...run.outputs.values()][0]!;
      if (argmax(out.toNumbers()) === dev.labels[r]) correct++;
    });
    expected = { file: dev.file, rows: dev.rows, accuracy: (100 * correct) / dev.rows, meanCounts: e.meanCounts, meanTokens: e.meanTokens, paths: e.paths, mean: e.mean };
  }
  return {
    model,
    summary: modelSummaryLine(graph),
    protocols: protocols.name,
    passes: passes.map((s) => s.text).join(','),
    batch: ids[0]!,
    seq: src.tokens,
    segments: src.segments,
    buckets,
    compileSeconds,
    unpruned,
    latencyFormula: LATENCY_FORMULA,
    ...(expected !== undefined ? { expected } : {}),
  };
}

const MB = (b: number): string => (b / 1e6).toFixed(2);
const num = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(1));

function costLine(c: StaticCost): string {
  return `${num(c.rounds)} rounds, ${MB(c.bytesTotal)} MB on the wire (${MB(c.onlineBytes)} online), ${MB(c.dealerBytes)} MB from the dealer, LAN ${c.latency['lan']!.toFixed(3)} s, WAN ${c.latency['wan']!.toFixed(2)} s`;
}

export function formatSegmentCostReport(r: SegmentCostReport): string {
  const lines: string[] = [];
  lines.push(`token pruning in segments (protocols ${r.protocols}): ${r.segments} segments; ${r.buckets.length} (segment, bucket) circuits, compiled ahead in ${r.compileSeconds.toFixed(1)} s`);
  lines.push(`static cost per (segment, bucket) circuit, what a run measures when it takes that bucket (batch ${r.batch}):`);
  lines.push('segment  tokens  rounds  MB on the wire  online MB  dealer MB    LAN s    WAN s');
  for (const b of r.buckets) {
    const c = b.cost;
    lines.push(
      `${String(b.segment).padStart(7)}  ${b.shape.join('+').padStart(6)}  ${String(c.rounds).padStart(6)}  ${MB(c.bytesTotal).padStart(14)}  ${MB(c.onlineBytes).padStart(9)}  ${MB(c.dealerBytes).padStart(9)}  ${c.latency['lan']!.toFixed(3).padStart(7)}  ${c.latency['wan']!.toFixed(2).padStart(7)}`,
    );
  }
  lines.push(`unpruned (the same passes without prune-tokens, one circuit at ${r.seq} tokens): ${costLine(r.unpruned)}`);
  const e = r.expected;
  if (e !== undefined) {
    lines.push(`expected cost over the first ${e.rows} rows of ${e.file} (the buckets the pruned model's plaintext evaluator takes for each row):`);
    lines.push(`  plaintext accuracy of the pruned model ${e.accuracy.toFixed(1)}%`);
    lines.push(`  mean survivors after each boundary ${e.meanCounts.map((c) => c.toFixed(1)).join(', ')} of ${r.seq}; mean tokens per segment ${e.meanTokens.map((c) => c.toFixed(1)).join(', ')}`);
    const shown = e.paths.slice(0, 8);
    lines.push(`  buckets taken: ${shown.map((p) => `${p.shapes.map((sh) => sh.join('+')).join(',')} (${p.rows})`).join(', ')}${e.paths.length > shown.length ? `, and ${e.paths.length - shown.length} more` : ''}`);
    lines.push(`  per row: ${costLine(e.mean)}`);
    const ratio = (a: number, b: number): string => (b === 0 ? '-' : `${(a / b).toFixed(2)}x`);
    lines.push(`  against unpruned: rounds ${ratio(e.mean.rounds, r.unpruned.rounds)}, bytes on the wire ${ratio(e.mean.bytesTotal, r.unpruned.bytesTotal)}, LAN ${ratio(e.mean.latency['lan']!, r.unpruned.latency['lan']!)}, WAN ${ratio(e.mean.latency['wan']!, r.unpruned.latency['wan']!)}`);
  }
  lines.push(`(${r.latencyFormula}, summed over segments)`);
  return `${lines.join('\n')}\n`;
}

export async function compileSegmentsCommand(model: string, opts: CompileSegmentsOptions, passes: readonly PipelineStep[]): Promise<void> {
  const report = await segmentCostReport(model, opts, passes);
  const json = `${JSON.stringify(report, null, 1)}\n`;
  if (opts.report !== undefined) await writeOutput(opts.report, json);
  if (opts.json === true) await writeOut(json);
  else {
    const text = `${report.summary}\n${formatSegmentCostReport(report)}${opts.report !== undefined && opts.report !== '-' ? `wrote ${opts.report}\n` : ''}`;
    if (opts.report === '-') process.stderr.write(text);
    else await writeOut(text);
  }
}
