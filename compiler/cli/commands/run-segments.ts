// `ig3dc run MODEL --passes ...,prune-tokens{..}`: secure inference of a token-pruned model in
// segments, with shapes decided at run time. Segment 0 runs on the full sequence; each
// boundary reveals its survivor count to both parties, who run the next segment compiled for
// the count's bucket (compiled on first use and cached, so a run compiles only the buckets it
// takes) from the shares the previous segment left. Per case it prints the buckets taken, each
// segment's measured cost next to the static cost of its bucket's circuit, and the outputs
// against the plaintext evaluator of the pruned model (run segment by segment, as the parties
// do: the same counts and buckets).

import { costSummary, type CostSummary } from '../../../ir/circuit/cost.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { coerceInput } from '../../../ir/evaluate.ts';
import type { Graph } from '../../../ir/graph.ts';
import { tensorToJson, type Case, type TensorJson } from '../../../ir/tensor-json.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { parsePipeline } from '../../../passes/index.ts';
import { runSegments } from '../../../passes/tokens/index.ts';
import { runSegmentedCircuits } from '../../../runtime/segments.ts';
import { runSegmentedCircuitsWorkers } from '../../../runtime/workers.ts';
import { resolveProtocols } from '../../backend/compile.ts';
import { loadModel } from '../../load.ts';
import { segmentCircuitsOf, type SegmentCircuits } from '../../tokens/segment-circuits.ts';
import { writeOut } from '../run-command.ts';
import { argmaxRows, bindingFor, maxAbs, progressBar, readCases, runSeed, type RunCommandOptions } from './run.ts';

interface SegmentCost {
  readonly rounds: number;
  readonly bytesTotal: number;
  readonly bytesPerParty: readonly [number, number];
  readonly dealerBytes: number;
}

export interface SegmentReport {
  readonly segment: number;
  /** Tokens the segment ran on (segment 0: the sequence; then the bucket of the count before it). */
  readonly tokens: number;
  /** [tokens], or [full rows, reduced rows] after a boundary of prune-tokens{reduce=reveal-count}. */
  readonly shape: readonly number[];
  /** The survivor counts its boundary revealed (one per example; none for the last segment). */
  readonly counts?: readonly number[];
  /** The reduced counts its boundary revealed (prune-tokens{reduce=reveal-count} only). */
  readonly reduced?: readonly number[];
  readonly measured: SegmentCost;
  readonly static: SegmentCost;
  readonly match: boolean;
}

export interface SegmentedCaseReport {
  readonly name: string;
  readonly segments: readonly SegmentReport[];
  /** The plaintext evaluator's counts per boundary (max over the batch), as the parties' should be. */
  readonly plaintextCounts: readonly number[];
  /** The plaintext evaluator's reduced counts per boundary (max over the batch; null where not revealed). */
  readonly plaintextReduced: readonly (number | null)[];
  readonly outputs: Record<string, TensorJson>;
  readonly maxAbsError: Record<string, number>;
  readonly predicted: readonly number[];
  readonly referencePredicted: readonly number[];
  readonly total: { readonly measured: SegmentCost; readonly static: SegmentCost };
  readonly wallSeconds: number;
}

export interface SegmentedRunReport {
  readonly model: string;
  readonly protocols: string;
  readonly passes: string;
  readonly cases: readonly SegmentedCaseReport[];
  readonly countsMatch: boolean;
  readonly bucketsMatch: boolean;
  readonly maxAbsError: number;
  /** Segment circuits compiled (on first use), with the seconds each took. */
  readonly compiled: readonly { readonly segment: number; readonly tokens: number; readonly shape: readonly number[]; readonly seconds: number }[];
  readonly labelled?: { readonly file: string; readonly rows: number; readonly secureAccuracy: number; readonly plaintextAccuracy: number; readonly agreement: number };
  readonly wallSeconds: number;
  readonly mode: 'in-process' | 'workers';
}

function cost(c: CostSummary): SegmentCost {
  return { rounds: c.rounds, bytesTotal: c.bytesTotal, bytesPerParty: c.bytesPerParty, dealerBytes: c.dealerBytes };
}

function add(a: SegmentCost, b: SegmentCost): SegmentCost {
  return { rounds: a.rounds + b.rounds, bytesTotal: a.bytesTotal + b.bytesTotal, bytesPerParty: [a.bytesPerParty[0] + b.bytesPerParty[0], a.bytesPerParty[1] + b.bytesPerParty[1]], dealerBytes: a.dealerBytes + b.dealerBytes };
}

