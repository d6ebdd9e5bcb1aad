// DCF speed (ir/ring/dcf.ts, ir/circuit/gates/fss*.ts) on its own: the dealer's key generation
// and a party's evaluation, at one point per key (a ReLU) and at a spline's breakpoints (GELU,
// exp, in linear, quadratic and cubic pieces), on the sizes a BERT layer has. Wall and CPU
// seconds per case, with the load average (the machine is shared: CPU seconds say more than
// wall).
//
//   npx tsx bench/fss-speed.ts [--n 32768] [--bits 64] [--reps 3]
//   npx tsx bench/fss-speed.ts --keygen bert-base [--seq 128]
//
// --keygen: the dealer's FSS key generation alone for a whole model compiled with
// --protocols fss (bench/out's generated BERT shapes, vocabulary 30522): every fss_key's
// material, one instruction at a time as the dealer streams it, with wall, CPU and peak RSS;
// each instruction's words go back to the lent pool once made, as the parties hand them back
// (or the TCP dealer once it has framed them), so later layers' keys reuse the buffers.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { expCubicTable, expQuadTable, expTable, geluCubicTable, geluTable } from '../compiler/backend/protocols/spline.ts';
import { fssEvalShares, fssKeys, fssOwnWords, type FssMode } from '../ir/circuit/gates/fss.ts';
import { splineShares, splineMode, type SplineTable } from '../ir/circuit/gates/fss-spline.ts';
import { table } from './table.ts';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { findCircuitOp } from '../ir/circuit/ops.ts';
import { numel } from '../ir/types.ts';
import { deriveSeeds } from '../runtime/index.ts';
import { recycle } from '../ir/ring/pool.ts';
import { modelFile, SHAPES } from './compile.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const rand = (n: number): BigUint64Array => {
  const b = randomBytes(8 * n);
  return new BigUint64Array(b.buffer, b.byteOffset, n);
};

interface Keys {
  /** Per party: the correction words and its own words (root seeds | constant shares), as the gate's two key registers. */
  readonly key: [[BigUint64Array, BigUint64Array], [BigUint64Array, BigUint64Array]];
  readonly r: [BigUint64Array, BigUint64Array];
  readonly rho: BigUint64Array;
}

/** Both parties' keys for n comparisons (as the gate assembles them). */
function makeKeys(mode: FssMode, bits: number, n: number, drop = 0): Keys {
  const g = mode === 'ltz' ? 1 : 2;
  const rho = rand(n);
  const r0 = rand(n);
  const r1 = new BigUint64Array(n);
  for (let i = 0; i < n; i++) r1[i] = BigInt.asUintN(64, -rho[i]! - r0[i]!);
  const roots = [randomBytes(16 * n), randomBytes(16 * n)] as const;
  const p0c = rand(g * n);
  const [toP0, toP1] = fssKeys(mode, bits, rho, roots, p0c, drop);
  const own = (p: 0 | 1): BigUint64Array => {
    const k = new BigUint64Array(fssOwnWords(mode) * n);
    k.set(new BigUint64Array(roots[p].buffer, roots[p].byteOffset, 2 * n), 0);
    k.set(p === 0 ? p0c : toP1.subarray(0, g * n), 2 * n);
    return k;
  };
  return { key: [[toP0, own(0)], [toP1.subarray(g * n), own(1)]], r: [r0, r1], rho };
}

function timed<T>(f: () => T): { s: number; cpu: number; v: T } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const v = f();
  const c = process.cpuUsage(c0);
  return { s: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, v };
}

