// Transformer-level ops against naive references: mostly the ONNX-level decomposition of
// the same computation, built with build() and run through the evaluator.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { build } from '../../ir/build.ts';
import { evaluate } from '../../ir/evaluate.ts';
import { Graph } from '../../ir/graph.ts';
import { constNode, inputNode, type Node } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { numel, type ElemType } from '../../ir/types.ts';
import { erf } from '../../ir/ops/erf.ts';
import { expectClose, f, run, t, vals } from './helpers.ts';

const input = (elem: ElemType, shape: readonly number[], name = 'x'): Node => inputNode(name, { elem, shape: [...shape], vis: 'public' });
const scalar = (v: number): Node => constNode(Tensor.scalar('f64', v), { elem: 'f64', shape: [], vis: 'public' });

/** Evaluates `body` applied to one graph input per tensor (named x0, x1, ...). */
function viaGraph(tensors: readonly Tensor[], body: (...xs: Node[]) => Node): Tensor {
  const xs = tensors.map((x, i) => input(x.dtype, x.shape, `x${i}`));
  const g = new Graph('ref', xs, [{ name: 'y', node: body(...xs) }]);
  return evaluate(g, new Map(tensors.map((x, i) => [`x${i}`, x]))).get('y')!;
}

const floats = (shape: readonly number[], lim = 3): fc.Arbitrary<Tensor> =>
  fc.array(fc.double({ min: -lim, max: lim, noNaN: true }), { minLength: numel(shape), maxLength: numel(shape) }).map((v) => f(shape, v));

const dims = (max = 4) => fc.integer({ min: 1, max });

function expectSame(got: Tensor, want: Tensor, tol = 1e-12): void {
  expectClose(got, want.shape, want.toNumbers(), tol);
}

/** A 0/1 keep mask [B,1,1,S] with at least one kept key per batch row. */
const keepArb = (B: number, S: number): fc.Arbitrary<Tensor> =>
  fc
    .array(fc.array(fc.boolean(), { minLength: S, maxLength: S }), { minLength: B, maxLength: B })
    .chain((rows) =>
      fc.array(fc.integer({ min: 0, max: S - 1 }), { minLength: B, maxLength: B }).map((force) =>
        t('f32', [B, 1, 1, S], rows.flatMap((r, b) => r.map((k, j) => (k || j === force[b] ? 1 : 0)))),
      ),
    );

/** Softmax(scores + (1 - keep) * -3.4e38) over the last axis, from ONNX-level ops. */
function maskedSoftmaxRef(scores: Tensor, keep: Tensor): Tensor {
  const k64 = f(keep.shape, keep.toNumbers());
  return viaGraph([scores, k64], (s, k) => build('Softmax', [build('Add', [s, build('Mul', [build('Sub', [scalar(1), k]), scalar(-3.4e38)])])]));
}

describe('LayerNorm', () => {
  it('equals the decomposed ONNX-level computation (property)', () => {
    const arb = fc.tuple(dims(3), dims(3), dims(6)).chain(([a, b, D]) => fc.tuple(floats([a, b, D], 5), floats([D]), floats([D]), fc.constantFrom(1e-12, 1e-5, 0.5)));
    fc.assert(
      fc.property(arb, ([x, g, b, eps]) => {
        const want = viaGraph([x, g, b], (X, G, Bb) => {
          const mean = build('ReduceMean', [X], { axes: [-1] });
          const c = build('Sub', [X, mean]);
          const v = build('ReduceMean', [build('Mul', [c, c])], { axes: [-1] });
          const n = build('Div', [c, build('Sqrt', [build('Add', [v, scalar(eps)])])]);
          return build('Add', [build('Mul', [n, G]), Bb]);
        });
        expectSame(run('LayerNorm', [x, g, b], { epsilon: eps }), want, 1e-9);
      }),
    );
  });
  it('defaults epsilon to 1e-12 and checks gamma/beta shapes', () => {
    expect(build('LayerNorm', [input('f32', [2, 4]), input('f32', [4], 'g'), input('f32', [4], 'b')]).attrs['epsilon']).toBe(1e-12);
    expect(() => build('LayerNorm', [input('f32', [2, 4]), input('f32', [3], 'g'), input('f32', [4], 'b')])).toThrow(/gamma must be \[4\].*got \[3\]/);
    expect(() => build('LayerNorm', [input('f32', [2, 4]), input('f32', [4], 'g'), input('f64', [4], 'b')])).toThrow(/beta is f64 but x is f32/);
  });
});

