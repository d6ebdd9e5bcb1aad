// `ig3dc compare-methods`: on a small model and a tiny dev set, every method has its row, and
// each row's accuracy equals an independent evaluation (the row's passes applied to the
// raised model, every dev row run one at a time in the plaintext evaluator); the ViT fixture
// compares on an image dev set; bad input (an unknown method, images that do not fit the
// model, token ids for a vision model) is a clear error.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compareMethods, formatCompareReport, type CompareResult, type MethodRow } from '../compiler/compare/index.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { imageRows, readLabelledDevSet, isImageDevSet } from '../compiler/tune/index.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { IMPORTANCE_RESOURCE, parseImportance, readImportanceFile, type ImportanceAnnotation } from '../passes/ig3d/index.ts';
import { caughtAsync, FIXTURES } from './ig3d-helpers.ts';
import { ig3dc, killAll } from './process-helpers.ts';
import { tinyBundle } from './tiny-bundle.ts';

const dir = mkdtempSync(join(tmpdir(), 'ig3dc-compare-'));
const TINY = join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx');
const VIT = join(FIXTURES, 'vit-digits-p2.onnx');
const VIT_DEV = join(FIXTURES, 'vit-digits-p2.dev.json');
const haveVit = existsSync(VIT) && existsSync(VIT_DEV);

function importanceFile(name: string, scores: number[][]): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ method: 'integrated-gradients', scores, higher_is_more_important: true, layers: scores.length, heads: scores[0]!.length }));
  return file;
}

/** Correct rows of a method's model, evaluated row by row at batch 1 (float64), independently of the meter. */
function independentCorrect(model: string, data: string, row: MethodRow, importance: ImportanceAnnotation, examples?: number): number {
  const dev = readLabelledDevSet(data, examples);
  const graph = loadOnnxFile(model, isImageDevSet(dev) ? { batch: 1 } : { batch: 1, seq: dev.seq }).graph;
  const annotation = row.annotationText !== undefined ? parseImportance(row.annotationText, 'ig3d.txt') : importance;
  const raised = runPipeline(graph, parsePipeline('raise-bert,canonicalize')).graph;
  const variant: Graph = row.pipeline === '' ? raised : runPipeline(raised, parsePipeline(row.pipeline), { resources: new Map([[IMPORTANCE_RESOURCE, annotation]]) }).graph;
  let correct = 0;
  for (let r = 0; r < dev.rows; r++) {
    let feeds: Map<string, Tensor>;
    if (isImageDevSet(dev)) feeds = new Map([[dev.input, imageRows(dev, r, r + 1)]]);
    else {
      const S = dev.seq;
      const row64 = (a: Int32Array): Tensor => new Tensor('i64', [1, S], BigInt64Array.from(a.subarray(r * S, (r + 1) * S), (v) => BigInt(v)));
      feeds = new Map(variant.inputs.map((i) => [i.name!, row64(i.name === 'input_ids' ? dev.inputIds : i.name === 'attention_mask' ? dev.attentionMask : dev.tokenTypeIds)]));
    }
    const logits = evaluate(variant, feeds).get('logits')!.toFloat64();
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
    if (best === dev.labels[r]) correct++;
  }
  return correct;
}