function main(): void {
  const n = arg('--n', 32768);
  const bits = arg('--bits', 64);
  const reps = arg('--reps', 3);
  const rows: string[][] = [['case', 'keys', 'points/key', 'wall s (best)', 'CPU s (best)', 'us/key', 'us/point']];
  const add = (name: string, points: number, f: () => unknown): void => {
    let best = { s: Infinity, cpu: Infinity };
    for (let i = 0; i < reps; i++) {
      const t = timed(f);
      if (t.s < best.s) best = t;
    }
    rows.push([name, String(n), String(points), best.s.toFixed(3), best.cpu.toFixed(3), ((best.s / n) * 1e6).toFixed(2), ((best.s / n / points) * 1e6).toFixed(3)]);
  };
  for (const mode of ['ltz', 'relu'] as const) add(`gen ${mode} ${bits}-bit`, 1, () => makeKeys(mode, bits, n));
  const k = makeKeys('relu', bits, n);
  const x = rand(n);
  const X = x.map((v, i) => BigInt.asUintN(64, v + k.rho[i]!));
  add(`eval relu ${bits}-bit (one party)`, 1, () => fssEvalShares('relu', bits, 0, X, k.r[0], ...k.key[0]));
  // Each table on `bits` bits with all its input bits, then on the widths BERT-base's keys have
  // (GELU 23, exp 32: compile with --protocols fss and see the report's key widths) ignoring the
  // low bits the table allows, as the circuit evaluates it. Inputs on the table's range, masked.
  const splines: [string, SplineTable, number, number, number][] = [
    ['gelu', geluTable('erf', 16), 23, -8, 8],
    ['gelu cubic', geluCubicTable('erf', 16), 23, -8, 8],
    ['exp', expTable(16), 32, -17, 0],
    ['exp quadratic', expQuadTable(16), 32, -17, 0],
    ['exp cubic', expCubicTable(16), 32, -17, 0],
  ];
  for (const [name, t, width, lo, hi] of splines) {
    const mode = splineMode(t);
    for (const [w, drop] of [[bits, 0], [width, t.drop ?? 0]] as const) {
      if (w === bits && drop === 0 && name.includes(' ')) continue; // the linear tables show the full width
      const ks = makeKeys(mode, w, n, drop);
      const span = Math.round((hi - lo) * 2 ** 16);
      const xs = BigUint64Array.from({ length: n }, (_, i) => BigInt.asUintN(64, BigInt(((i * 7919) % span) + Math.round(lo * 2 ** 16)) + ks.rho[i]!));
      add(`spline ${name} ${w}-bit drop ${drop} ${mode} (one party)`, t.knots.length, () => splineShares(t, mode, w, 0, xs, ks.r[0], ...ks.key[0], drop));
    }
  }
  console.log(`DCF speed, ${n} keys, best of ${reps}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);
  console.log(table(rows));
}

/** The dealer's key generation for every fss_key of a model, one instruction at a time. */
function keygen(shape: string, seq: number): void {
  const s = SHAPES.find((x) => x.name === shape);
  if (s === undefined) throw new Error(`--keygen: one of ${SHAPES.map((x) => x.name).join(', ')}`);
  const c = compileModel(loadModel(modelFile(s), { batch: 1, seq }), { protocols: 'fss' });
  const seeds = deriveSeeds(new Uint8Array(16));
  const gate = findCircuitOp('fss_key')!.dealer!;
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let keys = 0;
  let bytes = 0;
  let maxBytes = 0;
  const load0 = os.loadavg()[0]!;
  const faults0 = process.resourceUsage().minorPageFault;
  const t = timed(() => {
    for (const ins of c.circuit.instructions) {
      if (ins.op !== 'fss_key') continue;
      const words = gate.send(ins, c.circuit.registers, seeds);
      keys += numel(c.circuit.registers[ins.outputs[0]!]!.shape);
      const b = words.reduce((a, w) => a + (w?.byteLength ?? 0), 0);
      bytes += b;
      maxBytes = Math.max(maxBytes, b);
      peak = Math.max(peak, process.memoryUsage().rss);
      for (const w of words) if (w !== undefined) recycle(w);
    }
  });
  console.log(
    `fss key generation alone, ${shape} (vocab 30522), batch 1, seq ${seq}: ${keys} keys, ${(bytes / 1e9).toFixed(2)} GB to the parties (largest instruction ${(maxBytes / 1e9).toFixed(2)} GB); ` +
      `${t.s.toFixed(1)} s wall, ${t.cpu.toFixed(1)} s CPU (${((t.cpu / keys) * 1e6).toFixed(1)} us CPU per key), ${((process.resourceUsage().minorPageFault - faults0) / 1e3).toFixed(0)}k page faults; RSS ${(rss0 / 1e9).toFixed(2)} GB -> peak ${(peak / 1e9).toFixed(2)} GB; load 1m ${load0.toFixed(1)}-${os.loadavg()[0]!.toFixed(1)} (${os.cpus().length} CPUs)`,
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--keygen');
  if (i >= 0) keygen(process.argv[i + 1]!, arg('--seq', 128));
  else main();
}
