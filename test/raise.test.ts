// raise-bert rule by rule: every pattern has a graph it must raise (and the raised graph
// computes the same) and a near miss it must leave alone (and report).

import { describe, expect, it } from 'vitest';
import { build } from '../ir/build.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { constNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { findPass } from '../passes/pass.ts';
import { ATTENTION_METHOD_RULES, ATTENTION_RULES, EMBEDDING_RULES, GELU_RULES, LAYER_NORM_RULES, LINEAR_RULES, RAISE_BERT_RULES, encoderLayers, mapGraph } from '../passes/raise/index.ts';
import {
  additiveMask,
  attentionBlock,
  decomposedLayerNorm,
  erfGelu,
  expectSameResult,
  graphOf,
  input,
  matmulLinear,
  n,
  opCount,
  opsOf,
  pub,
  raise,
  randomInputs,
  tanhGelu,
  weight,
} from './raise-helpers.ts';

describe('rules are data', () => {
  it('every rule has an "XToY" name and a one-line doc, and the pass is registered', () => {
    const all = [...LAYER_NORM_RULES, ...GELU_RULES, ...LINEAR_RULES, ...EMBEDDING_RULES, ...ATTENTION_RULES, ...ATTENTION_METHOD_RULES];
    expect(RAISE_BERT_RULES.length).toBe(all.length);
    for (const r of RAISE_BERT_RULES) {
      expect(r.name).toMatch(/^[A-Z][A-Za-z0-9]*To[A-Z][A-Za-z0-9]*$/);
      expect(r.doc).toContain('->');
      expect(r.doc).not.toContain('\n');
    }
    const pass = findPass('raise-bert');
    expect(pass?.summary).toBeTruthy();
    expect(pass?.summary).not.toContain('\n');
  });
});

describe('LayerNorm', () => {
  const x = input('x', [2, 3, 8]);

  it('raises the decomposed form over the last axis (exported and commuted operand orders)', () => {
    for (const swapped of [false, true]) {
      const g = graphOf([x], decomposedLayerNorm(x, { swapped }));
      const { graph, notes } = raise(g);
      expect(opCount(graph, 'LayerNorm')).toBe(1);
      for (const op of ['ReduceMean', 'Pow', 'Sqrt', 'Div', 'Sub']) expect(opsOf(graph).has(op), op).toBe(false);
      expect(notes).toEqual([]);
      expect(graph.outputs[0]!.node.loc.name).toBe('ln/Add_1');
      expect(graph.outputs[0]!.node.attrs['epsilon']).toBeCloseTo(1e-12, 20);
      expectSameResult(g, graph, randomInputs(g, 1), 1e-9);
    }
  });

  it('keeps the epsilon of the graph', () => {
    const g = graphOf([x], decomposedLayerNorm(x, { eps: 1e-5 }));
    const out = raise(g).graph.outputs[0]!.node;
    expect(out.op).toBe('LayerNorm');
    expect(out.attrs['epsilon']).toBeCloseTo(1e-5, 12);
  });

  it('does not raise a normalization over another axis, a cube, or a Sub of another value', () => {
    const y = input('y', [2, 3, 8]);
    const cases: [string, Graph][] = [
      ['axis 1', graphOf([x], decomposedLayerNorm(x, { axis: 1 }))],
      ['exponent 3', graphOf([x], decomposedLayerNorm(x, { exponent: 3 }))],
      ['Sub of y', graphOf([x, y], decomposedLayerNorm(x, { subtractFrom: y }))],
    ];
    for (const [what, g] of cases) {
      const { graph, notes } = raise(g);
      expect(opCount(graph, 'LayerNorm'), what).toBe(0);
      expect(notes.some((m) => m.includes('ReduceMean')), what).toBe(true);
      expectSameResult(g, graph, randomInputs(g, 2), 0);
    }
  });

  it('raises ONNX LayerNormalization over the last axis, with and without a bias', () => {
    const gamma = weight([8], 'g');
    const beta = weight([8], 'b');
    for (const inputs of [[x, gamma, beta], [x, gamma]]) {
      const g = graphOf([x], n('LayerNormalization', inputs, { axis: -1, epsilon: 1e-12 }));
      const { graph, notes } = raise(g);
      expect(graph.outputs[0]!.node.op).toBe('LayerNorm');
      expect(notes).toEqual([]);
      expectSameResult(g, graph, randomInputs(g, 3), 1e-12);
    }
  });

  it('does not raise LayerNormalization over more than the last axis', () => {
    const g = graphOf([x], n('LayerNormalization', [x, weight([3, 8]), weight([3, 8])], { axis: 1 }));
    const { graph, notes } = raise(g);
    expect(graph.outputs[0]!.node.op).toBe('LayerNormalization');
    expect(notes.join()).toContain('LayerNormalization');
  });
});