describe('compare-methods on bert-tiny and a tiny dev set', () => {
  const rows = 12;
  const labels = Array.from({ length: rows }, (_, r) => (r % 3 === 0 ? 1 : 0));
  const { file: data } = tinyBundle(dir, rows, 8, labels);
  const imp = importanceFile('tiny-ig.json', [
    [0.3, 0.1],
    [0.4, 0.2],
  ]);
  let result: CompareResult | undefined;
  const run = async (): Promise<CompareResult> => (result ??= await compareMethods(TINY, { importance: imp, data, maxAccLoss: 20 }));

  it('has a row for the baseline and every method, each measured on every dev row with its cost', async () => {
    const r = await run();
    expect(r.methods.map((m) => m.method)).toEqual(['baseline', 'ig3d', 'mpcvit', 'polytransformer', 'mpcformer']);
    for (const m of r.methods) {
      expect(m.rows).toBe(rows);
      expect(m.rounds).toBeGreaterThan(0);
      expect(m.latencySeconds.wan).toBeGreaterThan(m.latencySeconds.lan);
      expect(m.accuracyLoss).toBeCloseTo(r.methods[0]!.accuracy - m.accuracy, 12);
      // the verdict follows from the measured loss (whole rows: the budget is 2.4 rows)
      expect(m.withinBudget).toBe(rows - m.correct <= Math.floor(rows - r.methods[0]!.correct + (20 * rows) / 100 + 1e-9));
      if (!m.withinBudget) expect(m.note).toMatch(/loses .* pp \(budget 20\)/);
    }
    expect(r.protocols).toBe('best');
    expect(r.methods.find((m) => m.method === 'polytransformer')!.heads).toBe('scaled-relu 4');
    expect(r.methods.find((m) => m.method === 'mpcformer')!.pipeline).toBe('attention-method{method=2quad,ratio=1},quad-gelu');
    const text = formatCompareReport(r);
    for (const name of ['baseline', 'ig3d (IG-3D)', 'mpcvit (MPCViT-style)', 'polytransformer (PolyTransformer-style)', 'mpcformer (MPCFormer-style)']) expect(text).toContain(name);
  }, 600_000);

  it("each row's accuracy equals an independent evaluation of its passes", async () => {
    const r = await run();
    const annotation = readImportanceFile(imp);
    for (const m of r.methods) expect({ method: m.method, correct: independentCorrect(TINY, data, m, annotation) }).toEqual({ method: m.method, correct: m.correct });
  }, 600_000);

  it('MPCViT-style: the knob is searched fastest first, and the chosen mu is the cheapest within the budget', async () => {
    const r = await compareMethods(TINY, { importance: imp, data, maxAccLoss: 100, methods: 'mpcvit' });
    const m = r.methods[1]!;
    // with a budget of 100 points every configuration fits: the fastest one (all heads ScaleAttn) wins after one measurement
    expect(m.knob).toBe('mu=0 (0 rsattn, 4 scale)');
    expect(m.configs).toEqual({ costed: 5, measured: 1 });
    expect(m.withinBudget).toBe(true);
  }, 600_000);

  it('bad input: an unknown method, a budget out of range', async () => {
    const e = await caughtAsync(compareMethods(TINY, { importance: imp, data, maxAccLoss: 2.3, methods: 'ig3d,mpcvitt' }));
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(/unknown method 'mpcvitt'; expected a comma-separated list of ig3d, mpcvit, polytransformer, mpcformer/);
    expect((await caughtAsync(compareMethods(TINY, { importance: imp, data, maxAccLoss: 0 }))).message).toMatch(/--max-acc-loss: expected an accuracy loss in percentage points, in \(0, 100\], got 0/);
  });
});

/** A bundle of `shape` float pixels (all 0.1) and labels 0. */
function imageBundle(name: string, shape: number[]): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const labels = shape[0]!;
  const bin = Buffer.alloc(n * 4 + labels * 4);
  for (let i = 0; i < n; i++) bin.writeFloatLE(0.1, i * 4);
  writeFileSync(join(dir, `${name}.bin`), bin);
  const index = { format: 'ig3dc-tensor-bundle/1', bin: `${name}.bin`, tensors: { pixel_values: { dtype: 'float32', shape, offset: 0, nbytes: n * 4 }, labels: { dtype: 'int32', shape: [labels], offset: n * 4, nbytes: labels * 4 } } };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(index));
  return join(dir, `${name}.json`);
}