describe('Gelu and GeluMix', () => {
  const xs = [-6, -3, -1.5, -0.5, 0, 0.25, 1, 2.5, 7];
  const x = f([xs.length], xs);
  it('"none" is 0.5 x (1 + erf(x / sqrt 2)), "tanh" the tanh formula', () => {
    expectClose(run('Gelu', [x]), [xs.length], xs.map((v) => 0.5 * v * (1 + erf(v / Math.sqrt(2)))));
    const tanhForm = xs.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    expectClose(run('Gelu', [x], { approximate: 'tanh' }), [xs.length], tanhForm);
    // the two forms are close but not equal
    const diff = vals(run('Gelu', [x])).map((v, i) => Math.abs(v - tanhForm[i]!));
    expect(Math.max(...diff)).toBeGreaterThan(1e-6);
    expect(Math.max(...diff)).toBeLessThan(1e-3);
    expect(() => build('Gelu', [input('f32', [2])], { approximate: 'fast' })).toThrow(/approximate must be "none" or "tanh", got "fast"/);
  });
  it('GeluMix is Gelu at lambda 1, Relu at 0, and the mix in between', () => {
    expectSame(run('GeluMix', [x], { lambda: 1 }), run('Gelu', [x]), 0);
    expectSame(run('GeluMix', [x], { lambda: 0 }), run('Relu', [x]), 0);
    const g = vals(run('Gelu', [x]));
    expectClose(run('GeluMix', [x], { lambda: 0.3 }), [xs.length], xs.map((v, i) => 0.3 * g[i]! + 0.7 * Math.max(v, 0)));
    expect(() => build('GeluMix', [input('f32', [2])])).toThrow(/requires attribute 'lambda'/);
  });
});

describe('Linear', () => {
  it('equals MatMul + Add, and MatMul without a bias (property)', () => {
    const arb = fc.tuple(dims(2), dims(3), dims(5), dims(5)).chain(([a, b, K, N]) => fc.tuple(floats([a, b, K]), floats([K, N]), floats([N])));
    fc.assert(
      fc.property(arb, ([x, w, b]) => {
        expectSame(run('Linear', [x, w, b], { role: 'query' }), viaGraph([x, w, b], (X, W, B) => build('Add', [build('MatMul', [X, W]), B])));
        expectSame(run('Linear', [x, w]), viaGraph([x, w], (X, W) => build('MatMul', [X, W])));
      }),
    );
  });
  it('type rule: shapes and roles', () => {
    const x = input('f32', [1, 3, 8]);
    expect(build('Linear', [x, input('f32', [8, 2], 'W')]).type.shape).toEqual([1, 3, 2]);
    expect(() => build('Linear', [x, input('f32', [6, 2], 'W')])).toThrow(/x \[1,3,8\] has 8 features but W \[6,2\] expects 6/);
    expect(() => build('Linear', [x, input('f32', [8, 2], 'W'), input('f32', [3], 'b')])).toThrow(/b must be \[2\].*got \[3\]/);
    expect(() => build('Linear', [x, input('f32', [8, 2], 'W')], { role: 'ffn' })).toThrow(/unknown role "ffn"/);
    for (const role of ['', 'query', 'key', 'value', 'attention-output', 'ffn-in', 'ffn-out', 'pooler', 'classifier']) {
      expect(build('Linear', [x, input('f32', [8, 2], 'W')], { role }).attrs['role']).toBe(role);
    }
  });
});

describe('Embedding', () => {
  const table = f([4, 3], Array.from({ length: 12 }, (_, i) => i * 1.5 - 4));
  it('equals Gather on axis 0 for i32 and i64 ids', () => {
    const ids64 = t('i64', [2, 3], [0n, 3n, 1n, 1n, 2n, 0n]);
    const ids32 = t('i32', [2, 3], [0, 3, 1, 1, 2, 0]);
    const want = run('Gather', [table, ids64], { axis: 0 });
    expect(want.shape).toEqual([2, 3, 3]);
    expectSame(run('Embedding', [table, ids64]), want, 0);
    expectSame(run('Embedding', [table, ids32]), want, 0);
  });
  it('an id out of [0, V) is an eval error naming it (negative ids too)', () => {
    expect(() => run('Embedding', [table, t('i64', [2], [1n, 4n])])).toThrow(expect.objectContaining({ kind: 'eval', message: expect.stringMatching(/id 4 .*out of range \[0, 4\)/) }));
    expect(() => run('Embedding', [table, t('i32', [1], [-1])])).toThrow(/id -1 .*out of range/);
    expect(() => build('Embedding', [input('f32', [4, 3], 'T'), input('f32', [2], 'ids')])).toThrow(/ids must be i32 or i64, got f32/);
    expect(() => build('Embedding', [input('f32', [12], 'T'), input('i64', [2], 'ids')])).toThrow(/table must be \[V, D\]/);
  });
});