describe('GELU', () => {
  const x = input('x', [2, 5]);

  it.each(['torch', 'half-first', 'half-last', 'mul-inv-sqrt2'] as const)('raises the erf form (%s)', (form) => {
    const g = graphOf([x], erfGelu(x, form));
    const { graph, notes } = raise(g);
    const out = graph.outputs[0]!.node;
    expect(out.op).toBe('Gelu');
    expect(out.attrs['approximate']).toBe('none');
    expect(out.inputs[0]).toBe(x);
    expect(notes).toEqual([]);
    // the f32 constants (1.4142135, ...) differ from the exact ones by < 1e-7 relative
    expectSameResult(g, graph, randomInputs(g, 4), 1e-7);
  });

  it('raises the tanh form of bench/make-bert.ts', () => {
    const g = graphOf([x], tanhGelu(x));
    const { graph, notes } = raise(g);
    expect(graph.outputs[0]!.node.op).toBe('Gelu');
    expect(graph.outputs[0]!.node.attrs['approximate']).toBe('tanh');
    expect(notes).toEqual([]);
    expectSameResult(g, graph, randomInputs(g, 5), 1e-7);
  });

  it('does not raise a GELU with a wrong constant', () => {
    for (const g of [graphOf([x], erfGelu(x, 'torch', 1.5)), graphOf([x], tanhGelu(x, 0.05))]) {
      const { graph, notes } = raise(g);
      expect(opCount(graph, 'Gelu')).toBe(0);
      expect(notes.some((m) => m.includes('Erf') || m.includes('Tanh'))).toBe(true);
    }
  });

  it('does not raise 0.5 * x * (1 + erf(y / sqrt 2)) for another y', () => {
    const y = input('y', [2, 5]);
    const phi = n('Add', [n('Erf', [n('Div', [y, pub(Math.SQRT2)])]), pub(1)]);
    const g = graphOf([x, y], n('Mul', [n('Mul', [x, phi]), pub(0.5)]));
    expect(opCount(raise(g).graph, 'Gelu')).toBe(0);
  });
});

