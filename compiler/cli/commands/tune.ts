// `ig3dc tune MODEL --importance FILE --data DEV --max-acc-loss EPS [--examples N]
// [--protocols crypten|best] [--granularity head|layer] [--ablation] [--json] [-o FILE]`:
// the IG-3D joint threshold search; prints the chosen thresholds and a baseline-vs-chosen
// table (with --ablation the paper's Tables 7 and 6), and writes an annotation file that
// reproduces the choice.

import { writeFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { formatTuneReport, progressBar, SILENT, tune, tuneJson, type TuneResult } from '../../tune/index.ts';
import { checkOneStdout, numberOption, textStream, writeOut, writeOutput } from '../run-command.ts';

export interface TuneCommandOptions {
  /** Repeatable: the first drives the search; all enter the importance-method comparison. */
  importance?: string | readonly string[];
  /** Importance files for the comparison (Table 6) only. */
  compareImportance?: readonly string[];
  data?: string;
  /** Percentage points (commander passes the text). */
  maxAccLoss?: number | string;
  examples?: number | string;
  protocols?: string;
  granularity?: string;
  minKeep?: number | string;
  batch?: number | string;
  ablation?: boolean;
  json?: boolean;
  /** Annotation file to write. */
  output?: string;
  /** Measure accuracy with the plaintext evaluator instead of onnxruntime. */
  evaluator?: boolean;
  /** Show the progress bar even when stderr is not a terminal. */
  progress?: boolean;
}

export async function tuneCommand(model: string, opts: TuneCommandOptions): Promise<TuneResult> {
  const importance = opts.importance === undefined ? [] : typeof opts.importance === 'string' ? [opts.importance] : [...opts.importance];
  if (importance.length === 0) throw new Ig3dcError('usage', 'tune needs --importance FILE (head importance scores, JSON or text)');
  if (opts.data === undefined) throw new Ig3dcError('usage', 'tune needs --data DEV (a labelled dev set, ig3dc-tensor-bundle/1)');
  const eps = numberOption('--max-acc-loss', opts.maxAccLoss);
  if (eps === undefined) throw new Ig3dcError('usage', 'tune needs --max-acc-loss EPS (accuracy loss allowed, percentage points)');
  const examples = numberOption('--examples', opts.examples, true);
  const minKeep = numberOption('--min-keep', opts.minKeep);
  const batch = numberOption('--batch', opts.batch, true);
  checkOneStdout({ '--json': opts.json === true, '-o -': opts.output === '-' });
  const showBar = opts.progress ?? (process.stderr.isTTY === true && opts.json !== true);
  const progress = showBar ? progressBar() : SILENT;
  let result: TuneResult;
  try {
    result = await tune(model, {
      importance,
      ...(opts.compareImportance !== undefined ? { compareImportance: opts.compareImportance } : {}),
      data: opts.data,
      maxAccLoss: eps,
      ...(examples !== undefined ? { examples } : {}),
      ...(opts.protocols !== undefined ? { protocols: opts.protocols } : {}),
      ...(opts.granularity !== undefined ? { granularity: opts.granularity } : {}),
      ...(minKeep !== undefined ? { minKeep } : {}),
      ...(batch !== undefined ? { batch } : {}),
      ablation: opts.ablation === true,
      evaluator: opts.evaluator === true,
      progress,
      onNote: (m) => process.stderr.write(`ig3dc: note: ${m}\n`),
    });
  } finally {
    progress.stop();
  }
  if (opts.output !== undefined) await writeOutput(opts.output, result.annotationText);
  const say = textStream(opts.json === true || opts.output === '-');
  if (opts.json === true) await writeOut(`${JSON.stringify(tuneJson(result, opts.output), null, 1)}\n`);
  else await say(formatTuneReport(result, opts.output));
  return result;
}
