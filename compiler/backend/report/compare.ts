// Baseline vs optimized, in the layout of the IG-3D paper's Table 5: method, rounds,
// communication (GB), latency LAN / WAN (s), speedup, communication reduction. Communication
// is everything on the wire (both directions, online and preprocessing, as CrypTen counts
// its opened weight masks online); speedup is baseline latency / optimized latency.

import type { Compiled } from '../compile.ts';
import { textTable } from './format.ts';
import { estimateLatency, PROFILES } from './latency.ts';

export interface CompareRow {
  readonly method: string;
  readonly rounds: number;
  readonly communicationGB: number;
  readonly latencySeconds: Readonly<Record<string, number>>;
  readonly speedup: Readonly<Record<string, number>>;
  /** 1 - comm / baseline comm (0 for the baseline). */
  readonly communicationReduction: number;
}

export function describeMethod(c: Compiled): string {
  return `${c.pipeline.length === 0 ? '(no passes)' : c.pipeline.join(',')} [${c.protocols.name}]`;
}

export function compareRows(baseline: Compiled, optimized: Compiled): CompareRow[] {
  const lat = (c: Compiled): Record<string, number> => Object.fromEntries(PROFILES.map((p) => [p.name, estimateLatency(c.cost, p).seconds]));
  const bl = lat(baseline);
  const row = (label: string, c: Compiled): CompareRow => {
    const l = lat(c);
    return {
      method: label,
      rounds: c.cost.rounds,
      communicationGB: c.cost.bytesTotal / 1e9,
      latencySeconds: l,
      speedup: Object.fromEntries(PROFILES.map((p) => [p.name, bl[p.name]! / l[p.name]!])),
      communicationReduction: 1 - c.cost.bytesTotal / baseline.cost.bytesTotal,
    };
  };
  return [row(`baseline: ${describeMethod(baseline)}`, baseline), row(`optimized: ${describeMethod(optimized)}`, optimized)];
}

export function formatComparison(baseline: Compiled, optimized: Compiled): string {
  const rows = compareRows(baseline, optimized);
  const names = PROFILES.map((p) => p.name.toUpperCase());
  return [
    'baseline vs optimized (IG-3D Table 5 layout; communication = bytes on the wire, both phases; speedup = baseline / optimized latency)',
    textTable(
      ['method', 'rounds', 'comm (GB)', ...names.map((n) => `${n} (s)`), `speedup ${names.join('/')}`, 'comm reduction'],
      rows.map((r) => [
        r.method,
        String(r.rounds),
        r.communicationGB.toFixed(3),
        ...PROFILES.map((p) => r.latencySeconds[p.name]!.toFixed(2)),
        PROFILES.map((p) => `${r.speedup[p.name]!.toFixed(2)}x`).join(' / '),
        r.communicationReduction === 0 ? '-' : `${(100 * r.communicationReduction).toFixed(1)}%`,
      ]),
    ),
  ].join('\n');
}