describe.skipIf(!haveVit)('compare-methods on the ViT fixture and its image dev set', () => {
  const imp = importanceFile('vit-ig.json', [
    [0.42, 0.28, 0.33, 0.31],
    [0.043, 0.076, 0.076, 0.034],
    [0.028, 0.04, 0.069, 0.022],
    [0.043, 0.042, 0.064, 0.035],
  ]);

  it("every method's row (IG-3D: tune on images) equals an independent evaluation of its passes", async () => {
    const r = await compareMethods(VIT, { importance: imp, data: VIT_DEV, maxAccLoss: 10, examples: 24 });
    expect(r.rowShape).toBe('images [1, 8, 8]');
    expect(r.methods.map((m) => m.method)).toEqual(['baseline', 'ig3d', 'mpcvit', 'polytransformer', 'mpcformer']);
    const annotation = readImportanceFile(imp);
    for (const m of r.methods) {
      expect(m.rows).toBe(24);
      expect({ method: m.method, correct: independentCorrect(VIT, VIT_DEV, m, annotation, 24) }).toEqual({ method: m.method, correct: m.correct });
    }
    // IG-3D's search stays within its budget by construction
    expect(r.methods[1]!.withinBudget).toBe(true);
  }, 900_000);

  it('bad input: images of another shape, token ids for a vision model, images for a BERT', async () => {
    const wrong = imageBundle('rgb', [3, 3, 8, 8]);
    const e = await caughtAsync(compareMethods(VIT, { importance: imp, data: wrong, maxAccLoss: 2.3 }));
    expect(e.kind).toBe('input');
    expect(e.message).toMatch(/rgb\.json.*'pixel_values' holds images of shape \[3, 8, 8\], but vit-digits-p2\.onnx takes \[1, 8, 8\]/);
    const { file: text } = tinyBundle(mkdtempSync(join(dir, 't-')), 2, 8, [0, 1]);
    expect((await caughtAsync(compareMethods(VIT, { importance: imp, data: text, maxAccLoss: 2.3 }))).message).toMatch(/it holds token ids \(input_ids\), but vit-digits-p2\.onnx takes images \('pixel_values' \[1, 1, 8, 8\]\)/);
    const tinyImp = importanceFile('tiny-ig2.json', [
      [0.3, 0.1],
      [0.4, 0.2],
    ]);
    expect((await caughtAsync(compareMethods(TINY, { importance: tinyImp, data: imageBundle('digits', [2, 1, 8, 8]), maxAccLoss: 2.3 }))).message).toMatch(/bert-tiny\.onnx has no input 'pixel_values' \(its inputs: input_ids/);
  }, 120_000);
});

describe('ig3dc compare-methods (the command)', () => {
  afterEach(killAll);
  const { file: data } = tinyBundle(mkdtempSync(join(dir, 'cli-')), 6, 8, [0, 1, 0, 0, 1, 0]);
  const imp = importanceFile('cli-ig.json', [
    [0.3, 0.1],
    [0.4, 0.2],
  ]);

  it('prints one JSON object with a row per method; an unknown method is a usage error (exit 2)', async () => {
    const html = join(dir, 'cmp.html');
    const ok = await ig3dc(['compare-methods', TINY, '--importance', imp, '--data', data, '--max-acc-loss', '30', '--methods', 'polytransformer,mpcformer', '--json', '--html', html]).done;
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.stdout) as { format: string; methods: { method: string; rows: number }[] };
    expect(j.format).toBe('ig3dc-compare-methods/1');
    expect(j.methods.map((m) => [m.method, m.rows])).toEqual([['baseline', 6], ['polytransformer', 6], ['mpcformer', 6]]);
    // the HTML page: the chart (one point per method) and the table
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<circle [^>]*><title>/g)?.length).toBe(3);
    for (const name of ['PolyTransformer-style', 'MPCFormer-style', 'attention-method{method=2quad,ratio=1},quad-gelu']) expect(page).toContain(name);
    const bad = await ig3dc(['compare-methods', TINY, '--importance', imp, '--data', data, '--max-acc-loss', '2.3', '--methods', 'softmax']).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ig3dc: error: --methods: unknown method 'softmax'; expected a comma-separated list of ig3d, mpcvit, polytransformer, mpcformer\n/);
    expect(bad.stderr).not.toMatch(/\bat \w+ \(/);
  }, 300_000);
});
