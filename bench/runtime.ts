// Runtime benchmark: ring matmul throughput, then secure inference of bert-tiny, bert-mini and
// BERT-base shapes (vocabulary 30522, batch 1, seq 128) under each protocol family asked for,
// and CrypTen's secure inference of the same shape right after, on the same machine, in the
// same run (bench/crypten-bert.py, only where it imports CrypTen and PyTorch: otherwise the
// table says so). Per run: wall seconds, CPU seconds (all threads / both party processes),
// peak RSS, and the 1-minute load average before and after (the machine is shared: CPU seconds
// say more about the work done than wall time under load). Target: wall <= 0.5x CrypTen's,
// peak RSS <= 3 GB.
//
// CrypTen is optional: its public source checkout in $CRYPTEN_SRC (or on PYTHONPATH), run by
// $CRYPTEN_PYTHON, else the first of `python3` and `/usr/bin/python3` (Debian's python3-torch,
// python3-omegaconf and python3-onnx install there) that imports it. `--load N` starts N
// busy-loop processes (one core each) for the whole run, so both systems meet the same
// competing load.
//
//   npx tsx bench/runtime.ts                              # matmul, then tiny, mini, base with best and fss
//   npx tsx bench/runtime.ts --matmul                     # only the kernel throughput
//   npx tsx bench/runtime.ts --models tiny,mini --protocols best --threads 1
//   npx tsx bench/runtime.ts --models tiny,mini --protocols best,linear=beaver,best --no-crypten   # a preset's options follow it
//   npx tsx bench/runtime.ts --models base --no-crypten   # leave CrypTen out even where it is installed
//   npx tsx bench/runtime.ts --models tiny --from-sources # run the TypeScript sources (tsx in every thread), not the compiled package
//   CRYPTEN_SRC=/work/crypten-src npx tsx bench/runtime.ts --models tiny,mini,base --load 1
//   CRYPTEN_SRC=/work/crypten-src npx tsx bench/runtime.ts --models base --protocols best --repeat 2
//   npx tsx bench/runtime.ts --models base --protocols best,fss --preprocess-first --no-crypten
//                                                         # the dealer's phase first, then the online phase, timed apart
//   npx tsx bench/runtime.ts --models base --protocols best,fss --preprocess-first --link wan --no-crypten
//                                                         # the parties' messages over an emulated network (lan, wan or <MB/s>,<RTT ms>)
//   IG3DC_MALLOC_TUNING=off npx tsx bench/runtime.ts --models base --protocols best,fss --no-crypten
//                                                         # the runs with glibc's default malloc, not `ig3dc run`'s tunables
//   npm run bench -- runtime                              # the same, as a registered benchmark
//   npm run bench -- runtime/bert-mini
//
// The runs use the compiled package (dist/, built from the sources when the bench starts), as
// `ig3dc run` and its worker threads do; `--from-sources` runs the TypeScript through tsx in
// every thread instead (slower to start, and each thread carries the transpiler).
//
// Each run is a child process of its own, so that its peak RSS is its own. `--repeat N` runs the
// sequence (every family, then CrypTen) N times, alternating, so that a load that comes or goes
// during the bench meets both systems; each row's ratios are to the CrypTen run of its own
// repetition, and last lines per model and family give the medians, with their ratios to
// best's and to CrypTen's (with --preprocess-first, of each phase too).

import { networkOf, NETWORK_SPEC } from '../compiler/backend/report/latency.ts';
import type { LinkModel } from '../runtime/link-model.ts';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ringMatmul } from '../ir/ring/kernels.ts';
import { ringKernels } from '../ir/ring/ring-wasm.ts';
import type { Benchmark } from './benchmark.ts';
import { MALLOC_TUNING_VAR, mallocSetting, tunedEnv } from '../runtime/malloc-tuning.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The shapes bench/make-bert.ts --preset gives, for CrypTen's script. */
const SHAPES: Record<string, { layers: number; hidden: number; heads: number; intermediate: number }> = {
  tiny: { layers: 2, hidden: 128, heads: 2, intermediate: 512 },
  mini: { layers: 4, hidden: 256, heads: 4, intermediate: 1024 },
  base: { layers: 12, hidden: 768, heads: 12, intermediate: 3072 },
};

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

/** The median of a non-empty list. */
function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