describe('Linear', () => {
  const x = input('x', [2, 3, 4]);

  it('raises MatMul(x, W) + b in either Add order', () => {
    for (const biasFirst of [true, false]) {
      const g = graphOf([x], matmulLinear(x, 6, 'dense', biasFirst));
      const { graph, notes } = raise(g);
      const out = graph.outputs[0]!.node;
      expect(out.op).toBe('Linear');
      expect(out.inputs.length).toBe(3);
      expect(out.loc.name).toBe('dense/Add');
      expect(notes).toEqual([]);
      expectSameResult(g, graph, randomInputs(g, 6), 1e-12);
    }
  });

  it('raises a bias-free MatMul by a weight and leaves a non-vector addend outside', () => {
    const g = graphOf([x], n('Add', [n('MatMul', [x, weight([4, 6])]), weight([3, 6])]));
    const { graph } = raise(g);
    const out = graph.outputs[0]!.node;
    expect(out.op).toBe('Add');
    expect(out.inputs[0]!.op).toBe('Linear');
    expect(out.inputs[0]!.inputs.length).toBe(2);
    expectSameResult(g, graph, randomInputs(g, 7), 1e-12);
  });

  it('does not raise a MatMul whose right operand is not a constant', () => {
    const w = input('w', [4, 6]);
    const g = graphOf([x, w], n('Add', [n('MatMul', [x, w]), weight([6])]));
    const { graph, notes } = raise(g);
    expect(opCount(graph, 'Linear')).toBe(0);
    expect(opCount(graph, 'MatMul')).toBe(1);
    expect(notes).toEqual([]);
  });

  it('raises Gemm with transB = 1 (folding W^T into a constant) and transB = 0', () => {
    const x2 = input('x', [3, 4]);
    for (const transB of [0, 1]) {
      const w = weight(transB ? [6, 4] : [4, 6], 'gemm.weight');
      const g = graphOf([x2], n('Gemm', [x2, w, weight([6])], { transB }));
      const { graph, notes } = raise(g);
      const out = graph.outputs[0]!.node;
      expect(out.op).toBe('Linear');
      expect(out.inputs[1]!.op).toBe('Const');
      expect(out.inputs[1]!.type).toEqual({ elem: 'f32', shape: [4, 6], vis: 'server' });
      expect(notes).toEqual([]);
      expectSameResult(g, graph, randomInputs(g, 8), 1e-12);
    }
  });

  it('does not raise a Gemm that scales its product or transposes A', () => {
    const x2 = input('x', [4, 3]);
    const near: Record<string, number>[] = [{ alpha: 2 }, { transA: 1 }];
    for (const attrs of near) {
      const a = attrs['transA'] === 1 ? x2 : input('x', [3, 4]);
      const g = graphOf([a], n('Gemm', [a, weight([4, 6]), weight([6])], attrs));
      const { graph, notes } = raise(g);
      expect(opCount(graph, 'Linear')).toBe(0);
      expect(notes.join()).toContain('Gemm');
    }
  });
});

describe('embeddings and pooler', () => {
  it('raises Gather(table, ids) to Embedding, not a Gather of constant positions', () => {
    const ids = input('ids', [2, 5], 'i64');
    const table = weight([10, 4], 'word');
    const positions = n('Gather', [weight([16, 4], 'pos'), pub([0, 1, 2, 3, 4], [1, 5], 'i64')]);
    const g = graphOf([ids], n('Add', [n('Gather', [table, ids]), positions]));
    const { graph } = raise(g);
    expect(opCount(graph, 'Embedding')).toBe(1);
    expectSameResult(g, graph, randomInputs(g, 9, (s, r) => Array.from({ length: s[0]! * s[1]! }, () => Math.floor((r.next() + 1) * 5))), 0);
  });

  it('does not raise a Gather along another axis', () => {
    const ids = input('ids', [3], 'i64');
    const g = graphOf([ids], n('Gather', [weight([4, 10]), ids], { axis: 1 }));
    expect(opCount(raise(g).graph, 'Embedding')).toBe(0);
  });

  it('raises tanh(Gemm(x[:, 0], W, b)) to Pooler, and not for token 1', () => {
    const x = input('x', [2, 5, 4]);
    for (const index of [0, 1]) {
      const first = n('Gather', [x, pub(index, [], 'i64')], { axis: 1 });
      const g = graphOf([x], n('Tanh', [n('Gemm', [first, weight([3, 4]), weight([3])], { transB: 1 })]));
      const { graph, notes } = raise(g);
      if (index === 0) {
        expect(graph.outputs[0]!.node.op).toBe('Pooler');
        expect(notes).toEqual([]);
      } else {
        expect(opCount(graph, 'Pooler')).toBe(0);
        expect(notes.join()).toContain('Tanh');
      }
      expectSameResult(g, graph, randomInputs(g, 10), 1e-12);
    }
  });
});

