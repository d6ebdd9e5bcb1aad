// Secure inference on the ViT fixtures' dev sets (../shared/fixtures/vit-digits-p2*.dev.json,
// 360 images each): per model, the images run B at a time in one circuit; every batch's
// measured rounds and bytes must equal the static report; the secure predictions must agree
// with the plaintext evaluator's on >= 99.5% of the images; the accuracy (secure and
// plaintext) is printed next to the fixture README's. Wall and CPU seconds and the load
// average are printed with it.
//
//   nice -n 10 npx tsx bench/vit-eval.ts                        # all three models, 360 images
//   npx tsx bench/vit-eval.ts --models vit-digits-p2 --rows 40 --batch 20
//   npm run bench -- vit-eval

import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { circuitCost, costSummary } from '../ir/circuit/cost.ts';
import { evaluate } from '../ir/evaluate.ts';
import { imageRows, readImageDevSet } from '../compiler/tune/index.ts';
import { runCircuit } from '../runtime/index.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'fixtures');
export const VIT_MODELS = ['vit-digits-p2', 'vit-digits-p2-hetero', 'vit-digits-p2-scaled-relu'] as const;
/** Dev accuracy in the fixture README, section 8. */
export const README_ACCURACY: Readonly<Record<string, number>> = { 'vit-digits-p2': 87.5, 'vit-digits-p2-hetero': 81.7, 'vit-digits-p2-scaled-relu': 89.7 };
const AGREEMENT = 0.995;

export interface VitEvalOptions {
  readonly models: readonly string[];
  readonly rows: number;
  readonly batch: number;
  readonly protocols: string;
}

export interface VitEvalResult {
  readonly model: string;
  readonly rows: number;
  readonly agreement: number;
  readonly secureAccuracy: number;
  readonly plainAccuracy: number;
  readonly maxLogitError: number;
  readonly countsMatch: boolean;
  readonly wall: number;
  readonly cpu: number;
}

function argmax(d: ArrayLike<number>, o: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (d[o + j]! > d[o + best]!) best = j;
  return best;
}

export function evalVitDev(model: string, o: VitEvalOptions): VitEvalResult {
  const dev = readImageDevSet(join(FIXTURES, `${model}.dev.json`), loadModel(join(FIXTURES, `${model}.onnx`), { batch: 1 }));
  const rows = Math.min(o.rows, dev.pixels.shape[0]!);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const compiled = new Map<number, ReturnType<typeof compileModel>>();
  let agree = 0;
  let secureRight = 0;
  let plainRight = 0;
  let maxErr = 0;
  let countsMatch = true;
  for (let start = 0; start < rows; start += o.batch) {
    const end = Math.min(rows, start + o.batch);
    const B = end - start;
    let c = compiled.get(B);
    if (c === undefined) {
      c = compileModel(loadModel(join(FIXTURES, `${model}.onnx`), { batch: B }), { protocols: o.protocols });
      compiled.set(B, c);
    }
    const inputs = new Map([['pixel_values', imageRows(dev, start, end)]]);
    const r = runCircuit(c.circuit, { inputs, weights: c.weights, transcript: false, seed: Uint8Array.of(start & 255, start >> 8) });
    const { byRound: _, ...measured } = r.cost;
    if (JSON.stringify(costSummary(measured)) !== JSON.stringify(costSummary(circuitCost(c.circuit)))) countsMatch = false;
    const secure = r.outputs.get('logits')!.toFloat64();
    const plain = evaluate(c.graph, inputs).get('logits')!.toFloat64();
    const K = secure.length / B;
    for (let i = 0; i < B; i++) {
      const s = argmax(secure, i * K, K);
      const p = argmax(plain, i * K, K);
      const label = dev.labels[start + i];
      if (s === p) agree++;
      if (s === label) secureRight++;
      if (p === label) plainRight++;
    }
    for (let i = 0; i < secure.length; i++) maxErr = Math.max(maxErr, Math.abs(secure[i]! - plain[i]!));
    process.stderr.write(`\r${model}: ${end}/${rows}`);
  }
  process.stderr.write('\n');
  const cpu = process.cpuUsage(c0);
  return {
    model,
    rows,
    agreement: agree / rows,
    secureAccuracy: (100 * secureRight) / rows,
    plainAccuracy: (100 * plainRight) / rows,
    maxLogitError: maxErr,
    countsMatch,
    wall: (performance.now() - t0) / 1000,
    cpu: (cpu.user + cpu.system) / 1e6,
  };
}

function report(r: VitEvalResult): string {
  const readme = README_ACCURACY[r.model];
  const ok = r.agreement >= AGREEMENT && r.countsMatch && (r.rows < 360 || readme === undefined || Math.abs(r.plainAccuracy - readme) < 0.05 + 1e-9);
  return [
    `${r.model.padEnd(26)} ${String(r.rows).padStart(4)} images`,
    `agreement ${(100 * r.agreement).toFixed(2)}%`,
    `accuracy secure ${r.secureAccuracy.toFixed(1)}% plaintext ${r.plainAccuracy.toFixed(1)}% (README ${readme ?? '?'}%)`,
    `max |logit error| ${r.maxLogitError.toExponential(2)}`,
    `measured == static ${r.countsMatch ? 'yes' : 'NO'}`,
    `wall ${r.wall.toFixed(1)} s cpu ${r.cpu.toFixed(1)} s`,
    ok ? 'ok' : 'FAILED',
  ].join(', ');
}

function parseArgs(argv: readonly string[]): VitEvalOptions {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    models: get('--models')?.split(',') ?? [...VIT_MODELS],
    rows: Number(get('--rows') ?? 360),
    batch: Number(get('--batch') ?? 24),
    protocols: get('--protocols') ?? 'best',
  };
}

export const vitEvalBenchmark: Benchmark = {
  name: 'vit-eval',
  summary: "secure inference on the ViT fixtures' 360-image dev sets: agreement with plaintext, accuracy, measured == static",
  cases: [...VIT_MODELS],
  run: async (cases) => {
    const o = parseArgs([]);
    for (const m of cases) console.log(report(evalVitDev(m, o)));
    console.log(`load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2));
  console.log(`protocols ${o.protocols}, batch ${o.batch}, load average at start ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  for (const m of o.models) console.log(report(evalVitDev(m, o)));
  console.log(`load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
}