describe('AttentionMask', () => {
  it('turns [B,S] int/float masks into f32 [B,1,1,S] zeros and ones', () => {
    const m = run('AttentionMask', [t('i64', [2, 3], [1n, 1n, 0n, 1n, 0n, 0n])]);
    expect(m.dtype).toBe('f32');
    expectClose(m, [2, 1, 1, 3], [1, 1, 0, 1, 0, 0], 0);
    expectClose(run('AttentionMask', [f([1, 3], [0.5, 0, -2])]), [1, 1, 1, 3], [1, 0, 1], 0);
    expectClose(run('AttentionMask', [t('i32', [1, 1, 1, 2], [0, 7])]), [1, 1, 1, 2], [0, 1], 0);
    expect(() => build('AttentionMask', [input('i64', [2, 3, 4])])).toThrow(/mask must be \[B, S\] or \[B, 1, 1, S\], got \[2,3,4\]/);
  });
});

describe('SplitHeads and MergeHeads', () => {
  it('equal Reshape+Transpose and are inverse of each other (property)', () => {
    const arb = fc.tuple(dims(2), dims(4), dims(3), dims(3)).chain(([B, S, H, d]) => fc.tuple(floats([B, S, H * d]), fc.constant(H)));
    fc.assert(
      fc.property(arb, ([x, H]) => {
        const [B, S, D] = x.shape as [number, number, number];
        const d = D / H;
        const heads = Array.from({ length: H }, (_, i) => 2 * i + 1);
        const split = run('SplitHeads', [x], { heads });
        expectSame(split, viaGraph([x], (X) => build('Transpose', [build('Reshape', [X], { shape: [B, S, H, d] })], { perm: [0, 2, 1, 3] })), 0);
        const merged = run('MergeHeads', [split]);
        expectSame(merged, x, 0);
        expectSame(merged, viaGraph([split], (Y) => build('Reshape', [build('Transpose', [Y], { perm: [0, 2, 1, 3] })], { shape: [B, S, D] })), 0);
      }),
    );
  });
  it('type rules', () => {
    expect(() => build('SplitHeads', [input('f32', [1, 4, 128])], { heads: [0, 1, 2] })).toThrow(/SplitHeads: 128 features do not split into 3 heads/);
    expect(() => build('SplitHeads', [input('f32', [4, 128])], { heads: [0, 1] })).toThrow(/x must be \[B, S, H\*d\].*got \[4,128\]/);
    expect(() => build('SplitHeads', [input('f32', [1, 4, 8])], { heads: [0, 0] })).toThrow(/head id 0 appears twice/);
    expect(() => build('SplitHeads', [input('f32', [1, 4, 8])], { heads: [] })).toThrow(/at least one head/);
    expect(() => build('SplitHeads', [input('f32', [1, 4, 8])])).toThrow(/requires attribute 'heads'/);
    expect(build('SplitHeads', [input('f32', [1, 4, 12])], { heads: [0, 2, 3] }).type.shape).toEqual([1, 3, 4, 4]);
    expect(() => build('MergeHeads', [input('f32', [1, 4, 12])])).toThrow(/x must be \[B, H, S, d\]/);
  });
});

