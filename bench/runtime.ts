// Runtime benchmark: ring matmul throughput, then secure inference of bert-tiny, bert-mini and
// a BERT-base-shaped model at seq 128 (batch 1) side by side with the plaintext evaluator:
// wall time, ring GMAC/s achieved, peak memory, and the ratio to CrypTen's times on this
// machine kind (two processes, one thread each): 7.0 s, 18.9 s, 140.8 s. Target: <= 0.5.
//
//   npx tsx bench/runtime.ts                 # everything (BERT-base takes minutes)
//   npx tsx bench/runtime.ts --matmul        # only the kernel throughput
//   npx tsx bench/runtime.ts --models tiny,mini --threads 1 --protocols best
//   npm run bench -- runtime                 # the same, as a registered benchmark
//   npm run bench -- runtime/bert-mini
//
// Each model runs in a child process so that its peak RSS is its own. CPU seconds (all
// threads of that process) are printed too: on a shared, loaded machine they say more than
// wall time about the work done.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../ir/tensor.ts';
import { ringMatmul } from '../ir/ring/kernels.ts';
import { ringKernels } from '../ir/ring/ring-wasm.ts';
import type { Benchmark } from './benchmark.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CRYPTEN_SECONDS: Record<string, number> = { tiny: 7.0, mini: 18.9, base: 140.8 };

function matmulBench(): void {
  const [m, k, n] = [128, 768, 768];
  const rnd = (len: number, salt: bigint): BigUint64Array => BigUint64Array.from({ length: len }, (_, i) => BigInt.asUintN(64, (BigInt(i) + salt) * 0x9e3779b97f4a7c15n));
  const a = rnd(m * k, 1n);
  const b = rnd(k * n, 2n);
  const out = new BigUint64Array(m * n);
  ringMatmul(a, b, m, k, n, out); // warm up
  const times: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    ringMatmul(a, b, m, k, n, out);
    times.push((performance.now() - t0) / 1000);
  }
  // The kernel alone (operands already in wasm memory, B already transposed).
  const K = ringKernels();
  const need = 8 * (m * k + k * n + m * n);
  if (K.memory.buffer.byteLength < need) K.memory.grow(Math.ceil((need - K.memory.buffer.byteLength) / 65536));
  const kt: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let j0 = 0; j0 < n; j0 += 42) K.matmul_nt(8 * (m * k + k * n) + 8 * j0, 0, 8 * m * k + 8 * k * j0, m, k, Math.min(42, n - j0), n, k);
    kt.push((performance.now() - t0) / 1000);
  }
  const g = (t: number): string => ((m * k * n) / t / 1e9).toFixed(2);
  const best = Math.min(...times);
  const median = [...times].sort((x, y) => x - y)[3]!;
  console.log(`ring matmul ${m}x${k} @ ${k}x${n} (Z_2^64, wasm i64, 2x2 blocks over B^T):`);
  console.log(`  ringMatmul (copy in, transpose, multiply, copy out): best ${g(best)} GMAC/s, median ${g(median)} GMAC/s`);
  console.log(`  kernel only: best ${g(Math.min(...kt))} GMAC/s`);
}

interface ModelResult {
  name: string;
  compileSeconds: number;
  plaintextSeconds: number;
  secureSeconds: number;
  secureCpuSeconds: number;
  protocols: string;
  threads: number;
  ringMacs: number;
  rounds: number;
  bytesTotal: number;
  countsMatch: boolean;
  maxAbsError: number;
  argmaxAgree: boolean;
  peakRssBytes: number;
}

/** The model of a short name: BERT shapes with the 30522-token vocabulary (as the CrypTen measurements), generated into bench/out when missing. */
function modelPath(name: string): string {
  const out = join(HERE, 'out', name === 'base' ? 'bert-base.onnx' : `bert-${name}-v30522.onnx`);
  if (!existsSync(out)) {
    mkdirSync(dirname(out), { recursive: true });
    console.error(`writing ${out} (bench/make-bert.ts --preset ${name} --vocab 30522)...`);
    execFileSync(process.execPath, ['--import', 'tsx', join(HERE, 'make-bert.ts'), '--preset', name, '--vocab', '30522', '-o', out], { stdio: 'inherit' });
  }
  return out;
}

