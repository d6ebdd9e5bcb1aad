// Labelled rows from JSON Lines ({"text": ..., "label": ...} per line) or CSV (a header line
// naming the columns, one of them the label): each row a record of string or number fields
// with the line it came from, and its label as a class index.

import { readFileSync } from 'node:fs';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { parseCsv } from './csv.ts';

export interface LabelledRow {
  /** 1-based line the row starts on. */
  readonly line: number;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly label: number;
}

export interface RowOptions {
  /** Field holding the label (default "label"): a non-negative integer, or one of `labels`. */
  readonly labelField?: string;
  /** Label names in class order: a label given as a name maps to its index. */
  readonly labels?: readonly string[];
}

export type RowFormat = 'jsonl' | 'csv';

export function rowFormat(file: string): RowFormat | undefined {
  return /\.jsonl$/i.test(file) ? 'jsonl' : /\.csv$/i.test(file) ? 'csv' : undefined;
}

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
}

/** The label of a row as a class index, or an error at the row's line. */
function classIndex(raw: unknown, opts: RowOptions, place: { file: string; line: number; column: number }): number {
  const field = opts.labelField ?? 'label';
  const names = opts.labels;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return raw;
  if (typeof raw === 'string') {
    if (names !== undefined && names.includes(raw)) return names.indexOf(raw);
    if (/^\d{1,9}$/.test(raw.trim())) return Number(raw.trim());
  }
  throw new Ig3dcError(
    'input',
    `field '${field}' must be a non-negative integer${names !== undefined ? ` or one of ${names.join(', ')}` : ' (or give --labels NAMES to map names)'}, got ${JSON.stringify(raw) ?? 'nothing'}`,
    place,
  );
}

/** Rows of a JSON Lines text: one object per non-blank line. */
export function parseJsonlRows(text: string, file: string, opts: RowOptions = {}): LabelledRow[] {
  const field = opts.labelField ?? 'label';
  const rows: LabelledRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const place = { file, line: i + 1, column: 1 };
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Ig3dcError('input', `not a JSON object: ${(e as Error).message}`, place);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Ig3dcError('input', 'expected a JSON object on each line', place);
    const rec = obj as Record<string, unknown>;
    rows.push({ line: i + 1, fields: rec, label: classIndex(rec[field], opts, place) });
  });
  if (rows.length === 0) throw new Ig3dcError('input', 'no rows', { file });
  return rows;
}

/** Rows of a CSV text with a header line; the label column must be in the header. */
export function parseCsvRows(text: string, file: string, opts: RowOptions = {}): LabelledRow[] {
  const field = opts.labelField ?? 'label';
  const table = parseCsv(text, file);
  const at = table.header.indexOf(field);
  if (at < 0) throw new Ig3dcError('input', `the header has no label column '${field}' (columns: ${table.header.join(', ')}; --label-field names another)`, { file, line: 1, column: 1 });
  const rows = table.rows.map((r) => {
    const fields = Object.fromEntries(table.header.map((h, k) => [h, r.fields[k]!]));
    return { line: r.line, fields, label: classIndex(r.fields[at], opts, { file, line: r.line, column: 1 }) };
  });
  if (rows.length === 0) throw new Ig3dcError('input', 'no rows after the header', { file });
  return rows;
}

export function readRows(file: string, opts: RowOptions = {}): { rows: LabelledRow[]; format: RowFormat } {
  const format = rowFormat(file);
  if (format === undefined) throw new Ig3dcError('usage', 'data reads JSON Lines (.jsonl) or CSV with a header line (.csv)', { file });
  const text = readText(file);
  return { rows: format === 'jsonl' ? parseJsonlRows(text, file, opts) : parseCsvRows(text, file, opts), format };
}
