// Number formatting and plain-text tables shared by the reports.

/** Decimal units (1 MB = 10^6 bytes), as CrypTen and the IG-3D paper count. */
export function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(3)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function fmtSeconds(s: number): string {
  if (s >= 100) return `${s.toFixed(1)} s`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  return `${(s * 1000).toFixed(1)} ms`;
}

/** Columns padded to their widest cell; numbers (and `-`) right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], indent = '  '): string {
  const all = [header, ...rows];
  const widths = header.map((_, j) => Math.max(...all.map((r) => (r[j] ?? '').length)));
  const numeric = (s: string): boolean => /^[-+]?[\d.,]+(\s*[a-zA-Z%x]+)?$|^-$/.test(s.trim());
  const line = (r: readonly string[]): string =>
    indent +
    r
      .map((cell, j) => (j > 0 && numeric(cell) ? cell.padStart(widths[j]!) : cell.padEnd(widths[j]!)))
      .join('  ')
      .trimEnd();
  const rule = indent + widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}
