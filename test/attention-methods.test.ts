// The attention methods of AttentionSoftmax: each method's evaluator equals its formula written
// out directly on random rows with masked keys (a masked key contributes exactly 0, n is the
// number of kept keys), the ONNX export computes the same in onnxruntime, and names outside
// the table are rejected with the list of known ones.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { exportOnnx } from '../compiler/export/index.ts';
import { loadOnnxRuntime } from '../compiler/onnxruntime.ts';
import { build } from '../ir/build.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode } from '../ir/node.ts';
import { erf } from '../ir/ops/erf.ts';
import { ATTENTION_METHOD_NAMES } from '../ir/ops/transformer/attention-methods.ts';
import { Tensor } from '../ir/tensor.ts';

const relu = (v: number): number => Math.max(0, v);
const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** The weights of one row written out from the papers' formulas, over the kept keys only. */
function direct(method: string, s: readonly number[], kept: readonly boolean[], eps: number, c: number): number[] {
  const idx = s.map((_, j) => j).filter((j) => kept[j]);
  const n = idx.length;
  const out = s.map(() => 0);
  if (n === 0) return out;
  const put = (f: (v: number) => number): void => idx.forEach((j) => (out[j] = f(s[j]!)));
  const normalized = (u: (v: number) => number): void => {
    const den = idx.reduce((a, j) => a + u(s[j]!), 0) + eps;
    put((v) => (den === 0 ? 0 : u(v) / den));
  };
  switch (method) {
    case 'exact': {
      const m = Math.max(...idx.map((j) => s[j]!));
      const z = idx.reduce((a, j) => a + Math.exp(s[j]! - m), 0);
      put((v) => Math.exp(v - m) / z);
      break;
    }
    case 'poly': {
      const m = Math.max(...idx.map((j) => s[j]!));
      const q = (v: number): number => 1 + (v - m) + (v - m) ** 2 / 2;
      const z = idx.reduce((a, j) => a + q(s[j]!), 0);
      put((v) => q(v) / z);
      break;
    }
    case 'rsattn':
      normalized(relu);
      break;
    case 'scale':
      put((v) => v / n);
      break;
    case 'scaled-relu':
      put((v) => relu(v) / Math.sqrt(n));
      break;
    case 'scaled-gelu':
      put((v) => gelu(v) / Math.sqrt(n));
      break;
    case 'scaled-relu2':
      put((v) => relu(v) ** 2 / Math.sqrt(n));
      break;
    case '2quad':
      normalized((v) => (v + c) ** 2);
      break;
    default:
      throw new Error(`no direct formula for ${method}`);
  }
  return out;
}

interface Case {
  readonly B: number;
  readonly H: number;
  readonly S: number;
  readonly scores: number[];
  readonly keep: number[];
  readonly methods: string[];
  readonly eps: number;
  readonly c: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({ B: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 4 }), S: fc.integer({ min: 1, max: 6 }) })
  .chain(({ B, H, S }) =>
    fc.record({
      B: fc.constant(B),
      H: fc.constant(H),
      S: fc.constant(S),
      // multiples of 2^-12: exact in float32 and the fixed-point ring, and never so small that a
      // square underflows in float32 (a 1e-45 score squared is 0 there, not in float64)
      scores: fc.array(fc.integer({ min: -6 * 4096, max: 6 * 4096 }).map((v) => v / 4096), { minLength: B * H * S * S, maxLength: B * H * S * S }),
      keep: fc.array(fc.constantFrom(0, 1, 1, 1), { minLength: B * S, maxLength: B * S }),
      methods: fc.array(fc.constantFrom(...ATTENTION_METHOD_NAMES), { minLength: H, maxLength: H }),
      eps: fc.constantFrom(0, 1e-6, 0.5),
      c: fc.constantFrom(0, 1, 2.5, 5, -1.5),
    }),
  );

function graphOf(k: Case, elem: 'f32' | 'f64' = 'f64'): Graph {
  const x = inputNode('scores', { elem, shape: [k.B, k.H, k.S, k.S], vis: 'client' });
  const keep = constNode(Tensor.from('f32', [k.B, 1, 1, k.S], k.keep), { elem: 'f32', shape: [k.B, 1, 1, k.S], vis: 'public' });
  const heads = Array.from({ length: k.H }, (_, h) => h);
  const y = build('AttentionSoftmax', [x, keep], { heads, methods: k.methods, eps: k.eps, c: k.c });
  return new Graph('attention', [x], [{ name: 'weights', node: y }]);
}