describe('attention', () => {
  const x = input('x', [2, 4, 8]);
  const mask = input('attention_mask', [2, 4], 'i64');

  it.each(['mul-min', 'where'] as const)('raises a masked attention block (%s mask) to the head-structured ops', (form) => {
    const g = graphOf([x, mask], attentionBlock(x, 2, mask, { mask: form }));
    const { graph, notes } = raise(g);
    expect(notes).toEqual([]);
    const ops = opsOf(graph);
    for (const op of ['MatMul', 'Softmax', 'Transpose', 'Reshape', 'Cast', 'Where', 'Sub']) expect(ops.has(op), op).toBe(false);
    expect(opCount(graph, 'SplitHeads')).toBe(3);
    expect(opCount(graph, 'MergeHeads')).toBe(1);
    const scores = graph.nodes().find((m) => m.op === 'AttentionScores')!;
    expect(scores.attrs['scale']).toBeCloseTo(1 / 2, 12);
    const softmax = graph.nodes().find((m) => m.op === 'AttentionSoftmax')!;
    expect(softmax.attrs['heads']).toEqual([0, 1]);
    expect(softmax.attrs['methods']).toEqual(['exact', 'exact']);
    const keep = softmax.inputs[1]!;
    expect(keep.op).toBe('AttentionMask');
    expect(keep.inputs[0]).toBe(mask);
    const ctx = graph.nodes().find((m) => m.op === 'AttentionContext')!;
    expect(ctx.attrs['heads']).toEqual([0, 1]);
    const roles = graph.nodes().filter((m) => m.op === 'Linear').map((m) => m.attrs['role']);
    expect(roles.sort()).toEqual(['key', 'query', 'value']);
    expectSameResult(g, graph, randomInputs(g, 11), 1e-9);
  });

  it('raises an unmasked attention with an all-ones keep mask, and a scale by multiplication', () => {
    const g = graphOf([x], attentionBlock(x, 4, undefined, { mulScale: true }));
    const { graph, notes } = raise(g);
    expect(notes).toEqual([]);
    const softmax = graph.nodes().find((m) => m.op === 'AttentionSoftmax')!;
    const keep = softmax.inputs[1]!;
    expect(keep.op).toBe('Const');
    expect(keep.type).toEqual({ elem: 'f32', shape: [2, 1, 1, 4], vis: 'public' });
    expect(softmax.attrs['heads']).toEqual([0, 1, 2, 3]);
    expect(graph.nodes().find((m) => m.op === 'AttentionScores')!.attrs['scale']).toBeCloseTo(1 / Math.sqrt(2), 7);
    expectSameResult(g, graph, randomInputs(g, 12), 1e-9);
  });

  it('does not treat a Softmax over another axis as attention, and reports it', () => {
    const g = graphOf([x, mask], attentionBlock(x, 2, mask, { softmaxAxis: 2 }));
    const { graph, notes } = raise(g);
    expect(opCount(graph, 'AttentionSoftmax')).toBe(0);
    expect(opCount(graph, 'Softmax')).toBe(1);
    expect(notes.some((m) => m.includes('Softmax at attention/Softmax'))).toBe(true);
    expect(notes.some((m) => m.startsWith('raise-bert: mask at /bert/Mul'))).toBe(true);
    expectSameResult(g, graph, randomInputs(g, 13), 1e-9);
  });

  it('does not take a small negative addend for a padding mask', () => {
    const g = graphOf([x, mask], attentionBlock(x, 2, mask, { mask: 'small' }));
    const { graph, notes } = raise(g);
    expect(opCount(graph, 'AttentionSoftmax')).toBe(0);
    expect(notes.join()).toContain('Softmax');
  });

  it('does not split heads when the reshape does not split the feature axis', () => {
    // [B, S, D] -> [B, S*2, D/2, 1]... rather [B, 2, S, D/2] transposed: not a head split
    const r = n('Reshape', [x], { shape: [2, 2, 4, 4] });
    const g = graphOf([x], n('Transpose', [r], { perm: [0, 2, 1, 3] }));
    expect(opCount(raise(g).graph, 'SplitHeads')).toBe(0);
  });

  it('does not merge heads when the transpose is not [0,2,1,3]', () => {
    const o = input('o', [2, 2, 4, 4]);
    const g = graphOf([o], n('Reshape', [n('Transpose', [o], { perm: [0, 1, 2, 3] })], { shape: [2, 4, 8] }));
    expect(opCount(raise(g).graph, 'MergeHeads')).toBe(0);
  });

  it('the additive mask alone is reported as mask construction', () => {
    const g = graphOf([mask], additiveMask(mask, 'mul-min'));
    expect(raise(g).notes.join()).toContain('mask at /bert/Mul');
  });
});

