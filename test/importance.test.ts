// ig3dc importance: integrated gradients and the baselines, checked against independent
// computations (finite differences on a graph that adds a perturbation input to a head's
// output; the completeness axiom; direct formulas), and the errors for bad input.

import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from '../ir/build.ts';
import { evaluate } from '../ir/evaluate.ts';
import { inputNode, type Node } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { importOnnx } from '../compiler/frontend/import.ts';
import { raiseBert } from '../passes/raise/index.ts';
import { readImportanceFile } from '../passes/ig3d/annotations.ts';
import { computeImportance } from '../compiler/importance/run.ts';
import { igExample, riemannAlphas } from '../compiler/importance/methods.ts';
import { ImportanceModel } from '../compiler/importance/model.ts';
import { firstTokenOnly, substitute } from '../compiler/importance/first-token.ts';
import { spearman, ranks } from '../compiler/importance/spearman.ts';
import { importanceCommand } from '../compiler/cli/commands/importance.ts';
import { examplesBundle, tempDir, writeNoAttentionModel, writeSmallBert } from './importance-helpers.ts';
import { haveOrt } from './optional-ort.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const SPAM = join(FIXTURES, 'spam-bert.onnx');
const haveSpam = existsSync(SPAM);

/** The raised (untrimmed) graph at length n with one extra input `delta` added to layer l's head outputs. */
function perturbedGraph(bytes: Uint8Array, n: number, layer: number) {
  const g = raiseBert(importOnnx(bytes, { inputShapes: { input_ids: [1, n], attention_mask: [1, n], token_type_ids: [1, n] } }).graph);
  const ctx = g.nodes().find((x) => x.op === 'AttentionContext' && x.loc.layer === layer)!;
  const delta = inputNode('delta', { ...ctx.type, vis: 'client' }, { name: 'delta' });
  const g2 = substitute(g, new Map([[ctx, build('Add', [ctx, delta])]]));
  return { graph: g2.with({ inputs: [...g2.inputs, delta] }), ctx };
}

/** IG score of head h by central differences: F(alpha O) evaluated with evaluate() on the perturbed graph. */
function igByFiniteDifferences(bytes: Uint8Array, ids: readonly number[], layer: number, head: number, m: number): { score: number; sum: number; diff: number } {
  const n = ids.length;
  const { graph, ctx } = perturbedGraph(bytes, n, layer);
  const feeds = new Map<string, Tensor>([
    ['input_ids', Tensor.from('i64', [1, n], ids.map(BigInt))],
    ['attention_mask', Tensor.from('i64', [1, n], ids.map(() => 1n))],
    ['token_type_ids', Tensor.from('i64', [1, n], ids.map(() => 0n))],
  ]);
  const size = ctx.type.shape.reduce((a, b) => a * b, 1);
  const zero = new Float64Array(size);
  // O from a plain run (delta = 0)
  let O: Float64Array | undefined;
  const run = (d: Float64Array): Float64Array => {
    const f = new Map(feeds);
    f.set('delta', new Tensor('f32', ctx.type.shape, d));
    return evaluate(graph, f, { onValue: (node: Node, v) => void (node === ctx && O === undefined ? (O = Float64Array.from(v.toFloat64())) : 0) }).get('logits')!.toFloat64();
  };
  const logits = run(zero);
  const c = logits[0]! >= logits[1]! ? 0 : 1;
  const [, , S, d] = ctx.type.shape as number[];
  const off = head * S! * d!;
  const gsum = new Float64Array(S! * d!);
  const eps = 1e-5;
  for (let k = 1; k <= m; k++) {
    const alpha = k / m;
    const base = new Float64Array(size);
    for (let i = 0; i < S! * d!; i++) base[off + i] = (alpha - 1) * O![off + i]!;
    for (let i = 0; i < S! * d!; i++) {
      const p = base.slice();
      p[off + i]! += eps;
      const q = base.slice();
      q[off + i]! -= eps;
      gsum[i]! += (run(p)[c]! - run(q)[c]!) / (2 * eps);
    }
  }
  let norm = 0;
  let sum = 0;
  for (let i = 0; i < S! * d!; i++) {
    const ig = (O![off + i]! * gsum[i]!) / m;
    norm += ig * ig;
    sum += ig;
  }
  const zeroed = new Float64Array(size);
  for (let i = 0; i < S! * d!; i++) zeroed[off + i] = -O![off + i]!;
  return { score: Math.sqrt(norm), sum, diff: logits[c]! - run(zeroed)[c]! };
}

