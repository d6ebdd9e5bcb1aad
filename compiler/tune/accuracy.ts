// Accuracy of a model variant on the labelled dev set: the variant is exported to ONNX and
// run in onnxruntime-node (loaded only when needed: it is an optional dependency), or, when
// that cannot be loaded, run in the plaintext evaluator (much slower).
//
// The search only needs to know whether a variant stays within its accuracy budget, so a
// measurement can stop as soon as the variant has more wrong rows than the budget allows; it
// resumes where it stopped if a later question allows more. Results are cached by key.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { evaluate } from '../../ir/evaluate.ts';
import type { Graph } from '../../ir/graph.ts';
import { Tensor } from '../../ir/tensor.ts';
import { exportOnnx } from '../export/index.ts';
import { isImageDevSet, type LabelledDevSet } from './dev-set.ts';
import { imageRows } from './image-dev-set.ts';

import { loadOnnxRuntime, type Ort } from '../onnxruntime.ts';

/** Runs one batch of rows (int64 token tensors or float32 images); returns the logits [batch, classes] row-major. */
interface LogitsRunner {
  run(feeds: ReadonlyMap<string, Tensor>): Promise<ArrayLike<number>>;
  release(): Promise<void>;
}

export interface AccuracyBackend {
  readonly name: 'onnxruntime' | 'evaluator';
  /** Why the evaluator is used, when onnxruntime was wanted. */
  readonly fallbackReason?: string;
  open(graph: Graph): Promise<LogitsRunner>;
}

function ortBackend(ort: Ort): AccuracyBackend {
  return {
    name: 'onnxruntime',
    async open(graph) {
      const session = await ort.InferenceSession.create(exportOnnx(graph), { graphOptimizationLevel: 'all' });
      return {
        async run(feeds) {
          const input: Record<string, InstanceType<Ort['Tensor']>> = {};
          for (const [name, t] of feeds) input[name] = t.dtype === 'i64' ? new ort.Tensor('int64', t.data as BigInt64Array, [...t.shape]) : new ort.Tensor('float32', t.data as Float32Array, [...t.shape]);
          const out = await session.run(input);
          const logits = out['logits'] ?? Object.values(out)[0];
          return logits!.data as Float32Array;
        },
        release: () => session.release(),
      };
    },
  };
}

function evaluatorBackend(fallbackReason?: string): AccuracyBackend {
  return {
    name: 'evaluator',
    ...(fallbackReason !== undefined ? { fallbackReason } : {}),
    open(graph) {
      const out = graph.outputs.find((o) => o.name === 'logits') ?? graph.outputs[0]!;
      return Promise.resolve({
        run(feeds) {
          return Promise.resolve(evaluate(graph, feeds).get(out.name)!.toFloat64());
        },
        release: () => Promise.resolve(),
      });
    },
  };
}

/**
 * onnxruntime-node if it loads (unless `evaluatorOnly`), else the plaintext evaluator with
 * the reason recorded.
 */
export async function accuracyBackend(evaluatorOnly = false): Promise<AccuracyBackend> {
  if (evaluatorOnly) return evaluatorBackend();
  const ort = await loadOnnxRuntime();
  return typeof ort === 'string' ? evaluatorBackend(ort) : ortBackend(ort);
}

export interface AccuracyCount {
  /** Rows run so far (all of them when `complete`). */
  readonly seen: number;
  readonly correct: number;
  readonly complete: boolean;
}

export const wrongOf = (c: AccuracyCount): number => c.seen - c.correct;

/** Accuracy in percent of a complete count. */
export const percent = (c: AccuracyCount): number => (100 * c.correct) / c.seen;

export interface MeasureProgress {
  (rowsDone: number, rowsTotal: number): void;
}

/** Measures variants of one model (all built at the same [batch, seq], or [batch, C, H, W]) on one dev set. */
export class AccuracyMeter {
  readonly #backend: AccuracyBackend;
  readonly #dev: LabelledDevSet;
  readonly #batch: number;
  readonly #inputs: readonly string[];
  readonly #cache = new Map<string, AccuracyCount>();
  /** Variants run (a resumed measurement counts again). */
  runs = 0;

