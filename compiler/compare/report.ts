// The method comparison for people (one table, the layout of IG-3D's Fig. 2 with each
// method's knob and whether it stays within the budget) and for machines (one JSON object).

import { basename } from 'node:path';
import { fmtBytes, fmtSeconds, textTable } from '../backend/report/format.ts';
import type { CompareResult, MethodRow } from './compare-methods.ts';

export const COMPARE_JSON_FORMAT = 'ig3dc-compare-methods/1';

const pct = (x: number): string => `${x.toFixed(2)}%`;
const pp = (x: number): string => (Math.abs(x) < 5e-9 ? '0.00' : x.toFixed(2));
const times = (x: number): string => `${x.toFixed(2)}x`;

const HEADER = ['method', 'knob', 'heads', 'accuracy', 'loss (pp)', 'within budget', 'rounds', 'communication', 'LAN latency', 'WAN latency', 'speedup LAN', 'speedup WAN'];

function cells(m: MethodRow): string[] {
  return [
    m.method === 'baseline' ? 'baseline' : `${m.method} (${m.system})`,
    m.knob,
    m.heads,
    `${pct(m.accuracy)} (${m.correct}/${m.rows})`,
    pp(m.accuracyLoss),
    m.method === 'baseline' ? '-' : m.withinBudget ? 'yes' : 'NO',
    String(m.rounds),
    fmtBytes(m.bytesTotal),
    fmtSeconds(m.latencySeconds.lan),
    fmtSeconds(m.latencySeconds.wan),
    times(m.speedup.lan),
    times(m.speedup.wan),
  ];
}

export function formatCompareReport(r: CompareResult): string {
  const via = r.accuracyBackend === 'onnxruntime' ? 'onnxruntime' : 'the plaintext evaluator';
  const lines = [
    `ig3dc compare-methods ${basename(r.model)}: accuracy on all ${r.rows} rows (${r.rowShape}) of ${basename(r.data)} by ${via}; budget ${r.maxAccLoss} pp of accuracy loss`,
    `cost: ${r.protocols} protocols, batch ${r.costBatch}, static (from the circuit); heads ranked by ${basename(r.importance)}`,
    '',
    textTable(HEADER, r.methods.map(cells)),
    '',
    'configurations:',
  ];
  for (const m of r.methods) {
    if (m.method === 'baseline') continue;
    lines.push(`  ${m.method}: ${m.pipeline === '' ? '(no passes)' : m.pipeline}  [${m.configs.costed} costed, ${m.configs.measured} measured]`);
    if (m.note !== undefined) lines.push(`    over the budget: ${m.note}`);
  }
  lines.push('', `${r.seconds.toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

export function compareJson(r: CompareResult): Record<string, unknown> {
  return { format: COMPARE_JSON_FORMAT, ...r };
}
