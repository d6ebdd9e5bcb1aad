// `ig3dc run MODEL --data DEV`: every row of a labelled tensor bundle is a case; the report has
// the secure accuracy, the plaintext accuracy and their agreement. `--case NAME` runs one case;
// a model compiles at each case's own shapes.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCases } from '../compiler/cli/commands/run.ts';
import { loadModel } from '../compiler/load.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { tinyBundle } from './tiny-bundle.ts';

const ROOT = join(import.meta.dirname, '..');
const TINY = join(ROOT, 'examples', 'bert-tiny.onnx');
const CASES = join(ROOT, 'examples', 'bert-tiny.cases.json');
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-run-data-'));
const bundle = (rows: number, seq: number, labels: number[]): ReturnType<typeof tinyBundle> => tinyBundle(dir, rows, seq, labels);

describe('run --data', () => {
  it('runs every row in secure inference and reports accuracy and agreement with plaintext', async () => {
    const labels = [0, 1, 0];
    const b = bundle(3, 8, labels);
    const r = await runCases(TINY, { data: b.file, threads: 1, seed: 'a7c31f0e9b2d4856e1f03c9a7b6d2e41' });
    expect(r.cases.map((c) => c.name)).toEqual(['row0', 'row1', 'row2']);
    // the plaintext predictions, computed here independently
    const graph = loadModel(TINY, { batch: 1, seq: 8 });
    const plain = b.ids.map((ids, k) => {
      const t = (xs: number[]): Tensor => new Tensor('i64', [1, 8], BigInt64Array.from(xs, (x) => BigInt(x)));
      const logits = evaluate(graph, new Map([['input_ids', t(ids)], ['attention_mask', t(b.mask[k]!)], ['token_type_ids', t(new Array(8).fill(0))]])).get('logits')!.toFloat64();
      return logits[1]! > logits[0]! ? 1 : 0;
    });
    expect(r.cases.map((c) => c.referencePredicted![0])).toEqual(plain);
    const secure = r.cases.map((c) => c.predicted[0]!);
    const pct = (k: number): number => (100 * k) / 3;
    expect(r.labelled).toEqual({
      file: b.file,
      rows: 3,
      secureAccuracy: pct(secure.filter((p, i) => p === labels[i]).length),
      plaintextAccuracy: pct(plain.filter((p, i) => p === labels[i]).length),
      agreement: pct(secure.filter((p, i) => p === plain[i]).length),
    });
    expect(r.maxAbsError!).toBeLessThan(2e-3);
    expect(r.countsMatch).toBe(true);
  });

  it('--examples and --case pick rows; --inputs and --data exclude each other', async () => {
    const b = bundle(4, 8, [1, 1, 0, 0]);
    const two = await runCases(TINY, { data: b.file, examples: 2, case: 'row1', threads: 1, seed: '3e9d0b7a51c2f8e64a1d9c03b7e25f68' });
    expect(two.cases.map((c) => c.name)).toEqual(['row1']);
    expect(two.labelled!.rows).toBe(1);
    await expect(runCases(TINY, { data: b.file, inputs: CASES, threads: 1 })).rejects.toThrow(/exactly one of --inputs FILE .* and --data DEV/);
    await expect(runCases(TINY, { threads: 1 })).rejects.toThrow(/exactly one of/);
    await expect(runCases(TINY, { inputs: CASES, case: 'b9', threads: 1 })).rejects.toThrow(/no case named 'b9' \(the cases are: b1_s8, b2_s32, b2_s128\)/);
    await expect(runCases(TINY, { data: b.file, examples: 9, threads: 1 })).rejects.toThrow(/--examples: expected an integer from 1 to 4/);
  });

  it('a model binds each case at its own shapes, whatever --seq says', async () => {
    const r = await runCases(TINY, { inputs: CASES, case: 'b1_s8', seq: 32, threads: 1, seed: 'c04f7a2e9d13b65801fe3a7c92d4b6e5' });
    expect(r.cases[0]!.outputs['logits']!.shape).toEqual([1, 2]);
    expect(r.maxAbsError!).toBeLessThan(2e-3);
  });
});
