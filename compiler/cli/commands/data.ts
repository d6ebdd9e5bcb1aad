// `ig3dc data ROWS.jsonl|ROWS.csv (--tokenizer FILE | images) -o DEV.json`: labelled text or
// images into the tensor bundle that `run --data`, `tune --data`, `importance --data` and
// `eval` read. Text rows become input_ids, attention_mask, token_type_ids [N, L] (int32),
// tokenized with the model's tokenizer; rows that name a PNG file (the image column, a path
// relative to the rows file) become pixel_values [N, C, H, W] (float32) as the digits ViTs
// take them. Both get labels [N] (int32).

import { dirname, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { writeWeightsBundle } from '../../backend/lower/weights.ts';
import { DIGITS_PIXELS, imagePixels, type PixelSpec } from '../../data/images.ts';
import { decodePng } from '../../data/png.ts';
import { readRows, type LabelledRow } from '../../data/rows.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { writeJson, writeOut } from '../run-command.ts';

export interface DataCommandOptions {
  /** Text rows: the tokenizer. */
  readonly tokenizer?: string;
  readonly output: string;
  /** Field (JSONL) or column (CSV) holding the text (default "text"). */
  readonly textField?: string;
  /** Field or column holding the path of a PNG image (default "image"). */
  readonly imageField?: string;
  /** Field holding the label (default "label"): an integer, or one of `labels`. */
  readonly labelField?: string;
  /** Label names in class order, e.g. "ham,spam": labels given as names map to their index. */
  readonly labels?: string;
  /** Row length (default 128). */
  readonly maxLen?: number;
  /** Images: the model's C,H,W (default 1,8,8, the digits ViTs). */
  readonly imageShape?: string;
  /** Images: intensity levels of the training data (default 16, load_digits); 0 for none. */
  readonly pixelLevels?: number;
  readonly json?: boolean;
}

interface Built {
  readonly tensors: Map<string, Tensor>;
  /** Written into the bundle index. */
  readonly info: Record<string, unknown>;
  /** Printed with --json. */
  readonly json: Record<string, unknown>;
  readonly summary: string;
}

function pixelSpec(opts: DataCommandOptions): PixelSpec {
  let spec = DIGITS_PIXELS;
  if (opts.imageShape !== undefined) {
    const m = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/.exec(opts.imageShape);
    if (m === null || [m[1], m[2], m[3]].some((v) => Number(v) < 1) || (Number(m[1]) !== 1 && Number(m[1]) !== 3)) {
      throw new Ig3dcError('usage', `--image-shape must be C,H,W with C 1 or 3 and positive H, W (e.g. 1,8,8), got '${opts.imageShape}'`);
    }
    spec = { ...spec, channels: Number(m[1]), height: Number(m[2]), width: Number(m[3]) };
  }
  if (opts.pixelLevels !== undefined) spec = { ...spec, levels: opts.pixelLevels };
  return spec;
}

function textBundle(rows: readonly LabelledRow[], input: string, opts: DataCommandOptions): Built {
  if (opts.tokenizer === undefined) throw new Ig3dcError('usage', 'text rows need --tokenizer FILE (a tokenizer.json or a vocab.txt)');
  const field = opts.textField ?? 'text';
  const length = opts.maxLen ?? 128;
  if (length < 2) throw new Ig3dcError('usage', `--max-len must be at least 2 ([CLS] and [SEP]), got ${length}`);
  const tokenizer = loadTokenizer(opts.tokenizer);
  const n = rows.length;
  const ids = new Int32Array(n * length);
  const mask = new Int32Array(n * length);
  let truncated = 0;
  rows.forEach((r, i) => {
    const text = r.fields[field];
    if (typeof text !== 'string') throw new Ig3dcError('input', `expected a string field '${field}'`, { file: input, line: r.line, column: 1 });
    const e = tokenizer.encodeRow(text, length);
    ids.set(e.inputIds, i * length);
    mask.set(e.attentionMask, i * length);
    if (e.attentionMask[length - 1] === 1) truncated++;
  });
  const tensors = new Map([
    ['input_ids', new Tensor('i32', [n, length], ids)],
    ['attention_mask', new Tensor('i32', [n, length], mask)],
    ['token_type_ids', new Tensor('i32', [n, length], new Int32Array(n * length))],
  ]);
  return { tensors, info: { tokenizer: opts.tokenizer, max_len: length }, json: { maxLen: length, fullRows: truncated }, summary: `${n} rows of ${length} tokens, ${truncated} filled to the length` };
}

function imageBundle(rows: readonly LabelledRow[], input: string, opts: DataCommandOptions): Built {
  const field = opts.imageField ?? 'image';
  const spec = pixelSpec(opts);
  const per = spec.channels * spec.height * spec.width;
  const pixels = new Float32Array(rows.length * per);
  const base = dirname(input);
  rows.forEach((r, i) => {
    const rel = r.fields[field];
    if (typeof rel !== 'string' || rel === '') throw new Ig3dcError('input', `expected the path of a PNG file in field '${field}'`, { file: input, line: r.line, column: 1 });
    const path = resolve(base, rel);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new Ig3dcError('io', `cannot read the image '${rel}' of line ${r.line} of ${input}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
    }
    pixels.set(imagePixels(decodePng(bytes, path), spec), i * per);
  });
  const shape = [rows.length, spec.channels, spec.height, spec.width];
  return {
    tensors: new Map([['pixel_values', new Tensor('f32', shape, pixels)]]),
    info: { image_shape: [spec.channels, spec.height, spec.width], pixel_levels: spec.levels, preprocessing: 'area-averaged resize; x = round(v/255*levels); pixel_values = (x/levels - 0.5)/0.5' },
    json: { imageShape: [spec.channels, spec.height, spec.width], pixelLevels: spec.levels },
    summary: `${rows.length} images as pixel_values [${shape.join(',')}]`,
  };
}

export async function dataCommand(input: string, opts: DataCommandOptions): Promise<void> {
  if (!/\.json$/i.test(opts.output)) throw new Ig3dcError('usage', '-o must name the bundle index, FILE.json (the data goes to FILE.bin)');
  if (opts.pixelLevels !== undefined && (!Number.isInteger(opts.pixelLevels) || opts.pixelLevels < 0)) throw new Ig3dcError('usage', `--pixel-levels must be a non-negative integer, got ${opts.pixelLevels}`);
  const labels = opts.labels?.split(',').map((s) => s.trim());
  const { rows, format } = readRows(input, { ...(opts.labelField !== undefined ? { labelField: opts.labelField } : {}), ...(labels !== undefined ? { labels } : {}) });
  const imageField = opts.imageField ?? 'image';
  const images = opts.imageField !== undefined || (opts.tokenizer === undefined && rows[0]!.fields[imageField] !== undefined);
  const built = images ? imageBundle(rows, input, opts) : textBundle(rows, input, opts);
  const n = rows.length;
  built.tensors.set('labels', new Tensor('i32', [n], Int32Array.from(rows, (r) => r.label)));
  const w = writeWeightsBundle(opts.output, built.tensors, { source: input, rows_format: format, n, ...built.info });
  const labelSet = [...new Set(rows.map((r) => r.label))].sort((a, b) => a - b);
  if (opts.json === true) await writeJson({ output: opts.output, bin: w.bin, rows: n, kind: images ? 'images' : 'text', ...built.json, labels: labelSet });
  else await writeOut(`wrote ${opts.output} (+ ${w.bin}): ${built.summary}; labels ${labelSet.join(', ')}\n`);
}