function evaluated(k: Case, scores: readonly number[] = k.scores): Float64Array {
  return evaluate(graphOf(k), new Map([['scores', Tensor.from('f64', [k.B, k.H, k.S, k.S], scores)]])).get('weights')!.toFloat64();
}

describe('attention methods', () => {
  it('every method equals its direct formula on random rows with masked keys', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const got = evaluated(k);
        for (let b = 0; b < k.B; b++)
          for (let h = 0; h < k.H; h++)
            for (let i = 0; i < k.S; i++) {
              const o = ((b * k.H + h) * k.S + i) * k.S;
              const kept = k.keep.slice(b * k.S, (b + 1) * k.S).map((v) => v !== 0);
              const want = direct(k.methods[h]!, k.scores.slice(o, o + k.S), kept, k.eps, k.c);
              for (let j = 0; j < k.S; j++) {
                if (!kept[j]) expect(got[o + j], `masked key ${j} of ${k.methods[h]}`).toBe(0);
                expect(Math.abs(got[o + j]! - want[j]!), `${k.methods[h]} row ${i} key ${j}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want[j]!)));
              }
            }
      }),
      { numRuns: 200 },
    );
  });

  it('a masked key contributes nothing: changing its score changes no weight', () => {
    fc.assert(
      fc.property(caseArb, fc.double({ min: -1e6, max: 1e6, noNaN: true }), (k, v) => {
        const moved = k.scores.map((s, idx) => {
          const b = Math.floor(idx / (k.H * k.S * k.S));
          const j = idx % k.S;
          return k.keep[b * k.S + j] === 0 ? v : s;
        });
        expect(Array.from(evaluated(k, moved))).toEqual(Array.from(evaluated(k)));
      }),
      { numRuns: 100 },
    );
  });

  it('n is the number of kept keys: padding a row with masked keys leaves the kept weights as they were', () => {
    const S = 4;
    const scores = [0.5, -1, 2, 0.25];
    for (const method of ATTENTION_METHOD_NAMES) {
      const short: Case = { B: 1, H: 1, S, scores: [...scores, ...scores, ...scores, ...scores], keep: [1, 1, 1, 1], methods: [method], eps: 0, c: 5 };
      const padded: Case = { B: 1, H: 1, S: S + 2, scores: Array.from({ length: 36 }, (_, i) => (i % 6 < 4 ? scores[i % 6]! : 9)), keep: [1, 1, 1, 1, 0, 0], methods: [method], eps: 0, c: 5 };
      const a = evaluated(short).slice(0, S);
      const p = evaluated(padded).slice(0, S);
      for (let j = 0; j < S; j++) expect(Math.abs(a[j]! - p[j]!), method).toBeLessThan(1e-12);
    }
  });

  it('an unknown method is a type error listing the known ones', () => {
    const x = inputNode('s', { elem: 'f32', shape: [1, 1, 2, 2], vis: 'client' });
    const keep = constNode(Tensor.from('f32', [1, 1, 1, 2], [1, 1]), { elem: 'f32', shape: [1, 1, 1, 2], vis: 'public' });
    expect(() => build('AttentionSoftmax', [x, keep], { heads: [0], methods: ['relu-softmax'] })).toThrow(
      /unknown method "relu-softmax" \(expected one of "exact", "poly", "rsattn", "scale", "scaled-relu", "scaled-gelu", "scaled-relu2", "2quad"\)/,
    );
  });

  it('exports to ONNX that onnxruntime evaluates to the evaluator\u2019s weights', async (t) => {
    const ort = await loadOnnxRuntime();
    if (typeof ort === 'string') {
      t.skip(ort);
      return;
    }
    await fc.assert(
      fc.asyncProperty(caseArb, async (k) => {
        // float32, which every ONNX op here has a kernel for in onnxruntime (Erf has no float64 one)
        const scores = Float32Array.from(k.scores);
        const graph = graphOf(k, 'f32');
        const session = await ort.InferenceSession.create(exportOnnx(graph));
        const got = (await session.run({ scores: new ort.Tensor('float32', scores, [k.B, k.H, k.S, k.S]) }))['weights']!.data as Float32Array;
        const want = evaluate(graph, new Map([['scores', Tensor.from('f32', [k.B, k.H, k.S, k.S], scores)]])).get('weights')!.toFloat64();
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `element ${i} (${k.methods.join(',')})`).toBeLessThan(2e-5 * Math.max(1, Math.abs(want[i]!)));
        await session.release();
      }),
      { numRuns: 40 },
    );
  });
});
