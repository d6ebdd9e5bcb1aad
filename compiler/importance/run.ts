// `ig3dc importance`: head importance of a BERT classifier over the first N examples of a
// labelled dataset, by integrated gradients (the IG-3D definition) or one of the three
// baselines, as the annotation file the IG-3D passes read.
//
// Examples are independent, so they are spread over worker threads (one per core by
// default), handed out one at a time as workers finish; results are combined in example
// order, so the file does not depend on the number of threads.

import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Ig3dcError, type ErrorKind, type SourcePlace } from '../../ir/diagnostics.ts';
import { checkExamplesFit, readExamples, type Example } from './dataset.ts';
import {
  entropyExample,
  gradSensitivityExample,
  igExample,
  riemannAlphas,
  sampledAlphas,
  weightNormScores,
  type ExampleResult,
  type Method,
  type Target,
} from './methods.ts';
import { ImportanceModel } from './model.ts';
import { OrtIntegratedGradients, paddedLength } from './onnxruntime-ig.ts';
import { loadOnnxRuntime, type Ort } from '../onnxruntime.ts';
import { importanceOrder } from './spearman.ts';
import { workerBootCode } from '../../runtime/worker-source.ts';
import type { FromWorker, ToWorker } from './worker.ts';

export interface ImportanceOptions {
  readonly model: string;
  /** The dataset (ig3dc tensor bundle index); not needed for the weight norm. */
  readonly data?: string;
  readonly method?: Method;
  /** m, the Riemann steps of IG (default 16). */
  readonly steps?: number;
  /** How many examples, from the first (default 200). */
  readonly examples?: number;
  readonly target?: Target;
  /** Sample this many alphas uniformly from (0, 1] per example instead of the m Riemann points. */
  readonly sampleAlpha?: number;
  readonly seed?: number;
  /** Worker threads, or onnxruntime's threads (default: the number of cores); 1 computes in this thread. */
  readonly threads?: number;
  /**
   * Where integrated gradients run: 'onnxruntime' (the gradient graph, batched over path
   * points, in onnxruntime-node; the default when it loads) or 'evaluator' (the built-in
   * float64 evaluator, one pass at a time, on worker threads).
   */
  readonly engine?: Engine;
  readonly onProgress?: (done: number, total: number) => void;
  /** Told at once when the work falls back to a slower engine, and why. */
  readonly onNote?: (message: string) => void;
}

/** What a worker needs to compute one example (plain data: it crosses a thread boundary). */
export type Engine = 'onnxruntime' | 'evaluator';

export interface JobOptions {
  readonly model: string;
  readonly method: Method;
  readonly steps: number;
  readonly target: Target;
  readonly sampleAlpha?: number;
  readonly seed: number;
}

/** The annotation file, in the fixtures' layout (what readImportanceFile reads). */
export interface ImportanceFile {
  readonly model: string;
  readonly method: string;
  readonly steps?: number;
  readonly examples: number;
  readonly scores: number[][];
  readonly scores_std?: number[][];
  readonly higher_is_more_important: boolean;
  readonly importance_order: [number, number][];
  readonly layers: number;
  readonly heads: number;
  readonly head_dim: number;
  readonly example_selection?: string;
  readonly definition: string;
  readonly target?: string;
  readonly alpha_sampling?: { readonly samples: number; readonly seed: number };
  readonly completeness_check?: { readonly description: string; readonly pairs: number; readonly median: number; readonly mean: number };
  readonly predicted_accuracy_on_examples?: number;
  /** What computed integrated gradients, and why the evaluator when onnxruntime was wanted. */
  readonly engine?: string;
  readonly seconds: number;
}

export const METHOD_NAMES: Readonly<Record<Method, string>> = {
  ig: 'integrated-gradients',
  grad: 'gradient-sensitivity',
  norm: 'weight-norm',
  entropy: 'attention-entropy',
};

const DEFINITIONS: Readonly<Record<Method, string>> = {
  ig: 'IG_{l,h} = O_{l,h}/m * sum_{k=1..m} dF/dO_{l,h}(alpha_k O_{l,h}), alpha_k = k/m; baseline 0; only head (l,h) is scaled, all other heads keep their actual values; O_{l,h} = per-head attention output (softmax(QK^T/sqrt(d)+mask) V) before the heads are merged; score = ||IG_{l,h}||_F over [non-padding tokens, head_dim], averaged over examples',
  grad: '||dL/dA_{l,h}||_F, A_{l,h} = attention probabilities [n, n] (after softmax), L = cross-entropy of the logits with the gold label; averaged over examples',
  norm: '||Wq_h||_F * ||Wk_h||_F * ||Wv_h||_F, W*_h = rows h*d..(h+1)*d-1 of the torch nn.Linear weight [out, in] of query/key/value (columns of the ONNX MatMul weight); biases not included; data independent',
  entropy: 'entropy -sum_j A_ij ln A_ij (nats) of each query row of A_{l,h} over the n non-padding keys, averaged over the n query rows, then over examples; low entropy = focused head, so lower is treated as more important',
};