describe('AttentionScores and AttentionContext', () => {
  it('scores are MatMul(q, k^T) * scale (property)', () => {
    const arb = fc.tuple(dims(2), dims(3), dims(4), dims(4)).chain(([B, H, S, d]) => fc.tuple(floats([B, H, S, d]), floats([B, H, S, d]), fc.double({ min: 0.01, max: 2, noNaN: true })));
    fc.assert(
      fc.property(arb, ([q, k, scale]) => {
        const want = viaGraph([q, k], (Q, K) => build('Mul', [build('MatMul', [Q, build('Transpose', [K], { perm: [0, 1, 3, 2] })]), scalar(scale)]));
        expectSame(run('AttentionScores', [q, k], { scale }), want, 1e-12);
      }),
    );
  });
  it('context is MatMul(probs, v) (property)', () => {
    const arb = fc.tuple(dims(2), dims(3), dims(4), dims(4)).chain(([B, H, S, d]) => fc.tuple(floats([B, H, S, S]), floats([B, H, S, d])));
    fc.assert(
      fc.property(arb, ([p, v]) => {
        const heads = Array.from({ length: p.shape[1]! }, (_, i) => i);
        expectSame(run('AttentionContext', [p, v], { heads }), viaGraph([p, v], (P, V) => build('MatMul', [P, V])), 1e-12);
      }),
    );
  });
  it('type rules', () => {
    expect(() => build('AttentionScores', [input('f32', [1, 2, 4, 8], 'q'), input('f32', [1, 2, 4, 4], 'k')])).toThrow(/q \[1,2,4,8\] and k \[1,2,4,4\] must have the same shape/);
    expect(() => build('AttentionScores', [input('f32', [2, 4, 8], 'q'), input('f32', [2, 4, 8], 'k')])).toThrow(/q must be \[B, H, S, d\]/);
    expect(build('AttentionScores', [input('f32', [1, 2, 4, 8], 'q'), input('f32', [1, 2, 4, 8], 'k')]).attrs['scale']).toBe(1);
    const p = input('f32', [1, 3, 4, 4], 'p');
    expect(() => build('AttentionContext', [p, input('f32', [1, 3, 4, 8], 'v')], { heads: [0, 1] })).toThrow(/heads \[0,1\] names 2 heads but the input has 3/);
    expect(() => build('AttentionContext', [p, input('f32', [1, 2, 4, 8], 'v')], { heads: [0, 1, 2] })).toThrow(/probs \[1,3,4,4\] and v \[1,2,4,8\] do not agree/);
  });
});

