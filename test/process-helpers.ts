// `ig3dc` commands as child processes, always cleaned up: each is killed at its deadline and
// by `killAll` (call it in afterEach).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CircuitBuilder, beaverMatmul, beaverMul, beaverSquare, writeCircuitFile, type Circuit } from '../ir/circuit/index.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/ig3dc.js');

export interface Exited {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<Exited>;
  /** The port the process says it listens on. */
  readonly port: Promise<number>;
  /** Resolves when stderr matches. */
  readonly when: (re: RegExp) => Promise<void>;
}

const live = new Set<ChildProcess>();

export function ig3dc(args: readonly string[], deadlineMs = 240_000, env: NodeJS.ProcessEnv = {}): Running {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of watchers.splice(0)) (w.re.test(stderr) ? w.resolve : () => watchers.push(w))();
  });
  const when = (re: RegExp): Promise<void> =>
    new Promise((resolve) => {
      if (re.test(stderr)) resolve();
      else watchers.push({ re, resolve });
    });
  const port = when(/listening on [^\n]*:\d+/).then(() => Number(/listening on [^\n]*:(\d+)/.exec(stderr)![1]));
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const done = new Promise<Exited>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    }),
  );
  return { child, done, port, when };
}

/** Kills every process still running (SIGCONT first, in case one was stopped). */
export function killAll(): void {
  for (const c of live) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  live.clear();
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ig3dc-deploy-'));
}

/** Writes a circuit file with its weights bundle (party 0's weights are named w*). */
export function writeCircuitWithWeights(dir: string, name: string, c: Circuit, weights: Record<string, { shape: number[]; data: number[] }>): string {
  const path = join(dir, `${name}.circuit`);
  writeCircuitFile(path, c);
  const tensors: Record<string, unknown> = {};
  const bins: Buffer[] = [];
  let offset = 0;
  for (const [k, t] of Object.entries(weights)) {
    const b = Buffer.from(new Float32Array(t.data).buffer);
    tensors[k] = { dtype: 'float32', shape: t.shape, offset, nbytes: b.length };
    bins.push(b);
    offset += b.length;
  }
  writeFileSync(join(dir, `${name}.weights.bin`), Buffer.concat(bins));
  writeFileSync(join(dir, `${name}.weights.json`), JSON.stringify({ format: 'ig3dc-tensor-bundle/1', bin: `${name}.weights.bin`, tensors }));
  return path;
}

export function writeCases(dir: string, inputs: Record<string, { shape: number[]; data: number[] }>): string {
  const path = join(dir, 'cases.json');
  const ins = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { dtype: 'float64', shape: t.shape, data: t.data }]));
  writeFileSync(path, JSON.stringify({ format: 'ig3dc-cases/1', cases: [{ name: 'c0', inputs: ins }] }));
  return path;
}

/** y = (x @ w)^2 on small shapes: one preprocessing round and a handful of online ones. */
export function quickCircuit(): Circuit {
  const b = new CircuitBuilder({ name: 'quick' });
  const x = b.input('x', 1, [2, 3]);
  const w = b.input('w', 0, [3, 4]);
  b.output(beaverSquare(b, beaverMatmul(b, x, w)), 'y');
  return b.build();
}
export const quickX = { shape: [2, 3], data: [0.5, -1, 0.25, 2, 0, -0.75] };
export const quickW = { shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => ((i % 5) - 2) / 4) };

/** Many rounds of squaring a wide vector (values in (-1, 1) stay there): runs for seconds, long enough to fault mid-run. */
export function longCircuit(rounds: number, width: number): Circuit {
  const b = new CircuitBuilder({ name: 'long' });
  const x = b.input('x', 1, [width]);
  const w = b.input('w', 0, [width]);
  let y = beaverMul(b, x, w);
  for (let i = 0; i < rounds; i++) y = beaverSquare(b, y);
  b.output(y, 'y');
  return b.build();
}
