// Importance benchmark: time per example of integrated gradients (m = 16, every head) for
// bert-tiny and spam-bert, on both engines side by side on the same examples: onnxruntime
// (the gradient graph batched over path points; the default) and the built-in float64
// evaluator (one perturbed pass at a time, one thread). onnxruntime is timed twice: cold
// (exporting and loading each length's graphs) and warm (graphs loaded, as for every later
// example of the same padded length). CPU time is printed next to wall time: on a shared
// machine the wall time includes waiting for a core.
//
// spam-bert runs on the first rows of the fixtures' dev set at their own lengths; bert-tiny
// (vocabulary 2000) on the same rows with ids folded into its vocabulary.

import { availableParallelism } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '..', '..', 'shared', 'fixtures');
const STEPS = 16;

interface ModelCase {
  readonly name: string;
  readonly file: string;
  /** Examples timed on onnxruntime, and (the first of them) on the evaluator. */
  readonly examples: number;
  readonly evaluatorExamples: number;
}

const CASES: readonly ModelCase[] = [
  { name: 'bert-tiny', file: 'bert-tiny.onnx', examples: 10, evaluatorExamples: 3 },
  { name: 'spam-bert', file: 'spam-bert.onnx', examples: 10, evaluatorExamples: 1 },
];

interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

async function timed(f: () => Promise<unknown> | unknown): Promise<Timing> {
  const t = performance.now();
  const c0 = process.cpuUsage();
  await f();
  const c1 = process.cpuUsage(c0);
  return { wall: (performance.now() - t) / 1000, cpu: (c1.user + c1.system) / 1e6 };
}

async function run(cases: readonly string[]): Promise<void> {
  const { ImportanceModel } = await import('../compiler/importance/model.ts');
  const { readExamples } = await import('../compiler/importance/dataset.ts');
  const { igExample, riemannAlphas } = await import('../compiler/importance/methods.ts');
  const { OrtIntegratedGradients } = await import('../compiler/importance/onnxruntime-ig.ts');
  const { loadOnnxRuntime } = await import('../compiler/onnxruntime.ts');
  const ort = await loadOnnxRuntime();
  if (typeof ort === 'string') {
    console.log(`importance: ${ort}; nothing to compare`);
    return;
  }
  const threads = availableParallelism();
  const alphas = riemannAlphas(STEPS);
  const rows: string[][] = [['model', 'examples', 'avg tokens', 'onnxruntime cold s/ex', 'warm s/ex', 'warm CPU s/ex', 'evaluator s/ex', 'evaluator CPU s/ex', 'evaluator / warm']];
  for (const c of CASES.filter((x) => cases.includes(x.name))) {
    const model = new ImportanceModel(join(FIXTURES, c.file));
    const vocab = model.limits.vocab ?? 2000;
    const examples = readExamples(join(FIXTURES, 'spam-dev.json'), c.examples).map((e) => ({ ...e, ids: e.ids.map((id) => id % vocab) }));
    const engine = new OrtIntegratedGradients(ort, model, { steps: STEPS, target: 'predicted', threads });
    const cold = await timed(async () => {
      for (const e of examples) await engine.example(e, alphas);
    });
    const warm = await timed(async () => {
      for (const e of examples) await engine.example(e, alphas);
    });
    const evalExamples = examples.slice(0, c.evaluatorExamples);
    const warmSame = await timed(async () => {
      for (const e of evalExamples) await engine.example(e, alphas);
    });
    await engine.release();
    // bind every length first, so graph building is not timed
    for (const e of evalExamples) model.at(e.ids.length);
    const evaluator = await timed(() => {
      for (const e of evalExamples) igExample(model, e, { alphas, target: 'predicted' });
    });
    const n = examples.length;
    const ne = evalExamples.length;
    const tokens = examples.reduce((s, e) => s + e.ids.length, 0) / n;
    rows.push([
      c.name,
      String(n),
      tokens.toFixed(0),
      (cold.wall / n).toFixed(2),
      (warm.wall / n).toFixed(2),
      (warm.cpu / n).toFixed(2),
      (evaluator.wall / ne).toFixed(2),
      (evaluator.cpu / ne).toFixed(2),
      `${(evaluator.wall / ne / (warmSame.wall / ne)).toFixed(1)}x (on its ${ne} example${ne > 1 ? 's' : ''})`,
    ]);
  }
  console.log(`importance: integrated gradients, m = ${STEPS}, every head; onnxruntime with ${threads} threads, evaluator one thread (ig3dc importance --engine evaluator spreads examples over the cores)`);
  console.log(table(rows));
}

export const importanceBenchmark: Benchmark = {
  name: 'importance',
  summary: `integrated-gradients head importance: seconds per example at m = ${STEPS} (bert-tiny, spam-bert)`,
  cases: CASES.map((c) => c.name),
  run,
};
