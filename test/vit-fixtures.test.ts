// The three ViT fixtures (../shared/fixtures/vit-digits-p2*.onnx): the evaluator against
// PyTorch's logits and intermediates on every case.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Node } from '../ir/node.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import type { Tensor } from '../ir/tensor.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { raiseBert, unraised } from '../passes/raise/index.ts';
import '../passes/index.ts';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
export const VIT_MODELS = ['vit-digits-p2', 'vit-digits-p2-hetero', 'vit-digits-p2-scaled-relu'] as const;
const haveFixtures = existsSync(join(FIXTURES, 'vit-digits-p2.onnx'));

/** The attention method of every (layer, head), from the fixture README's table. */
const README_METHODS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  'vit-digits-p2': [0, 1, 2, 3].map(() => ['exact', 'exact', 'exact', 'exact']),
  'vit-digits-p2-hetero': [
    ['scale', 'scale', 'rsattn', 'scale'],
    ['rsattn', 'rsattn', 'scale', 'rsattn'],
    ['rsattn', 'scale', 'rsattn', 'rsattn'],
    ['scale', 'scale', 'scale', 'rsattn'],
  ],
  'vit-digits-p2-scaled-relu': [0, 1, 2, 3].map(() => ['scaled-relu', 'scaled-relu', 'scaled-relu', 'scaled-relu']),
};

/** The ONNX node whose output each fixture intermediate is. */
function intermediateNode(key: string): string | undefined {
  if (key === 'embeddings') return '/vit/embeddings/Add';
  if (key === 'final_layernorm_output') return '/vit/layernorm/Add_1';
  const m = /^layer(\d+)_output$/.exec(key);
  return m ? `/vit/layer.${m[1]}/output/Add` : undefined;
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect([...a.shape]).toEqual([...b.shape]);
  let m = 0;
  for (let i = 0; i < a.size; i++) m = Math.max(m, Math.abs(a.at(i) - b.at(i)));
  return m;
}

describe.skipIf(!haveFixtures).each(VIT_MODELS)('%s', (model) => {
  const onnxPath = join(FIXTURES, `${model}.onnx`);
  const cases = haveFixtures ? readCasesFile(join(FIXTURES, `${model}.cases.json`)) : [];

  it('has the three reference cases', () => {
    expect(cases.map((c) => c.name)).toEqual(['b1_dev0', 'b2_dev1', 'b7_dev3']);
  });

  it.each(cases.map((c) => [c.name, c] as const))('case %s: logits and intermediates match PyTorch within 1e-4', (_name, c) => {
    const pixels = c.inputs.get('pixel_values')!;
    const { graph } = loadOnnxFile(onnxPath, { batch: pixels.shape[0]! });
    const wanted = new Map<string, string>();
    for (const key of c.intermediates?.keys() ?? []) {
      const node = intermediateNode(key);
      expect(node, `intermediate ${key} is known`).toBeDefined();
      wanted.set(node!, key);
    }
    const captured = new Map<string, Tensor>();
    const outputs = evaluate(graph, c.inputs, {
      onValue: (n: Node, v: Tensor) => {
        const key = n.loc.name !== undefined ? wanted.get(n.loc.name) : undefined;
        if (key !== undefined) captured.set(key, v);
      },
    });
    expect(maxAbsDiff(outputs.get('logits')!, c.expected!.get('logits')!)).toBeLessThan(1e-4);
    for (const [key, expected] of c.intermediates ?? []) {
      const got = captured.get(key);
      expect(got, `intermediate ${key} was computed`).toBeDefined();
      expect(maxAbsDiff(got!, expected), key).toBeLessThan(1e-4);
    }
  });
});

describe.skipIf(!haveFixtures).each(VIT_MODELS)('%s raised', (model) => {
  const onnxPath = join(FIXTURES, `${model}.onnx`);
  const cases = haveFixtures ? readCasesFile(join(FIXTURES, `${model}.cases.json`)) : [];

  it('raises to the transformer-level ops of BERT with the trained attention methods, nothing left over', () => {
    const notes: string[] = [];
    const raised = raiseBert(loadOnnxFile(onnxPath, { batch: 1 }).graph, { resources: new Map(), note: (_p, m) => notes.push(m) });
    verifyGraph(raised);
    expect(notes).toEqual([]);
    expect(unraised(raised)).toEqual([]);
    const ops = new Set(raised.nodes().map((n) => n.op));
    for (const gone of ['Softmax', 'Relu', 'Div', 'ReduceSum', 'ReduceMean', 'MatMul', 'Gemm', 'Erf']) expect(ops.has(gone), gone).toBe(false);
    const softmaxes = raised.nodes().filter((n) => n.op === 'AttentionSoftmax');
    expect(softmaxes.map((n) => n.loc.layer)).toEqual([0, 1, 2, 3]);
    expect(softmaxes.map((n) => n.attrs['methods'])).toEqual(README_METHODS[model]);
    const roles = raised.nodes().filter((n) => n.op === 'Linear').map((n) => n.attrs['role']);
    expect(roles[0]).toBe('patch-embedding');
    expect(roles.at(-1)).toBe('classifier');
    expect(raised.nodes().filter((n) => n.op === 'LayerNorm').map((n) => n.loc.layer)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, undefined]);
  });

  it.each(cases.map((c) => [c.name, c] as const))('case %s: the raised model matches PyTorch within 1e-4', (_name, c) => {
    const pixels = c.inputs.get('pixel_values')!;
    const raised = raiseBert(loadOnnxFile(onnxPath, { batch: pixels.shape[0]! }).graph);
    expect(maxAbsDiff(evaluate(raised, c.inputs).get('logits')!, c.expected!.get('logits')!)).toBeLessThan(1e-4);
  });
});
