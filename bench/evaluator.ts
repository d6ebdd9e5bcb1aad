// Evaluator benchmark: speed of the plaintext float64 evaluator.
//
// Case `kernel`: GFLOP/s of the shared matmul kernel (matmulFloatInto) on BERT-base shapes,
// next to the textbook i-k-j loop it replaced (same summation order, same results), with
// float64 and float32 (weights as stored) right operands.
// Model cases: one forward pass at batch 1, seq 128 of the imported ONNX graph ("unraised")
// and of the same graph after raise-bert ("raised"), next to onnxruntime-node's float32 time
// for the same ONNX file (one intra-op thread, like the evaluator), for scale. The logits
// of all three are compared as a sanity check.

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BERT_PRESETS, bertOnnxByteLength, writeBertOnnx, type BertOnnxConfig } from './make-bert.ts';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '..', '..', 'shared', 'fixtures');
const OUT = join(HERE, 'out');
const BATCH = 1;
const SEQ = 128;
/** Padding positions at the end of the mask, so masking is exercised. */
const PAD = 28;
const BASE_CONFIG: BertOnnxConfig = { ...BERT_PRESETS.base, seed: 1 };

interface ModelCase {
  readonly name: string;
  readonly path: string;
  readonly runs: number;
  readonly generate?: BertOnnxConfig;
}

const MODELS: readonly ModelCase[] = [
  { name: 'bert-tiny', path: join(FIXTURES, 'bert-tiny.onnx'), runs: 5 },
  { name: 'bert-mini', path: join(FIXTURES, 'bert-mini.onnx'), runs: 5 },
  { name: 'spam-bert', path: join(FIXTURES, 'spam-bert.onnx'), runs: 5 },
  // the same file as the frontend benchmark's bert-base (generated when missing)
  { name: 'bert-base', path: join(OUT, 'bert-base.onnx'), runs: 2, generate: BASE_CONFIG },
];

/** [M, K, N] of the products in one BERT-base layer at seq 128. */
const KERNEL_SHAPES: readonly (readonly [string, number, number, number])[] = [
  ['q/k/v/attention-output', 128, 768, 768],
  ['ffn-in', 128, 768, 3072],
  ['ffn-out', 128, 3072, 768],
  ['per-head context (probs @ v)', 128, 128, 64],
];

/** Best wall time in seconds of `runs` calls (after one untimed warm-up call). */
function best(runs: number, f: () => void): number {
  f();
  let t = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return t;
}

/** The textbook i-k-j loop over Float64Arrays (the kernel before blocking), for comparison. */
function ikjInto(A: Float64Array, B: Float64Array, out: Float64Array, M: number, K: number, N: number): void {
  for (let i = 0; i < M; i++) {
    const orow = i * N;
    const arow = i * K;
    for (let k = 0; k < K; k++) {
      const av = A[arow + k]!;
      const brow = k * N;
      for (let j = 0; j < N; j++) out[orow + j]! += av * B[brow + j]!;
    }
  }
}

async function runKernelBench(): Promise<void> {
  const { matmulFloatInto } = await import('../ir/ops/matmul.ts');
  console.log('evaluator/kernel: matmulFloatInto on BERT-base shapes (float64 accumulation; best of 3 after a warm-up)');
  const rows: string[][] = [['product', 'M x K x N', 'GFLOP', 'i-k-j ms', 'i-k-j GFLOP/s', 'kernel f64 ms', 'GFLOP/s', 'kernel f32-B ms', 'GFLOP/s', 'speed-up', 'same bits']];
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  for (const [what, M, K, N] of KERNEL_SHAPES) {
    const A = Float64Array.from({ length: M * K }, rnd);
    const B32 = Float32Array.from({ length: K * N }, rnd);
    const B = Float64Array.from(B32);
    const gflop = (2 * M * K * N) / 1e9;
    const ref = new Float64Array(M * N);
    const got = new Float64Array(M * N);
    const tRef = best(3, () => {
      ref.fill(0);
      ikjInto(A, B, ref, M, K, N);
    });
    const t64 = best(3, () => {
      got.fill(0);
      matmulFloatInto(A, 0, B, 0, got, 0, M, K, N);
    });
    const same64 = got.every((v, i) => Object.is(v, ref[i]));
    const t32 = best(3, () => {
      got.fill(0);
      matmulFloatInto(A, 0, B32, 0, got, 0, M, K, N);
    });
    const same32 = got.every((v, i) => Object.is(v, ref[i]));
    rows.push([
      what,
      `${M}x${K}x${N}`,
      gflop.toFixed(3),
      (tRef * 1000).toFixed(1),
      (gflop / tRef).toFixed(2),
      (t64 * 1000).toFixed(1),
      (gflop / t64).toFixed(2),
      (t32 * 1000).toFixed(1),
      (gflop / t32).toFixed(2),
      `${(tRef / t64).toFixed(1)}x`,
      same64 && same32 ? 'yes' : 'NO',
    ]);
  }
  console.log(table(rows));
  console.log('target: >= 1.5 GFLOP/s for ffn-in (128x768x3072) in float64; "same bits": the kernel equals the i-k-j loop exactly (f64 and f32 B)');
}