describe('AttentionSoftmax', () => {
  const scoresAndKeep = (lim: number) =>
    fc.tuple(dims(2), dims(3), dims(5)).chain(([B, H, S]) => fc.tuple(floats([B, H, S, S], lim), keepArb(B, S)));
  const heads = (H: number): number[] => Array.from({ length: H }, (_, i) => i);
  const all = (H: number, m: string): string[] => new Array<string>(H).fill(m);
  /** One query row repeated S times: scores [1, 1, S, S]. */
  const square = (row: number[]): Tensor => f([1, 1, row.length, row.length], row.flatMap(() => row));
  const rep = (row: number[]): number[] => row.flatMap(() => row);

  it('"exact" equals Softmax(scores + (1-keep) * -3.4e38); masked keys exactly 0 (property)', () => {
    fc.assert(
      fc.property(scoresAndKeep(30), ([s, keep]) => {
        const H = s.shape[1]!;
        const got = run('AttentionSoftmax', [s, keep], { heads: heads(H), methods: all(H, 'exact') });
        expectSame(got, maskedSoftmaxRef(s, keep), 1e-12);
        const S = s.shape[3]!;
        for (let k = 0; k < got.size; k++) {
          const b = Math.floor(k / (H * S * S));
          if (keep.at(b * S + (k % S)) === 0) expect(got.at(k)).toBe(0);
        }
      }),
    );
  });

  it('"poly" degree 2 rows are >= 0 and sum to 1, masked keys exactly 0 (property)', () => {
    const arb = fc.tuple(scoresAndKeep(50), fc.boolean(), fc.constantFrom(0, 1, 4));
    fc.assert(
      fc.property(arb, ([[s, keep], shift, clip]) => {
        const H = s.shape[1]!;
        const S = s.shape[3]!;
        const got = run('AttentionSoftmax', [s, keep], { heads: heads(H), methods: all(H, 'poly'), shift, clip });
        for (let r = 0; r < got.size / S; r++) {
          const b = Math.floor(r / (H * S));
          let sum = 0;
          for (let j = 0; j < S; j++) {
            const p = got.at(r * S + j);
            expect(p).toBeGreaterThanOrEqual(0);
            if (keep.at(b * S + j) === 0) expect(p).toBe(0);
            sum += p;
          }
          expect(Math.abs(sum - 1)).toBeLessThan(1e-12);
        }
      }),
    );
  });

  it('"poly" follows its formula, and shift=false uses the raw scores', () => {
    const s = square([1, 2, 0.5]);
    const keep = t('f32', [1, 1, 1, 3], [1, 1, 0]);
    const q = (z: number): number => 1 + z + (z * z) / 2;
    const attrs = { heads: [5], methods: ['poly'] };
    // shifted by the max over kept keys (2), not the masked 0.5
    const sh = [q(1 - 2), q(0)];
    expectClose(run('AttentionSoftmax', [s, keep], attrs), [1, 1, 3, 3], rep([sh[0]! / (sh[0]! + sh[1]!), sh[1]! / (sh[0]! + sh[1]!), 0]));
    const ns = [q(1), q(2)];
    expectClose(run('AttentionSoftmax', [s, keep], { ...attrs, shift: false }), [1, 1, 3, 3], rep([ns[0]! / (ns[0]! + ns[1]!), ns[1]! / (ns[0]! + ns[1]!), 0]));
    // degree 3 polynomial, unshifted
    const c = (z: number): number => 1 + z + (z * z) / 2 + (z * z * z) / 6;
    const cs = [c(1), c(2)];
    expectClose(run('AttentionSoftmax', [s, keep], { ...attrs, shift: false, degree: 3 }), [1, 1, 3, 3], rep([cs[0]! / (cs[0]! + cs[1]!), cs[1]! / (cs[0]! + cs[1]!), 0]));
  });

  it('clip clamps z to [-clip, clip] before the polynomial', () => {
    const s = square([-10, 0, -1]);
    const keep = t('f32', [1, 1, 1, 3], [1, 1, 1]);
    const q = (z: number): number => 1 + z + (z * z) / 2;
    const w = [q(-3), q(0), q(-1)];
    const sum = w[0]! + w[1]! + w[2]!;
    expectClose(run('AttentionSoftmax', [s, keep], { heads: [0], methods: ['poly'], clip: 3 }), [1, 1, 3, 3], rep(w.map((v) => v / sum)));
    const u = [q(-10), q(0), q(-1)];
    const usum = u[0]! + u[1]! + u[2]!;
    expectClose(run('AttentionSoftmax', [s, keep], { heads: [0], methods: ['poly'] }), [1, 1, 3, 3], rep(u.map((v) => v / usum)));
  });

  it('odd degree can go negative for very negative z (not hidden)', () => {
    const s = square([-5, 0]);
    const keep = t('f32', [1, 1, 1, 2], [1, 1]);
    const got = run('AttentionSoftmax', [s, keep], { heads: [0], methods: ['poly'], degree: 1 });
    // q(-5) = -4, q(0) = 1: p = [-4/-3, 1/-3]
    expectClose(got, [1, 1, 2, 2], rep([4 / 3, -1 / 3]));
  });

  // The degree-8 Taylor remainder at |z| = 2 is 2^9/9! = 1.4e-3 of e^z; after normalizing a
  // row the probabilities move by at most about that much.
  it('"poly" of degree 8 is within 1.5e-3 of exact softmax for |z| <= 2 (property)', () => {
    const arb = fc.tuple(dims(2), dims(2), dims(5)).chain(([B, H, S]) => fc.tuple(floats([B, H, S, S], 1), keepArb(B, S)));
    fc.assert(
      fc.property(arb, ([s, keep]) => {
        // scores in [-1, 1], so shifted z is in [-2, 0]
        const H = s.shape[1]!;
        const exact = run('AttentionSoftmax', [s, keep], { heads: heads(H), methods: all(H, 'exact') });
        const poly = run('AttentionSoftmax', [s, keep], { heads: heads(H), methods: all(H, 'poly'), degree: 8 });
        for (let k = 0; k < exact.size; k++) expect(Math.abs(poly.at(k) - exact.at(k))).toBeLessThanOrEqual(1.5e-3);
        const noShift = run('AttentionSoftmax', [s, keep], { heads: heads(H), methods: all(H, 'poly'), degree: 8, shift: false });
        for (let k = 0; k < exact.size; k++) expect(Math.abs(noShift.at(k) - exact.at(k))).toBeLessThanOrEqual(1.5e-3);
      }),
    );
  });

  it('mixes methods per head', () => {
    const s = f([1, 2, 2, 2], [0.3, -1, 2, 0.5, 0.3, -1, 2, 0.5]);
    const keep = t('f32', [1, 1, 1, 2], [1, 1]);
    const got = run('AttentionSoftmax', [s, keep], { heads: [1, 3], methods: ['poly', 'exact'] });
    const ex = run('AttentionSoftmax', [s, keep], { heads: [1, 3], methods: ['exact', 'exact'] });
    const po = run('AttentionSoftmax', [s, keep], { heads: [1, 3], methods: ['poly', 'poly'] });
    expect(vals(got)).toEqual([...vals(po).slice(0, 4), ...vals(ex).slice(4)]);
    expect(vals(po).slice(0, 4)).not.toEqual(vals(ex).slice(0, 4));
  });

  it('a row with every key masked is all zeros, never NaN', () => {
    const s = f([2, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const keep = t('f32', [2, 1, 1, 2], [0, 0, 1, 0]);
    for (const m of ['exact', 'poly']) {
      expectClose(run('AttentionSoftmax', [s, keep], { heads: [0], methods: [m] }), [2, 1, 2, 2], [0, 0, 0, 0, 1, 0, 1, 0], 0);
    }
  });

  it('type rules', () => {
    const s = input('f32', [1, 2, 4, 4], 's');
    const k = input('f32', [1, 1, 1, 4], 'keep');
    const ok = build('AttentionSoftmax', [s, k], { heads: [0, 3], methods: ['exact', 'poly'] });
    expect(ok.attrs).toEqual({ heads: [0, 3], methods: ['exact', 'poly'], degree: 2, shift: true, clip: 0, eps: 0, c: 5 });
    expect(ok.type.shape).toEqual([1, 2, 4, 4]);
    expect(() => build('AttentionSoftmax', [s, k], { heads: [0, 1, 2], methods: ['exact', 'exact', 'exact'] })).toThrow(/heads \[0,1,2\] names 3 heads but the input has 2/);
    expect(() => build('AttentionSoftmax', [s, k], { heads: [0, 1], methods: ['exact'] })).toThrow(/methods has 1 entry but heads has 2/);
    expect(() => build('AttentionSoftmax', [s, k], { heads: [0, 1], methods: ['exact', 'taylor'] })).toThrow(/unknown method "taylor"/);
    expect(() => build('AttentionSoftmax', [s, input('f32', [1, 1, 1, 3], 'keep')], { heads: [0, 1], methods: ['exact', 'exact'] })).toThrow(/keep must be \[1, 1, 1, 4\].*got \[1,1,1,3\]/);
    expect(() => build('AttentionSoftmax', [input('f32', [1, 2, 4, 3], 's'), k], { heads: [0, 1], methods: ['exact', 'exact'] })).toThrow(/scores must be \[B, H, Sq, S\] with Sq <= S, got \[1,2,4,3\]/);
    expect(() => build('AttentionSoftmax', [s, k], { heads: [0, 1], methods: ['poly', 'poly'], degree: 0 })).toThrow(/degree must be >= 1/);
    expect(() => build('AttentionSoftmax', [s, k], { heads: [0, 1], methods: ['poly', 'poly'], clip: -1 })).toThrow(/clip must be >= 0/);
  });
});

describe('Pooler', () => {
  it('equals Tanh(Gather(x, 0, axis 1) @ W + b) (property)', () => {
    const arb = fc.tuple(dims(3), dims(4), dims(5), dims(4)).chain(([B, S, D, N]) => fc.tuple(floats([B, S, D]), floats([D, N]), floats([N])));
    fc.assert(
      fc.property(arb, ([x, w, b]) => {
        const zero = constNode(Tensor.scalar('i64', 0n), { elem: 'i64', shape: [], vis: 'public' });
        const want = viaGraph([x, w, b], (X, W, B) => build('Tanh', [build('Add', [build('MatMul', [build('Gather', [X, zero], { axis: 1 }), W]), B])]));
        expectSame(run('Pooler', [x, w, b]), want, 1e-12);
      }),
    );
  });
  it('type rule', () => {
    expect(build('Pooler', [input('f32', [2, 5, 8]), input('f32', [8, 3], 'W'), input('f32', [3], 'b')]).type.shape).toEqual([2, 3]);
    expect(() => build('Pooler', [input('f32', [2, 5, 8]), input('f32', [6, 3], 'W'), input('f32', [3], 'b')])).toThrow(/x \[2,5,8\] has 8 features but W \[6,3\] expects 6/);
    expect(() => build('Pooler', [input('f32', [2, 5, 8]), input('f32', [8, 3], 'W'), input('f32', [2], 'b')])).toThrow(/b must be \[3\]/);
  });
});

describe('visibility', () => {
  it('is the default join', () => {
    const x = inputNode('x', { elem: 'f32', shape: [1, 2, 4], vis: 'client' });
    const w = inputNode('W', { elem: 'f32', shape: [4, 4], vis: 'server' });
    expect(build('Linear', [x, w]).type.vis).toBe('shared');
    expect(build('SplitHeads', [x], { heads: [0, 1] }).type.vis).toBe('client');
  });
});
