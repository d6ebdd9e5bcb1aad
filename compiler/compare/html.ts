// The method comparison as a self-contained HTML page (inline CSS and SVG, no scripts): the
// table, and IG-3D's Fig. 2 as a chart, accuracy against estimated LAN speedup, one point per
// method, with the accuracy the budget allows drawn as a line.

import { basename } from 'node:path';
import { fmtBytes, fmtSeconds } from '../backend/report/format.ts';
import type { CompareResult, MethodRow } from './compare-methods.ts';

const COLORS: Readonly<Record<string, string>> = { baseline: '#7f7f7f', ig3d: '#d62728', mpcvit: '#1f77b4', polytransformer: '#2ca02c', mpcformer: '#9467bd' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const nameOf = (m: MethodRow): string => (m.method === 'baseline' ? 'baseline' : m.system);

/** Accuracy (y) against LAN speedup (x); the budget's floor as a dashed line. */
function chart(r: CompareResult): string {
  const left = 60;
  const top = 30;
  const w = 460;
  const h = 280;
  const base = r.methods[0]!;
  const floor = base.accuracy - r.maxAccLoss;
  const xs = r.methods.map((m) => m.speedup.lan);
  const ys = [...r.methods.map((m) => m.accuracy), floor];
  const x0 = 0.9;
  const x1 = Math.max(...xs) * 1.1;
  const y0 = Math.max(0, Math.floor(Math.min(...ys) - 2));
  const y1 = Math.min(100, Math.ceil(Math.max(...ys) + 1));
  const X = (v: number): number => left + ((v - x0) / (x1 - x0)) * w;
  const Y = (v: number): number => top + h - ((v - y0) / (y1 - y0)) * h;
  const p: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${left + w + 180}" height="${top + h + 50}" role="img" aria-label="accuracy against speedup">`];
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    p.push(`<line x1="${left}" x2="${left + w}" y1="${Y(v)}" y2="${Y(v)}" class="grid"/><text x="${left - 6}" y="${Y(v) + 4}" class="ax" text-anchor="end">${v.toFixed(1)}%</text>`);
    const u = x0 + ((x1 - x0) * i) / 4;
    p.push(`<text x="${X(u)}" y="${top + h + 16}" class="ax" text-anchor="middle">${u.toFixed(2)}x</text>`);
  }
  p.push(`<line x1="${left}" x2="${left + w}" y1="${Y(floor)}" y2="${Y(floor)}" class="budget"/><text x="${left + w - 4}" y="${Y(floor) - 4}" class="ax" text-anchor="end">budget: ${floor.toFixed(2)}%</text>`);
  p.push(`<line x1="${left}" x2="${left + w}" y1="${top + h}" y2="${top + h}" class="axis"/><line x1="${left}" x2="${left}" y1="${top}" y2="${top + h}" class="axis"/>`);
  p.push(`<text x="${left + w / 2}" y="${top + h + 36}" class="lx" text-anchor="middle">estimated LAN speedup over the baseline (${esc(r.protocols)} protocols)</text>`);
  r.methods.forEach((m, i) => {
    const c = COLORS[m.method] ?? '#333';
    const shape = m.withinBudget || m.method === 'baseline' ? `<circle cx="${X(m.speedup.lan)}" cy="${Y(m.accuracy)}" r="6" fill="${c}"/>` : `<circle cx="${X(m.speedup.lan)}" cy="${Y(m.accuracy)}" r="6" fill="none" stroke="${c}" stroke-width="2"/>`;
    p.push(`${shape.replace('/>', `><title>${esc(`${nameOf(m)}: ${m.accuracy.toFixed(2)}%, ${m.speedup.lan.toFixed(2)}x`)}</title></circle>`)}`);
    p.push(`<circle cx="${left + w + 24}" cy="${top + 10 + i * 20}" r="5" fill="${c}"/><text x="${left + w + 34}" y="${top + 14 + i * 20}" class="ax">${esc(nameOf(m))}${m.withinBudget || m.method === 'baseline' ? '' : ' (over)'}</text>`);
  });
  p.push('</svg>');
  return p.join('\n');
}

export function renderCompareHtml(r: CompareResult): string {
  const head = ['method', 'knob', 'heads', 'accuracy', 'loss (pp)', 'within budget', 'rounds', 'communication', 'LAN', 'WAN', 'speedup LAN', 'speedup WAN', 'passes'];
  const rows = r.methods.map((m) => {
    const cells = [
      nameOf(m),
      m.knob,
      m.heads,
      `${m.accuracy.toFixed(2)}% (${m.correct}/${m.rows})`,
      m.accuracyLoss.toFixed(2),
      m.method === 'baseline' ? '' : m.withinBudget ? 'yes' : `NO: ${m.note ?? ''}`,
      String(m.rounds),
      fmtBytes(m.bytesTotal),
      fmtSeconds(m.latencySeconds.lan),
      fmtSeconds(m.latencySeconds.wan),
      `${m.speedup.lan.toFixed(2)}x`,
      `${m.speedup.wan.toFixed(2)}x`,
      m.pipeline,
    ];
    return `<tr${!m.withinBudget && m.method !== 'baseline' ? ' class="over"' : ''}>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(`ig3dc compare-methods ${basename(r.model)}`)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:nth-child(-n+3),td:last-child,th{text-align:left}
tr.over td{color:#a00}.grid{stroke:#eee}.axis{stroke:#444}.budget{stroke:#a00;stroke-dasharray:5 4}.ax{font-size:11px;fill:#444}.lx{font-size:12px;fill:#222}
</style></head><body>
<h1>${esc(basename(r.model))}: IG-3D and the related systems at a ${r.maxAccLoss}-point budget</h1>
<p>Accuracy on all ${r.rows} rows (${esc(r.rowShape)}) of ${esc(basename(r.data))} by ${esc(r.accuracyBackend)}; static cost of the compiled circuit, ${esc(r.protocols)} protocols, batch ${r.costBatch}; heads ranked by ${esc(basename(r.importance))}.</p>
${chart(r)}
<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
</body></html>
`;
}