describe('first-token trimming', () => {
  it.skipIf(!haveSpam)('leaves the logits of spam-bert unchanged and shrinks the last layer', () => {
    const g = raiseBert(importOnnx(readFileSync(SPAM), { inputShapes: { input_ids: [1, 9], attention_mask: [1, 9], token_type_ids: [1, 9] } }).graph);
    const t = firstTokenOnly(g);
    const ids = [2, 40, 17, 300, 5, 99, 1, 7, 3];
    const feeds = new Map<string, Tensor>([
      ['input_ids', Tensor.from('i64', [1, 9], ids.map(BigInt))],
      ['attention_mask', Tensor.from('i64', [1, 9], ids.map(() => 1n))],
      ['token_type_ids', Tensor.from('i64', [1, 9], ids.map(() => 0n))],
    ]);
    expect(Array.from(evaluate(t, feeds).get('logits')!.toFloat64())).toEqual(Array.from(evaluate(g, feeds).get('logits')!.toFloat64()));
    const ffn = t.nodes().filter((n) => n.op === 'Linear' && n.attrs['role'] === 'ffn-in' && n.loc.layer === 3);
    expect(ffn.map((n) => n.type.shape)).toEqual([[1, 1, 1024]]);
  });
});

describe('integrated gradients', () => {
  it('satisfies completeness on a small model: sum of IG = F(O) - F(head zeroed), within the Riemann error', () => {
    const dir = tempDir();
    const model = new ImportanceModel(writeSmallBert(dir, { geluForm: 'tanh' }));
    const ex = { index: 0, ids: Int32Array.from([2, 11, 12, 13, 3]), label: 0 };
    const relative = (m: number): number[] =>
      igExample(model, ex, { alphas: riemannAlphas(m), target: 'predicted' }).completeness!.map(([sum, diff]) => Math.abs(sum - diff) / Math.abs(diff));
    const coarse = relative(4);
    const fine = relative(64);
    expect(fine).toHaveLength(4);
    // right Riemann sums converge like 1/m: 16x more steps shrink every head's error
    for (let i = 0; i < 4; i++) {
      expect(fine[i]!).toBeLessThan(0.01);
      expect(fine[i]!).toBeLessThan(coarse[i]!);
    }
  });

  it('matches a direct finite-difference computation of the definition (small model, every head)', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const ids = [2, 21, 7, 3];
    const data = examplesBundle(dir, 'dev', [ids], [1], 6);
    const r = await computeImportance({ model, data, steps: 2, examples: 1, threads: 1, engine: 'evaluator' });
    const bytes = readFileSync(model);
    for (let l = 0; l < 2; l++) {
      for (let h = 0; h < 2; h++) {
        const fd = igByFiniteDifferences(bytes, ids, l, h, 2);
        expect(r.scores[l]![h]!).toBeCloseTo(fd.score, 9);
        expect(Math.abs(r.scores[l]![h]! - fd.score)).toBeLessThan(1e-6 * fd.score + 1e-12);
      }
    }
  });

  it.skipIf(!haveSpam)('ig3dc importance on spam-bert (2 examples, 2 threads) matches finite differences on a layer-0 head', async () => {
    const dir = tempDir();
    // the same short message twice: both workers run, and the mean is the per-example score
    const ids = [2, 3];
    const data = examplesBundle(dir, 'dev', [ids, ids], [0, 0], 8);
    const out = join(dir, 'ig.json');
    await importanceCommand(SPAM, { data, output: out, steps: 2, examples: 2, threads: 2, engine: 'evaluator' });
    const file = JSON.parse(readFileSync(out, 'utf8')) as { scores: number[][]; layers: number; heads: number; steps: number; examples: number };
    expect([file.layers, file.heads, file.steps, file.examples]).toEqual([4, 4, 2, 2]);
    expect(readImportanceFile(out).scores).toEqual(file.scores);
    const bytes = readFileSync(SPAM);
    // layer 0: the gradient passes through every later layer and the trimmed last one
    const fd = igByFiniteDifferences(bytes, ids, 0, 1, 2).score;
    expect(Math.abs(file.scores[0]![1]! - fd)).toBeLessThan(1e-6 * fd);
  }, 600_000);

  it('onnxruntime (the gradient graph, batched over path points, padded lengths) agrees with the evaluator', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir, { maxPositions: 24 });
    // lengths 4, 9 and 13: padded to 8, 16 and 16 tokens
    const rows = [
      [2, 21, 7, 3],
      [2, 30, 31, 32, 33, 34, 35, 36, 3],
      [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 3],
    ];
    const data = examplesBundle(dir, 'dev', rows, [1, 0, 1], 16);
    // 40 steps on 2 heads: 82 rows per layer, run in two chunks
    for (const extra of [{ steps: 3 }, { sampleAlpha: 2, seed: 4 }, { steps: 40 }]) {
      const ort = await computeImportance({ model, data, examples: 3, threads: 1, engine: 'onnxruntime', ...extra });
      const ref = await computeImportance({ model, data, examples: 3, threads: 1, engine: 'evaluator', ...extra });
      expect(ort.engine).toBe('onnxruntime');
      expect(ref.engine).toBe('evaluator');
      const flat = ref.scores.flat();
      const scale = Math.max(...flat);
      ort.scores.flat().forEach((v, i) => expect(Math.abs(v - flat[i]!)).toBeLessThan(2e-4 * scale));
      expect(ort.completeness_check!.pairs).toBe(ref.completeness_check!.pairs);
      expect(ort.predicted_accuracy_on_examples).toBe(ref.predicted_accuracy_on_examples);
    }
  });

  it('sampled alphas are reproducible from the seed and differ between seeds', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const data = examplesBundle(dir, 'dev', [[2, 21, 7, 3]], [1], 6);
    const a = await computeImportance({ model, data, sampleAlpha: 3, seed: 5, examples: 1, threads: 1 });
    const b = await computeImportance({ model, data, sampleAlpha: 3, seed: 5, examples: 1, threads: 1 });
    const c = await computeImportance({ model, data, sampleAlpha: 3, seed: 6, examples: 1, threads: 1 });
    expect(a.scores).toEqual(b.scores);
    expect(a.scores).not.toEqual(c.scores);
    expect(a.alpha_sampling).toEqual({ samples: 3, seed: 5 });
  });
});

