// Integrated gradients on onnxruntime: per layer, one run of the graph igLayerGraph builds
// (or a few, of at most MAX_ROWS rows each) gives every path point of every head of the
// layer (rows h*(m+1)+k: head h scaled by alpha_k, k < m; row h*(m+1)+m: head h zeroed, for
// the completeness check). The float engine's optimized kernels and its threads do in one
// batched pass what the evaluator does one perturbed pass at a time.
//
// Examples are padded to a multiple of PAD_TO tokens (the padding masked), so few lengths
// occur and each (length, layer) graph is exported and loaded once; masked keys get exactly
// zero attention weight, so the real tokens' values do not change.

import { Tensor } from '../../ir/tensor.ts';
import type { ElemType } from '../../ir/types.ts';
import { evaluate } from '../../ir/evaluate.ts';
import { exportOnnx } from '../export/index.ts';
import type { Ort } from '../onnxruntime.ts';
import type { Example } from './dataset.ts';
import { HEAD_SCALE, SEED, igLayerGraph } from './ig-graph.ts';
import type { ExampleResult, Target } from './methods.ts';
import { argmax, targetClass } from './methods.ts';
import type { ImportanceModel } from './model.ts';

const PAD_TO = 8;
/** At most this many rows per run (m = 16 on 4 heads: 68, one run per layer). */
const MAX_ROWS = 72;

type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;
type OrtTensor = InstanceType<Ort['Tensor']>;

export interface OrtIgOptions {
  /** Path points per head (the length of every example's alphas). */
  readonly steps: number;
  readonly target: Target;
  /** onnxruntime's intra-op threads. */
  readonly threads: number;
}

function ortTensor(ort: Ort, elem: ElemType, shape: readonly number[], values: (i: number) => number): OrtTensor {
  const n = shape.reduce((a, d) => a * d, 1);
  switch (elem) {
    case 'i64':
      return new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(values(i))), [...shape]);
    case 'i32':
      return new ort.Tensor('int32', Int32Array.from({ length: n }, (_, i) => values(i)), [...shape]);
    case 'f64':
      return new ort.Tensor('float64', Float64Array.from({ length: n }, (_, i) => values(i)), [...shape]);
    case 'f32':
      return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => values(i)), [...shape]);
    default:
      throw new Error(`importance: no onnxruntime tensor for ${elem} inputs`);
  }
}

/** The padded length an example of n tokens runs at. */
export function paddedLength(n: number, maxPositions: number | undefined): number {
  const p = Math.ceil(n / PAD_TO) * PAD_TO;
  return maxPositions !== undefined ? Math.max(n, Math.min(p, maxPositions)) : p;
}

export class OrtIntegratedGradients {
  readonly #ort: Ort;
  readonly #model: ImportanceModel;
  readonly #opts: OrtIgOptions;
  readonly #sessions = new Map<string, Promise<Session>>();

  constructor(ort: Ort, model: ImportanceModel, opts: OrtIgOptions) {
    this.#ort = ort;
    this.#model = model;
    this.#opts = opts;
  }

