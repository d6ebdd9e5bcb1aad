// Every gradient rule against central finite differences, on random shapes and inputs.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { numel } from '../ir/types.ts';
import { differentiableOps, graphDifferentiableOps } from '../ir/grad/index.ts';
import { checkGradient, graphRulesChecked, op, Rng, type InputSpec } from './grad-helpers.ts';

const RUNS = { numRuns: 15 };
const seed = fc.integer({ min: 1, max: 2 ** 31 - 1 });
const dim = fc.integer({ min: 1, max: 4 });
const shape = fc.array(dim, { minLength: 1, maxLength: 3 });

/** A shape that broadcasts to `s`: a suffix of it with some dims set to 1. */
function broadcastable(rng: Rng, s: readonly number[]): number[] {
  const keep = rng.int(0, s.length);
  return s.slice(s.length - keep).map((d) => (rng.next() < 0.4 ? 1 : d));
}

function values(rng: Rng, s: readonly number[], f: () => number): InputSpec {
  return { shape: s, values: rng.floats(numel(s), f) };
}

/** A random permutation of 0..n-1. */
function permutation(rng: Rng, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** Ops with a gradient rule that this file checks (the coverage test below keeps it complete). */
const checked = new Set<string>();
function prop(name: string, run: (rng: Rng, s: number[]) => void): void {
  checked.add(name);
  it(name, () => fc.assert(fc.property(seed, shape, (sd, s) => run(new Rng(sd), s)), RUNS));
}

describe('gradient rules match central differences', () => {
  for (const name of ['Add', 'Sub', 'Mul']) {
    prop(name, (rng, s) => {
      const other = broadcastable(rng, s);
      const [a, b] = rng.next() < 0.5 ? [s, other] : [other, s];
      checkGradient(rng, [{ shape: a }, { shape: b }], ([x, y]) => op(name, [x!, y!]));
    });
  }
  prop('Div', (rng, s) => {
    const b = broadcastable(rng, s);
    checkGradient(rng, [{ shape: s }, values(rng, b, () => rng.signed(0.5, 2))], ([x, y]) => op('Div', [x!, y!]));
  });
  prop('Pow', (rng, s) => {
    const b = broadcastable(rng, s);
    checkGradient(rng, [values(rng, s, () => rng.uniform(0.5, 2)), values(rng, b, () => rng.uniform(-2, 2))], ([x, y]) => op('Pow', [x!, y!]));
  });
  for (const name of ['Max', 'Min']) {
    prop(name, (rng, s) => {
      const b = broadcastable(rng, s);
      checkGradient(rng, [{ shape: s }, { shape: b }, { shape: s }], (xs) => op(name, [...xs]));
    });
  }
  const unary: [string, () => (rng: Rng) => number][] = [
    ['Neg', () => (r) => r.uniform(-2, 2)],
    ['Abs', () => (r) => r.signed(0.1, 2)],
    ['Sqrt', () => (r) => r.uniform(0.2, 3)],
    ['Exp', () => (r) => r.uniform(-2, 2)],
    ['Log', () => (r) => r.uniform(0.2, 3)],
    ['Erf', () => (r) => r.uniform(-2.5, 2.5)],
    ['Tanh', () => (r) => r.uniform(-2.5, 2.5)],
    ['Sigmoid', () => (r) => r.uniform(-4, 4)],
    ['Reciprocal', () => (r) => r.signed(0.3, 2)],
    ['Relu', () => (r) => r.signed(0.05, 2)],
    ['Identity', () => (r) => r.uniform(-2, 2)],
    ['Floor', () => (r) => Math.floor(r.uniform(-3, 3)) + r.uniform(0.1, 0.9)],
    ['Ceil', () => (r) => Math.floor(r.uniform(-3, 3)) + r.uniform(0.1, 0.9)],
  ];
  for (const [name, gen] of unary) {
    prop(name, (rng, s) => checkGradient(rng, [values(rng, s, () => gen()(rng))], ([x]) => op(name, [x!])));
  }
  prop('Clip', (rng, s) => {
    const v = values(rng, s, () => (rng.next() < 0.5 ? rng.uniform(-0.4, 0.4) : rng.signed(0.6, 2)));
    checkGradient(rng, [v], ([x]) => op('Clip', [x!], { min: -0.5, max: 0.5 }));
  });
  prop('Cast', (rng, s) => checkGradient(rng, [{ shape: s }], ([x]) => op('Cast', [x!], { to: 'f64' })));
  prop('Where', (rng, s) => {
    const c = broadcastable(rng, s);
    const cond: InputSpec = { shape: c, values: rng.floats(numel(c), () => (rng.next() < 0.5 ? 1 : 0)), elem: 'bool', constant: true };
    checkGradient(rng, [cond, { shape: s }, { shape: broadcastable(rng, s) }], ([k, x, y]) => op('Where', [k!, x!, y!]));
  });
  prop('Gelu', (rng, s) => {
    const approximate = rng.next() < 0.5 ? 'none' : 'tanh';
    checkGradient(rng, [values(rng, s, () => rng.uniform(-3, 3))], ([x]) => op('Gelu', [x!], { approximate }));
  });
  prop('GeluMix', (rng, s) => {
    const lambda = rng.uniform(0, 1);
    checkGradient(rng, [values(rng, s, () => rng.signed(0.05, 3))], ([x]) => op('GeluMix', [x!], { lambda }));
  });

  prop('MatMul', (rng) => {
    const [M, K, N] = [rng.int(1, 5), rng.int(1, 5), rng.int(1, 5)];
    const batch = rng.int(0, 2) === 0 ? [] : [rng.int(1, 3)];
    const form = rng.int(0, 3);
    const a = form === 1 ? [K] : [...(rng.next() < 0.5 ? batch : batch.map(() => 1)), M, K];
    const b = form === 2 ? [K] : [...batch, K, N];
    checkGradient(rng, [{ shape: a }, { shape: b }], ([x, y]) => op('MatMul', [x!, y!]));
  });
  prop('Gemm', (rng) => {
    const [M, K, N] = [rng.int(1, 5), rng.int(1, 5), rng.int(1, 5)];
    const transA = rng.int(0, 1);
    const transB = rng.int(0, 1);
    const specs: InputSpec[] = [{ shape: transA ? [K, M] : [M, K] }, { shape: transB ? [N, K] : [K, N] }];
    if (rng.next() < 0.7) specs.push({ shape: rng.next() < 0.5 ? [N] : [M, 1] });
    const attrs = { transA, transB, alpha: rng.uniform(0.5, 2), beta: rng.uniform(0.5, 2) };
    checkGradient(rng, specs, (xs) => op('Gemm', [...xs], attrs));
  });
  prop('Linear', (rng, s) => {
    const K = s[s.length - 1]!;
    const N = rng.int(1, 5);
    const specs: InputSpec[] = [{ shape: s }, { shape: [K, N] }];
    if (rng.next() < 0.7) specs.push({ shape: [N] });
    checkGradient(rng, specs, (xs) => op('Linear', [...xs]));
  });
  prop('Pooler', (rng) => {
    const [B, S, D, N] = [rng.int(1, 3), rng.int(1, 4), rng.int(1, 4), rng.int(1, 4)];
    checkGradient(rng, [{ shape: [B, S, D] }, { shape: [D, N] }, { shape: [N] }], ([x, w, b]) => op('Pooler', [x!, w!, b!]));
  });

  prop('Reshape', (rng, s) => checkGradient(rng, [{ shape: s }], ([x]) => op('Reshape', [x!], { shape: [numel(s)] })));
  prop('Transpose', (rng, s) => checkGradient(rng, [{ shape: s }], ([x]) => op('Transpose', [x!], { perm: permutation(rng, s.length) })));
  prop('Slice', (rng, s) => {
    const axis = rng.int(0, s.length - 1);
    const d = s[axis]!;
    const step = rng.next() < 0.3 ? -1 : rng.int(1, 2);
    const [starts, ends] = step > 0 ? [[rng.int(0, d - 1)], [rng.int(1, d + 1)]] : [[rng.int(0, d - 1)], [-d - 1]];
    checkGradient(rng, [{ shape: s }], ([x]) => op('Slice', [x!], { starts, ends, axes: [axis], steps: [step] }));
  });
  prop('Concat', (rng, s) => {
    const axis = rng.int(0, s.length - 1);
    const other = s.map((d, i) => (i === axis ? rng.int(1, 3) : d));
    checkGradient(rng, [{ shape: s }, { shape: other }], ([x, y]) => op('Concat', [x!, y!], { axis: axis - (rng.next() < 0.5 ? s.length : 0) }));
  });
  prop('Gather', (rng, s) => {
    const axis = rng.int(0, s.length - 1);
    const n = rng.int(1, 4);
    const idx: InputSpec = { shape: [n], values: rng.floats(n, () => rng.int(-s[axis]!, s[axis]! - 1)), elem: 'i64', constant: true };
    checkGradient(rng, [{ shape: s }, idx], ([x, i]) => op('Gather', [x!, i!], { axis }));
  });
  prop('Gather of one index (a classifier reading token 0)', (rng, s) => {
    const axis = rng.int(0, s.length - 1);
    const idx: InputSpec = { shape: [], values: [rng.int(-s[axis]!, s[axis]! - 1)], elem: 'i64', constant: true };
    checkGradient(rng, [{ shape: s }, idx], ([x, i]) => op('Gather', [x!, i!], { axis }));
  });
  prop('Expand', (rng, s) => {
    const src = broadcastable(rng, s);
    checkGradient(rng, [{ shape: src.length === 0 ? [1] : src }], ([x]) => op('Expand', [x!], { shape: s }));
  });
  prop('Tile', (rng, s) => checkGradient(rng, [{ shape: s }], ([x]) => op('Tile', [x!], { repeats: s.map(() => rng.int(1, 2)) })));
  prop('Embedding', (rng) => {
    const [V, D, n] = [rng.int(1, 5), rng.int(1, 4), rng.int(1, 5)];
    const ids: InputSpec = { shape: [1, n], values: rng.floats(n, () => rng.int(0, V - 1)), elem: 'i64', constant: true };
    checkGradient(rng, [{ shape: [V, D] }, ids], ([t, i]) => op('Embedding', [t!, i!]));
  });
  prop('SplitHeads', (rng) => {
    const [B, S, H, d] = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 3), rng.int(1, 3)];
    checkGradient(rng, [{ shape: [B, S, H * d] }], ([x]) => op('SplitHeads', [x!], { heads: Array.from({ length: H }, (_, i) => i) }));
  });
  prop('MergeHeads', (rng) => {
    const [B, H, S, d] = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 3), rng.int(1, 3)];
    checkGradient(rng, [{ shape: [B, H, S, d] }], ([x]) => op('MergeHeads', [x!]));
  });

  for (const name of ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin']) {
    prop(name, (rng, s) => {
      const axes = s.map((_, i) => i).filter(() => rng.next() < 0.5);
      checkGradient(rng, [{ shape: s }], ([x]) => op(name, [x!], { axes, keepdims: rng.int(0, 1) }));
    });
  }
  for (const name of ['Softmax', 'LogSoftmax']) {
    prop(name, (rng, s) => checkGradient(rng, [values(rng, s, () => rng.uniform(-3, 3))], ([x]) => op(name, [x!], { axis: rng.int(-s.length, s.length - 1) })));
  }
  prop('LayerNorm', (rng, s) => {
    const D = Math.max(2, s[s.length - 1]!);
    const x = [...s.slice(0, -1), D];
    checkGradient(rng, [{ shape: x }, { shape: [D] }, { shape: [D] }], ([a, g, b]) => op('LayerNorm', [a!, g!, b!], { epsilon: 1e-3 }));
  });
  prop('LayerNormalization', (rng, s) => {
    const axis = rng.int(0, s.length - 1);
    const tail = s.slice(axis);
    const x = numel(tail) < 2 ? [...s.slice(0, -1), s[s.length - 1]! + 1] : s;
    const t = x.slice(axis);
    const specs: InputSpec[] = [{ shape: x }, { shape: broadcastable(rng, t) }];
    if (rng.next() < 0.6) specs.push({ shape: broadcastable(rng, t) });
    checkGradient(rng, specs, (xs) => op('LayerNormalization', [...xs], { axis, epsilon: 1e-3 }));
  });

  prop('AttentionScores', (rng) => {
    const s = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 4), rng.int(1, 3)];
    checkGradient(rng, [{ shape: s }, { shape: s }], ([q, k]) => op('AttentionScores', [q!, k!], { scale: rng.uniform(0.2, 1.5) }));
  });
  prop('AttentionContext', (rng) => {
    const [B, H, S, d] = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 4), rng.int(1, 3)];
    const heads = Array.from({ length: H }, (_, i) => i);
    checkGradient(rng, [{ shape: [B, H, S, S] }, { shape: [B, H, S, d] }], ([p, v]) => op('AttentionContext', [p!, v!], { heads }));
  });
  prop('AttentionSoftmax', (rng) => {
    const [B, H, S] = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 5)];
    const heads = Array.from({ length: H }, (_, i) => i);
    const methods = heads.map(() => (rng.next() < 0.5 ? 'exact' : 'poly'));
    const keep = rng.floats(B * S, () => (rng.next() < 0.75 ? 1 : 0));
    const mask: InputSpec = { shape: [B, 1, 1, S], values: keep, elem: 'f64', constant: true };
    const clip = rng.next() < 0.4 ? rng.uniform(1, 2) : 0;
    const degree = rng.int(1, 4);
    const attrs = { heads, methods, degree, shift: rng.next() < 0.7, clip };
    // odd Taylor degrees come near zero for negative z: keep the scores small there, so the
    // check measures the rule, not the conditioning of a row sum close to 0
    const range = degree % 2 === 0 ? 2.5 : 0.2;
    checkGradient(rng, [values(rng, [B, H, S, S], () => rng.uniform(-range, range)), mask], ([x, m]) => op('AttentionSoftmax', [x!, m!], attrs));
  });

  prop('AttentionSoftmax (rsattn, scale, scaled-relu/-gelu/-relu2, 2quad heads)', (rng) => {
    const [B, H, S] = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 5)];
    const heads = Array.from({ length: H }, (_, i) => i);
    const kinds = ['rsattn', 'scale', 'scaled-relu', 'scaled-gelu', 'scaled-relu2', '2quad'];
    const methods = heads.map(() => kinds[rng.int(0, kinds.length - 1)]!);
    const keep = rng.floats(B * S, () => (rng.next() < 0.75 ? 1 : 0));
    const mask: InputSpec = { shape: [B, 1, 1, S], values: keep, elem: 'f64', constant: true };
    const attrs = { heads, methods, eps: rng.next() < 0.5 ? 0.5 : 0, c: rng.uniform(2, 4) };
    // scores away from ReLU's kink at 0, so finite differences see one side of it
    checkGradient(rng, [values(rng, [B, H, S, S], () => rng.signed(0.2, 2)), mask], ([x, m]) => op('AttentionSoftmax', [x!, m!], attrs));
  });

  prop('AttentionSoftmax (exact heads)', (rng) => {
    const [B, H, S] = [rng.int(1, 2), rng.int(1, 3), rng.int(1, 5)];
    const heads = Array.from({ length: H }, (_, i) => i);
    const keep = rng.floats(B * S, () => (rng.next() < 0.75 ? 1 : 0));
    const mask: InputSpec = { shape: [B, 1, 1, S], values: keep, elem: 'f64', constant: true };
    const attrs = { heads, methods: heads.map(() => 'exact') };
    checkGradient(rng, [values(rng, [B, H, S, S], () => rng.uniform(-3, 3)), mask], ([x, m]) => op('AttentionSoftmax', [x!, m!], attrs));
  });
  prop('Slice (unit steps)', (rng, s) => {
    const axes = s.map((_, i) => i).filter(() => rng.next() < 0.6);
    const starts = axes.map((a) => rng.int(0, s[a]! - 1));
    const ends = axes.map((a, i) => rng.int(starts[i]! + 1, s[a]!));
    checkGradient(rng, [{ shape: s }], ([x]) => op('Slice', [x!], { starts, ends, axes }));
  });
  prop('MatMul (matrices, batched)', (rng) => {
    const [M, K, N] = [rng.int(1, 3), rng.int(1, 3), rng.int(1, 3)];
    const batch = rng.next() < 0.5 ? [] : [rng.int(1, 2)];
    const other = rng.next() < 0.5 ? batch : [];
    checkGradient(rng, [{ shape: [...batch, M, K] }, { shape: [...other, K, N] }], ([a, b]) => op('MatMul', [a!, b!]));
  });
  prop('a BERT layer (graph rules composed)', (rng) => {
    const [B, S, H, d] = [rng.int(1, 2), rng.int(1, 4), rng.int(1, 2), rng.int(1, 3)];
    const D = H * d;
    const heads = Array.from({ length: H }, (_, i) => i);
    const keep: InputSpec = { shape: [B, 1, 1, S], values: rng.floats(B * S, () => (rng.next() < 0.8 ? 1 : 0)), elem: 'f64', constant: true };
    checkGradient(rng, [{ shape: [B, S, D] }, { shape: [D, D] }, { shape: [D, D] }, { shape: [D] }, { shape: [D] }, keep, { shape: [D, 2] }, { shape: [2] }], ([x, wq, wo, g, bt, m, wp, bp]) => {
      const q = op('SplitHeads', [op('Linear', [x!, wq!])], { heads });
      const p = op('AttentionSoftmax', [op('AttentionScores', [q, q], { scale: 0.7 }), m!], { heads, methods: heads.map(() => 'exact') });
      const c = op('MergeHeads', [op('AttentionContext', [p, q], { heads })]);
      const y = op('LayerNorm', [op('Add', [op('Linear', [c, wo!]), x!]), g!, bt!], { epsilon: 1e-3 });
      return op('Pooler', [op('Gelu', [y]), wp!, bp!]);
    });
  });

  it('covers every op in the gradient table', () => {
    expect(differentiableOps().filter((o) => !checked.has(o))).toEqual([]);
  });
  it('compares every graph rule with its numeric rule', () => {
    expect(graphDifferentiableOps().filter((o) => !graphRulesChecked.has(o))).toEqual([]);
  });
});