describe('baselines', () => {
  it('entropy and gradient sensitivity match direct computations on a small model', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const ids = [2, 30, 31, 3];
    const data = examplesBundle(dir, 'dev', [ids], [1], 6);
    const ent = await computeImportance({ model, data, method: 'entropy', examples: 1, threads: 1 });
    const m = new ImportanceModel(model);
    const bound = m.at(4);
    const values = new Map<Node, Tensor>();
    evaluate(bound.graph, m.feeds(bound, { index: 0, ids: Int32Array.from(ids), label: undefined }), { onValue: (n, v) => values.set(n, v) });
    const A = values.get(bound.sites[1]!.softmax)!.toFloat64();
    let e = 0;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) e -= A[(1 * 4 + i) * 4 + j]! * Math.log(A[(1 * 4 + i) * 4 + j]!);
    expect(ent.scores[1]![1]).toBeCloseTo(e / 4, 12);
    expect(ent.higher_is_more_important).toBe(false);

    // ||dL/dA|| by central differences on one head's attention row entries
    const grad = await computeImportance({ model, data, method: 'grad', examples: 1, threads: 1 });
    const site = bound.sites[0]!;
    const delta = inputNode('delta', { ...site.softmax.type, vis: 'client' }, { name: 'delta' });
    const g2 = substitute(bound.graph, new Map([[site.softmax, build('Add', [site.softmax, delta])]]));
    const g3 = g2.with({ inputs: [...g2.inputs, delta] });
    const loss = (d: Float64Array): number => {
      const f = m.feeds(bound, { index: 0, ids: Int32Array.from(ids), label: undefined });
      f.set('delta', new Tensor('f32', site.softmax.type.shape, d));
      const z = evaluate(g3, f).get('logits')!.toFloat64();
      const mx = Math.max(...z);
      return Math.log(Array.from(z).reduce((s, v) => s + Math.exp(v - mx), 0)) + mx - z[1]!;
    };
    let s = 0;
    for (let i = 0; i < 16; i++) {
      const p = new Float64Array(2 * 16);
      const q = new Float64Array(2 * 16);
      p[16 + i] = 1e-6;
      q[16 + i] = -1e-6;
      s += ((loss(p) - loss(q)) / 2e-6) ** 2;
    }
    expect(grad.scores[0]![1]!).toBeCloseTo(Math.sqrt(s), 6);
  });

  it('weight norm is the product of the per-head Frobenius norms of the projections', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const r = await computeImportance({ model, method: 'norm' });
    const bound = new ImportanceModel(model).at(1);
    const site = bound.sites[1]!;
    const norm = (lin: Node | undefined, h: number): number => {
      const W = (lin!.inputs[1]!.data as Tensor).toFloat64();
      let s = 0;
      for (let k = 0; k < 32; k++) for (let j = h * 16; j < h * 16 + 16; j++) s += W[k * 32 + j]! ** 2;
      return Math.sqrt(s);
    };
    expect(r.scores[1]![0]).toBeCloseTo(norm(site.query, 0) * norm(site.key, 0) * norm(site.value, 0), 10);
    expect(r.examples).toBe(0);
  });

  it('spearman: ranks with ties, perfect and reversed agreement', () => {
    expect(ranks([3, 1, 3, 2])).toEqual([3.5, 1, 3.5, 2]);
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
  });
});

