// Importance benchmark: time per example of integrated gradients (m = 16, every head, one
// thread) for bert-tiny and spam-bert, next to the time of one plain forward pass of the
// same example, and the number of perturbed forward + backward passes that took. CPU time
// is printed next to wall time: on a shared machine the wall time includes waiting for a core.
//
// spam-bert runs on the first rows of the fixtures' dev set at their own lengths; bert-tiny
// (vocabulary 2000) on the same rows with ids folded into its vocabulary.

import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark } from './benchmark.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '..', '..', 'shared', 'fixtures');
const STEPS = 16;

interface ModelCase {
  readonly name: string;
  readonly file: string;
  readonly examples: number;
}

const CASES: readonly ModelCase[] = [
  { name: 'bert-tiny', file: 'bert-tiny.onnx', examples: 3 },
  { name: 'spam-bert', file: 'spam-bert.onnx', examples: 1 },
];

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: readonly string[]): string => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function run(cases: readonly string[]): Promise<void> {
  const { ImportanceModel } = await import('../compiler/importance/model.ts');
  const { readExamples } = await import('../compiler/importance/dataset.ts');
  const { igExample, riemannAlphas } = await import('../compiler/importance/methods.ts');
  const { forwardValues } = await import('../ir/grad/index.ts');
  const rows: string[][] = [['model', 'examples', 'avg tokens', 'passes/example', 's/example (m=16)', 'CPU s/example', 'ms/pass', 'forward ms', 'pass/forward']];
  for (const c of CASES.filter((x) => cases.includes(x.name))) {
    const model = new ImportanceModel(join(FIXTURES, c.file));
    const vocab = model.limits.vocab ?? 2000;
    const examples = readExamples(join(FIXTURES, 'spam-dev.json'), c.examples).map((e) => ({ ...e, ids: e.ids.map((id) => id % vocab) }));
    // bind and warm up every length first, so graph building is not timed
    for (const e of examples) forwardValues(model.at(e.ids.length).graph, model.feeds(model.at(e.ids.length), e.ids));
    let forward = 0;
    for (const e of examples) {
      const b = model.at(e.ids.length);
      const t = performance.now();
      forwardValues(b.graph, model.feeds(b, e.ids));
      forward += performance.now() - t;
    }
    let seconds = 0;
    let cpu = 0;
    let passes = 0;
    for (const e of examples) {
      const b = model.at(e.ids.length);
      const heads = b.sites.reduce((s, site) => s + site.heads.length, 0);
      const t = performance.now();
      const c0 = process.cpuUsage();
      igExample(model, e, { alphas: riemannAlphas(STEPS), target: 'predicted' });
      const c1 = process.cpuUsage(c0);
      seconds += (performance.now() - t) / 1000;
      cpu += (c1.user + c1.system) / 1e6;
      // per head: m gradient passes (m - 1 perturbed re-evaluations) and one zeroed re-evaluation
      passes += heads * STEPS;
    }
    const n = examples.length;
    const tokens = examples.reduce((s, e) => s + e.ids.length, 0) / n;
    rows.push([
      c.name,
      String(n),
      tokens.toFixed(0),
      String(passes / n),
      (seconds / n).toFixed(2),
      (cpu / n).toFixed(2),
      ((seconds * 1000) / passes).toFixed(1),
      (forward / n).toFixed(1),
      ((seconds * 1000) / passes / (forward / n)).toFixed(2),
    ]);
  }
  console.log(`importance: integrated gradients, m = ${STEPS}, one thread (ig3dc importance splits examples over the cores)`);
  console.log(table(rows));
}

export const importanceBenchmark: Benchmark = {
  name: 'importance',
  summary: `integrated-gradients head importance: seconds per example at m = ${STEPS} (bert-tiny, spam-bert)`,
  cases: CASES.map((c) => c.name),
  run,
};