describe('layers and the graph-mapping helper', () => {
  it('assigns layers by counting LayerNorms (two per encoder layer) while there is attention', () => {
    const x = input('x', [1, 4, 8]);
    const mask = input('attention_mask', [1, 4], 'i64');
    let h = decomposedLayerNorm(x, {}, 'emb');
    for (let l = 0; l < 2; l++) {
      const a = decomposedLayerNorm(n('Add', [matmulLinear(attentionBlock(h, 2, mask), 8, `l${l}.ao`), h]), {}, `l${l}.ln1`);
      h = decomposedLayerNorm(n('Add', [matmulLinear(erfGelu(matmulLinear(a, 16, `l${l}.in`)), 8, `l${l}.out`), a]), {}, `l${l}.ln2`);
    }
    const g = graphOf([x, mask], matmulLinear(n('Tanh', [h]), 2, 'cls'));
    const { graph } = raise(g);
    const lns = graph.nodes().filter((m) => m.op === 'LayerNorm');
    expect(lns.map((m) => m.loc.layer)).toEqual([undefined, 0, 0, 1, 1]);
    const gelus = graph.nodes().filter((m) => m.op === 'Gelu');
    expect(gelus.map((m) => m.loc.layer)).toEqual([0, 1]);
    expect(graph.nodes().find((m) => m.op === 'AttentionMask')!.loc.layer).toBeUndefined();
    expect(graph.outputs[0]!.node.loc.layer).toBeUndefined();
    expect(graph.outputs[0]!.node.attrs['role']).toBe('classifier');
    const roles = graph.nodes().filter((m) => m.op === 'Linear').map((m) => `${m.loc.layer ?? '-'}:${m.attrs['role'] as string}`);
    expect(roles.sort()).toEqual(
      ['0:query', '0:key', '0:value', '0:attention-output', '0:ffn-in', '0:ffn-out', '1:query', '1:key', '1:value', '1:attention-output', '1:ffn-in', '1:ffn-out', '-:classifier'].sort(),
    );
    expect([...encoderLayers(graph).values()].every((l) => l === 0 || l === 1)).toBe(true);
    expectSameResult(g, graph, randomInputs(g, 14), 1e-6);
  });

  it('mapGraph rebuilds users of a changed node and keeps untouched graphs identical', () => {
    const x = input('x', [2, 3]);
    const y = n('Relu', [n('Neg', [x], {}, 'neg')], {}, 'relu');
    const g = graphOf([x], y);
    expect(mapGraph(g, () => undefined)).toBe(g);
    const h = mapGraph(g, (m) => (m.op === 'Neg' ? { loc: { name: 'neg', layer: 3 } } : undefined));
    const out = h.outputs[0]!.node;
    expect(out).not.toBe(y);
    expect(out.loc).toEqual({ name: 'relu' });
    expect(out.inputs[0]!.loc).toEqual({ name: 'neg', layer: 3 });
    const inputs = randomInputs(g, 15);
    expect(evaluate(h, inputs).get('y')!.toNumbers()).toEqual(evaluate(g, inputs).get('y')!.toNumbers());
  });

  it('mapGraph validates changed attributes', () => {
    const x = input('x', [2, 3]);
    const lin = build('Linear', [x, constNode(Tensor.zeros('f32', [3, 2]), { elem: 'f32', shape: [3, 2], vis: 'server' })]);
    const g = graphOf([x], lin);
    expect(mapGraph(g, (m) => (m.op === 'Linear' ? { attrs: { role: 'ffn-in' } } : undefined)).outputs[0]!.node.attrs['role']).toBe('ffn-in');
    expect(() => mapGraph(g, (m: Node) => (m.op === 'Linear' ? { attrs: { role: 'nonsense' } } : undefined))).toThrow(/role/);
  });
});