describe('bad input', () => {
  const expectError = async (p: Promise<unknown>, kind: string, ...words: string[]): Promise<void> => {
    const e = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(Ig3dcError);
    expect((e as Ig3dcError).kind).toBe(kind);
    for (const w of words) expect((e as Ig3dcError).message).toContain(w);
  };

  it('a sequence longer than the model has positions', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const data = examplesBundle(dir, 'long', [Array.from({ length: 20 }, (_, i) => 2 + (i % 40))], [0], 20);
    await expectError(computeImportance({ model, data, examples: 1, threads: 1 }), 'input', 'example 0 has 20 tokens', '16 positions', data);
  });

  it('a token id outside the vocabulary', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const data = examplesBundle(dir, 'oov', [[2, 7, 50, 3]], [0], 4);
    await expectError(computeImportance({ model, data, examples: 1, threads: 1 }), 'input', 'id 50', 'vocabulary', '0..49');
  });

  it('a dataset without labels, and one without token ids', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const { writeBundle } = await import('./importance-helpers.ts');
    const noLabels = writeBundle(dir, 'nolabels', { input_ids: { shape: [1, 3], data: [2, 5, 3] } });
    await expectError(computeImportance({ model, data: noLabels, threads: 1 }), 'input', "'labels'", 'input_ids');
    const noIds = writeBundle(dir, 'noids', { labels: { shape: [1], data: [0] } });
    await expectError(computeImportance({ model, data: noIds, threads: 1 }), 'input', "'input_ids'");
  });

  it('steps, examples and sampled alphas below 1', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    const data = examplesBundle(dir, 'dev', [[2, 7, 3]], [0], 4);
    await expectError(computeImportance({ model, data, steps: 0 }), 'usage', '--steps must be an integer >= 1, got 0');
    await expectError(computeImportance({ model, data, examples: 0 }), 'usage', '--examples');
    await expectError(computeImportance({ model, data, sampleAlpha: 0 }), 'usage', '--sample-alpha');
  });

  it('a model without recognizable attention heads', async () => {
    const dir = tempDir();
    const model = writeNoAttentionModel(dir);
    const data = examplesBundle(dir, 'dev', [[2, 7, 3]], [0], 4);
    await expectError(computeImportance({ model, data, threads: 1 }), 'unsupported', 'no recognizable attention heads', 'AttentionContext', model);
  });

  it('a method that needs data without --data', async () => {
    const dir = tempDir();
    const model = writeSmallBert(dir);
    await expectError(computeImportance({ model, method: 'ig' }), 'usage', '--data');
  });
});

