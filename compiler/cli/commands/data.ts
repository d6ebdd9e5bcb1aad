// `ig3dc data TEXT.jsonl --tokenizer FILE -o DEV.json`: labelled text into the tensor bundle
// that `run --data`, `tune --data` and `importance --data` read (input_ids, attention_mask,
// token_type_ids [N, L] and labels [N], int32), tokenized with the model's tokenizer.

import { readFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { writeWeightsBundle } from '../../backend/lower/weights.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { writeJson, writeOut } from '../run-command.ts';

export interface DataCommandOptions {
  readonly tokenizer: string;
  readonly output: string;
  /** Field of each JSON line holding the text (default "text"). */
  readonly textField?: string;
  /** Field holding the label (default "label"): an integer, or one of `labels`. */
  readonly labelField?: string;
  /** Label names in class order, e.g. "ham,spam": labels given as names map to their index. */
  readonly labels?: string;
  /** Row length (default 128). */
  readonly maxLen?: number;
  readonly json?: boolean;
}

interface Row {
  readonly text: string;
  readonly label: number;
}

function readJsonl(file: string, opts: DataCommandOptions): Row[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  const textField = opts.textField ?? 'text';
  const labelField = opts.labelField ?? 'label';
  const names = opts.labels?.split(',').map((s) => s.trim());
  const rows: Row[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const place = { file, line: i + 1, column: 1 };
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Ig3dcError('input', `not a JSON object: ${(e as Error).message}`, place);
    }
    const rec = obj as Record<string, unknown>;
    if (typeof obj !== 'object' || obj === null || typeof rec[textField] !== 'string') throw new Ig3dcError('input', `expected an object with a string field '${textField}'`, place);
    const raw = rec[labelField];
    let label: number;
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) label = raw;
    else if (typeof raw === 'string' && names !== undefined && names.includes(raw)) label = names.indexOf(raw);
    else throw new Ig3dcError('input', `field '${labelField}' must be a non-negative integer${names !== undefined ? ` or one of ${names.join(', ')}` : ' (or give --labels NAMES to map names)'}, got ${JSON.stringify(raw)}`, place);
    rows.push({ text: rec[textField] as string, label });
  });
  if (rows.length === 0) throw new Ig3dcError('input', 'no rows', { file });
  return rows;
}

export async function dataCommand(input: string, opts: DataCommandOptions): Promise<void> {
  if (!/\.jsonl$/i.test(input)) throw new Ig3dcError('usage', 'data reads JSON Lines (one {"text", "label"} object per line, a .jsonl file)', { file: input });
  if (!/\.json$/i.test(opts.output)) throw new Ig3dcError('usage', '-o must name the bundle index, FILE.json (the data goes to FILE.bin)');
  const length = opts.maxLen ?? 128;
  if (length < 2) throw new Ig3dcError('usage', `--max-len must be at least 2 ([CLS] and [SEP]), got ${length}`);
  const tokenizer = loadTokenizer(opts.tokenizer);
  const rows = readJsonl(input, opts);
  const n = rows.length;
  const ids = new Int32Array(n * length);
  const mask = new Int32Array(n * length);
  let truncated = 0;
  rows.forEach((r, i) => {
    const e = tokenizer.encodeRow(r.text, length);
    ids.set(e.inputIds, i * length);
    mask.set(e.attentionMask, i * length);
    if (e.attentionMask[length - 1] === 1) truncated++;
  });
  const tensors = new Map([
    ['input_ids', new Tensor('i32', [n, length], ids)],
    ['attention_mask', new Tensor('i32', [n, length], mask)],
    ['token_type_ids', new Tensor('i32', [n, length], new Int32Array(n * length))],
    ['labels', new Tensor('i32', [n], Int32Array.from(rows, (r) => r.label))],
  ]);
  const w = writeWeightsBundle(opts.output, tensors, { source: input, tokenizer: opts.tokenizer, n, max_len: length });
  const summary = { output: opts.output, bin: w.bin, rows: n, maxLen: length, fullRows: truncated, labels: [...new Set(rows.map((r) => r.label))].sort((a, b) => a - b) };
  if (opts.json === true) await writeJson(summary);
  else await writeOut(`wrote ${opts.output} (+ ${w.bin}): ${n} rows of ${length} tokens, ${truncated} filled to the length; labels ${summary.labels.join(', ')}\n`);
}
