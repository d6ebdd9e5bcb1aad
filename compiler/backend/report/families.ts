// Protocol families side by side on one model (`--compare-protocols crypten,best,fss`):
// online rounds and bytes, preprocessing bytes, the dealer's bytes to each party, and the
// latency estimates of each phase. The same rows feed the table, the JSON and the HTML.

import type { Compiled } from '../compile.ts';
import { criticalPathRounds } from './critical-path.ts';
import { fmtBytes, fmtSeconds, textTable } from './format.ts';
import { estimateDealerLatency, estimateLatency, PROFILES } from './latency.ts';

export interface FamilyRow {
  readonly protocols: string;
  readonly rounds: number;
  readonly criticalPathRounds: number;
  readonly onlineBytes: number;
  readonly preprocessingBytes: number;
  readonly dealerBytesPerParty: readonly [number, number];
  readonly onlineLatencySeconds: Readonly<Record<string, number>>;
  /** P0-P1 preprocessing (weight masks) plus shipping the dealer's material. */
  readonly preprocessingLatencySeconds: Readonly<Record<string, number>>;
}

export function familyRows(runs: readonly Compiled[]): FamilyRow[] {
  return runs.map((c) => ({
    protocols: c.protocols.name,
    rounds: c.cost.rounds,
    criticalPathRounds: criticalPathRounds(c.circuit),
    onlineBytes: c.cost.onlineBytes,
    preprocessingBytes: c.cost.preprocessingBytes,
    dealerBytesPerParty: c.cost.dealerBytesPerParty,
    onlineLatencySeconds: Object.fromEntries(PROFILES.map((p) => [p.name, estimateLatency(c.cost, p).seconds])),
    preprocessingLatencySeconds: Object.fromEntries(PROFILES.map((p) => [p.name, estimateLatency(c.cost, p, 'pre').seconds + estimateDealerLatency(c.cost, p).seconds])),
  }));
}

export const FAMILY_COLUMNS = [
  'protocols',
  'online rounds',
  'critical path',
  'online bytes',
  'preprocessing bytes',
  'dealer to P0',
  'dealer to P1',
  ...PROFILES.map((p) => `online ${p.name}`),
  ...PROFILES.map((p) => `preprocessing ${p.name}`),
];

export function familyCells(r: FamilyRow): string[] {
  return [
    r.protocols,
    String(r.rounds),
    String(r.criticalPathRounds),
    fmtBytes(r.onlineBytes),
    fmtBytes(r.preprocessingBytes),
    fmtBytes(r.dealerBytesPerParty[0]),
    fmtBytes(r.dealerBytesPerParty[1]),
    ...PROFILES.map((p) => fmtSeconds(r.onlineLatencySeconds[p.name]!)),
    ...PROFILES.map((p) => fmtSeconds(r.preprocessingLatencySeconds[p.name]!)),
  ];
}

export function formatFamilies(runs: readonly Compiled[]): string {
  return [
    'protocol families side by side (bytes on the wire, both directions; preprocessing latency = P0-P1 preprocessing + shipping the dealer material)',
    textTable(FAMILY_COLUMNS, familyRows(runs).map(familyCells)),
  ].join('\n');
}