describe.skipIf(!existsSync(join(FIXTURES, 'vit-digits-p2.onnx')))('a vision model and image examples', () => {
  const VIT = join(FIXTURES, 'vit-digits-p2.onnx');
  const DEV = join(FIXTURES, 'vit-digits-p2.dev.json');

  /** An image bundle of `shape` (all pixels 0.1) with labels 0, written next to the other test files. */
  function images(shape: number[]): string {
    const dir = tempDir();
    const n = shape.reduce((a, b) => a * b, 1);
    const bin = Buffer.alloc(n * 4 + shape[0]! * 4);
    for (let i = 0; i < n; i++) bin.writeFloatLE(0.1, i * 4);
    writeFileSync(join(dir, 'img.bin'), bin);
    const tensors = { pixel_values: { dtype: 'float32', shape, offset: 0, nbytes: n * 4 }, labels: { dtype: 'int32', shape: [shape[0]], offset: n * 4, nbytes: shape[0]! * 4 } };
    writeFileSync(join(dir, 'img.json'), JSON.stringify({ format: 'ig3dc-tensor-bundle/1', bin: 'img.bin', tensors }));
    return join(dir, 'img.json');
  }

  it('integrated gradients of a ViT on images: onnxruntime (graph rules, batched) equals the evaluator (numeric rules)', async () => {
    const common = { model: VIT, data: DEV, steps: 4, examples: 2, threads: 1 } as const;
    const viaEval = await computeImportance({ ...common, engine: 'evaluator' });
    expect(viaEval.layers).toBe(4);
    expect(viaEval.head_dim).toBe(32);
    expect(viaEval.example_selection).toBe('first 2 rows of vit-digits-p2.dev.bin');
    if (!haveOrt) return;
    const viaOrt = await computeImportance({ ...common, engine: 'onnxruntime' });
    expect(viaOrt.engine).toBe('onnxruntime');
    for (let l = 0; l < 4; l++) for (let h = 0; h < 4; h++) expect(Math.abs(viaOrt.scores[l]![h]! - viaEval.scores[l]![h]!)).toBeLessThanOrEqual(1e-5 * viaEval.scores[l]![h]!);
  }, 600_000);

  it('bad input: images of another shape, token ids for a ViT', async () => {
    const wrong = await computeImportance({ model: VIT, data: images([2, 3, 8, 8]), examples: 2, threads: 1 }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(Ig3dcError);
    expect((wrong as Ig3dcError).message).toMatch(/image 0 has shape \[3, 8, 8\], but vit-digits-p2\.onnx takes images of \[1, 8, 8\]/);
    const text = examplesBundle(tempDir(), 'dev', [[2, 30, 3]], [1], 4);
    const tokens = await computeImportance({ model: VIT, data: text, examples: 1, threads: 1 }).catch((e: unknown) => e);
    expect((tokens as Ig3dcError).message).toMatch(/the dataset holds token ids, but vit-digits-p2\.onnx takes images \(pixel_values \[batch, 1, 8, 8\]\)/);
  }, 120_000);
});