  /** Rows of one layer's path points: per head, m scaled rows and one zeroed row. */
  get #rows(): number {
    return this.#model.at(1).sites[0]!.heads.length * (this.#opts.steps + 1);
  }

  /** Rows per run: the layer's rows in equal chunks of at most MAX_ROWS. */
  get rowsPerRun(): number {
    const R = this.#rows;
    return Math.ceil(R / Math.ceil(R / MAX_ROWS));
  }

  #session(length: number, layer: number): Promise<Session> {
    const key = `${length}:${layer}`;
    let s = this.#sessions.get(key);
    if (s !== undefined) {
      // most recently used last
      this.#sessions.delete(key);
      this.#sessions.set(key, s);
      return s;
    }
    // keep one length's layers loaded: examples come sorted by length, and each session's
    // arena holds the activations of its rows, a gigabyte for BERT-mini at 128 tokens
    const keep = this.#model.at(1).sites.length;
    while (this.#sessions.size >= keep) {
      const [oldest, session] = this.#sessions.entries().next().value as [string, Promise<Session>];
      this.#sessions.delete(oldest);
      void session.then((x) => x.release());
    }
    const graph = igLayerGraph(this.#model.at(length, this.rowsPerRun), layer);
    s = this.#ort.InferenceSession.create(exportOnnx(graph), {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: this.#opts.threads,
      interOpNumThreads: 1,
    });
    this.#sessions.set(key, s);
    return s;
  }

  /** Scores of every head for one example at the given path points (`steps` of them); `onHead` after each head. */
  async example(ex: Example, alphas: readonly number[], onHead?: () => void): Promise<ExampleResult> {
    if (alphas.length !== this.#opts.steps) throw new Error(`importance: ${alphas.length} path points for a graph of ${this.#opts.steps}`);
    const n = this.#model.lengthOf(ex);
    const plain = this.#model.at(n);
    const out = evaluate(plain.graph, this.#model.feeds(plain, ex)).get(plain.graph.outputs[0]!.name)!.toFloat64();
    const predicted = argmax(out);
    const c = targetClass(out, this.#opts.target, ex);
    const classes = out.length;
    const m = alphas.length;
    // an image has one length: nothing to pad
    const length = ex.pixels !== undefined ? n : paddedLength(n, this.#model.limits.maxPositions);
    const C = this.rowsPerRun;
    const bound = this.#model.at(length, C);
    // the model's inputs (every row the example, padded) and the seed are the same for every layer
    const feeds: Record<string, OrtTensor> = {};
    for (const input of bound.graph.inputs) {
      const name = input.name!;
      if (name === HEAD_SCALE || name === SEED) continue;
      const pixels = ex.pixels;
      const per = pixels?.length ?? 0;
      const value =
        pixels !== undefined
          ? (i: number) => pixels[i % per]!
          : name === 'input_ids'
          ? (i: number) => (i % length < n ? ex.ids[i % length]! : 0)
          : name === 'attention_mask'
            ? (i: number) => (i % length < n ? 1 : 0)
            : () => 0;
      feeds[name] = ortTensor(this.#ort, input.type.elem, input.type.shape, value);
    }
    feeds[SEED] = ortTensor(this.#ort, 'f32', [C, classes], (i) => (i % classes === c ? 1 : 0));
    const scores: number[][] = [];
    const completeness: [number, number][] = [];
    for (const site of bound.sites) {
      const [, H, , d] = site.context.type.shape as [number, number, number, number];
      const plane = length * d;
      // row r of the layer: head floor(r / (m+1)), path point r % (m+1) (m: zeroed)
      const R = H * (m + 1);
      const sums = Array.from({ length: H }, () => new Float64Array(n * d));
      const zeroed = new Float64Array(H);
      let O: Float32Array | undefined;
      const session = await this.#session(length, site.layer);
      for (let first = 0; first < R; first += C) {
        // rows past R (the last run's padding) keep every head at its value
        feeds[HEAD_SCALE] = ortTensor(this.#ort, 'f32', [C, H, 1, 1], (i) => {
          const r = first + Math.floor(i / H);
          const h = Math.floor(r / (m + 1));
          const k = r % (m + 1);
          return r >= R || i % H !== h ? 1 : k < m ? alphas[k]! : 0;
        });
        const result = await session.run(feeds);
        const grad = result['grad']!.data as Float32Array;
        const logits = result['logits']!.data as Float32Array;
        O ??= result['context']!.data as Float32Array;
        for (let j = 0; j < C && first + j < R; j++) {
          const r = first + j;
          const h = Math.floor(r / (m + 1));
          if (r % (m + 1) === m) {
            zeroed[h] = logits[j * classes + c]!;
            continue;
          }
          const g = grad.subarray((j * H + h) * plane, (j * H + h) * plane + n * d);
          const sum = sums[h]!;
          for (let i = 0; i < n * d; i++) sum[i]! += g[i]!;
        }
      }
      const row: number[] = [];
      for (let h = 0; h < H; h++) {
        let norm = 0;
        let total = 0;
        const sum = sums[h]!;
        for (let i = 0; i < n * d; i++) {
          const ig = (O![h * plane + i]! * sum[i]!) / m;
          norm += ig * ig;
          total += ig;
        }
        row.push(Math.sqrt(norm));
        completeness.push([total, out[c]! - zeroed[h]!]);
        onHead?.();
      }
      scores.push(row);
    }
    return { index: ex.index, scores, predicted, completeness };
  }

  async release(): Promise<void> {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(all.map(async (s) => (await s).release()));
  }
}
