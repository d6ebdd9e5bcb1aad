// `ig3dc importance MODEL --data DEV -o FILE`: attention-head importance computed from the
// ONNX model and a labelled dataset (integrated gradients as IG-3D defines them, or a
// baseline), written as the annotation file the IG-3D passes read (JSON, or the text form
// for a .txt file). `--compare REF` reports the agreement with other importance files.

import { writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { importanceOf, readImportanceFile, writeImportanceText, type ImportanceAnnotation } from '../../../passes/ig3d/annotations.ts';
import { computeImportance, type Engine, type ImportanceFile } from '../../importance/run.ts';
import type { Method, Target } from '../../importance/methods.ts';
import { importanceOrder, spearman } from '../../importance/spearman.ts';
import { checkOneStdout, textStream, writeOut, writeOutput } from '../run-command.ts';

export interface ImportanceCommandOptions {
  readonly data?: string;
  readonly output: string;
  readonly steps?: number;
  readonly examples?: number;
  readonly target?: string;
  readonly method?: string;
  readonly sampleAlpha?: number;
  readonly seed?: number;
  readonly threads?: number;
  readonly engine?: string;
  /** Reference importance files to report agreement with (repeatable). */
  readonly compare?: readonly string[];
  /** Show the progress bar even when stderr is not a terminal. */
  readonly progress?: boolean;
  readonly json?: boolean;
}

export interface Agreement {
  readonly file: string;
  readonly method?: string;
  readonly spearman: number;
  readonly top: readonly [number, number][];
  readonly bottom: readonly [number, number][];
  readonly sameTop: boolean;
  readonly sameBottom: boolean;
}

const head = ([l, h]: readonly [number, number]): string => `L${l}H${h}`;

/** Spearman over all heads (both oriented higher = more important) and the top/bottom k heads of each. */
export function agreement(result: ImportanceFile, ref: ImportanceAnnotation, k = 3): Agreement {
  const mine = result.higher_is_more_important ? result.scores : result.scores.map((r) => r.map((s) => -s));
  const theirs = importanceOf(ref);
  const file = ref.file ?? 'reference';
  if (theirs === undefined || theirs.length !== mine.length || theirs.some((r, l) => r.length !== mine[l]!.length)) {
    throw new Ig3dcError('input', `the reference has ${theirs?.length ?? 0} layers x ${theirs?.[0]?.length ?? 0} heads, the result ${mine.length} x ${mine[0]!.length}`, { file });
  }
  const a = importanceOrder(mine);
  const b = importanceOrder(theirs);
  const key = (hs: readonly [number, number][]): string => hs.map(head).sort().join(',');
  return {
    file,
    ...(ref.method !== undefined ? { method: ref.method } : {}),
    spearman: spearman(mine.flat(), theirs.flat()),
    top: a.slice(0, k),
    bottom: a.slice(-k),
    sameTop: key(a.slice(0, k)) === key(b.slice(0, k)) && head(a[0]!) === head(b[0]!),
    sameBottom: key(a.slice(-k)) === key(b.slice(-k)) && head(a[a.length - 1]!) === head(b[b.length - 1]!),
  };
}

/** An importance result as the annotation the IG-3D passes read. */
export function toAnnotation(r: ImportanceFile): ImportanceAnnotation {
  return {
    model: r.model,
    method: r.method,
    ...(r.steps !== undefined ? { steps: r.steps } : {}),
    examples: r.examples,
    layers: r.layers,
    heads: r.heads,
    scores: r.scores,
    higherIsMoreImportant: r.higher_is_more_important,
    headPins: [],
    lambdaPins: [],
  };
}

function progressBar(enabled: boolean): { update: (done: number, total: number) => void; stop: () => void } {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'importance [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
      // --progress on a pipe or file: a line every few seconds instead of redrawing
      noTTYOutput: process.stderr.isTTY !== true,
      notTTYSchedule: 5000,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else bar.update(done);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

function formatSummary(r: ImportanceFile, agreements: readonly Agreement[]): string {
  const lines: string[] = [];
  const what = `${r.method}${r.steps !== undefined ? `, ${r.alpha_sampling !== undefined ? `${r.steps} sampled alphas` : `m = ${r.steps}`}` : ''}`;
  lines.push(`${r.model}: ${what}, ${r.examples} examples, ${r.seconds.toFixed(1)} s${r.engine !== undefined ? ` (${r.engine})` : ''}`);
  const fmt = (v: number): string => (Math.abs(v) < 0.01 ? v.toExponential(3) : v.toFixed(4));
  r.scores.forEach((row, l) => lines.push(`  L${l}: ${row.map(fmt).join('  ')}`));
  lines.push(`order (most important first): ${r.importance_order.map(head).join(' ')}`);
  if (r.completeness_check !== undefined) {
    const c = r.completeness_check;
    lines.push(`completeness: median relative error ${(c.median * 100).toFixed(2)}% over ${c.pairs} (example, head) pairs`);
  }
  for (const a of agreements) {
    lines.push(
      `vs ${a.file}${a.method !== undefined ? ` (${a.method})` : ''}: Spearman ${a.spearman.toFixed(4)}; top ${a.top.map(head).join(' ')} ${a.sameTop ? 'same' : 'DIFFERENT'}; bottom ${a.bottom.map(head).join(' ')} ${a.sameBottom ? 'same' : 'DIFFERENT'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function importanceCommand(model: string, opts: ImportanceCommandOptions): Promise<void> {
  checkOneStdout({ '--json': opts.json === true, '-o -': opts.output === '-' });
  const refs = (opts.compare ?? []).map(readImportanceFile);
  const bar = progressBar(opts.progress ?? process.stderr.isTTY === true);
  let result: ImportanceFile;
  try {
    result = await computeImportance({
      model,
      ...(opts.data !== undefined ? { data: opts.data } : {}),
      ...(opts.method !== undefined ? { method: opts.method as Method } : {}),
      ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
      ...(opts.examples !== undefined ? { examples: opts.examples } : {}),
      ...(opts.target !== undefined ? { target: opts.target as Target } : {}),
      ...(opts.sampleAlpha !== undefined ? { sampleAlpha: opts.sampleAlpha } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.engine !== undefined ? { engine: opts.engine as Engine } : {}),
      onProgress: bar.update,
      onNote: (m) => process.stderr.write(`ig3dc: note: ${m}\n`),
    });
  } finally {
    bar.stop();
  }
  const agreements = refs.map((ref) => agreement(result, ref));
  const text = /\.txt$/i.test(opts.output)
    ? writeImportanceText(toAnnotation(result), [`${result.method} head importance of ${result.model}, ${result.examples} examples (ig3dc importance)`])
    : `${JSON.stringify(result, null, 1)}\n`;
  await writeOutput(opts.output, text);
  if (opts.json) await writeOut(`${JSON.stringify({ result, agreements })}\n`);
  else await textStream(opts.output === '-')(formatSummary(result, agreements));
}
