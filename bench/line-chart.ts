// A small self-contained SVG line chart (no scripts, no styles from outside) for benchmark
// results that a README shows next to their table: panels side by side, each with its own y
// axis, shared x values, solid series and dashed reference lines.

export interface Series {
  readonly label: string;
  readonly values: readonly number[];
  /** A reference drawn dashed (e.g. "linear from the first point"). */
  readonly dashed?: boolean;
  readonly color: string;
}

export interface Panel {
  readonly title: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Ticks at a round step (1, 2, 5 x 10^k) from 0 up to the first one >= max. */
function ticks(max: number): number[] {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

const num = (v: number): string => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(2));

/** The chart as an SVG document: one panel per entry, x positions proportional to xs. */
export function lineChartSvg(title: string, xLabel: string, xs: readonly number[], panels: readonly Panel[]): string {
  const pw = 320;
  const ph = 220;
  const left = 56;
  const top = 48;
  const gap = 70;
  const legendH = 18 * Math.max(...panels.map((p) => p.series.length));
  const width = left + panels.length * (pw + gap);
  const height = top + ph + 50 + legendH;
  const xmin = Math.min(...xs);
  const xmax = Math.max(...xs);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(title)}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, k) => {
    const x0 = left + k * (pw + gap);
    const ys = ticks(Math.max(...p.series.flatMap((s) => s.values)));
    const ytop = ys[ys.length - 1]!;
    const X = (v: number): number => x0 + ((v - xmin) / (xmax - xmin)) * pw;
    const Y = (v: number): number => top + ph - (v / ytop) * ph;
    out.push(`<text x="${x0}" y="${top - 12}" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<line x1="${x0}" y1="${top + ph}" x2="${x0 + pw}" y2="${top + ph}" stroke="black"/>`, `<line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + ph}" stroke="black"/>`);
    for (const t of ys) {
      out.push(`<line x1="${x0}" y1="${Y(t)}" x2="${x0 + pw}" y2="${Y(t)}" stroke="#ddd"/>`, `<text x="${x0 - 6}" y="${Y(t) + 4}" text-anchor="end">${num(t)}</text>`);
    }
    for (const x of xs) out.push(`<text x="${X(x)}" y="${top + ph + 16}" text-anchor="middle">${num(x)}</text>`);
    out.push(`<text x="${x0 + pw / 2}" y="${top + ph + 34}" text-anchor="middle">${esc(xLabel)}</text>`);
    out.push(`<text transform="translate(${x0 - 42} ${top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
    p.series.forEach((s, i) => {
      const pts = s.values.map((v, j) => `${X(xs[j]!).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`);
      if (s.dashed !== true) for (const [j, v] of s.values.entries()) out.push(`<circle cx="${X(xs[j]!).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="3" fill="${s.color}"/>`);
      const ly = top + ph + 52 + 18 * i;
      out.push(`<line x1="${x0}" y1="${ly - 4}" x2="${x0 + 24}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`, `<text x="${x0 + 30}" y="${ly}">${esc(s.label)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
