// `ig3dc tune MODEL --tokens --data DEV --max-acc-loss EPS [--examples N] [--bucket 8]
// [--json] [-o thresholds.json]`: token-pruning calibration (compiler/tokens/calibrate.ts).
// Prints the chosen theta/beta per boundary, accuracy against the unpruned model and mean kept
// tokens per layer; writes the thresholds file prune-tokens{thresholds="FILE"} reads (`ig3dc
// compile --passes 'prune-tokens{thresholds="FILE"}' --data DEV` gives the cost it implies).

import { writeFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { parsePipeline, runPipeline } from '../../../passes/index.ts';
import { writeThresholdsJson } from '../../../passes/tokens/index.ts';
import { DEFAULT_RAISE, isRaised } from '../../backend/compile.ts';
import { loadModel } from '../../load.ts';
import { calibrateTokens } from '../../tokens/calibrate.ts';
import { readDevSet } from '../../tune/dev-set.ts';
import { AccuracyMeter, accuracyBackend } from '../../tune/accuracy.ts';
import { writeOut } from '../run-command.ts';

export interface TuneTokensOptions {
  data?: string;
  maxAccLoss?: number | string;
  examples?: number | string;
  bucket?: number | string;
  json?: boolean;
  output?: string;
  evaluator?: boolean;
}

function count(name: string, v: number | string | undefined, fallback?: number): number | undefined {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Ig3dcError('usage', `${name}: expected a non-negative number, got '${String(v)}'`);
  return n;
}

export async function tuneTokensCommand(model: string, opts: TuneTokensOptions): Promise<void> {
  if (opts.data === undefined) throw new Ig3dcError('usage', 'tune --tokens needs --data DEV (a labelled dev set)');
  const eps = count('--max-acc-loss', opts.maxAccLoss);
  if (eps === undefined) throw new Ig3dcError('usage', 'tune --tokens needs --max-acc-loss EPS (percentage points)');
  const examples = count('--examples', opts.examples);
  const bucket = count('--bucket', opts.bucket, 8)!;
  if (!Number.isInteger(bucket) || bucket < 1) throw new Ig3dcError('usage', `--bucket: expected a positive integer, got ${bucket}`);
  const dev = readDevSet(opts.data, examples);
  const raise = (batch: number) => {
    const loaded = loadModel(model, { batch, seq: dev.seq });
    return isRaised(loaded) ? loaded : runPipeline(loaded, parsePipeline(DEFAULT_RAISE)).graph;
  };
  const batch = Math.min(32, dev.rows);
  const batched = raise(batch);
  const backend = await accuracyBackend(opts.evaluator === true);
  const meter = new AccuracyMeter(backend, dev, batch, batched.inputs.map((n) => n.name!));
  const started = performance.now();
  const result = await calibrateTokens(batched, raise(1), meter, dev, {
    maxAccLoss: eps,
    bucket,
    onTrial: (theta, beta, acc) => {
      if (opts.json !== true) process.stderr.write(`  theta [${theta.join(', ')}] beta [${beta.join(', ')}]: ${acc === undefined ? 'over budget' : `${acc.toFixed(1)}%`}\n`);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  if (opts.output !== undefined) writeFileSync(opts.output, writeThresholdsJson(result.thresholds, { model, data: opts.data, rows: dev.rows, maxAccLoss: eps, accuracy: result.accuracy, baseAccuracy: result.baseAccuracy }));
  if (opts.json === true) {
    await writeOut(`${JSON.stringify({ ...result, rows: dev.rows, seconds, trials: result.trials.length })}\n`);
    return;
  }
  const lines = [
    `token pruning calibrated on ${dev.rows} dev rows in ${seconds.toFixed(1)} s (${result.trials.length} candidates), budget ${eps} points`,
    `  theta ${JSON.stringify(result.thresholds.theta)}  beta ${JSON.stringify(result.thresholds.beta)}`,
    `  accuracy ${result.accuracy.toFixed(2)}% (unpruned ${result.baseAccuracy.toFixed(2)}%)`,
    `  accuracy measured with ${backend.name}${backend.fallbackReason !== undefined ? ` (${backend.fallbackReason})` : ''}`,
    `  mean survivors after each boundary (first ${result.countRows} rows): ${result.meanKept.map((k) => k.toFixed(1)).join(', ')} of ${dev.seq} positions`,
    `  mean tokens per segment (bucketed to ${bucket}): ${result.meanTokens.map((k) => k.toFixed(1)).join(', ')}`,
    ...(opts.output !== undefined ? [`  wrote ${opts.output}: use --passes 'prune-tokens{thresholds="${opts.output}"}'`] : []),
  ];
  await writeOut(`${lines.join('\n')}\n`);
}
