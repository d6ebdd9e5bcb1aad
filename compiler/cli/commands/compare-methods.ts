// `ig3dc compare-methods MODEL --importance F --data DEV --max-acc-loss EPS [--methods LIST]
// [--protocols best|crypten|fss] [--examples N] [--evaluator] [--json] [--html F]`: IG-3D against the
// related systems' attention within one accuracy budget, measured on the whole dev set.

import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { compareJson, compareMethods, type CompareResult, formatCompareReport, renderCompareHtml } from '../../compare/index.ts';
import { progressBar, SILENT } from '../../tune/index.ts';
import { numberOption, writeOut, writeOutput } from '../run-command.ts';

export interface CompareCommandOptions {
  importance?: string;
  data?: string;
  /** Percentage points (commander passes the text). */
  maxAccLoss?: number | string;
  methods?: string;
  protocols?: string;
  examples?: number | string;
  evaluator?: boolean;
  json?: boolean;
  /** Write the table and chart as a self-contained HTML page. */
  html?: string;
  progress?: boolean;
}

export async function compareMethodsCommand(model: string, opts: CompareCommandOptions): Promise<CompareResult> {
  if (opts.importance === undefined) throw new Ig3dcError('usage', 'compare-methods needs --importance FILE (head importance scores, JSON or text)');
  if (opts.data === undefined) throw new Ig3dcError('usage', 'compare-methods needs --data DEV (a labelled dev set, ig3dc-tensor-bundle/1)');
  const eps = numberOption('--max-acc-loss', opts.maxAccLoss);
  if (eps === undefined) throw new Ig3dcError('usage', 'compare-methods needs --max-acc-loss EPS (accuracy loss allowed, percentage points)');
  const examples = numberOption('--examples', opts.examples, true);
  const showBar = opts.progress ?? (process.stderr.isTTY === true && opts.json !== true);
  const progress = showBar ? progressBar() : SILENT;
  let result: CompareResult;
  try {
    result = await compareMethods(model, {
      importance: opts.importance,
      data: opts.data,
      maxAccLoss: eps,
      ...(opts.methods !== undefined ? { methods: opts.methods } : {}),
      ...(opts.protocols !== undefined ? { protocols: opts.protocols } : {}),
      ...(examples !== undefined ? { examples } : {}),
      evaluator: opts.evaluator === true,
      progress,
      onNote: (m) => process.stderr.write(`ig3dc: note: ${m}\n`),
    });
  } finally {
    progress.stop();
  }
  if (opts.html !== undefined) await writeOutput(opts.html, renderCompareHtml(result));
  await writeOut(opts.json === true ? `${JSON.stringify(compareJson(result), null, 1)}\n` : formatCompareReport(result));
  return result;
}