/** Wall and CPU seconds of a --preprocess-first run's two phases. */
interface PhaseTimes {
  preprocessingSeconds: number;
  preprocessingCpuSeconds: number;
  onlineSeconds: number;
  onlineCpuSeconds: number;
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
  /** With --preprocess-first: the dealer's phase and the online phase apart. */
  phases?: PhaseTimes;
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
/**
 * A module of the tool as the run uses it: the compiled package (dist/, what `ig3dc` and its
 * worker threads run) unless --from-sources (the TypeScript through tsx, in every thread).
 */
async function tool<M>(path: string, fromSources: boolean): Promise<M> {
  return (await import(fromSources ? `../${path}.ts` : `../dist/${path}.js`)) as M;
}

async function oneModel(name: string, threads: number, seq: number, protocols: string, fromSources: boolean, preprocessFirst = false): Promise<void> {
  const { loadModel } = await tool<typeof import('../compiler/load.ts')>('compiler/load', fromSources);
  const { compileModel } = await tool<typeof import('../compiler/backend/compile.ts')>('compiler/backend/compile', fromSources);
  const { evaluate } = await tool<typeof import('../ir/evaluate.ts')>('ir/evaluate', fromSources);
  const { circuitCost, costSummary } = await tool<typeof import('../ir/circuit/cost.ts')>('ir/circuit/cost', fromSources);
  const { runCircuit, runCircuitWorkers } = await tool<typeof import('../runtime/index.ts')>('runtime/index', fromSources);
  const { Tensor } = await tool<typeof import('../ir/tensor.ts')>('ir/tensor', fromSources);
  const g = loadModel(modelPath(name), { batch: 1, seq });
  const t0 = performance.now();
  const compiled = compileModel(g, { protocols });
  const compileSeconds = (performance.now() - t0) / 1000;
  // Deterministic token ids, full mask.
  const ids = Tensor.from('i64', [1, seq], Array.from({ length: seq }, (_, i) => BigInt(i === 0 ? 101 : i === seq - 1 ? 102 : 1000 + ((i * 7919) % 997))));
  const all = new Map([
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
  const link = linkArg();
  const opts = { inputs, weights: compiled.weights, seed: new Uint8Array(16).fill(1), transcript: false, preprocessFirst, ...(link !== undefined ? { link } : {}) };
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
    const am = (x: typeof t): number => x.toNumbers().reduce((best, v, i, xs) => (v > xs[best]! ? i : best), 0);
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
    ...(r.phases !== undefined ? { phases: r.phases } : {}),
  };
  console.log(`RESULT ${JSON.stringify(res)}`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** --link: the emulated network between the parties' threads (runtime/link-model.ts): a latency profile's name (lan, wan) or <MB/s>,<RTT ms>. */
function linkArg(): LinkModel | undefined {
  const spec = arg('--link');
  if (spec === undefined) return undefined;
  const net = networkOf(spec);
  if (net === undefined) throw new Error(`--link ${spec}: expected ${NETWORK_SPEC}`);
  return net;
}

const NAMES: Record<string, string> = { 'bert-tiny': 'tiny', 'bert-mini': 'mini', 'bert-base': 'base' };

interface CryptenResult {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** The Python that imports CrypTen and PyTorch (with its versions), or why none does. */
function findCrypten(): { python: string; versions: string } | { missing: string } {
  const env = process.env['CRYPTEN_PYTHON'];
  const candidates = env !== undefined && env !== '' ? [env] : ['python3', '/usr/bin/python3'];
  let first: string | undefined;
  for (const python of candidates) {
    const r = spawnSync(python, [join(HERE, 'crypten-bert.py'), '--check'], { encoding: 'utf8' });
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('CRYPTEN-CHECK '));
    if (r.status === 0 && line !== undefined) return { python, versions: line.slice('CRYPTEN-CHECK '.length) };
    first ??= `not installed (${python}: ${r.error !== undefined ? r.error.message : (r.stderr.trim().split('\n').pop() ?? '').replace(/^not installed: /, '').slice(0, 100)})`;
  }
  return { missing: first ?? 'not installed' };
}

/** CrypTen's secure inference of the model's shape, in child processes; a string says why it did not run. */
function runCrypten(python: string, name: string, seq: number): CryptenResult | string {
  const sh = SHAPES[name]!;
  const args = [join(HERE, 'crypten-bert.py'), '--layers', String(sh.layers), '--hidden', String(sh.hidden), '--heads', String(sh.heads), '--intermediate', String(sh.intermediate), '--vocab', '30522', '--seq', String(seq)];
  const r = spawnSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('CRYPTEN '));
  if (r.status !== 0 || line === undefined) return `failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-1)[0]?.slice(0, 100) ?? ''}`;
  return JSON.parse(line.slice(8)) as CryptenResult;
}

interface Row {
  model: string;
  run: string;
  repetition: number;
  result?: ModelResult | CryptenResult;
  note?: string;
  loadBefore: number;
  loadAfter: number;
}

/** Secure inference of each model (short names tiny, mini, base) under each protocol family, then CrypTen on the same shape; prints the table. */
async function runModels(models: readonly string[], threads: number, seq: number, protocols: readonly string[], crypten: boolean, load = 0, repeat = 1, fromSources = false, preprocessFirst = false): Promise<void> {
  const rows: Row[] = [];
  // The runs use the compiled package, as `ig3dc` does: build it from the sources first.
  if (!fromSources) {
    console.error('building the package (dist/) from the sources...');
    execFileSync(process.execPath, [join(HERE, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(HERE, '..', 'tsconfig.build.json')], { stdio: 'inherit' });
  }
  const found = crypten ? findCrypten() : { missing: 'left out (--no-crypten)' };
  const missing = 'missing' in found ? found.missing : undefined;
  const busy = startLoad(load);
  try {
    for (const name of models) for (let repetition = 0; repetition < repeat; repetition++) {
      for (const proto of protocols) {
        // Every family runs with the same threads (the worker threads' simulated dealer streams each party its own words, FSS keys included).
        console.error(`secure inference: bert-${name}, seq ${seq}, protocols ${proto}, ${threads === 2 ? 'two worker threads' : 'one thread'}...`);
        const loadBefore = loadavg()[0]!;
        const out = execFileSync(
          process.execPath,
          ['--max-old-space-size=8192', '--import', 'tsx', fileURLToPath(import.meta.url), '--one', name, '--threads', String(threads), '--seq', String(seq), '--protocols', proto, ...(fromSources ? ['--from-sources'] : []), ...(preprocessFirst ? ['--preprocess-first'] : []), ...(arg('--link') !== undefined ? ['--link', arg('--link')!] : [])],
          // The environment `ig3dc run` gives itself (runtime/malloc-tuning.ts).
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, env: tunedEnv(process.env) ?? process.env },
        );
        const line = out.split('\n').find((l) => l.startsWith('RESULT '));
        if (line === undefined) throw new Error(`no result for ${name}:\n${out}`);
        rows.push({ model: name, run: `ig3dc ${proto}${arg('--link') !== undefined ? ` (link ${arg('--link')})` : ''}`, repetition, result: JSON.parse(line.slice(7)) as ModelResult, loadBefore, loadAfter: loadavg()[0]! });
      }
      const loadBefore = loadavg()[0]!;
      if (missing !== undefined) {
        rows.push({ model: name, run: 'CrypTen', repetition, note: missing, loadBefore, loadAfter: loadBefore });
        continue;
      }
      console.error(`CrypTen: bert-${name} shape, seq ${seq}, two processes...`);
      const r = runCrypten((found as { python: string }).python, name, seq);
      rows.push({ model: name, run: 'CrypTen', repetition, ...(typeof r === 'string' ? { note: r } : { result: r }), loadBefore, loadAfter: loadavg()[0]! });
    }
  } finally {
    for (const p of busy) p.kill();
  }
  console.log(`\nsecure inference, batch 1, seq ${seq}, vocabulary 30522 (ig3dc: ${threads === 2 ? 'two worker threads' : 'one thread'}; CrypTen: two processes, one thread each; cpu = all threads)`);
  console.log(`malloc of the ig3dc runs: ${mallocSetting(tunedEnv(process.env) ?? process.env)} (as \`ig3dc run\` sets it; ${MALLOC_TUNING_VAR}=off for glibc's defaults)`);
  console.log(load > 0 ? `competing load: ${load} busy-loop process${load > 1 ? 'es' : ''} (one core each) running throughout` : 'competing load: none started by the bench (other users of the machine: see load 1m)');
  if (!('missing' in found)) console.log(`CrypTen: ${found.python}, ${found.versions}`);
  const head = ['model', 'run', 'wall s', 'cpu s', 'peak RSS GB', 'load 1m', 'wall / CrypTen', 'cpu / CrypTen', 'rounds', 'GB on wire', 'max err', 'argmax', 'counts'];
  const table = rows.map((row) => {
    const run = repeat > 1 ? `${row.run} #${row.repetition + 1}` : row.run;
    const c = rows.find((x) => x.model === row.model && x.repetition === row.repetition && x.run === 'CrypTen')?.result;
    const cr = c !== undefined && 'wallSeconds' in c ? c : undefined;
    const load = `${row.loadBefore.toFixed(1)}-${row.loadAfter.toFixed(1)}`;
    if (row.result === undefined) return [`bert-${row.model}`, run, row.note?.startsWith('not installed') === true ? 'not installed' : row.note?.startsWith('left out') === true ? 'left out' : 'failed', '', '', load, '', '', '', '', '', '', ''];
    const r = row.result;
    const ig = 'secureSeconds' in r ? r : undefined;
    const wall = ig !== undefined ? ig.secureSeconds : (r as CryptenResult).wallSeconds;
    const cpu = ig !== undefined ? ig.secureCpuSeconds : (r as CryptenResult).cpuSeconds;
    return [
      `bert-${row.model}`,
      run,
      wall.toFixed(1),
      cpu.toFixed(1),
      (r.peakRssBytes / 1e9).toFixed(2),
      load,
      cr !== undefined && ig !== undefined ? (wall / cr.wallSeconds).toFixed(2) : '-',
      cr !== undefined && ig !== undefined ? (cpu / cr.cpuSeconds).toFixed(2) : '-',
      ig !== undefined ? String(ig.rounds) : '-',
      ig !== undefined ? (ig.bytesTotal / 1e9).toFixed(2) : '-',
      ig !== undefined ? ig.maxAbsError.toExponential(1) : '-',
      ig !== undefined ? (ig.argmaxAgree ? 'same' : 'DIFFERS') : '-',
      ig !== undefined ? (ig.countsMatch ? 'measured==static' : 'MISMATCH') : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [head, ...table]) console.log(row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  if (repeat > 1) {
    const times = (model: string, run: string): { wall: number; cpu: number }[] =>
      rows.filter((x) => x.model === model && x.run === run && x.result !== undefined).map((x) => {
        const r = x.result!;
        return 'secureSeconds' in r ? { wall: r.secureSeconds, cpu: r.secureCpuSeconds } : { wall: r.wallSeconds, cpu: r.cpuSeconds };
      });
    for (const model of models) for (const proto of protocols) {
      const ig = times(model, `ig3dc ${proto}`);
      const cr = times(model, 'CrypTen');
      const best = proto !== 'best' ? times(model, 'ig3dc best') : [];
      if (ig.length === 0) continue;
      const [iw, ic] = [median(ig.map((t) => t.wall)), median(ig.map((t) => t.cpu))];
      const cw = cr.length > 0 ? median(cr.map((t) => t.wall)) : 0;
      const vsCrypten = cr.length > 0 ? `; / CrypTen ${cw.toFixed(1)} s wall = ${(iw / cw).toFixed(2)}, cpu ${(ic / median(cr.map((t) => t.cpu))).toFixed(2)}` : '';
      const vsBest = best.length > 0 ? `; ${(iw / median(best.map((t) => t.wall))).toFixed(2)}x best's wall, ${(ic / median(best.map((t) => t.cpu))).toFixed(2)}x its cpu` : '';
      console.log(`bert-${model} ig3dc ${proto}, medians of ${ig.length} alternating runs: wall ${iw.toFixed(1)} s, cpu ${ic.toFixed(1)} s${vsBest}${vsCrypten}`);
    }
  }
  const phased = rows.filter((x) => x.result !== undefined && 'phases' in x.result && x.result.phases !== undefined);
  if (phased.length > 0) {
    console.log("\npreprocessing first (--preprocess-first): the dealer's thread makes and posts every word, then the parties run; wall and CPU of each phase (peak RSS above holds every dealer word at once)");
    const ph = [['model', 'run', 'dealer phase wall s', 'cpu s', 'online wall s', 'cpu s', 'online wall / best']];
    for (const x of phased) {
      const p = (x.result as ModelResult).phases!;
      const best = phased.find((y) => y.model === x.model && y.repetition === x.repetition && y.run === 'ig3dc best');
      const bw = best !== undefined ? (best.result as ModelResult).phases!.onlineSeconds : undefined;
      ph.push([`bert-${x.model}`, repeat > 1 ? `${x.run} #${x.repetition + 1}` : x.run, p.preprocessingSeconds.toFixed(1), p.preprocessingCpuSeconds.toFixed(1), p.onlineSeconds.toFixed(1), p.onlineCpuSeconds.toFixed(1), bw !== undefined ? (p.onlineSeconds / bw).toFixed(2) : '-']);
    }
    const w = ph[0]!.map((_, i) => Math.max(...ph.map((r) => r[i]!.length)));
    for (const r of ph) console.log(r.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
    if (repeat > 1) {
      // Medians over the alternating repetitions: the machine's noise is larger than the differences looked for.
      for (const model of models) {
        const of = (run: string): PhaseTimes[] => phased.filter((x) => x.model === model && x.run === run).map((x) => (x.result as ModelResult).phases!);
        const bestRuns = of('ig3dc best');
        const bestOnline = bestRuns.length > 0 ? median(bestRuns.map((p) => p.onlineSeconds)) : undefined;
        for (const proto of protocols) {
          const ps = of(`ig3dc ${proto}`);
          if (ps.length === 0) continue;
          const m = (f: (p: PhaseTimes) => number): string => median(ps.map(f)).toFixed(1);
          const online = median(ps.map((p) => p.onlineSeconds));
          console.log(`bert-${model} ig3dc ${proto}, medians of ${ps.length} alternating runs: dealer phase ${m((p) => p.preprocessingSeconds)} s wall / ${m((p) => p.preprocessingCpuSeconds)} s CPU; online ${online.toFixed(1)} s wall / ${m((p) => p.onlineCpuSeconds)} s CPU${bestOnline !== undefined ? `, ${(online / bestOnline).toFixed(2)}x best's online wall` : ''}`);
        }
      }
    }
  }
  console.log('wall / CrypTen: target <= 0.50; peak RSS: target <= 3 GB; load 1m: the 1-minute load average before and after the run (2 cores)');
  for (const note of new Set(rows.filter((r) => r.note !== undefined).map((r) => `${r.run}: ${r.note!}`))) console.log(note);
}

/** N processes that each keep one core busy until killed (a competing load for both systems alike). */
function startLoad(n: number): ChildProcess[] {
  // Each one also stops when this process is gone (its parent changes), so a killed bench leaves no load behind.
  const loop = 'const p = process.ppid; for (let i = 0; ; i++) if (i % 1e8 === 0 && process.ppid !== p) process.exit(0);';
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
}

export const runtimeBenchmark: Benchmark = {
  name: 'runtime',
  summary: 'ring matmul throughput; secure inference (best and fss, two worker threads) at seq 128 next to CrypTen on the same shape in the same run',
  cases: ['matmul', 'bert-tiny', 'bert-mini', 'bert-base'],
  run: async (cases) => {
    if (cases.includes('matmul')) matmulBench();
    const models = cases.filter((c) => c !== 'matmul').map((c) => NAMES[c]!);
    if (models.length > 0) await runModels(models, 2, 128, ['best', 'fss'], true);
  },
};

/** `best,fss` -> [best, fss]; an option `key=value` belongs to the preset before it: `best,linear=beaver,best` -> [best,linear=beaver; best]. */
export function protocolFamilies(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',')) {
    if (part.includes('=') && out.length > 0) out[out.length - 1] += `,${part}`;
    else out.push(part);
  }
  return out;
}

async function main(): Promise<void> {
  const threads = Number(arg('--threads') ?? 2);
  const seq = Number(arg('--seq') ?? 128);
  const protocols = arg('--protocols') ?? 'best,fss';
  const one = arg('--one');
  const fromSources = process.argv.includes('--from-sources');
  const preprocessFirst = process.argv.includes('--preprocess-first');
  if (preprocessFirst && threads !== 2) throw new Error('--preprocess-first: the dealer has a thread of its own only with --threads 2');
  if (arg('--link') !== undefined && threads !== 2) throw new Error('--link: the emulated network joins the two parties\' threads: only with --threads 2');
  linkArg(); // a bad spec fails here, before any run
  if (one !== undefined) return oneModel(one, threads, seq, protocols, fromSources, preprocessFirst);
  matmulBench();
  if (process.argv.includes('--matmul')) return;
  const load = Number(arg('--load') ?? 0);
  if (!Number.isInteger(load) || load < 0) throw new Error(`--load: expected a number of busy processes (0, 1, 2, ...), got ${arg('--load')}`);
  const repeat = Number(arg('--repeat') ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat: expected a number of repetitions (1, 2, ...), got ${arg('--repeat')}`);
  await runModels((arg('--models') ?? 'tiny,mini,base').split(','), threads, seq, protocolFamilies(protocols), !process.argv.includes('--no-crypten'), load, repeat, fromSources, preprocessFirst);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
