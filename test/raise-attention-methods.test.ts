// Raising attention trained with each method: hand-built graphs of every trained form (whole
// layer, and per head through Slice / Concat as the exports write a heterogeneous layer) must
// become AttentionSoftmax with the method and compute the same; near misses must stay as they
// are (TVM-style pairs: should match / should not match).

import { describe, expect, it } from 'vitest';
import type { Node } from '../ir/node.ts';
import { expectSameResult, graphOf, input, n, opCount, pub, raise, randomInputs } from './raise-helpers.ts';

const [B, H, S, d] = [2, 4, 5, 3];

/** AttentionScores of two inputs (what raising makes of q k^T / sqrt(d)), and the values' heads. */
function scores(): { q: Node; k: Node; v: Node; s: Node; heads: Node } {
  const q = input('q', [B, H, S, d]);
  const k = input('k', [B, H, S, d]);
  const v = input('v', [B, S, H * d]);
  return { q, k, v, s: n('AttentionScores', [q, k], { scale: 1 / Math.sqrt(d) }), heads: n('SplitHeads', [v], { heads: [0, 1, 2, 3] }) };
}

const head = (s: Node, h: number, to = h + 1): Node => n('Slice', [s], { starts: [h], ends: [to], axes: [1], steps: [1] });
const rowSum = (u: Node, axes = [3], keepdims = 1): Node => n('ReduceSum', [u], { axes, keepdims });

/** The trained forms, as the fixtures' exports write them (x: the scores or one head's slice). */
const FORMS: Readonly<Record<string, (x: Node) => Node>> = {
  exact: (x) => n('Softmax', [x], { axis: 3 }),
  rsattn: (x) => {
    const r = n('Relu', [x]);
    return n('Div', [r, n('Add', [rowSum(r), pub(1e-6)])]);
  },
  'rsattn without eps': (x) => {
    const r = n('Relu', [x]);
    return n('Div', [r, rowSum(r)]);
  },
  scale: (x) => n('Div', [x, pub(S)]),
  'scale as a product': (x) => n('Mul', [pub(1 / S), x]),
  'scaled-relu': (x) => n('Div', [n('Relu', [x]), pub(Math.fround(Math.sqrt(S)))]),
  'scaled-relu2': (x) => n('Div', [n('Pow', [n('Relu', [x]), pub(2)]), pub(Math.sqrt(S))]),
  'scaled-relu2 as r * r': (x) => {
    const r = n('Relu', [x]);
    return n('Mul', [n('Mul', [r, r]), pub(1 / Math.sqrt(S))]);
  },
  '2quad': (x) => {
    const q = n('Pow', [n('Add', [x, pub(5)]), pub(2)]);
    return n('Div', [q, rowSum(q)]);
  },
};

const METHOD_OF: Readonly<Record<string, string>> = {
  'rsattn without eps': 'rsattn',
  'scale as a product': 'scale',
  'scaled-relu2 as r * r': 'scaled-relu2',
};

function softmaxes(g: ReturnType<typeof raise>['graph']): Node[] {
  return g.nodes().filter((x) => x.op === 'AttentionSoftmax');
}