  /** `graphInputs`: the input names of the variants (all of them take [batch, seq]). */
  constructor(backend: AccuracyBackend, dev: LabelledDevSet, batch: number, graphInputs: readonly string[]) {
    this.#backend = backend;
    this.#dev = dev;
    this.#batch = batch;
    const known = new Set(isImageDevSet(dev) ? [dev.input] : ['input_ids', 'attention_mask', 'token_type_ids']);
    const unknown = graphInputs.filter((n) => !known.has(n));
    if (unknown.length > 0) throw new Ig3dcError('input', `the model has inputs ${unknown.map((n) => `'${n}'`).join(', ')} that the dev set does not provide (it gives ${[...known].join(', ')})`, { file: dev.file });
    this.#inputs = graphInputs;
  }

  /** The inputs of rows [seen, seen + n) as one batch of B rows: a short last batch repeats its last row (an all-padding row is not a valid input). */
  #feeds(seen: number, n: number): Map<string, Tensor> {
    const dev = this.#dev;
    const B = this.#batch;
    const feeds = new Map<string, Tensor>();
    if (isImageDevSet(dev)) {
      const rows = imageRows(dev, seen, seen + n);
      if (n === B) feeds.set(dev.input, rows);
      else {
        const per = rows.size / n;
        const data = new Float32Array(B * per);
        for (let r = 0; r < B; r++) data.set((rows.data as Float32Array).subarray(Math.min(r, n - 1) * per, (Math.min(r, n - 1) + 1) * per), r * per);
        feeds.set(dev.input, new Tensor('f32', [B, ...rows.shape.slice(1)], data));
      }
      return feeds;
    }
    const S = dev.seq;
    const source: Record<string, Int32Array> = { input_ids: dev.inputIds, attention_mask: dev.attentionMask, token_type_ids: dev.tokenTypeIds };
    for (const name of this.#inputs) {
      const data = new BigInt64Array(B * S);
      const src = source[name]!;
      for (let r = 0; r < B; r++) {
        const row = seen + Math.min(r, n - 1);
        for (let j = 0; j < S; j++) data[r * S + j] = BigInt(src[row * S + j]!);
      }
      feeds.set(name, new Tensor('i64', [B, S], data));
    }
    return feeds;
  }

  get backend(): AccuracyBackend {
    return this.#backend;
  }

  cached(key: string): AccuracyCount | undefined {
    return this.#cache.get(key);
  }

  /**
   * Counts correct rows of the variant `key` (built by `build` when it must run), stopping
   * early once more than `maxWrong` rows are wrong (Infinity: run every row).
   */
  async measure(key: string, build: () => Graph, maxWrong: number, progress?: MeasureProgress): Promise<AccuracyCount> {
    let count = this.#cache.get(key) ?? { seen: 0, correct: 0, complete: false };
    if (count.complete || wrongOf(count) > maxWrong) return count;
    const dev = this.#dev;
    const B = this.#batch;
    const runner = await this.#backend.open(build());
    this.runs++;
    try {
      let { seen, correct } = count;
      while (seen < dev.rows && seen - correct <= maxWrong) {
        const n = Math.min(B, dev.rows - seen);
        const logits = await runner.run(this.#feeds(seen, n));
        const classes = logits.length / B;
        for (let r = 0; r < n; r++) {
          let best = 0;
          for (let j = 1; j < classes; j++) if (logits[r * classes + j]! > logits[r * classes + best]!) best = j;
          if (best === dev.labels[seen + r]) correct++;
        }
        seen += n;
        progress?.(seen, dev.rows);
      }
      count = { seen, correct, complete: seen === dev.rows };
      this.#cache.set(key, count);
      return count;
    } finally {
      await runner.release();
    }
  }
}