/** One model, in this process: compile, plaintext, secure. Prints one JSON line. */
async function oneModel(name: string, threads: number, seq: number, protocols: string): Promise<void> {
  const { loadModel } = await import('../compiler/load.ts');
  const { compileModel } = await import('../compiler/backend/compile.ts');
  const { evaluate } = await import('../ir/evaluate.ts');
  const { circuitCost, costSummary } = await import('../ir/circuit/cost.ts');
  const { runCircuit, runCircuitWorkers } = await import('../runtime/index.ts');
  const g = loadModel(modelPath(name), { batch: 1, seq });
  const t0 = performance.now();
  const compiled = compileModel(g, { protocols });
  const compileSeconds = (performance.now() - t0) / 1000;
  // Deterministic token ids, full mask.
  const ids = Tensor.from('i64', [1, seq], Array.from({ length: seq }, (_, i) => BigInt(i === 0 ? 101 : i === seq - 1 ? 102 : 1000 + ((i * 7919) % 997))));
  const all = new Map<string, Tensor>([
    ['input_ids', ids],
    ['attention_mask', Tensor.from('i64', [1, seq], new Array<bigint>(seq).fill(1n))],
    ['token_type_ids', Tensor.from('i64', [1, seq], new Array<bigint>(seq).fill(0n))],
  ]);
  const graphInputs = new Set(compiled.graph.inputs.map((i) => i.name!));
  const plainInputs = new Map([...all].filter(([k]) => graphInputs.has(k)));
  const t1 = performance.now();
  const plain = evaluate(compiled.graph, plainInputs);
  const plaintextSeconds = (performance.now() - t1) / 1000;
  const circuitInputs = new Set(compiled.circuit.inputs.filter((i) => i.party === 1).map((i) => i.name));
  const inputs = new Map([...all].filter(([k]) => circuitInputs.has(k)));
  const opts = { inputs, weights: compiled.weights, seed: new Uint8Array(16).fill(1), transcript: false };
  const t2 = performance.now();
  const c2 = process.cpuUsage();
  const r = threads === 2 ? await runCircuitWorkers(compiled.circuit, opts) : runCircuit(compiled.circuit, opts);
  const secureSeconds = (performance.now() - t2) / 1000;
  const cpu = process.cpuUsage(c2);
  const { byRound: _, ...measured } = r.cost;
  let maxAbsError = 0;
  let argmaxAgree = true;
  for (const [k, t] of r.outputs) {
    const want = plain.get(k)!;
    for (let i = 0; i < t.size; i++) maxAbsError = Math.max(maxAbsError, Math.abs(t.at(i) - want.at(i)));
    const am = (x: Tensor): number => x.toNumbers().reduce((best, v, i, xs) => (v > xs[best]! ? i : best), 0);
    if (am(t) !== am(want)) argmaxAgree = false;
  }
  const res: ModelResult = {
    name,
    compileSeconds,
    plaintextSeconds,
    secureSeconds,
    secureCpuSeconds: (cpu.user + cpu.system) / 1e6,
    protocols,
    threads,
    ringMacs: r.ringMacs,
    rounds: r.cost.rounds,
    bytesTotal: r.cost.bytesTotal,
    countsMatch: JSON.stringify(costSummary(measured)) === JSON.stringify(costSummary(circuitCost(compiled.circuit))),
    maxAbsError,
    argmaxAgree,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  console.log(`RESULT ${JSON.stringify(res)}`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const NAMES: Record<string, string> = { 'bert-tiny': 'tiny', 'bert-mini': 'mini', 'bert-base': 'base' };

/** Secure inference of each model (short names tiny, mini, base) in its own child process; prints the table. */
async function runModels(models: readonly string[], threads: number, seq: number, protocols: string): Promise<void> {
  const rows: ModelResult[] = [];
  for (const name of models) {
    console.error(`secure inference: bert-${name}, seq ${seq}, protocols ${protocols}, ${threads === 2 ? 'two worker threads' : 'one thread'}...`);
    const out = execFileSync(
      process.execPath,
      ['--max-old-space-size=8192', '--import', 'tsx', fileURLToPath(import.meta.url), '--one', name, '--threads', String(threads), '--seq', String(seq), '--protocols', protocols],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 },
    );
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (line === undefined) throw new Error(`no result for ${name}:\n${out}`);
    rows.push(JSON.parse(line.slice(7)) as ModelResult);
  }
  console.log(`\nsecure inference, batch 1, seq ${seq}, protocols '${protocols}' (wall seconds; cpu = all threads)`);
  const head = ['model', 'plaintext s', 'secure s', 'cpu s', 'CrypTen s', 'ratio', 'ring GMAC/s', 'rounds', 'MB on wire', 'peak MB', 'max err', 'argmax', 'counts'];
  const table = rows.map((r) => {
    const cr = CRYPTEN_SECONDS[r.name];
    return [
      `bert-${r.name}`,
      r.plaintextSeconds.toFixed(2),
      r.secureSeconds.toFixed(2),
      r.secureCpuSeconds.toFixed(2),
      cr !== undefined ? cr.toFixed(1) : '-',
      cr !== undefined ? (r.secureSeconds / cr).toFixed(2) : '-',
      (r.ringMacs / r.secureSeconds / 1e9).toFixed(2),
      String(r.rounds),
      (r.bytesTotal / 1e6).toFixed(1),
      (r.peakRssBytes / 1e6).toFixed(0),
      r.maxAbsError.toExponential(1),
      r.argmaxAgree ? 'same' : 'DIFFERS',
      r.countsMatch ? 'measured==static' : 'MISMATCH',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [head, ...table]) console.log(row.map((c, i) => c.padStart(widths[i]!)).join('  '));
  console.log('ratio = secure / CrypTen (target <= 0.50); ring GMAC/s = all ring multiply-accumulates (both parties and the dealer) / secure wall time');
}

export const runtimeBenchmark: Benchmark = {
  name: 'runtime',
  summary: 'ring matmul throughput; secure inference (CrypTen protocols, two worker threads) vs plaintext at seq 128, ratio to CrypTen',
  cases: ['matmul', 'bert-tiny', 'bert-mini', 'bert-base'],
  run: async (cases) => {
    if (cases.includes('matmul')) matmulBench();
    const models = cases.filter((c) => c !== 'matmul').map((c) => NAMES[c]!);
    if (models.length > 0) await runModels(models, 2, 128, 'crypten');
  },
};

async function main(): Promise<void> {
  const threads = Number(arg('--threads') ?? 2);
  const seq = Number(arg('--seq') ?? 128);
  const protocols = arg('--protocols') ?? 'crypten';
  const one = arg('--one');
  if (one !== undefined) return oneModel(one, threads, seq, protocols);
  matmulBench();
  if (process.argv.includes('--matmul')) return;
  await runModels((arg('--models') ?? 'tiny,mini,base').split(','), threads, seq, protocols);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
