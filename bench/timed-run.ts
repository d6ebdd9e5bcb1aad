// One secure run of a circuit for a benchmark, in process or in two worker threads: wall and
// CPU seconds (all threads of this process), the 1-minute, 5-minute and 15-minute load before
// it, and the measured cost checked against the static cost (a bench that times a protocol
// must not time a run whose cost differs from what the compiler says).

import { loadavg } from 'node:os';
import { circuitCost, costSummary, type Circuit } from '../ir/circuit/index.ts';
import { runCircuit, runCircuitWorkers } from '../runtime/index.ts';

type RunOptions = Parameters<typeof runCircuit>[1];
type RunResult = ReturnType<typeof runCircuit>;

export interface TimedRun {
  readonly result: RunResult;
  readonly wall: number;
  readonly cpu: number;
  /** The load averages before the run, as printed. */
  readonly load: string;
}

export async function timedRun(c: Circuit, opts: RunOptions, threads: 1 | 2, label: string): Promise<TimedRun> {
  const load = loadavg().map((v) => v.toFixed(2)).join(' ');
  const t0 = performance.now();
  const u0 = process.cpuUsage();
  const result = threads === 2 ? await runCircuitWorkers(c, opts) : runCircuit(c, opts);
  const wall = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  const { byRound: _, ...measured } = result.cost;
  if (JSON.stringify(costSummary(measured)) !== JSON.stringify(costSummary(circuitCost(c)))) throw new Error(`${label}: measured cost differs from the static cost`);
  return { result, wall, cpu: (u.user + u.system) / 1e6, load };
}
