// The cost table `ig3dc MODEL` prints: rounds (with the critical-path bound, the count
// without merging and the preprocessing rounds), bytes (per party, on the wire, online,
// preprocessing, dealer), per op kind, per layer, and latency estimates with their formula.

import type { Compiled } from '../compile.ts';
import { layerBreakdown } from './breakdown.ts';
import { criticalPathRounds } from './critical-path.ts';
import { fmtBytes, fmtSeconds, textTable } from './format.ts';
import { fssWidthRows } from './fss-widths.ts';
import { DEALER_LATENCY_FORMULA, estimateDealerLatency, estimateLatency, LATENCY_FORMULA, phaseBytes, PROFILES } from './latency.ts';

export function formatCostTable(c: Compiled): string {
  const cost = c.cost;
  const out: string[] = [];
  const [on0, on1] = phaseBytes(cost, 'online');
  out.push(`circuit: ${c.circuit.instructions.length} instructions, ${c.circuit.registers.length} registers; protocols ${c.protocols.name}; f = ${c.circuit.f}; passes ${c.pipeline.length === 0 ? '(none)' : c.pipeline.join(',')}`);
  out.push('rounds');
  out.push(
    textTable(
      ['', 'count'],
      [
        ['online rounds (scheduled, merged)', String(cost.rounds)],
        ['critical-path bound', String(criticalPathRounds(c.circuit))],
        ['unmerged (one per protocol step)', String(cost.unmergedRounds)],
        ['preprocessing rounds (once per model)', String(cost.preprocessingRounds)],
      ],
    ),
  );
  out.push('bytes (on the wire = both directions)');
  out.push(
    textTable(
      ['', 'online', 'preprocessing', 'total'],
      [
        ['P0 (server) sends', fmtBytes(on0), fmtBytes(cost.bytesPerParty[0] - on0), fmtBytes(cost.bytesPerParty[0])],
        ['P1 (client) sends', fmtBytes(on1), fmtBytes(cost.bytesPerParty[1] - on1), fmtBytes(cost.bytesPerParty[1])],
        ['on the wire', fmtBytes(cost.onlineBytes), fmtBytes(cost.preprocessingBytes), fmtBytes(cost.bytesTotal)],
        ['dealer sends P0 (keys; preprocessing)', '-', fmtBytes(cost.dealerBytesPerParty[0]), fmtBytes(cost.dealerBytesPerParty[0])],
        ['dealer sends P1 (corrections, keys; preprocessing)', '-', fmtBytes(cost.dealerBytesPerParty[1]), fmtBytes(cost.dealerBytesPerParty[1])],
        ['dealer sends (correlated randomness)', '-', '-', fmtBytes(cost.dealerBytes)],
      ],
    ),
  );
  out.push('per op kind (online rounds are distinct rounds in which the kind communicates; they overlap across kinds)');
  const kinds = Object.entries(cost.byOpKind).filter(([, e]) => e.unmergedRounds + e.bytes + e.preprocessingBytes + e.dealerBytes > 0);
  out.push(
    textTable(
      ['op kind', 'rounds', 'unmerged', 'online', 'preprocessing', 'dealer'],
      kinds.map(([k, e]) => [k, String(e.rounds), String(e.unmergedRounds), fmtBytes(e.bytes), fmtBytes(e.preprocessingBytes), fmtBytes(e.dealerBytes)]),
    ),
  );
  const widths = fssWidthRows(c.circuit);
  if (widths.length > 0) {
    out.push('FSS key widths (bits each comparison looks at: the fewest range analysis proves safe; 64 where it proves no bound)');
    out.push(
      textTable(
        ['op kind', 'protocol', 'keys', 'bits', 'keys per width', 'dealer'],
        widths.map((w) => [
          w.opKind,
          w.protocol,
          String(w.keys),
          w.minBits === w.maxBits ? String(w.minBits) : `${w.minBits}-${w.maxBits}`,
          Object.entries(w.byBits).map(([b, n]) => `${b}: ${n}`).join(', '),
          fmtBytes(w.dealerBytes),
        ]),
      ),
    );
  }
  out.push('per layer (- = outside the encoder layers: embeddings, pooler, classifier, outputs)');
  out.push(
    textTable(
      ['layer', 'rounds', 'unmerged', 'online', 'preprocessing', 'dealer', 'top kinds by online bytes'],
      layerBreakdown(c.circuit, c.schedule).map((l) => {
        const e = cost.byLayer[l.layer]!;
        const top = Object.entries(l.byKind)
          .filter(([, v]) => v.bytes > 0)
          .sort((a, b) => b[1].bytes - a[1].bytes)
          .slice(0, 3)
          .map(([k, v]) => `${k} ${((100 * v.bytes) / Math.max(1, e.bytes)).toFixed(0)}%`)
          .join(', ');
        return [l.layer, String(e.rounds), String(e.unmergedRounds), fmtBytes(e.bytes), fmtBytes(e.preprocessingBytes), fmtBytes(e.dealerBytes), top];
      }),
    ),
  );
  out.push(`estimated latency: ${LATENCY_FORMULA}`);
  out.push(
    textTable(
      ['profile', 'network', 'online', '= rounds x RTT', '+ bytes / bandwidth', 'preprocessing (P0-P1)', 'dealer keys'],
      PROFILES.map((p) => {
        const l = estimateLatency(cost, p);
        const pre = estimateLatency(cost, p, 'pre');
        return [p.name, p.description, fmtSeconds(l.seconds), `${l.rounds} x ${fmtSeconds(p.rtt)}`, `${fmtBytes(l.bytes)} / ${fmtBytes(p.bandwidth)}/s`, fmtSeconds(pre.seconds), fmtSeconds(estimateDealerLatency(cost, p).seconds)];
      }),
    ),
  );
  out.push(DEALER_LATENCY_FORMULA);
  for (const w of c.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}