function usage(message: string): Ig3dcError {
  return new Ig3dcError('usage', message);
}

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw usage(`${what} must be an integer >= 1, got ${v}`);
  return v;
}

/** Progress units of one example: one per head for IG, one per example otherwise. */
function unitsPerExample(method: Method, heads: number): number {
  return method === 'ig' ? heads : 1;
}

/** One example's scores by the job's method; `onUnits` reports progress. */
export function exampleResult(model: ImportanceModel, ex: Example, job: JobOptions, onUnits?: (units: number) => void): ExampleResult {
  switch (job.method) {
    case 'ig': {
      const alphas = job.sampleAlpha !== undefined ? sampledAlphas(job.sampleAlpha, job.seed, ex.index) : riemannAlphas(job.steps);
      return igExample(model, ex, { alphas, target: job.target }, () => onUnits?.(1));
    }
    case 'grad': {
      const r = gradSensitivityExample(model, ex);
      onUnits?.(1);
      return r;
    }
    case 'entropy': {
      const r = entropyExample(model, ex);
      onUnits?.(1);
      return r;
    }
    case 'norm':
      throw new Error('the weight norm has no per-example part');
  }
}


function workerError(m: Extract<FromWorker, { type: 'error' }>): Error {
  if (m.kind !== undefined) return new Ig3dcError(m.kind as ErrorKind, m.detail, (m.place ?? {}) as SourcePlace);
  return new Error(`importance worker: ${m.detail}`);
}

/** Runs the examples on `threads` workers, handing each the next example when it is free. */
async function runInWorkers(examples: readonly Example[], job: JobOptions, threads: number, onUnits: (units: number) => void): Promise<ExampleResult[]> {
  const results: ExampleResult[] = [];
  let next = 0;
  const code = workerBootCode(new URL('./worker.ts', import.meta.url), import.meta.url);
  const workers = Array.from({ length: Math.min(threads, examples.length) }, () => new Worker(code, { eval: true, workerData: job }));
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const give = (): void => {
              if (next >= examples.length) {
                w.postMessage({ type: 'stop' } satisfies ToWorker);
                resolve();
                return;
              }
              const ex = examples[next++]!;
              w.postMessage({ type: 'example', example: { index: ex.index, ids: ex.ids, label: ex.label, ...(ex.pixels !== undefined ? { pixels: ex.pixels, imageShape: ex.imageShape ?? [] } : {}) } } satisfies ToWorker);
            };
            w.on('message', (m: FromWorker) => {
              if (m.type === 'ready') give();
              else if (m.type === 'progress') onUnits(m.units);
              else if (m.type === 'result') {
                results.push(m.result);
                give();
              } else reject(workerError(m));
            });
            w.on('error', reject);
            w.on('exit', (code) => (next >= examples.length ? resolve() : reject(new Error(`importance worker exited (code ${code}) early`))));
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results.sort((a, b) => a.index - b.index);
}

/** Integrated gradients in onnxruntime, examples grouped by padded length so each length's graphs load once. */
async function runOnOnnxRuntime(ort: Ort, model: ImportanceModel, examples: readonly Example[], job: JobOptions, threads: number, onUnits: (units: number) => void): Promise<ExampleResult[]> {
  const alphasOf = (ex: Example): number[] => (job.sampleAlpha !== undefined ? sampledAlphas(job.sampleAlpha, job.seed, ex.index) : riemannAlphas(job.steps));
  const padded = (ex: Example): number => (ex.pixels !== undefined ? 0 : paddedLength(ex.ids.length, model.limits.maxPositions));
  const byLength = [...examples].sort((a, b) => padded(a) - padded(b) || a.index - b.index);
  const results: ExampleResult[] = [];
  // sampled alphas differ per example, but their count (the graph's rows) does not
  const engine = new OrtIntegratedGradients(ort, model, { steps: job.sampleAlpha ?? job.steps, target: job.target, threads });
  try {
    for (const ex of byLength) results.push(await engine.example(ex, alphasOf(ex), () => onUnits(1)));
  } finally {
    await engine.release();
  }
  return results.sort((a, b) => a.index - b.index);
}

