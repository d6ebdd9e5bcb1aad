// The secure-inference acceptance runs: for every fixture model (bert-tiny, bert-mini,
// spam-bert) on every reference case, and every IG-3D variant of spam-bert, the measured
// rounds and bytes must equal the static report exactly and the logits must lie within 1e-2
// of the plaintext evaluator (on the same, transformed, graph); on spam-bert's dev set the
// secure predictions must agree with the plaintext ones on >= 99.5% of the rows (baseline and
// an IG-3D model). Dev rows are padded to 128 (their masks mark the padding) and run B at a
// time in one circuit, so rounds are paid once per batch.
//
//   npx tsx bench/secure-eval.ts                          # fixtures + dev (200 rows each)
//   npx tsx bench/secure-eval.ts --only fixtures
//   npx tsx bench/secure-eval.ts --only dev --rows 1000 --batch 8
//   npx tsx bench/secure-eval.ts --protocols crypten      # CrypTen's protocols (default: best)
//   npx tsx bench/secure-eval.ts --only dev --rows 1000 --dev-models baseline --rows-file rows.jsonl [--start 400]
//   npm run bench -- secure-eval/fixtures

import { appendFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../compiler/load.ts';
import { compileModel, type Compiled } from '../compiler/backend/compile.ts';
import { circuitCost, costSummary } from '../ir/circuit/cost.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { readCasesFile, readTensorBundle } from '../ir/tensor-json.ts';
import { IMPORTANCE_RESOURCE } from '../passes/ig3d/index.ts';
import { runCircuit, runCircuitWorkers, type RunOptions, type RunResult } from '../runtime/index.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'fixtures');
const IMPORTANCE = join(FIXTURES, 'importance.json');
const BOUND = 1e-2;
const AGREEMENT = 0.995;

/** The IG-3D variants of spam-bert: name -> pipeline. */
export const IG3D_VARIANTS: Readonly<Record<string, string>> = {
  'prune-heads': 'prune-heads{ratio=0.3}',
  '+poly-layer': 'prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5,granularity=layer}',
  '+gelu-mix': 'prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5,granularity=layer},gelu-mix',
  'poly-all-noshift': 'softmax-to-poly{ratio=1,shift=false,clip=4}',
};

export interface EvalOptions {
  readonly protocols: string;
  readonly threads: 1 | 2;
  readonly rows: number;
  readonly batch: number;
  /** IG-3D variant used for the dev-set agreement. */
  readonly devVariant: string;
  /** Which dev-set models to run: the baseline, the IG-3D variant, or both. */
  readonly devModels?: readonly ('baseline' | 'variant')[];
  /** Append one JSON line per dev row (row, label, plaintext and secure logits) to this file. */
  readonly rowsFile?: string;
  /** First dev row (to resume a long run whose rows file holds the earlier ones). */
  readonly start?: number;
  readonly seed?: Uint8Array;
}

const DEFAULTS: EvalOptions = { protocols: 'best', threads: 2, rows: 200, batch: 8, devVariant: '+gelu-mix' };

function compileFor(model: string, batch: number, seq: number, protocols: string, passes = ''): Compiled {
  const g = loadModel(join(FIXTURES, `${model}.onnx`), { batch, seq });
  return compileModel(g, { protocols, ...(passes !== '' ? { passes, resources: new Map([[IMPORTANCE_RESOURCE, IMPORTANCE]]) } : {}) });
}

async function secure(c: Compiled, inputs: ReadonlyMap<string, Tensor>, o: EvalOptions): Promise<{ r: RunResult; seconds: number }> {
  const want = new Set(c.circuit.inputs.filter((i) => i.party === 1).map((i) => i.name));
  const opts: RunOptions = { inputs: new Map([...inputs].filter(([k]) => want.has(k))), weights: c.weights, transcript: false, ...(o.seed !== undefined ? { seed: o.seed } : {}) };
  const t0 = performance.now();
  const r = o.threads === 2 ? await runCircuitWorkers(c.circuit, opts) : runCircuit(c.circuit, opts);
  return { r, seconds: (performance.now() - t0) / 1000 };
}

function plain(c: Compiled, inputs: ReadonlyMap<string, Tensor>): Tensor {
  const want = new Set(c.graph.inputs.map((i) => i.name!));
  return evaluate(c.graph, new Map([...inputs].filter(([k]) => want.has(k)))).get('logits')!;
}

function countsMatch(r: RunResult, c: Compiled): boolean {
  const { byRound: _, ...measured } = r.cost;
  return JSON.stringify(costSummary(measured)) === JSON.stringify(costSummary(circuitCost(c.circuit)));
}

function argmaxRows(t: Tensor): number[] {
  const cls = t.shape[t.shape.length - 1]!;
  const xs = t.toNumbers();
  const out: number[] = [];
  for (let r = 0; r < xs.length / cls; r++) {
    let best = 0;
    for (let j = 1; j < cls; j++) if (xs[r * cls + j]! > xs[r * cls + best]!) best = j;
    out.push(best);
  }
  return out;
}

export interface FixtureRow {
  model: string;
  variant: string;
  case: string;
  shape: string;
  rounds: number;
  mbTotal: number;
  countsMatch: boolean;
  maxAbsError: number;
  argmaxSame: boolean;
  seconds: number;
}

/** Every fixture model on every case, and every IG-3D variant of spam-bert. */
export async function fixtureRuns(o: EvalOptions, log: (row: FixtureRow) => void = () => {}): Promise<FixtureRow[]> {
  const rows: FixtureRow[] = [];
  const jobs: [string, string, string][] = [
    ['bert-tiny', 'baseline', ''],
    ['bert-mini', 'baseline', ''],
    ['spam-bert', 'baseline', ''],
    ...Object.entries(IG3D_VARIANTS).map(([name, p]): [string, string, string] => ['spam-bert', name, p]),
  ];
  for (const [model, variant, passes] of jobs) {
    for (const cs of readCasesFile(join(FIXTURES, `${model}.cases.json`))) {
      const ids = cs.inputs.get('input_ids')!;
      const c = compileFor(model, ids.shape[0]!, ids.shape[1]!, o.protocols, passes);
      const { r, seconds } = await secure(c, cs.inputs, o);
      const got = r.outputs.get('logits')!;
      const want = plain(c, cs.inputs);
      let err = 0;
      for (let i = 0; i < got.size; i++) err = Math.max(err, Math.abs(got.at(i) - want.at(i)));
      const row: FixtureRow = {
        model,
        variant,
        case: cs.name,
        shape: ids.shape.join('x'),
        rounds: r.cost.rounds,
        mbTotal: r.cost.bytesTotal / 1e6,
        countsMatch: countsMatch(r, c),
        maxAbsError: err,
        argmaxSame: argmaxRows(got).join() === argmaxRows(want).join(),
        seconds,
      };
      rows.push(row);
      log(row);
    }
  }
  return rows;
}

export interface DevResult {
  variant: string;
  /** First row run, and how many. */
  first: number;
  rows: number;
  agree: number;
  /** Agreement of the plaintext predictions with the labels (for context). */
  plainAccuracy: number;
  secureAccuracy: number;
  maxAbsError: number;
  countsMatch: boolean;
  seconds: number;
}

/** spam-bert's dev set, the first `rows` rows, `batch` rows per circuit. */
export async function devRuns(variant: string, passes: string, o: EvalOptions, log: (done: number, agree: number, countsMatch: boolean) => void = () => {}): Promise<DevResult> {
  const dev = readTensorBundle(join(FIXTURES, 'spam-dev.json')).tensors;
  const ids = dev.get('input_ids')!;
  const mask = dev.get('attention_mask')!;
  const labels = dev.get('labels')!;
  const seq = ids.shape[1]!;
  const total = Math.min(o.rows, ids.shape[0]!);
  const first = Math.min(o.start ?? 0, total);
  const compiled = new Map<number, Compiled>();
  let agree = 0;
  let plainOk = 0;
  let secureOk = 0;
  let err = 0;
  let match = true;
  const t0 = performance.now();
  for (let start = first; start < total; start += o.batch) {
    const b = Math.min(o.batch, total - start);
    let c = compiled.get(b);
    if (c === undefined) {
      c = compileFor('spam-bert', b, seq, o.protocols, passes);
      compiled.set(b, c);
    }
    const take = (t: Tensor): Tensor => Tensor.from('i64', [b, seq], Array.from({ length: b * seq }, (_, i) => BigInt(t.at(start * seq + i))));
    const inputs = new Map([
      ['input_ids', take(ids)],
      ['attention_mask', take(mask)],
      ['token_type_ids', Tensor.zeros('i64', [b, seq])],
    ]);
    const { r } = await secure(c, inputs, o);
    const same = countsMatch(r, c);
    match &&= same;
    const got = r.outputs.get('logits')!;
    const want = plain(c, inputs);
    for (let i = 0; i < got.size; i++) err = Math.max(err, Math.abs(got.at(i) - want.at(i)));
    const gs = argmaxRows(got);
    const ws = argmaxRows(want);
    if (o.rowsFile !== undefined) {
      const cls = got.shape[1]!;
      const lines = gs.map((_, i) => {
        const row = (t: Tensor): number[] => Array.from({ length: cls }, (_, j) => t.at(i * cls + j));
        const e = Math.max(...row(got).map((v, j) => Math.abs(v - row(want)[j]!)));
        return JSON.stringify({ variant, row: start + i, label: Number(labels.at(start + i)), plain: row(want), secure: row(got), maxAbsError: e, countsMatch: same });
      });
      appendFileSync(o.rowsFile, lines.join('\n') + '\n');
    }
    gs.forEach((g, i) => {
      const label = Number(labels.at(start + i));
      if (g === ws[i]) agree++;
      if (ws[i] === label) plainOk++;
      if (g === label) secureOk++;
    });
    log(start + b, agree, same);
  }
  const ran = total - first;
  return { variant, first, rows: ran, agree, plainAccuracy: plainOk / ran, secureAccuracy: secureOk / ran, maxAbsError: err, countsMatch: match, seconds: (performance.now() - t0) / 1000 };
}

function printFixtures(rows: readonly FixtureRow[]): void {
  const head = ['model', 'variant', 'case', 'shape', 'rounds', 'MB', 'measured==static', 'max |err|', '<=1e-2', 'argmax', 's'];
  const table = rows.map((r) => [
    r.model,
    r.variant,
    r.case,
    r.shape,
    String(r.rounds),
    r.mbTotal.toFixed(1),
    r.countsMatch ? 'yes' : 'NO',
    r.maxAbsError.toExponential(2),
    r.maxAbsError <= BOUND ? 'yes' : 'NO',
    r.argmaxSame ? 'same' : 'DIFFERS',
    r.seconds.toFixed(1),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [head, ...table]) console.log(row.map((c, i) => c.padEnd(w[i]!)).join('  '));
  const ok = rows.every((r) => r.countsMatch && r.maxAbsError <= BOUND);
  console.log(ok ? `all ${rows.length} runs: measured == static, logits within ${BOUND}` : 'SOME RUNS FAIL (see above)');
}

function printDev(d: DevResult): void {
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  console.log(
    `dev set, ${d.variant}: ${d.rows} rows (rows ${d.first}..${d.first + d.rows - 1}): secure == plaintext prediction on ${d.agree}/${d.rows} = ${pct(d.agree / d.rows)} ` +
      `(target >= ${pct(AGREEMENT)}: ${d.agree / d.rows >= AGREEMENT ? 'met' : 'NOT met'}); accuracy vs labels plaintext ${pct(d.plainAccuracy)}, secure ${pct(d.secureAccuracy)}; ` +
      `max |err| ${d.maxAbsError.toExponential(2)}; measured == static in every batch: ${d.countsMatch ? 'yes' : 'NO'}; ${d.seconds.toFixed(0)} s`,
  );
}

async function runCases(cases: readonly string[], o: EvalOptions): Promise<void> {
  console.log(`secure evaluation: protocols '${o.protocols}', ${o.threads === 2 ? 'two worker threads' : 'one thread'}`);
  if (cases.includes('fixtures')) {
    const rows = await fixtureRuns(o, (r) => console.error(`  ${r.model} ${r.variant} ${r.case}: err ${r.maxAbsError.toExponential(2)}, counts ${r.countsMatch ? 'match' : 'MISMATCH'}, ${r.seconds.toFixed(1)} s`));
    printFixtures(rows);
  }
  if (cases.includes('dev')) {
    console.log(`dev set: ${o.rows} rows, batch ${o.batch}`);
    const models = o.devModels ?? ['baseline', 'variant'];
    for (const [name, passes] of [
      ...(models.includes('baseline') ? [['baseline', '']] : []),
      ...(models.includes('variant') ? [[o.devVariant, IG3D_VARIANTS[o.devVariant] ?? o.devVariant]] : []),
    ] as const) {
      const t0 = performance.now();
      const d = await devRuns(name, passes, o, (done, agree, same) => {
        const cpu = process.cpuUsage();
        console.error(`  ${name}: ${done} rows, ${agree} agree, measured ${same ? '==' : '!='} static, ${((performance.now() - t0) / 1000).toFixed(0)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(0)} s CPU, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
      });
      printDev(d);
    }
  }
}

export const secureEvalBenchmark: Benchmark = {
  name: 'secure-eval',
  summary: 'secure vs plaintext: every fixture model and IG-3D variant (measured == static, |err| <= 1e-2), and dev-set agreement (first 200 rows)',
  cases: ['fixtures', 'dev'],
  run: (cases) => runCases(cases, DEFAULTS),
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const o: EvalOptions = {
    protocols: arg('--protocols') ?? DEFAULTS.protocols,
    threads: arg('--threads') === '1' ? 1 : 2,
    rows: Number(arg('--rows') ?? DEFAULTS.rows),
    batch: Number(arg('--batch') ?? DEFAULTS.batch),
    devVariant: arg('--variant') ?? DEFAULTS.devVariant,
    ...(arg('--dev-models') !== undefined ? { devModels: arg('--dev-models')!.split(',') as ('baseline' | 'variant')[] } : {}),
    ...(arg('--rows-file') !== undefined ? { rowsFile: arg('--rows-file')! } : {}),
    ...(arg('--start') !== undefined ? { start: Number(arg('--start')) } : {}),
  };
  const only = arg('--only');
  await runCases(only !== undefined ? only.split(',') : ['fixtures', 'dev'], o);
}