describe('raising trained attention methods', () => {
  it.each(Object.keys(FORMS))('%s over a whole layer, weighting the values', (form) => {
    const { q, k, v, s, heads } = scores();
    const g = graphOf([q, k, v], n('MatMul', [FORMS[form]!(s), heads]));
    const { graph } = raise(g);
    const [a, ...rest] = softmaxes(graph);
    expect(rest).toEqual([]);
    expect(a?.attrs['methods']).toEqual(Array(H).fill(METHOD_OF[form] ?? form));
    expect(a?.inputs[0]?.op).toBe('AttentionScores');
    expect(graph.outputs[0]!.node.op).toBe('AttentionContext');
    expectSameResult(g, graph, randomInputs(g, 7), 1e-6);
  });

  it('a method per head (Slice, method, Concat) becomes one AttentionSoftmax with a method per head', () => {
    const { q, k, s } = scores();
    const perHead = ['scale', 'rsattn without eps', 'exact', '2quad'];
    const g = graphOf([q, k], n('Concat', perHead.map((f, h) => FORMS[f]!(head(s, h))), { axis: 1 }));
    const { graph } = raise(g);
    const [a, ...rest] = softmaxes(graph);
    expect(rest).toEqual([]);
    expect(a?.attrs['methods']).toEqual(['scale', 'rsattn', 'exact', '2quad']);
    expect(a?.attrs['eps']).toBe(0);
    expect(a?.attrs['c']).toBe(5);
    expect(opCount(graph, 'Concat') + opCount(graph, 'Slice')).toBe(0);
    expectSameResult(g, graph, randomInputs(g, 8), 1e-6);
  });

  it('pieces whose methods read one parameter with different values stay apart (one value per layer)', () => {
    const { q, k, s } = scores();
    const g = graphOf([q, k], n('Concat', ['rsattn', 'rsattn without eps', 'scale', 'scale'].map((f, h) => FORMS[f]!(head(s, h))), { axis: 1 }));
    const { graph } = raise(g);
    expect(softmaxes(graph).length).toBe(4);
    expectSameResult(g, graph, randomInputs(g, 12), 1e-6);
  });

  it('slices of two heads at a time merge as well', () => {
    const { q, k, s } = scores();
    const g = graphOf([q, k], n('Concat', [FORMS['scaled-relu']!(head(s, 0, 2)), FORMS['exact']!(head(s, 2, 4))], { axis: 1 }));
    const { graph } = raise(g);
    expect(softmaxes(graph).map((x) => x.attrs['methods'])).toEqual([['scaled-relu', 'scaled-relu', 'exact', 'exact']]);
    expectSameResult(g, graph, randomInputs(g, 9), 1e-6);
  });

  // near misses: each computes something else, so nothing may be raised to a method
  const NEAR_MISSES: Readonly<Record<string, (x: Node) => Node>> = {
    'scale by a length other than n': (x) => n('Div', [x, pub(S - 1)]),
    'scaled-relu by n instead of sqrt(n)': (x) => n('Div', [n('Relu', [x]), pub(S)]),
    'rsattn summed over the queries': (x) => {
      const r = n('Relu', [x]);
      return n('Div', [r, rowSum(r, [2])]);
    },
    'rsattn normalized by the sum of |s|': (x) => n('Div', [n('Relu', [x]), rowSum(n('Abs', [x]))]),
    'rsattn with a negative eps': (x) => {
      const r = n('Relu', [x]);
      return n('Div', [r, n('Add', [rowSum(r), pub(-0.5)])]);
    },
    '2quad with another shift in the denominator': (x) => n('Div', [n('Pow', [n('Add', [x, pub(5)]), pub(2)]), rowSum(n('Pow', [n('Add', [x, pub(4)]), pub(2)]))]),
    'scaled-relu2 with a cube': (x) => n('Div', [n('Pow', [n('Relu', [x]), pub(3)]), pub(Math.sqrt(S))]),
  };
  it.each(Object.keys(NEAR_MISSES))('%s is not raised', (form) => {
    const { q, k, s } = scores();
    const g = graphOf([q, k], NEAR_MISSES[form]!(s));
    const { graph } = raise(g);
    expect(softmaxes(graph)).toEqual([]);
    expectSameResult(g, graph, randomInputs(g, 10), 1e-9);
  });

  it('head pieces that skip a head, repeat one or come out of order are not merged', () => {
    const { q, k, s } = scores();
    const pieces = (order: number[]): Node => n('Concat', order.map((h) => FORMS['scale']!(head(s, h))), { axis: 1 });
    for (const order of [[0, 1, 3, 2], [0, 1, 2, 2], [0, 1, 2]]) {
      const g = graphOf([q, k], pieces(order));
      const { graph } = raise(g);
      expect(softmaxes(graph).every((x) => x.inputs[0]!.op === 'Slice'), `order ${order.join(',')}`).toBe(true);
      expect(opCount(graph, 'Concat')).toBe(1);
      expectSameResult(g, graph, randomInputs(g, 11), 1e-9);
    }
  });
});
