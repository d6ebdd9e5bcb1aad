// A self-contained HTML cost report: inline CSS and SVG only (no scripts, no network), with
// per-layer stacked bars of online rounds and bytes by op kind, baseline next to optimized.

import { OP_KINDS, type OpKind } from '../../../ir/circuit/types.ts';
import type { Compiled } from '../compile.ts';
import { layerBreakdown, layerOrder, type LayerBreakdown } from './breakdown.ts';
import { compareRows, describeMethod } from './compare.ts';
import { FAMILY_COLUMNS, familyCells, familyRows } from './families.ts';
import { criticalPathRounds } from './critical-path.ts';
import { fmtBytes, fmtSeconds } from './format.ts';
import { DEALER_LATENCY_FORMULA, estimateLatency, LATENCY_FORMULA, PROFILES } from './latency.ts';

const COLORS: Readonly<Record<OpKind, string>> = {
  embedding: '#8c564b',
  linear: '#1f77b4',
  'attention-matmul': '#17becf',
  softmax: '#d62728',
  layernorm: '#9467bd',
  activation: '#ff7f0e',
  pooler: '#2ca02c',
  other: '#7f7f7f',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Series {
  readonly label: string;
  readonly short: string;
  readonly layers: ReadonlyMap<string, LayerBreakdown>;
}

/** One grouped, stacked bar chart: for each layer one bar per series, stacked by op kind. */
function barChart(title: string, series: readonly Series[], layers: readonly string[], value: (l: LayerBreakdown, k: OpKind) => number, fmt: (v: number) => string): string {
  const barW = 22;
  const gap = 4;
  const groupW = series.length * (barW + gap) + 18;
  const left = 70;
  const top = 30;
  const h = 260;
  const width = Math.max(440, left + layers.length * groupW + 20);
  const height = top + h + 60;
  let maxV = 0;
  for (const s of series) {
    for (const key of layers) {
      const l = s.layers.get(key);
      if (l === undefined) continue;
      maxV = Math.max(maxV, OP_KINDS.reduce((acc, k) => acc + value(l, k), 0));
    }
  }
  if (maxV === 0) maxV = 1;
  const y = (v: number): number => top + h - (v / maxV) * h;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${left}" y="18" class="t">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (maxV * i) / 4;
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" class="ax" text-anchor="end">${esc(fmt(v))}</text>`);
  }
  layers.forEach((key, gi) => {
    const gx = left + gi * groupW + 10;
    series.forEach((s, si) => {
      const l = s.layers.get(key);
      const x = gx + si * (barW + gap);
      let acc = 0;
      if (l !== undefined) {
        for (const k of OP_KINDS) {
          const v = value(l, k);
          if (v <= 0) continue;
          const y0 = y(acc);
          const y1 = y(acc + v);
          parts.push(`<rect x="${x}" y="${y1.toFixed(2)}" width="${barW}" height="${Math.max(0.5, y0 - y1).toFixed(2)}" fill="${COLORS[k]}"><title>${esc(`${s.label} ${key} ${k}: ${fmt(v)}`)}</title></rect>`);
          acc += v;
        }
      }
      parts.push(`<text x="${x + barW / 2}" y="${top + h + 14}" class="ax" text-anchor="middle">${esc(s.short)}</text>`);
    });
    const cx = gx + (series.length * (barW + gap) - gap) / 2;
    parts.push(`<text x="${cx}" y="${top + h + 32}" class="lx" text-anchor="middle">${esc(key === '-' ? 'outside' : key)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${width - 10}" y1="${top + h}" y2="${top + h}" class="axis"/>`);
  parts.push('</svg>');
  return parts.join('\n');
}

function legend(): string {
  return `<div class="legend">${OP_KINDS.map((k) => `<span><i style="background:${COLORS[k]}"></i>${esc(k)}</span>`).join('')}</div>`;
}

function summaryRows(c: Compiled): string {
  const cost = c.cost;
  const lat = PROFILES.map((p) => `<td>${fmtSeconds(estimateLatency(cost, p).seconds)}</td>`).join('');
  return `<td>${cost.rounds}</td><td>${criticalPathRounds(c.circuit)}</td><td>${cost.unmergedRounds}</td><td>${cost.preprocessingRounds}</td><td>${fmtBytes(cost.bytesTotal)}</td><td>${fmtBytes(cost.onlineBytes)}</td><td>${fmtBytes(cost.preprocessingBytes)}</td><td>${fmtBytes(cost.dealerBytes)}</td>${lat}`;
}

export interface HtmlReportInput {
  readonly model: string;
  readonly optimized: Compiled;
  readonly baseline?: Compiled;
  /** Protocol families compiled side by side. */
  readonly families?: readonly Compiled[];
}

export function renderHtmlReport(input: HtmlReportInput): string {
  const runs: { label: string; short: string; c: Compiled }[] = [];
  if (input.baseline !== undefined) runs.push({ label: 'baseline', short: 'B', c: input.baseline });
  runs.push({ label: input.baseline !== undefined ? 'optimized' : 'compiled', short: input.baseline !== undefined ? 'O' : '', c: input.optimized });
  const series: Series[] = runs.map((r) => ({ label: r.label, short: r.short, layers: new Map(layerBreakdown(r.c.circuit, r.c.schedule).map((l) => [l.layer, l])) }));
  const layers = layerOrder(series.flatMap((s) => [...s.layers.keys()]));
  const profileHead = PROFILES.map((p) => `<th>latency ${esc(p.name)}</th>`).join('');
  const summary = runs.map((r) => `<tr><th>${esc(r.label)}</th><td class="m">${esc(describeMethod(r.c))}</td>${summaryRows(r.c)}</tr>`).join('\n');
  let compare = '';
  if (input.baseline !== undefined) {
    const rows = compareRows(input.baseline, input.optimized);
    compare = `<h2>Baseline vs optimized (IG-3D Table 5 layout)</h2>
<table><tr><th>method</th><th>rounds</th><th>communication (GB)</th>${PROFILES.map((p) => `<th>${esc(p.name.toUpperCase())} (s)</th>`).join('')}<th>speedup ${PROFILES.map((p) => esc(p.name.toUpperCase())).join(' / ')}</th><th>communication reduction</th></tr>
${rows
  .map(
    (r) =>
      `<tr><td class="m">${esc(r.method)}</td><td>${r.rounds}</td><td>${r.communicationGB.toFixed(3)}</td>${PROFILES.map((p) => `<td>${r.latencySeconds[p.name]!.toFixed(2)}</td>`).join('')}<td>${PROFILES.map((p) => `${r.speedup[p.name]!.toFixed(2)}x`).join(' / ')}</td><td>${r.communicationReduction === 0 ? '-' : `${(100 * r.communicationReduction).toFixed(1)}%`}</td></tr>`,
  )
  .join('\n')}
</table>`;
  }
  if (input.families !== undefined && input.families.length > 0) {
    compare += `<h2>Protocol families</h2>
<table><tr>${FAMILY_COLUMNS.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>
${familyRows(input.families)
  .map((r) => `<tr>${familyCells(r).map((v, i) => (i === 0 ? `<td class="m">${esc(v)}</td>` : `<td>${esc(v)}</td>`)).join('')}</tr>`)
  .join('\n')}
</table>
<p class="note">Preprocessing latency = P0-P1 preprocessing + shipping the dealer's material (${esc(DEALER_LATENCY_FORMULA)}).</p>`;
  }
  const roundsChart = barChart('Online rounds per layer, by op kind', series, layers, (l, k) => l.byKind[k].rounds, (v) => v.toFixed(0));
  const bytesChart = barChart('Online bytes on the wire per layer, by op kind', series, layers, (l, k) => l.byKind[k].bytes, fmtBytes);
  const preChart = barChart('Preprocessing bytes per layer, by op kind', series, layers, (l, k) => l.byKind[k].preprocessingBytes, fmtBytes);
  const layerTable = runs
    .map((r) => {
      const rows = layerBreakdown(r.c.circuit, r.c.schedule)
        .map((l) => {
          const e = r.c.cost.byLayer[l.layer]!;
          return `<tr><td>${esc(l.layer)}</td><td>${e.rounds}</td><td>${e.unmergedRounds}</td><td>${fmtBytes(e.bytes)}</td><td>${fmtBytes(e.preprocessingBytes)}</td><td>${fmtBytes(e.dealerBytes)}</td></tr>`;
        })
        .join('\n');
      return `<h3>${esc(r.label)}: ${esc(describeMethod(r.c))}</h3><table><tr><th>layer</th><th>rounds</th><th>unmerged</th><th>online bytes</th><th>preprocessing bytes</th><th>dealer bytes</th></tr>${rows}</table>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ig3dc cost report: ${esc(input.model)}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px} h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f2f2f2} td.m{text-align:left}
.legend span{display:inline-block;margin-right:14px} .legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg .t{font-size:14px;font-weight:600} svg .ax{font-size:10px;fill:#555} svg .lx{font-size:11px;fill:#222} svg .grid{stroke:#e5e5e5} svg .axis{stroke:#333}
.note{color:#555;font-size:12px}
</style></head><body>
<h1>ig3dc cost report: ${esc(input.model)}</h1>
<p class="note">Two-party additive secret sharing over Z<sub>2<sup>64</sup></sub>, fixed point with ${input.optimized.circuit.f} fractional bits, semi-honest, with a dealer. Bytes in decimal units; on the wire = both directions.</p>
<h2>Summary</h2>
<table><tr><th></th><th>method</th><th>online rounds</th><th>critical path</th><th>unmerged</th><th>preprocessing rounds</th><th>bytes total</th><th>online</th><th>preprocessing</th><th>dealer</th>${profileHead}</tr>
${summary}
</table>
<p class="note">${esc(LATENCY_FORMULA)}. ${PROFILES.map((p) => `${esc(p.name)}: ${esc(p.description)}`).join('; ')}.</p>
${compare}
<h2>Per layer</h2>
${legend()}
<p class="note">${series.length > 1 ? 'B = baseline, O = optimized. ' : ''}A layer's rounds are the distinct online rounds in which it communicates; each round is credited to the op kind with the most bytes in it.</p>
${roundsChart}
${bytesChart}
${preChart}
${layerTable}
</body></html>
`;
}