const ZERO: SegmentCost = { rounds: 0, bytesTotal: 0, bytesPerParty: [0, 0], dealerBytes: 0 };

function graphInputs(graph: Graph, cs: Case): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const input of graph.inputs) {
    const t = cs.inputs.get(input.name!);
    if (t === undefined) throw new Ig3dcError('input', `case '${cs.name}' lacks the input '${input.name!}' the model needs`);
    out.set(input.name!, coerceInput(t, input.type, input.name));
  }
  return out;
}

export async function runSegmentedCases(path: string, opts: RunCommandOptions): Promise<SegmentedRunReport> {
  const threads = opts.threads ?? 1;
  if (threads !== 1 && threads !== 2) throw new Ig3dcError('usage', `--threads: expected 1 or 2, got ${threads}`);
  const { cases, file, labels } = readCases(opts);
  if (cases.length === 0) throw new Ig3dcError('input', 'the inputs file has no cases', { file });
  const protocols = resolveProtocols(opts.protocols);
  const sources = new Map<string, SegmentCircuits>();
  const sourceFor = (cs: Case): SegmentCircuits => {
    const key = JSON.stringify([...cs.inputs].map(([k, t]) => [k, t.shape]));
    let s = sources.get(key);
    if (s === undefined) {
      sources.set(key, (s = segmentCircuitsOf(loadModel(path, bindingFor(cs, opts)), parsePipeline(opts.passes!, '--passes'), { protocols })));
    }
    return s;
  };
  const seed = runSeed(opts);
  const bar = progressBar(opts.progress ?? process.stderr.isTTY === true);
  const reports: SegmentedCaseReport[] = [];
  const t00 = performance.now();
  try {
    for (const cs of cases) {
      const src = sourceFor(cs);
      const feeds = graphInputs(src.graphs.graph, cs);
      const t0 = performance.now();
      let run;
      try {
        run =
          threads === 2
            ? await runSegmentedCircuitsWorkers(src, { inputs: feeds, ...(seed !== undefined ? { seed } : {}) })
            : runSegmentedCircuits(src, { inputs: feeds, ...(seed !== undefined ? { seed } : {}), onRound: (d, t, st, layer) => bar.onRound(d, t, st, layer) });
      } catch (e) {
        if (e instanceof Ig3dcError && e.kind === 'input') throw new Ig3dcError('input', `case '${cs.name}': ${e.detail}`, { file });
        throw e;
      }
      const seconds = (performance.now() - t0) / 1000;
      const plain = runSegments(src.graphs, feeds);
      const segments: SegmentReport[] = run.steps.map((s) => {
        const measured = costSummary(s.cost);
        const stat = costSummary(src.compiled(s.segment, s.shape).cost);
        return { segment: s.segment, tokens: s.tokens, shape: s.shape, ...(s.counts !== undefined ? { counts: s.counts } : {}), ...(s.reduced !== undefined ? { reduced: s.reduced } : {}), measured: cost(measured), static: cost(stat), match: JSON.stringify(measured) === JSON.stringify(stat) };
      });
      const outputs: Record<string, TensorJson> = {};
      const err: Record<string, number> = {};
      for (const [name, t] of run.outputs) {
        outputs[name] = tensorToJson(t);
        const want = plain.outputs.get(name);
        if (want !== undefined) err[name] = maxAbs(t, want);
      }
      const [firstName, firstOut] = [...run.outputs][0]!;
      reports.push({
        name: cs.name,
        segments,
        plaintextCounts: plain.counts,
        plaintextReduced: plain.reduced.map((r) => r ?? null),
        outputs,
        maxAbsError: err,
        predicted: argmaxRows(firstOut),
        referencePredicted: argmaxRows(plain.outputs.get(firstName)!),
        total: { measured: segments.reduce((a, s) => add(a, s.measured), ZERO), static: segments.reduce((a, s) => add(a, s.static), ZERO) },
        wallSeconds: seconds,
      });
    }
  } finally {
    bar.stop();
  }
  const pct = (k: number): number => (100 * k) / reports.length;
  const countsOf = (r: SegmentedCaseReport): number[] => r.segments.slice(0, -1).map((s) => Math.max(...s.counts!));
  const reducedOf = (r: SegmentedCaseReport): (number | null)[] => r.segments.slice(0, -1).map((s) => (s.reduced !== undefined ? Math.max(...s.reduced) : null));
  return {
    model: path,
    protocols: protocols.name,
    passes: opts.passes!,
    cases: reports,
    countsMatch: reports.every((r) => r.segments.every((s) => s.match)),
    bucketsMatch: reports.every((r) => JSON.stringify(countsOf(r)) === JSON.stringify(r.plaintextCounts) && JSON.stringify(reducedOf(r)) === JSON.stringify(r.plaintextReduced)),
    maxAbsError: Math.max(...reports.flatMap((r) => Object.values(r.maxAbsError))),
    compiled: [...sources.values()].flatMap((s) => s.compiles),
    ...(labels !== undefined
      ? {
          labelled: {
            file,
            rows: reports.length,
            secureAccuracy: pct(reports.filter((r, i) => r.predicted[0] === labels[i]).length),
            plaintextAccuracy: pct(reports.filter((r, i) => r.referencePredicted[0] === labels[i]).length),
            agreement: pct(reports.filter((r) => r.predicted[0] === r.referencePredicted[0]).length),
          },
        }
      : {}),
    wallSeconds: (performance.now() - t00) / 1000,
    mode: threads === 2 ? 'workers' : 'in-process',
  };
}

