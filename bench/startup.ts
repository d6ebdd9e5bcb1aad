// Start-up benchmark: how long `ig3dc --version`, `ig3dc --help` and a party worker thread take
// to start, next to `node -e 0` measured in the same run (the floor any Node program pays).
//
// Each command runs `RUNS` times in a fresh process; the table gives the median wall time,
// the median CPU seconds (user + system, reported by the child at exit), and the ratio of the
// median wall time to node -e 0's. The worker case starts a worker thread that loads the party
// runtime (runtime/party-worker.ts's imports: dealer, kernels, drive, party, plan) and exits, once
// from the compiled dist/ and once from the TypeScript sources through tsx (how it ran before
// the package was compiled). Goal: --version and --help under 0.3 s wall on a quiet machine.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'ig3dc.js');
const DIST_WORKER_SOURCE = join(ROOT, 'dist', 'runtime', 'worker-source.js');
const RUNS = 9;
const GOAL_S = 0.3;

/** Prints the child's CPU time on stderr as it exits (stderr to a pipe is synchronous on Linux). */
const CPU_REPORTER = `data:text/javascript,process.on('exit',()=>{const u=process.cpuUsage();process.stderr.write('\\n@@cpu '+(u.user+u.system)/1e6+'\\n')})`;

interface Sample {
  wallS: number;
  cpuS: number;
}

function runOnce(args: readonly string[]): Sample {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [`--import=${CPU_REPORTER}`, ...args], { cwd: ROOT, encoding: 'utf8' });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const m = /@@cpu ([\d.e-]+)/.exec(r.stderr);
  return { wallS, cpuS: m ? Number(m[1]) : Number.NaN };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function measure(args: readonly string[]): Sample {
  const samples = Array.from({ length: RUNS }, () => runOnce(args));
  return { wallS: median(samples.map((s) => s.wallS)), cpuS: median(samples.map((s) => s.cpuS)) };
}

/** A script that starts one worker loading the party runtime, and prints the worker's start-to-exit time. */
function workerScript(compiled: boolean): string {
  // named as the callers name it: the TypeScript URL beside the calling module
  const entry = pathToFileURL(join(ROOT, ...(compiled ? ['dist'] : []), 'runtime', 'party.ts')).href;
  const loader = compiled ? DIST_WORKER_SOURCE : join(ROOT, 'runtime', 'worker-source.ts');
  const caller = pathToFileURL(loader).href;
  const pre = compiled ? '' : `const { register } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'esm', 'api', 'index.mjs')).href)}); register();`;
  return `${pre}
const { workerBootCode } = await import(${JSON.stringify(pathToFileURL(loader).href)});
const { Worker } = await import('node:worker_threads');
const t0 = performance.now();
const w = new Worker(workerBootCode(new URL(${JSON.stringify(entry)}), ${JSON.stringify(caller)}), { eval: true });
w.on('message', (m) => { console.error(m.detail); process.exitCode = 1; });
w.on('exit', () => console.log('@@worker ' + (performance.now() - t0) / 1000));`;
}

function measureWorker(compiled: boolean): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', workerScript(compiled)], { cwd: ROOT, encoding: 'utf8' });
    const m = /@@worker ([\d.e-]+)/.exec(r.stdout);
    if (r.status !== 0 || !m) throw new Error(`worker start-up failed: ${r.stderr}`);
    times.push(Number(m[1]));
  }
  return median(times);
}

const f = (s: number): string => s.toFixed(3);

export const startupBenchmark: Benchmark = {
  name: 'startup',
  summary: 'ig3dc --version / --help and a party worker thread start-up, next to node -e 0',
  cases: ['cli', 'worker'],
  async run(cases) {
    if (!existsSync(DIST_WORKER_SOURCE)) {
      console.log('startup: dist/ is missing; run `npm run build` first');
      return;
    }
    console.log(`\nstartup: median of ${RUNS} runs each, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    if (cases.includes('cli')) {
      const floor = measure(['-e', '0']);
      const rows = [['command', 'wall s', 'CPU s', 'x node -e 0', `goal < ${GOAL_S} s`]];
      rows.push(['node -e 0', f(floor.wallS), f(floor.cpuS), '1.00', '']);
      for (const [label, args] of [
        ['ig3dc --version', [BIN, '--version']],
        ['ig3dc --help', [BIN, '--help']],
      ] as const) {
        const s = measure(args);
        rows.push([label, f(s.wallS), f(s.cpuS), (s.wallS / floor.wallS).toFixed(2), s.wallS < GOAL_S ? 'met' : 'not met']);
      }
      console.log(table(rows));
    }
    if (cases.includes('worker')) {
      const compiled = measureWorker(true);
      const source = measureWorker(false);
      console.log(
        table([
          ['party worker thread (start, load runtime, exit)', 'wall s'],
          ['compiled (dist/)', f(compiled)],
          ['TypeScript sources through tsx', f(source)],
        ]),
      );
    }
  },
};
