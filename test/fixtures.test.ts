// The evaluator against the fixtures' PyTorch reference outputs and intermediates, and
// against onnxruntime-node on the same inputs.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveOrt, ort, type OrtTensor } from './optional-ort.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { evaluate } from '../ir/evaluate.ts';
import { parseGraph, readIrFile } from '../ir/parser.ts';
import { printGraph, writeIrFile } from '../ir/printer.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { Node } from '../ir/node.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveFixtures = existsSync(join(FIXTURES, 'bert-tiny.onnx'));

/** The ONNX node whose output each fixture intermediate is. */
function intermediateNode(key: string): string | undefined {
  if (key === 'embeddings') return '/bert/embeddings/LayerNorm/Add_1';
  if (key === 'pooled_output') return '/bert/pooler/activation/Tanh';
  const m = /^layer(\d+)_output$/.exec(key);
  return m ? `/bert/encoder/layer.${m[1]}/output/LayerNorm/Add_1` : undefined;
}

function maxAbsDiff(a: Tensor | ArrayLike<number>, b: Tensor | ArrayLike<number>): number {
  const av = 'toNumbers' in a ? a.toNumbers() : Array.from(a);
  const bv = 'toNumbers' in b ? b.toNumbers() : Array.from(b);
  expect(av.length).toBe(bv.length);
  let m = 0;
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs(av[i]! - bv[i]!));
  return m;
}

function toOrt(t: Tensor): OrtTensor {
  if (t.data instanceof BigInt64Array) return new ort.Tensor('int64', t.data, [...t.shape]);
  if (t.data instanceof Float32Array) return new ort.Tensor('float32', t.data, [...t.shape]);
  throw new Error(`unexpected input dtype ${t.dtype}`);
}

describe.skipIf(!haveFixtures).each(['bert-tiny', 'bert-mini', 'spam-bert'])('%s', (model) => {
  const onnxPath = join(FIXTURES, `${model}.onnx`);
  const cases = haveFixtures ? readCasesFile(join(FIXTURES, `${model}.cases.json`)) : [];

  it.each(cases.map((c) => [c.name, c] as const))('case %s: logits and intermediates match PyTorch within 1e-4', (_name, c) => {
    const ids = c.inputs.get('input_ids')!;
    const { graph } = loadOnnxFile(onnxPath, { batch: ids.shape[0]!, seq: ids.shape[1]! });
    const captured = new Map<string, Tensor>();
    const wanted = new Map<string, string>();
    for (const key of c.intermediates?.keys() ?? []) {
      const node = intermediateNode(key);
      expect(node, `intermediate ${key} is known`).toBeDefined();
      wanted.set(node!, key);
    }
    const outputs = evaluate(graph, c.inputs, {
      onValue: (n: Node, v: Tensor) => {
        const key = n.loc.name !== undefined ? wanted.get(n.loc.name) : undefined;
        if (key !== undefined) captured.set(key, v);
      },
    });
    const logits = outputs.get('logits')!;
    expect(logits.shape).toEqual(c.expected!.get('logits')!.shape);
    expect(maxAbsDiff(logits, c.expected!.get('logits')!)).toBeLessThan(1e-4);
    for (const [key, expected] of c.intermediates ?? []) {
      const got = captured.get(key);
      expect(got, `intermediate ${key} was computed`).toBeDefined();
      expect(got!.shape).toEqual(expected.shape);
      expect(maxAbsDiff(got!, expected), key).toBeLessThan(1e-4);
    }
  });

  it('prints to text that parses back to the same text, and (with its weights) to the same logits', () => {
    const c = cases[0]!;
    const ids = c.inputs.get('input_ids')!;
    const { graph } = loadOnnxFile(onnxPath, { batch: ids.shape[0]!, seq: ids.shape[1]! });
    verifyGraph(graph);
    const text = printGraph(graph);
    expect(printGraph(parseGraph(text))).toBe(text);
    const file = join(mkdtempSync(join(tmpdir(), 'ig3dc-rt-')), `${model}.ir`);
    writeIrFile(graph, file);
    const back = readIrFile(file);
    verifyGraph(back);
    expect(printGraph(back)).toBe(text);
    const a = evaluate(graph, c.inputs).get('logits')!;
    const b = evaluate(back, c.inputs).get('logits')!;
    expect(maxAbsDiff(a, b)).toBe(0);
  });

  it.skipIf(!haveOrt)('agrees with onnxruntime-node on every case', async () => {
    const session = await ort.InferenceSession.create(onnxPath);
    for (const c of cases) {
      const feeds: Record<string, OrtTensor> = {};
      for (const [name, t] of c.inputs) feeds[name] = toOrt(t);
      const ref = (await session.run(feeds))['logits']!;
      const ids = c.inputs.get('input_ids')!;
      const { graph } = loadOnnxFile(onnxPath, { batch: ids.shape[0]!, seq: ids.shape[1]! });
      const logits = evaluate(graph, c.inputs).get('logits')!;
      expect(logits.shape).toEqual(ref.dims);
      expect(maxAbsDiff(logits, ref.data as Float32Array), c.name).toBeLessThan(1e-4);
    }
    await session.release();
  });
});
