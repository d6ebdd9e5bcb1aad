// Token-pruning calibration: picks theta and beta per boundary within an accuracy budget on
// a labelled dev set (plaintext: the static pruned graph exported to onnxruntime, which the
// tests show gives the segmented run's logits; the survivor counts come from the segmented
// evaluator on the first rows). CipherPrune learns the thresholds by fine-tuning; here they are searched
// on a grid, greedily, layer by layer from the first boundary (a pruned token is gone for
// every later layer, so early thresholds matter most): boundary l gets the largest theta
// whose accuracy stays within (l+1)/(L-1) of the budget; then, with every theta fixed, each
// beta is raised as far as the full budget allows. The objective is the largest thresholds
// (fewest tokens, most reduced ones); the static cost of the result is reported by the caller.

import { Tensor } from '../../ir/tensor.ts';
import type { Graph } from '../../ir/graph.ts';
import { pruneTokens, runSegments, SegmentCache, tokenPath, type TokenThresholds } from '../../passes/tokens/index.ts';
import type { DevSet } from '../tune/dev-set.ts';
import { percent, wrongOf, type AccuracyMeter } from '../tune/accuracy.ts';

export const THETA_GRID: readonly number[] = [0, 0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.024, 0.032, 0.048];

export interface TokenCalibration {
  readonly thresholds: TokenThresholds;
  /** Accuracy (percent) of the unpruned model and of the chosen thresholds. */
  readonly baseAccuracy: number;
  readonly accuracy: number;
  /** Dev rows the survivor counts were measured on. */
  readonly countRows: number;
  /** Mean survivor count after each boundary on the dev rows. */
  readonly meanKept: readonly number[];
  /** Mean tokens each segment ran on (bucketed). */
  readonly meanTokens: readonly number[];
  /** Every candidate tried: thresholds and accuracy. */
  readonly trials: readonly { readonly theta: readonly number[]; readonly beta: readonly number[]; readonly accuracy: number }[];
}

/** Dev row r as one inference's inputs ([1, seq]); `inputs`: only those the model takes (default all three). */
export function devRowFeeds(dev: DevSet, r: number, inputs: readonly string[] = ['input_ids', 'attention_mask', 'token_type_ids']): Map<string, Tensor> {
  const S = dev.seq;
  const row = (a: Int32Array): bigint[] => Array.from(a.subarray(r * S, (r + 1) * S), (v) => BigInt(v));
  const source: Record<string, Int32Array> = { input_ids: dev.inputIds, attention_mask: dev.attentionMask, token_type_ids: dev.tokenTypeIds };
  return new Map(inputs.filter((n) => source[n] !== undefined).map((n) => [n, Tensor.from('i64', [1, S], row(source[n]!))]));
}

const argmax = (v: readonly number[]): number => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);

interface Scored {
  readonly accuracy: number;
  readonly kept: number[];
  readonly tokens: number[];
}

/** Accuracy and mean counts of the raised graph pruned with `t` (the segmented run). */
export function scoreThresholds(raised: Graph, dev: DevSet, t: TokenThresholds, bucket: number): Scored {
  const cache = new SegmentCache(pruneTokens(raised, { thresholds: t, bucket, degree: 2 }));
  let correct = 0;
  const kept = Array<number>(t.theta.length).fill(0);
  const tokens = Array<number>(t.theta.length + 1).fill(0);
  for (let r = 0; r < dev.rows; r++) {
    const run = runSegments(cache, devRowFeeds(dev, r));
    if (argmax(run.outputs.get('logits')!.toNumbers()) === dev.labels[r]) correct++;
    run.counts.forEach((c, i) => (kept[i]! += c / dev.rows));
    run.tokens.forEach((n, i) => (tokens[i]! += n / dev.rows));
  }
  return { accuracy: (100 * correct) / dev.rows, kept, tokens };
}

export interface CalibrateOptions {
  /** Accuracy loss allowed, percentage points. */
  readonly maxAccLoss: number;
  readonly bucket?: number;
  readonly grid?: readonly number[];
  /** Dev rows the survivor counts of the result are measured on (segmented evaluator). */
  readonly countRows?: number;
  readonly onTrial?: (theta: readonly number[], beta: readonly number[], accuracy: number | undefined) => void;
}

/**
 * `batched`: the raised model bound to [meter batch, dev seq], measured by `meter` (onnxruntime
 * on the exported static pruned graph when it loads: the same logits as the segments);
 * `single`: bound to one row, for the survivor counts of the result.
 */
export async function calibrateTokens(batched: Graph, single: Graph, meter: AccuracyMeter, dev: DevSet, options: CalibrateOptions): Promise<TokenCalibration> {
  const L = tokenPath(batched, 'tune --tokens').layers.length;
  const B = L - 1;
  const grid = options.grid ?? THETA_GRID;
  const bucket = options.bucket ?? 8;
  const baseCount = await meter.measure('unpruned', () => batched, Infinity);
  const base = percent(baseCount);
  const trials: { theta: number[]; beta: number[]; accuracy: number }[] = [];
  /** Whether the thresholds keep accuracy >= floor (stops counting once too many rows are wrong). */
  const within = async (theta: number[], beta: number[], floor: number): Promise<boolean> => {
    const maxWrong = Math.floor(((100 - floor) / 100) * dev.rows + 1e-9);
    const c = await meter.measure(JSON.stringify([theta, beta]), () => pruneTokens(batched, { thresholds: { theta, beta }, bucket, degree: 2 }), maxWrong);
    const acc = c.complete ? percent(c) : undefined;
    if (acc !== undefined) trials.push({ theta: [...theta], beta: [...beta], accuracy: acc });
    options.onTrial?.(theta, beta, acc);
    return c.complete && wrongOf(c) <= maxWrong;
  };
  const theta = Array<number>(B).fill(0);
  for (let l = 0; l < B; l++) {
    const floor = base - (options.maxAccLoss * (l + 1)) / B;
    for (const t of grid) {
      if (t <= theta[l]!) continue;
      const candidate = theta.map((x, i) => (i === l ? t : x));
      if (!(await within(candidate, candidate, floor))) break; // larger thresholds prune more
      theta[l] = t;
    }
  }
  const beta = [...theta];
  for (let l = 0; l < B; l++) {
    for (const t of grid) {
      if (t <= beta[l]!) continue;
      const candidate = beta.map((x, i) => (i === l ? t : x));
      if (!(await within(theta, candidate, base - options.maxAccLoss))) break;
      beta[l] = t;
    }
  }
  const final = await meter.measure(JSON.stringify([theta, beta]), () => pruneTokens(batched, { thresholds: { theta, beta }, bucket, degree: 2 }), Infinity);
  const countDev: DevSet = { ...dev, rows: Math.min(dev.rows, options.countRows ?? 50) };
  const counted = scoreThresholds(single, countDev, { theta, beta }, bucket);
  return { thresholds: { theta, beta }, baseAccuracy: base, accuracy: percent(final), meanKept: counted.kept, meanTokens: counted.tokens, countRows: countDev.rows, trials };
}