function meanStd(rows: readonly number[][][]): { mean: number[][]; std: number[][] } {
  const n = rows.length;
  const mean = rows[0]!.map((r, l) => r.map((_, h) => rows.reduce((s, x) => s + x[l]![h]!, 0) / n));
  const std = mean.map((r, l) => r.map((m, h) => Math.sqrt(rows.reduce((s, x) => s + (x[l]![h]! - m) ** 2, 0) / n)));
  return { mean, std };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

/** Computes the importance file. */
export async function computeImportance(opts: ImportanceOptions): Promise<ImportanceFile> {
  const t0 = performance.now();
  const method = opts.method ?? 'ig';
  if (!(method in METHOD_NAMES)) throw usage(`--method must be ig, grad, norm or entropy, got '${method}'`);
  const steps = positiveInteger(opts.steps, 16, '--steps');
  const count = positiveInteger(opts.examples, 200, '--examples');
  const target = opts.target ?? 'predicted';
  if (target !== 'predicted' && target !== 'gold') throw usage(`--target must be predicted or gold, got '${target}'`);
  if (opts.sampleAlpha !== undefined) positiveInteger(opts.sampleAlpha, 1, '--sample-alpha');
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw usage(`--seed must be an integer, got ${seed}`);
  const threads = positiveInteger(opts.threads, availableParallelism(), '--threads');
  const model = new ImportanceModel(opts.model);
  const shapeModel = model.at(1);
  const classes = shapeModel.logits.type.shape[1]!;
  const H = shapeModel.sites[0]!.heads.length;
  const common = {
    model: model.name,
    method: METHOD_NAMES[method],
    layers: shapeModel.sites.length,
    heads: H,
    head_dim: shapeModel.sites[0]!.headDim,
    definition: DEFINITIONS[method],
  };
  if (method === 'norm') {
    const scores = weightNormScores(shapeModel);
    return { ...common, examples: 0, scores, higher_is_more_important: true, importance_order: importanceOrder(scores), seconds: (performance.now() - t0) / 1000 };
  }
  if (opts.data === undefined) throw usage(`--method ${method} needs a dataset (--data FILE)`);
  const examples = readExamples(opts.data, count);
  checkExamplesFit(examples, { ...model.limits, classes }, opts.data, model.name);
  const job: JobOptions = { model: opts.model, method, steps, target, seed, ...(opts.sampleAlpha !== undefined ? { sampleAlpha: opts.sampleAlpha } : {}) };
  const total = examples.length * unitsPerExample(method, shapeModel.sites.length * H);
  let done = 0;
  const onUnits = (u: number): void => {
    done += u;
    opts.onProgress?.(done, total);
  };
  opts.onProgress?.(0, total);
  let engine: string | undefined;
  let results: ExampleResult[] | undefined;
  if (method === 'ig' && opts.engine !== 'evaluator') {
    const ort = await loadOnnxRuntime();
    if (typeof ort === 'string') {
      if (opts.engine === 'onnxruntime') throw new Ig3dcError('unsupported', `--engine onnxruntime: ${ort}`);
      engine = `evaluator (${ort})`;
      opts.onNote?.(`${ort}; integrated gradients run on the built-in evaluator instead (much slower)`);
    } else {
      engine = 'onnxruntime';
      results = await runOnOnnxRuntime(ort, model, examples, job, threads, onUnits);
    }
  }
  engine ??= method === 'ig' ? 'evaluator' : undefined;
  results ??= threads === 1 ? examples.map((ex) => exampleResult(model, ex, job, onUnits)) : await runInWorkers(examples, job, threads, onUnits);
  const { mean, std } = meanStd(results.map((r) => r.scores));
  const higher = method !== 'entropy';
  const oriented = higher ? mean : mean.map((r) => r.map((s) => -s));
  const labels = new Map(examples.map((e) => [e.index, e.label]));
  const correct = results.filter((r) => r.predicted === labels.get(r.index)).length;
  const file: ImportanceFile = {
    ...common,
    ...(method === 'ig' ? { steps: opts.sampleAlpha ?? steps } : {}),
    examples: examples.length,
    scores: mean,
    scores_std: std,
    higher_is_more_important: higher,
    importance_order: importanceOrder(oriented),
    example_selection: `first ${examples.length} rows of ${basename(opts.data).replace(/\.json$/, '.bin')}`,
    ...(method === 'ig'
      ? {
          target: target === 'predicted' ? 'logit of the class predicted by the model for the unmodified input' : 'logit of the gold label',
          ...(opts.sampleAlpha !== undefined ? { alpha_sampling: { samples: opts.sampleAlpha, seed } } : {}),
          completeness_check: completeness(results),
        }
      : {}),
    predicted_accuracy_on_examples: correct / examples.length,
    ...(engine !== undefined ? { engine } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
  return file;
}

function completeness(results: readonly ExampleResult[]): NonNullable<ImportanceFile['completeness_check']> {
  const rel: number[] = [];
  for (const r of results) for (const [sum, diff] of r.completeness ?? []) if (Math.abs(diff) > 1e-3) rel.push(Math.abs(sum - diff) / Math.abs(diff));
  return {
    description: 'relative |sum(IG) - (F(O) - F(O with head zeroed))| / |F(O) - F(head zeroed)| over (example, head) pairs with |difference| > 1e-3',
    pairs: rel.length,
    median: median(rel),
    mean: rel.reduce((a, b) => a + b, 0) / Math.max(rel.length, 1),
  };
}