async function runModelBench(names: readonly string[]): Promise<void> {
  const { loadOnnxFile } = await import('../compiler/frontend/import.ts');
  const { evaluate } = await import('../ir/evaluate.ts');
  const { parsePipeline, runPipeline } = await import('../passes/index.ts');
  const { Tensor } = await import('../ir/tensor.ts');
  let ort: typeof import('onnxruntime-node') | undefined;
  try {
    ort = await import('onnxruntime-node');
  } catch {
    ort = undefined;
  }
  console.log(`evaluator: one forward pass, batch ${BATCH}, seq ${SEQ} (${PAD} padding tokens); best of N runs after a warm-up`);
  const rows: string[][] = [['model', 'params M', 'unraised s', 'raised s', 'ort f32 s', 'raised/ort', 'runs', '|raised-unraised|', '|raised-ort|']];
  const notes: string[] = [];
  for (const m of MODELS.filter((x) => names.includes(x.name))) {
    if (m.generate !== undefined && (!existsSync(m.path) || statSync(m.path).size !== bertOnnxByteLength(m.generate))) {
      mkdirSync(dirname(m.path), { recursive: true });
      const t0 = performance.now();
      writeBertOnnx(m.path, m.generate);
      notes.push(`${m.name}: generated ${m.path} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (!existsSync(m.path)) {
      notes.push(`${m.name}: skipped, ${m.path} not found`);
      continue;
    }
    const imported = loadOnnxFile(m.path, { batch: BATCH, seq: SEQ });
    const graph = imported.graph;
    const raised = runPipeline(graph, parsePipeline('raise-bert'), { verify: false }).graph;
    const feeds = new Map<string, InstanceType<typeof Tensor>>();
    for (const input of graph.inputs) {
      const name = input.name!;
      const values = Array.from({ length: BATCH * SEQ }, (_, i) => {
        const s = i % SEQ;
        if (name === 'attention_mask') return s < SEQ - PAD ? 1 : 0;
        if (name === 'token_type_ids') return s >= (SEQ - PAD) / 2 ? 1 : 0;
        return s === 0 ? 101 % 2000 : (s * 37 + 11) % 2000;
      });
      feeds.set(name, Tensor.from(input.type.elem, input.type.shape, values));
    }
    const logitsName = graph.outputs[0]!.name;
    let unraisedOut: InstanceType<typeof Tensor> | undefined;
    let raisedOut: InstanceType<typeof Tensor> | undefined;
    const tUnraised = best(m.runs, () => {
      unraisedOut = evaluate(graph, feeds).get(logitsName)!;
    });
    const tRaised = best(m.runs, () => {
      raisedOut = evaluate(raised, feeds).get(logitsName)!;
    });
    let tOrt = NaN;
    let ortOut: Float32Array | undefined;
    if (ort !== undefined) {
      const session = await ort.InferenceSession.create(m.path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const name of session.inputNames) {
        const t = feeds.get(name)!;
        ortFeeds[name] = new ort.Tensor('int64', BigInt64Array.from(t.toNumbers(), (v) => BigInt(v)), [...t.shape]);
      }
      const run = async (): Promise<void> => {
        const r = await session.run(ortFeeds);
        ortOut = r[session.outputNames[0]!]!.data as Float32Array;
      };
      await run();
      tOrt = Infinity;
      for (let r = 0; r < m.runs; r++) {
        const t0 = performance.now();
        await run();
        tOrt = Math.min(tOrt, (performance.now() - t0) / 1000);
      }
      await session.release();
    } else {
      notes.push('onnxruntime-node not available: no ort column');
    }
    const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
      return d;
    };
    const r = raisedOut!.toFloat64();
    rows.push([
      m.name,
      (imported.parameterCount / 1e6).toFixed(2),
      tUnraised.toFixed(3),
      tRaised.toFixed(3),
      Number.isNaN(tOrt) ? '-' : tOrt.toFixed(4),
      Number.isNaN(tOrt) ? '-' : `${(tRaised / tOrt).toFixed(0)}x`,
      String(m.runs),
      maxDiff(r, unraisedOut!.toFloat64()).toExponential(1),
      ortOut === undefined ? '-' : maxDiff(r, ortOut).toExponential(1),
    ]);
  }
  console.log(table(rows));
  console.log('unraised: the imported ONNX-level graph; raised: after raise-bert (Linear, LayerNorm, Attention*, Gelu ...); ort: onnxruntime-node float32, 1 thread');
  for (const n of notes) console.log(`  ${n}`);
}

export async function runEvaluatorBench(cases: readonly string[] = ['kernel', ...MODELS.map((m) => m.name)]): Promise<void> {
  if (cases.includes('kernel')) await runKernelBench();
  const models = cases.filter((c) => c !== 'kernel');
  if (models.length > 0) await runModelBench(models);
}

export const evaluatorBenchmark: Benchmark = {
  name: 'evaluator',
  summary: 'plaintext evaluator: matmul kernel GFLOP/s on BERT-base shapes, forward-pass time per model vs onnxruntime-node',
  cases: ['kernel', ...MODELS.map((m) => m.name)],
  run: (cases) => runEvaluatorBench(cases),
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  await runEvaluatorBench(args.length > 0 ? args : undefined);
}
