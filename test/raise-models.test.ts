// raise-bert on whole models: the PyTorch fixtures at their case shapes, the generated
// variants of bench/make-bert.ts (tanh GELU, LayerNormalization-17, Where mask), and a
// property over random inputs. Raising must be complete and keep the evaluator's results.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BERT_PRESETS, makeBertOnnx, type BertOnnxConfig } from '../bench/make-bert.ts';
import { importOnnx, loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { CONST_OP, INPUT_OP } from '../ir/node.ts';
import { printGraph } from '../ir/printer.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { Tensor } from '../ir/tensor.ts';
import { unraised } from '../passes/raise/index.ts';
import { maxAbsDiff, opCount, raise, Uniform } from './raise-helpers.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveFixtures = existsSync(join(FIXTURES, 'bert-tiny.onnx'));

/** Ops that must not survive raising a BERT. */
const ONNX_LEVEL = ['Softmax', 'Erf', 'Tanh', 'ReduceMean', 'Pow', 'Sqrt', 'Gemm', 'LayerNormalization', 'Where', 'Cast'];

/** Layer count from the model's config in its cases file (not from our own output). */
function layersOf(model: string): number {
  const doc = JSON.parse(readFileSync(join(FIXTURES, `${model}.cases.json`), 'utf8')) as { config: { num_hidden_layers: number } };
  return doc.config.num_hidden_layers;
}

/** The ONNX node whose output each fixture intermediate is. */
function intermediateNode(key: string): string | undefined {
  if (key === 'embeddings') return '/bert/embeddings/LayerNorm/Add_1';
  if (key === 'pooled_output') return '/bert/pooler/activation/Tanh';
  const m = /^layer(\d+)_output$/.exec(key);
  return m ? `/bert/encoder/layer.${m[1]}/output/LayerNorm/Add_1` : undefined;
}

/** Everything a complete raise of an L-layer BERT must satisfy. */
function expectFullyRaised(graph: Graph, notes: readonly string[], L: number): void {
  expect(notes).toEqual([]);
  expect(unraised(graph)).toEqual([]);
  for (const op of ONNX_LEVEL) expect(opCount(graph, op), op).toBe(0);
  const weightMatMuls = graph.nodes().filter((n) => n.op === 'MatMul' && n.inputs.some((i) => i.op === CONST_OP));
  expect(weightMatMuls).toEqual([]);
  // every MatMul is gone: the per-head ones became AttentionScores / AttentionContext
  expect(opCount(graph, 'MatMul')).toBe(0);
  const want: Record<string, number> = {
    LayerNorm: 2 * L + 1,
    Gelu: L,
    AttentionSoftmax: L,
    AttentionScores: L,
    AttentionContext: L,
    SplitHeads: 3 * L,
    MergeHeads: L,
    // q, k, v, attention output, FFN in and out per layer, and the classifier (the Pooler absorbs its Linear)
    Linear: 6 * L + 1,
    Pooler: 1,
    Embedding: 2,
    AttentionMask: 1,
  };
  for (const [op, count] of Object.entries(want)) expect(opCount(graph, op), op).toBe(count);
  // roles: each encoder layer has each projection once; the last Linear classifies
  const roles = new Map<string, number>();
  for (const n of graph.nodes()) {
    if (n.op !== 'Linear') continue;
    const key = `${n.loc.layer ?? '-'}:${n.attrs['role'] as string}`;
    roles.set(key, (roles.get(key) ?? 0) + 1);
  }
  const expected = new Map<string, number>([['-:classifier', 1]]);
  for (let l = 0; l < L; l++) {
    for (const r of ['query', 'key', 'value', 'attention-output', 'ffn-in', 'ffn-out']) expected.set(`${l}:${r}`, 1);
  }
  expect(roles).toEqual(expected);
  expect(graph.outputs[0]!.node.attrs['role']).toBe('classifier');
}

/** Every op named after an encoder layer (`/layer.N/`) has loc.layer N, and no other op has a layer. */
function expectLayersMatchNames(graph: Graph): void {
  let named = 0;
  for (const n of graph.nodes()) {
    if (n.op === CONST_OP || n.op === INPUT_OP) continue;
    const m = /\/layer\.(\d+)\//.exec(n.loc.name ?? '');
    if (m) named++;
    expect(n.loc.layer, `${n.op} ${n.loc.name ?? ''}`).toBe(m ? Number(m[1]) : undefined);
  }
  expect(named).toBeGreaterThan(0);
}

describe.skipIf(!haveFixtures).each(['bert-tiny', 'bert-mini', 'spam-bert'])('raise-bert on %s', (model) => {
  const onnxPath = join(FIXTURES, `${model}.onnx`);
  const cases = haveFixtures ? readCasesFile(join(FIXTURES, `${model}.cases.json`)) : [];
  const L = haveFixtures ? layersOf(model) : 0;

  it.each(cases.map((c) => [c.name, c] as const))('case %s: complete, verified, same logits, fixture intermediates, layers from structure', (_name, c) => {
    const ids = c.inputs.get('input_ids')!;
    const { graph } = loadOnnxFile(onnxPath, { batch: ids.shape[0]!, seq: ids.shape[1]! });
    const { graph: raised, notes } = raise(graph);
    expectFullyRaised(raised, notes, L);
    expectLayersMatchNames(raised);

    const before = evaluate(graph, c.inputs).get('logits')!;
    const wanted = new Map<string, string>();
    for (const key of c.intermediates?.keys() ?? []) wanted.set(intermediateNode(key)!, key);
    const captured = new Map<string, Tensor>();
    const after = evaluate(raised, c.inputs, {
      onValue: (n: Node, v: Tensor) => {
        const key = n.loc.name !== undefined && n.op !== CONST_OP ? wanted.get(n.loc.name) : undefined;
        if (key !== undefined) captured.set(key, v);
      },
    }).get('logits')!;
    expect(maxAbsDiff(before, after)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(after, c.expected!.get('logits')!)).toBeLessThan(1e-4);
    for (const [key, expected] of c.intermediates ?? []) {
      const got = captured.get(key);
      expect(got, `intermediate ${key} is computed by a raised op`).toBeDefined();
      expect(maxAbsDiff(got!, expected), key).toBeLessThan(1e-4);
    }
  });
});

/** int64 BERT inputs: ids in [0, vocab), a padding mask whose first `real` tokens are 1, token types 0/1. */
function bertInputs(batch: number, seq: number, vocab: number, seed: number, real?: readonly number[]): Map<string, Tensor> {
  const r = new Uniform(seed);
  const ids: number[] = [];
  const mask: number[] = [];
  const types: number[] = [];
  for (let b = 0; b < batch; b++) {
    const n = real?.[b] ?? seq;
    for (let s = 0; s < seq; s++) {
      const on = s < n;
      ids.push(on ? Math.floor(((r.next() + 1) / 2) * vocab) % vocab : 0);
      mask.push(on ? 1 : 0);
      types.push(on && s >= n / 2 ? 1 : 0);
    }
  }
  return new Map([
    ['input_ids', Tensor.from('i64', [batch, seq], ids)],
    ['attention_mask', Tensor.from('i64', [batch, seq], mask)],
    ['token_type_ids', Tensor.from('i64', [batch, seq], types)],
  ]);
}

describe('raise-bert on the generated variants of bench/make-bert.ts', () => {
  const variants: [string, Partial<BertOnnxConfig>][] = [
    ['tanh GELU', { geluForm: 'tanh' }],
    ['LayerNormalization (opset 17)', { layerNorm: 'op', opset: 17 }],
    ['Where mask', { maskForm: 'where' }],
    ['all three', { geluForm: 'tanh', layerNorm: 'op', opset: 17, maskForm: 'where' }],
  ];
  it.each(variants)('%s: raises completely and keeps the logits', (_name, variant) => {
    const config: BertOnnxConfig = { ...BERT_PRESETS.tiny, seed: 7, ...variant, layers: 3 };
    const { graph } = importOnnx(makeBertOnnx(config), { batch: 2, seq: 9 });
    const { graph: raised, notes } = raise(graph);
    expectFullyRaised(raised, notes, 3);
    expectLayersMatchNames(raised);
    const gelu = raised.nodes().find((n) => n.op === 'Gelu')!;
    expect(gelu.attrs['approximate']).toBe(variant.geluForm === 'tanh' ? 'tanh' : 'none');
    // raising is idempotent: a raised graph has nothing left to raise
    expect(printGraph(raise(raised).graph)).toBe(printGraph(raised));
    const inputs = bertInputs(2, 9, config.vocab, 3, [9, 5]);
    const before = evaluate(graph, inputs).get('logits')!;
    const after = evaluate(raised, inputs).get('logits')!;
    expect(maxAbsDiff(before, after)).toBeLessThanOrEqual(1e-5);
  });
});

describe.skipIf(!haveFixtures)('raise-bert property', () => {
  it('on random inputs at random small shapes, bert-tiny raised computes the logits of bert-tiny within 1e-5', () => {
    const bytes = readFileSync(join(FIXTURES, 'bert-tiny.onnx'));
    const models = new Map<string, { graph: Graph; raised: Graph }>();
    const modelAt = (batch: number, seq: number): { graph: Graph; raised: Graph } => {
      const key = `${batch}x${seq}`;
      let m = models.get(key);
      if (m === undefined) {
        const { graph } = importOnnx(bytes, { batch, seq });
        m = { graph, raised: raise(graph).graph };
        models.set(key, m);
      }
      return m;
    };
    const shape = fc.record({ batch: fc.integer({ min: 1, max: 2 }), seq: fc.integer({ min: 1, max: 12 }) });
    const arb = shape.chain(({ batch, seq }) =>
      fc.record({
        batch: fc.constant(batch),
        seq: fc.constant(seq),
        // real tokens per row: at least one (a row with every key padded is not a sentence)
        real: fc.array(fc.integer({ min: 1, max: seq }), { minLength: batch, maxLength: batch }),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ batch, seq, real, seed }) => {
        const { graph, raised } = modelAt(batch, seq);
        const inputs = bertInputs(batch, seq, 2000, seed, real);
        const before = evaluate(graph, inputs).get('logits')!;
        const after = evaluate(raised, inputs).get('logits')!;
        expect(maxAbsDiff(before, after)).toBeLessThanOrEqual(1e-5);
      }),
      { numRuns: 8, seed: 20240601 },
    );
  });
});
