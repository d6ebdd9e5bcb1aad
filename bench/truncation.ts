// Expected local-truncation failures per inference (a simulation diagnostic, not a timing):
// compiles a fixture model under each protocol preset, runs dev rows in process with the
// truncation probe (runtime/truncation-probe.ts) and prints, per protocol and op kind, the
// largest truncated value in bits and the expected number of failures per inference, then the
// worst instructions with the ops that computed what they truncate.
//
//   npx tsx bench/truncation.ts                                   # spam-bert, 2 rows, crypten best fss
//   npx tsx bench/truncation.ts --rows 3 --presets best --model spam-bert
//   npm run bench -- truncation

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../compiler/load.ts';
import { compileModel } from '../compiler/backend/compile.ts';
import { formatTruncationReport } from '../compiler/cli/commands/run.ts';
import { readDevSet } from '../compiler/tune/dev-set.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { Tensor } from '../ir/tensor.ts';
import { meanTruncationReport, runCircuit, type TruncationReport } from '../runtime/index.ts';
import type { Benchmark } from './benchmark.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'fixtures');

/** The ops that computed register `r`, `depth` levels up: `square(mul(...))`. */
function origin(c: Circuit, defs: Map<number, number>, r: number, depth: number): string {
  const i = defs.get(r);
  if (i === undefined) return `%${r}`;
  const ins = c.instructions[i]!;
  if (depth === 0) return ins.op;
  return `${ins.op}(${ins.inputs.map((x) => origin(c, defs, x, depth - 1)).join(', ')})`;
}

export async function truncationTable(model: string, preset: string, rows: number): Promise<TruncationReport> {
  const dev = readDevSet(join(FIXTURES, 'spam-dev.json'), rows);
  const compiled = compileModel(loadModel(join(FIXTURES, `${model}.onnx`), { batch: 1, seq: dev.seq }), { protocols: preset });
  const c = compiled.circuit;
  const want = new Set(c.inputs.filter((i) => i.party === 1).map((i) => i.name));
  const reports: TruncationReport[] = [];
  const t0 = performance.now();
  for (let r = 0; r < dev.rows; r++) {
    const row = (a: Int32Array): Tensor => new Tensor('i64', [1, dev.seq], BigInt64Array.from(a.subarray(r * dev.seq, (r + 1) * dev.seq), (v) => BigInt(v)));
    const all = new Map([
      ['input_ids', row(dev.inputIds)],
      ['attention_mask', row(dev.attentionMask)],
      ['token_type_ids', row(dev.tokenTypeIds)],
    ]);
    const res = runCircuit(c, { inputs: new Map([...all].filter(([k]) => want.has(k))), weights: compiled.weights, transcript: false, truncationReport: true });
    reports.push(res.truncation!);
  }
  const mean = meanTruncationReport(reports);
  const defs = new Map<number, number>();
  c.instructions.forEach((ins, i) => ins.outputs.forEach((r) => defs.set(r, i)));
  console.log(`\n${model}, --protocols ${preset}, ${dev.rows} dev row(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const line of formatTruncationReport(mean, dev.rows)) console.log(line);
  console.log('  worst instructions:');
  for (const s of mean.worst) {
    const ins = c.instructions[s.instruction]!;
    console.log(`    #${s.instruction} ${s.protocol} ${s.irNode}: ${s.maxBits} bits, expected ${s.expectedFailures.toExponential(2)}, observed ${s.observedFailures}; ${ins.op}{${JSON.stringify(ins.attrs).slice(0, 40)}} of ${origin(c, defs, ins.inputs[0]!, 3)}`);
  }
  return mean;
}

export const truncationBenchmark: Benchmark = {
  name: 'truncation',
  summary: 'expected local-truncation failures per inference of spam-bert under crypten, best and fss (simulation diagnostic)',
  cases: ['crypten', 'best', 'fss'],
  async run(cases) {
    for (const preset of cases) await truncationTable('spam-bert', preset, 2);
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1]! : dflt;
  };
  const model = arg('--model', 'spam-bert');
  const rows = Number(arg('--rows', '2'));
  for (const preset of arg('--presets', 'crypten best fss').split(/[ ;]+/)) await truncationTable(model, preset, rows);
}