const MB = (b: number): string => `${(b / 1e6).toFixed(2)} MB`;

export function formatSegmentedReport(r: SegmentedRunReport): string {
  const lines: string[] = [];
  lines.push(`secure inference of ${r.model} in segments (${r.mode === 'workers' ? 'one worker thread per party' : 'in-process'}, protocols ${r.protocols}), ${r.cases.length} case(s)`);
  lines.push(`passes: ${r.passes}`);
  for (const cs of r.cases) {
    const e = Object.values(cs.maxAbsError)[0];
    lines.push(`case ${cs.name}: predicted ${cs.predicted[0]}, plaintext ${cs.referencePredicted[0]}, max abs error ${e === undefined ? 'n/a' : e.toExponential(2)} (${cs.wallSeconds.toFixed(2)} s)`);
    for (const s of cs.segments) {
      const revealed = s.counts !== undefined ? `, reveals count ${s.counts.join(',')}${s.reduced !== undefined ? ` reduced ${s.reduced.join(',')}` : ''}` : '';
      const rows = s.shape.length > 1 ? ` (${s.shape.join('+')})` : '';
      lines.push(
        `  segment ${s.segment} on ${String(s.tokens).padStart(4)} tokens${rows}${revealed.padEnd(20)} measured ${String(s.measured.rounds).padStart(5)} rounds ${MB(s.measured.bytesTotal).padStart(12)}   static ${String(s.static.rounds).padStart(5)} rounds ${MB(s.static.bytesTotal).padStart(12)}  ${s.match ? '==' : '!= MISMATCH'}`,
      );
    }
    lines.push(`  total: ${cs.total.measured.rounds} rounds, ${MB(cs.total.measured.bytesTotal)} between the parties, ${MB(cs.total.measured.dealerBytes)} from the dealer; plaintext counts ${cs.plaintextCounts.join(', ')}${cs.plaintextReduced.some((r) => r !== null) ? `, reduced ${cs.plaintextReduced.map((r) => r ?? '-').join(', ')}` : ''}`);
  }
  lines.push(`max abs error against the pruned model's plaintext evaluator ${r.maxAbsError.toExponential(3)}`);
  lines.push(`survivor (and reduced) counts ${r.bucketsMatch ? '==' : '!='} plaintext on every case; measured ${r.countsMatch ? '==' : '!='} static on every segment${r.countsMatch ? '' : '  (MISMATCH: a runtime or cost-model bug)'}`);
  if (r.labelled !== undefined) {
    const l = r.labelled;
    lines.push(`labelled set ${l.file}, ${l.rows} row(s): secure accuracy ${l.secureAccuracy.toFixed(1)}%, plaintext (pruned) accuracy ${l.plaintextAccuracy.toFixed(1)}%, agreement ${l.agreement.toFixed(1)}%`);
  }
  const compileSeconds = r.compiled.reduce((a, c) => a + c.seconds, 0);
  lines.push(`segment circuits compiled on first use: ${r.compiled.length} (${r.compiled.map((c) => `${c.segment}@${c.shape.join('+')}`).join(' ')}), ${compileSeconds.toFixed(2)} s`);
  lines.push(`wall time ${r.wallSeconds.toFixed(2)} s`);
  return `${lines.join('\n')}\n`;
}

export async function runSegmentedCommand(path: string, opts: RunCommandOptions): Promise<void> {
  const report = await runSegmentedCases(path, opts);
  await writeOut(opts.json ? `${JSON.stringify(report)}\n` : formatSegmentedReport(report));
  if (!report.countsMatch) process.exitCode = 1;
}
