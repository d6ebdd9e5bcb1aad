// The tune result for people (tables in the paper's layout) and for machines (one JSON object).

import { basename } from 'node:path';
import { fmtSeconds, textTable } from '../backend/report/format.ts';
import type { TraceEvent } from './search.ts';
import { fmtLambda, fmtTau } from './space.ts';
import type { Measured, TuneResult } from './tune.ts';

export const TUNE_JSON_FORMAT = 'ig3dc-tune/1';

const pct = (x: number): string => `${x.toFixed(2)}%`;
const pp = (x: number): string => (Math.abs(x) < 5e-9 ? '0.00' : x.toFixed(2));
const gb = (b: number): string => `${(b / 1e9).toFixed(3)} GB`;
const times = (x: number): string => `${x.toFixed(2)}x`;
const change = (x: number, base: number): string => (x === base ? '-' : `${(((x - base) / base) * 100).toFixed(1)}%`);

function row(name: string, m: Measured, base: Measured): string[] {
  return [
    name,
    pct(m.accuracy),
    pp(m.accuracyLoss),
    String(m.rounds),
    gb(m.bytesTotal),
    change(m.bytesTotal, base.bytesTotal),
    fmtSeconds(m.latencySeconds.lan),
    fmtSeconds(m.latencySeconds.wan),
    times(m.speedup.lan),
    times(m.speedup.wan),
  ];
}

const HEADER = ['', 'accuracy', 'loss (pp)', 'rounds', 'communication', 'comm. change', 'LAN latency', 'WAN latency', 'speedup LAN', 'speedup WAN'];

function traceLine(e: TraceEvent): string {
  switch (e.event) {
    case 'chosen':
      return `${e.stage}: ${e.point} -> ${times(e.speedup)}${e.rejected > 0 ? ` (${e.rejected} faster move${e.rejected === 1 ? '' : 's'} over the budget)` : ''}`;
    case 'no-gain':
      return `${e.stage}: none of ${e.moves} moves is faster than ${e.from}; left as it is`;
    case 'infeasible':
      return `${e.stage}: no feasible point from ${e.from} (${e.rejected} faster move${e.rejected === 1 ? '' : 's'}, all over the budget)`;
    case 'backtrack':
      return `${e.stage}: backtrack: relax '${e.previous}' to '${e.relaxed}': ${e.success ? `feasible, ${times(e.speedup!)} overall` : e.speedup !== undefined ? `feasible but only ${times(e.speedup)} overall` : 'still no feasible point'}`;
    case 'skipped':
      return `${e.stage}: skipped (${e.reason})`;
  }
}

export function formatTuneReport(r: TuneResult, annotationFile?: string): string {
  const lines: string[] = [];
  const via = r.accuracyBackend === 'onnxruntime' ? 'onnxruntime' : 'the plaintext evaluator';
  lines.push(
    `ig3dc tune ${basename(r.model)}: ${r.rows} dev rows (${r.rowShape}) of ${basename(r.data)}, accuracy by ${via}; importance ${r.importance.method}; ${r.protocols} protocols, cost at batch ${r.costBatch}`,
  );
  lines.push(`budget ${r.maxAccLoss} pp of accuracy loss: structure ${r.budgets[0].toFixed(3)}, + operator ${r.budgets[1].toFixed(3)}, + activation ${r.budgets[2].toFixed(3)} (objective: estimated LAN latency speedup)`);
  lines.push('', 'search:');
  for (const e of r.trace) lines.push(`  ${traceLine(e)}`);
  lines.push('', 'chosen thresholds:');
  const t = r.chosen.thresholds;
  lines.push(t.prune !== null ? `  structural pruning:     tau_s = ${fmtTau(t.prune.tau)} (min-keep ${t.prune.minKeep}): prune ${t.prune.heads.length} heads: ${t.prune.heads.join(' ')}` : '  structural pruning:     none');
  lines.push(
    t.softmax !== null
      ? `  operator approximation: tau_a = ${fmtTau(t.softmax.tau)} (${t.softmax.granularity} granularity, degree ${t.softmax.degree}, ${t.softmax.shift ? 'max-shifted' : 'no max shift'}${t.softmax.clip > 0 ? `, clip ${t.softmax.clip}` : ''}): PolySoftmax on ${t.softmax.heads.length} heads: ${t.softmax.heads.join(' ')}`
      : '  operator approximation: none',
  );
  lines.push(t.activation !== null ? `  activation:             lambdas [${t.activation.lambdas.map(fmtLambda).join(', ')}] (${t.activation.schedule}; 1 = GELU, 0 = ReLU)` : '  activation:             none (GELU everywhere)');
  if (r.chosen.pipeline !== '') {
    lines.push(`  passes with ${annotationFile ?? 'the annotation file (-o FILE)'} as --importance: ${r.chosen.pipeline}`);
    lines.push(`  passes from the scores of ${basename(r.importance.file)}: ${r.chosen.thresholdPipeline}`);
  }
  lines.push('');
  if (r.ablation !== undefined) {
    lines.push('ablation (Table 7):');
    lines.push(textTable(HEADER, r.ablation.map((a) => row(a.step, a, r.baseline))));
  } else {
    lines.push(textTable(HEADER, [row('baseline', r.baseline, r.baseline), row('chosen', r.chosen, r.baseline)]));
  }
  if (r.importanceMethods !== undefined) {
    lines.push('', `importance methods at ${40}% of heads pruned (Table 6):`);
    const best = Math.max(...r.importanceMethods.map((m) => m.accuracyRetention));
    lines.push(
      textTable(
        ['method', 'file', 'pruned heads', 'accuracy', 'retention'],
        r.importanceMethods.map((m) => [m.method + (m.accuracyRetention === best ? ' (best)' : ''), basename(m.file), m.prunedHeads.join(' '), pct(m.accuracy), pct(m.accuracyRetention)]),
      ),
    );
  }
  lines.push('', `${r.stats.candidatesCosted} candidates costed, ${r.stats.accuracyRuns} accuracy runs, ${r.stats.seconds.toFixed(1)} s`);
  if (annotationFile !== undefined) lines.push(`wrote ${annotationFile}`);
  return `${lines.join('\n')}\n`;
}

/** What `--json` prints: the result without the parsed annotation. */
export function tuneJson(r: TuneResult, annotationFile?: string): Record<string, unknown> {
  const { annotation: _a, annotationText: _t, ...rest } = r;
  return { format: TUNE_JSON_FORMAT, ...rest, ...(annotationFile !== undefined ? { annotationFile } : {}) };
}
