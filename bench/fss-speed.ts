// DCF speed (ir/ring/dcf.ts, ir/circuit/gates/fss*.ts) on its own: the dealer's key generation
// and a party's evaluation, at one point per key (a ReLU) and at a spline's breakpoints (GELU,
// exp), on the sizes a BERT layer has. Wall and CPU seconds per case, with the load average
// (the machine is shared: CPU seconds say more than wall).
//
//   npx tsx bench/fss-speed.ts [--n 32768] [--bits 64] [--reps 3]

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { expTable, geluTable } from '../compiler/backend/protocols/spline.ts';
import { fssKeys, fssKeyWords, fssSignShares, type FssMode } from '../ir/circuit/gates/fss.ts';
import { splineShares, splineMode, type SplineTable } from '../ir/circuit/gates/fss-spline.ts';
import { table } from './table.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const rand = (n: number): BigUint64Array => {
  const b = randomBytes(8 * n);
  return new BigUint64Array(b.buffer, b.byteOffset, n);
};

interface Keys {
  readonly key: [BigUint64Array, BigUint64Array];
  readonly r: [BigUint64Array, BigUint64Array];
  readonly rho: BigUint64Array;
}

/** Both parties' keys for n comparisons (as the gate assembles them). */
function makeKeys(mode: FssMode, bits: number, n: number): Keys {
  const g = mode === 'ltz' ? 1 : 2;
  const rho = rand(n);
  const r0 = rand(n);
  const r1 = new BigUint64Array(n);
  for (let i = 0; i < n; i++) r1[i] = BigInt.asUintN(64, -rho[i]! - r0[i]!);
  const roots = [randomBytes(16 * n), randomBytes(16 * n)] as const;
  const p0c = rand(g * n);
  const [toP0, toP1] = fssKeys(mode, bits, rho, roots, p0c);
  const key = (p: 0 | 1): BigUint64Array => {
    const k = new BigUint64Array(fssKeyWords(bits, mode) * n);
    k.set(new BigUint64Array(roots[p].buffer, roots[p].byteOffset, 2 * n), 0);
    if (p === 0) k.set(p0c, 2 * n), k.set(toP0, (2 + g) * n);
    else k.set(toP1, 2 * n);
    return k;
  };
  return { key: [key(0), key(1)], r: [r0, r1], rho };
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
  add(`eval relu ${bits}-bit (one party)`, 1, () => fssSignShares('relu', bits, 0, X, k.r[0], k.key[0]));
  const splines: [string, SplineTable][] = [
    ['gelu', geluTable('erf', 16)],
    ['exp', expTable(16)],
  ];
  for (const [name, t] of splines) {
    const mode = splineMode(t);
    const ks = makeKeys(mode, bits, n);
    // Inputs within the table's range (|x| < 8 at 16 fractional bits), masked.
    const xs = BigUint64Array.from({ length: n }, (_, i) => BigInt.asUintN(64, BigInt(((i * 7919) % (16 << 16)) - (8 << 16)) + ks.rho[i]!));
    add(`spline ${name} ${bits}-bit ${mode} (one party)`, t.knots.length, () => splineShares(t, mode, bits, 0, xs, ks.r[0], ks.key[0]));
  }
  console.log(`DCF speed, ${n} keys, best of ${reps}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);
  console.log(table(rows));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
