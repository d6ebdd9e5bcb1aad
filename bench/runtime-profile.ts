// Secure inference of one bench model only (no plaintext run, no CrypTen): for A/B timing of
// runtime changes and for `node --cpu-prof`. Prints one JSON line: wall and CPU seconds (user
// and system apart: in a VM, page faults on fresh arrays show up as system time), minor page
// faults, peak RSS, the 1-minute load average before and after, and digests of the outputs
// and of the transcript, so that a change can be checked to leave the run bit-identical.
// In one thread, also the buffer pool's fresh and reused bytes and the sizes most often
// allocated fresh. The model is the one bench/runtime.ts writes to bench/out (run that once).
//
//   npx tsx bench/runtime-profile.ts mini                 # two worker threads
//   npx tsx bench/runtime-profile.ts base --threads 1 --transcript
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/runtime-profile.ts mini --threads 1
//   npx tsx bench/runtime-profile.ts base --protocols fss --preprocess-first   # online phase apart
//
// It runs with this process's malloc (the JSON says which): `ig3dc run` and bench/runtime.ts's
// runs add glibc tunables (runtime/malloc-tuning.ts); for the same here, start it with
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../ir/tensor.ts';
import { loadModel } from '../compiler/load.ts';
import { compileModel } from '../compiler/backend/compile.ts';
import { hist, poolStats } from '../ir/ring/pool.ts';
import { runCircuit, runCircuitWorkers } from '../runtime/index.ts';
import { mallocSetting } from '../runtime/malloc-tuning.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? 'mini';
  const threads = Number(arg('--threads') ?? 2);
  const seq = Number(arg('--seq') ?? 128);
  const protocols = arg('--protocols') ?? 'best';
  const transcript = process.argv.includes('--transcript');
  const preprocessFirst = process.argv.includes('--preprocess-first');
  if (preprocessFirst && threads !== 2) throw new Error('--preprocess-first needs --threads 2 (the dealer has a thread of its own)');
  const file = join(HERE, 'out', name === 'base' ? 'bert-base.onnx' : `bert-${name}-v30522.onnx`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run bench/runtime.ts --one ${name} once (it writes the model)`);
  const compiled = compileModel(loadModel(file, { batch: 1, seq }), { protocols });
  // The same inputs as bench/runtime.ts.
  const ids = Tensor.from('i64', [1, seq], Array.from({ length: seq }, (_, i) => BigInt(i === 0 ? 101 : i === seq - 1 ? 102 : 1000 + ((i * 7919) % 997))));
  const all = new Map<string, Tensor>([
    ['input_ids', ids],
    ['attention_mask', Tensor.from('i64', [1, seq], new Array<bigint>(seq).fill(1n))],
    ['token_type_ids', Tensor.from('i64', [1, seq], new Array<bigint>(seq).fill(0n))],
  ]);
  const own = new Set(compiled.circuit.inputs.filter((i) => i.party === 1).map((i) => i.name));
  const opts = { inputs: new Map([...all].filter(([k]) => own.has(k))), weights: compiled.weights, seed: new Uint8Array(16).fill(1), transcript, preprocessFirst };
  const load0 = loadavg()[0]!;
  const faults0 = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = threads === 2 ? await runCircuitWorkers(compiled.circuit, opts) : runCircuit(compiled.circuit, opts);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const h = createHash('sha256');
  for (const [k, t] of [...r.outputs].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(k).update(new Uint8Array(t.toFloat64().buffer));
  const fresh = [...hist].sort((a, b) => b[0] * b[1] - a[0] * a[1]).slice(0, 8);
  console.log(
    JSON.stringify({
      model: name,
      threads,
      protocols,
      wallSeconds: +wall.toFixed(2),
      cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      systemSeconds: +(cpu.system / 1e6).toFixed(2),
      minorPageFaults: process.resourceUsage().minorPageFault - faults0,
      peakRssGB: +((process.resourceUsage().maxRSS * 1024) / 1e9).toFixed(2),
      load1m: [load0, loadavg()[0]!],
      malloc: mallocSetting(),
      ...(r.phases !== undefined ? { phases: r.phases } : {}),
      ringMacs: r.ringMacs,
      outputs: h.digest('hex').slice(0, 16),
      transcript: r.transcriptHash.slice(0, 16),
      ...(threads === 1 ? { poolFreshGB: +(poolStats.fresh / 1e9).toFixed(2), poolReusedGB: +(poolStats.reused / 1e9).toFixed(2), freshBySize: fresh.map(([n, k]) => `${n}x${k}`) } : {}),
    }),
  );
}

await main();
