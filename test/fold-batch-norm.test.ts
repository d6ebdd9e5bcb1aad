// fold-batch-norm: BatchNormalization (inference) imported from hand-built ONNX graphs, folded
// into the neighbouring Linear forward (BN -> Linear, through the Transposes torch puts around
// BatchNorm1d on tokens) and backward (Linear -> BN); the evaluator agrees before and after
// within the rounding of the folded weights (float64 in an f64 model: relative 1e-12; float32
// in an f32 one, whose constants the IR stores as float32), the Mul is gone, and the circuit is
// cheaper. Near misses that must stay: a residual Add also reads the BN, constants per token,
// mixed owners.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { importOnnx } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { constNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import type { ElemType, Visibility } from '../ir/types.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { runCircuit } from '../runtime/index.ts';
import { encodeModel, node, type ModelSpec } from './frontend-model-builder.ts';
import { attentionBlock, erfGelu, input, matmulLinear, n, opCount, randomInputs, Uniform } from './raise-helpers.ts';

const rng = new Uniform(4242);
const vals = (k: number, scale = 1, shift = 0): number[] => rng.floats(k, scale).map((v) => v + shift);

/** BatchNormalization's four [C] statistics (variance positive, scale away from 0). */
function bnStats(prefix: string, C: number, elem: ElemType = 'f32'): [string, Tensor][] {
  return [
    [`${prefix}.s`, Tensor.from(elem, [C], vals(C, 0.5, 1.2))],
    [`${prefix}.b`, Tensor.from(elem, [C], vals(C, 0.3))],
    [`${prefix}.m`, Tensor.from(elem, [C], vals(C, 0.5))],
    [`${prefix}.v`, Tensor.from(elem, [C], vals(C, 0.4, 0.6))],
  ];
}

const bnNode = (x: string, y: string, name: string) => node('BatchNormalization', [x, `${name}.s`, `${name}.b`, `${name}.m`, `${name}.v`], [y], { epsilon: 1e-5 }, { name, floatAttrs: ['epsilon'] });

/** torch's BatchNorm1d on tokens [B, N, C]: Transpose -> BatchNormalization over C -> Transpose. */
const tokenBn = (x: string, y: string, name: string) => [
  node('Transpose', [x], [`${name}.in`], { perm: [0, 2, 1] }),
  bnNode(`${name}.in`, `${name}.out`, name),
  node('Transpose', [`${name}.out`], [y], { perm: [0, 2, 1] }),
];

/** torch's Linear on [B, N, K]: MatMul by W [K, D] then Add of the bias [D]. */
const linear = (x: string, y: string, name: string) => [node('MatMul', [x, `${name}.W`], [`${name}.mm`], {}, { name: `${name}/MatMul` }), node('Add', [`${name}.mm`, `${name}.bias`], [y], {}, { name: `${name}/Add` })];

const linearParams = (name: string, K: number, D: number, elem: ElemType = 'f32'): [string, Tensor][] => [
  [`${name}.W`, Tensor.from(elem, [K, D], vals(K * D, 0.5))],
  [`${name}.bias`, Tensor.from(elem, [D], vals(D, 0.2))],
];

const [B, N, C, D] = [2, 5, 6, 4];

function imported(nodes: ModelSpec['nodes'], inits: [string, Tensor][], inShape = [B, N, C], elem: ElemType = 'f32'): Graph {
  const spec: ModelSpec = {
    inputs: [{ name: 'x', elem, dims: inShape }],
    outputs: [{ name: 'y', elem }],
    nodes,
    initializers: new Map(inits),
  };
  return importOnnx(encodeModel(spec), { file: 'bn.onnx' }).graph;
}

interface Folded {
  readonly graph: Graph;
  readonly notes: readonly string[];
}

function run(g: Graph, pipeline: string): Folded {
  const notes: string[] = [];
  const r = runPipeline(g, parsePipeline(pipeline), { onNote: (pass, m) => notes.push(`${pass}: ${m}`) });
  verifyGraph(r.graph);
  return { graph: r.graph, notes };
}

/**
 * Relative to an output's largest magnitude, how far the folded graph may move it: float64
 * rounding of the folded weights in an f64 model; in an f32 one the weights are stored as
 * float32 (relative 2^-24 each), so about 1e-7 with these sizes.
 */
const TOL: Readonly<Record<'f32' | 'f64', number>> = { f64: 1e-12, f32: 1e-6 };

/** Every output of `after` equals `before`'s within `rel` of the output's largest magnitude. */
function expectClose(before: Graph, after: Graph, rel: number): number {
  let worst = 0;
  for (let seed = 1; seed <= 3; seed++) {
    const inputs = randomInputs(before, seed);
    const a = evaluate(before, inputs);
    const b = evaluate(after, inputs);
    for (const [name, t] of a) {
      const u = b.get(name)!;
      expect([...u.shape]).toEqual([...t.shape]);
      let scale = 0;
      for (let i = 0; i < t.size; i++) scale = Math.max(scale, Math.abs(t.at(i)));
      let d = 0;
      for (let i = 0; i < t.size; i++) d = Math.max(d, Math.abs(t.at(i) - u.at(i)));
      expect(scale).toBeGreaterThan(0.1);
      worst = Math.max(worst, d / scale);
    }
  }
  expect(worst).toBeLessThanOrEqual(rel);
  return worst;
}

for (const elem of ['f64', 'f32'] as const) {
  const tol = TOL[elem];

  describe(`fold-batch-norm forward (${elem}): BatchNorm1d on tokens, then Linear`, () => {
    const g = imported([...tokenBn('x', 'h', 'bn'), ...linear('h', 'y', 'fc')], [...bnStats('bn', C, elem), ...linearParams('fc', C, D, elem)], [B, N, C], elem);

    it('folds into the MatMul and its bias: no Mul left, same outputs within the weights\' rounding', () => {
      expect(opCount(g, 'Mul')).toBe(1);
      const { graph, notes } = run(g, 'fold-batch-norm,canonicalize');
      expect(opCount(graph, 'Mul')).toBe(0);
      expect(opCount(graph, 'Transpose')).toBe(0);
      expect(opCount(graph, 'MatMul')).toBe(1);
      expect(notes).toEqual([]);
      expectClose(g, graph, tol);
    });

    it("after raise-bert (the default raising pipeline): one Linear reading x, the weights still the server's", () => {
      const { graph } = run(g, 'raise-bert,fold-batch-norm,canonicalize');
      expect(graph.nodes().map((x) => x.op).filter((op) => op !== 'Const' && op !== 'Input')).toEqual(['Linear']);
      const lin = graph.nodes().find((x) => x.op === 'Linear')!;
      expect(lin.inputs[0]!.op).toBe('Input');
      expect(lin.inputs.slice(1).map((w) => w.type.vis)).toEqual(['server', 'server']);
      expectClose(g, graph, tol);
    });

    it('folds into every reader when all are linear (q, k and v of an attention block)', () => {
      const nodes = [...tokenBn('x', 'h', 'bn'), ...linear('h', 'q', 'q'), ...linear('h', 'k', 'k'), ...linear('h', 'v', 'v'), node('Add', ['q', 'k'], ['qk']), node('Add', ['qk', 'v'], ['y'])];
      const g3 = imported(nodes, [...bnStats('bn', C, elem), ...linearParams('q', C, D, elem), ...linearParams('k', C, D, elem), ...linearParams('v', C, D, elem)], [B, N, C], elem);
      const { graph, notes } = run(g3, 'raise-bert,fold-batch-norm,canonicalize');
      expect(opCount(graph, 'Mul')).toBe(0);
      expect(opCount(graph, 'Linear')).toBe(3);
      expect(notes).toEqual([]);
      expectClose(g3, graph, tol);
    });

    it('a MatMul without a bias gets one (c W)', () => {
      const g2 = imported([...tokenBn('x', 'h', 'bn'), node('MatMul', ['h', 'fc.W'], ['y'])], [...bnStats('bn', C, elem), ...linearParams('fc', C, D, elem).slice(0, 1)], [B, N, C], elem);
      const { graph } = run(g2, 'fold-batch-norm,canonicalize');
      expect(opCount(graph, 'Mul')).toBe(0);
      expect(opCount(graph, 'Add')).toBe(1);
      expectClose(g2, graph, tol);
    });
  });

  describe(`fold-batch-norm backward (${elem}): Linear, then BatchNorm1d on tokens`, () => {
    const g = imported([...linear('x', 'h', 'fc'), ...tokenBn('h', 'y', 'bn')], [...linearParams('fc', C, D, elem), ...bnStats('bn', D, elem)], [B, N, C], elem);

    it('folds into the MatMul + bias before it: W diag(a), b a + c', () => {
      const { graph, notes } = run(g, 'fold-batch-norm,canonicalize');
      expect(opCount(graph, 'Mul')).toBe(0);
      expect(opCount(graph, 'Transpose')).toBe(0);
      expect(notes).toEqual([]);
      expectClose(g, graph, tol);
    });

    it('after raise-bert: into the Linear', () => {
      const { graph } = run(g, 'raise-bert,fold-batch-norm,canonicalize');
      expect(graph.nodes().map((x) => x.op).filter((op) => op !== 'Const' && op !== 'Input')).toEqual(['Linear']);
      expectClose(g, graph, tol);
    });

    it('BatchNorm over the channels of [B, C] (no transposes) folds the same way', () => {
      const g2 = imported([...linear('x', 'h', 'fc'), bnNode('h', 'y', 'bn')], [...linearParams('fc', C, D, elem), ...bnStats('bn', D, elem)], [B, C], elem);
      const { graph } = run(g2, 'raise-bert,fold-batch-norm,canonicalize');
      expect(opCount(graph, 'Mul')).toBe(0);
      expectClose(g2, graph, tol);
    });
  });
}

describe('fold-batch-norm: the circuit (best protocols)', () => {
  const forward = imported([...tokenBn('x', 'h', 'bn'), ...linear('h', 'y', 'fc')], [...bnStats('bn', C), ...linearParams('fc', C, D)]);
  const backward = imported([...linear('x', 'h', 'fc'), ...tokenBn('h', 'y', 'bn')], [...linearParams('fc', C, D), ...bnStats('bn', D)]);
  for (const [name, g] of [['BN -> Linear', forward], ['Linear -> BN', backward]] as const) {
    it(`${name}: the default raising folds the BatchNorm, with fewer rounds and bytes than raise-bert alone`, () => {
      const before = compileModel(g, { protocols: 'best', raise: 'raise-bert,canonicalize' }).cost;
      const after = compileModel(g, { protocols: 'best' });
      expect(after.pipeline).toEqual(['raise-bert', 'fold-batch-norm', 'canonicalize']);
      expect(after.cost.rounds).toBeLessThan(before.rounds);
      expect(after.cost.bytesTotal).toBeLessThan(before.bytesTotal);
    });
  }

  it('a Linear whose output something else also reads is not duplicated', () => {
    const g2 = imported([...linear('x', 'h', 'fc'), ...tokenBn('h', 'n', 'bn'), node('Add', ['n', 'h'], ['y'], {}, { name: 'residual' })], [...linearParams('fc', C, D), ...bnStats('bn', D)]);
    const { graph, notes } = run(g2, 'raise-bert,fold-batch-norm,canonicalize');
    expect(opCount(graph, 'Mul')).toBe(1);
    expect(opCount(graph, 'Linear')).toBe(1);
    expect(notes.join('\n')).toMatch(/fold-batch-norm: per-channel affine x \* a \+ c at Add 'bn'.*was not folded.*residual/);
  });
});

describe('fold-batch-norm near misses', () => {
  it('a residual Add that also reads the BatchNorm: nothing changes, a note names the node', () => {
    const nodes = [...tokenBn('x', 'h', 'bn'), ...linear('h', 'f', 'fc'), node('Add', ['h', 'f'], ['y'], {}, { name: '/block/residual' })];
    const g = imported(nodes, [...bnStats('bn', C), ...linearParams('fc', C, C)]);
    const raised = run(g, 'raise-bert').graph;
    const { graph, notes } = run(raised, 'fold-batch-norm');
    expect(graph).toBe(raised);
    expect(opCount(graph, 'Mul')).toBe(1);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/at Add 'bn' \(read through Transpose\b.*\) was not folded into a neighbouring Linear: it also feeds Add '\/block\/residual'/);
  });

  it('constants per token (BatchNormalization over the token axis of [B, N, C]) do not fold into a Linear over C', () => {
    const g = imported([bnNode('x', 'h', 'bn'), ...linear('h', 'y', 'fc')], [...bnStats('bn', N), ...linearParams('fc', C, D)]);
    const raised = run(g, 'raise-bert').graph;
    const { graph, notes } = run(raised, 'fold-batch-norm');
    expect(graph).toBe(raised);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/at Add 'bn' was not folded.*vary along axis 1 of 3 \(not per channel\).*contracts the last axis/);
  });

  it('constants of another owner than the weight (client scale, server weight) are not mixed', () => {
    const x = input('x', [B, N, C]);
    const own = (vis: Visibility, name: string): Node => constNode(Tensor.from('f32', [C], vals(C, 0.5, 1)), { elem: 'f32', shape: [C], vis }, { name });
    const affine = n('Add', [n('Mul', [x, own('client', 'a')]), own('client', 'c')], {}, 'client-affine');
    const out = matmulLinear(affine, D, 'fc');
    const g = new Graph('mixed', [x], [{ name: 'y', node: out }]);
    const { graph, notes } = run(g, 'fold-batch-norm');
    expect(graph).toBe(g);
    expect(notes[0]).toMatch(/at Add 'client-affine' was not folded.*would mix owners \(scale secret\(client\), shift secret\(client\), weight secret\(server\)\)/);
  });
});

/** torch's BatchNorm1d as the frontend imports it: Mul by [C, 1] then Add of [C, 1], between Transposes. */
function tokenBnIr(x: Node, name: string): Node {
  const Cx = x.type.shape[2]!;
  const k = (v: number[], what: string): Node => constNode(Tensor.from('f32', [Cx, 1], v), { elem: 'f32', shape: [Cx, 1], vis: 'server' }, { name: `${name}.${what}` });
  const t = n('Transpose', [x], { perm: [0, 2, 1] });
  const y = n('Add', [n('Mul', [t, k(vals(Cx, 0.5, 1.1), 'scale')]), k(vals(Cx, 0.3), 'shift')], {}, name);
  return n('Transpose', [y], { perm: [0, 2, 1] });
}

describe('a ViT-like encoder layer with BatchNorm in place of LayerNorm (PolyTransformer)', () => {
  // pre-norm: h = x + attn(BN1(x)); y = h + mlp(BN2(h))
  const [Bv, S, Dm, heads] = [1, 5, 8, 2];
  const x = input('tokens', [Bv, S, Dm]);
  const h = n('Add', [x, matmulLinear(attentionBlock(tokenBnIr(x, 'bn1'), heads, undefined), Dm, 'attention.output')]);
  const mlp = matmulLinear(erfGelu(matmulLinear(tokenBnIr(h, 'bn2'), 16, 'fc1')), Dm, 'fc2');
  const g = new Graph('vit-bn', [x], [{ name: 'y', node: n('Add', [h, mlp]) }]);

  it('raises with raise-bert, folds both BatchNorms into q/k/v and the MLP, and computes the same', () => {
    const { graph, notes } = run(g, 'raise-bert,fold-batch-norm,canonicalize');
    expect(opCount(graph, 'AttentionSoftmax')).toBe(1);
    expect(opCount(graph, 'Gelu')).toBe(1);
    expect(opCount(graph, 'Linear')).toBe(6);
    expect(opCount(graph, 'Mul')).toBe(0);
    expect(opCount(graph, 'Transpose')).toBe(0);
    expect(notes.filter((m) => m.startsWith('fold-batch-norm'))).toEqual([]);
    const roles = graph.nodes().filter((x) => x.op === 'Linear').map((x) => x.attrs['role']).sort();
    expect(roles).toEqual(['attention-output', 'ffn-in', 'ffn-out', 'key', 'query', 'value']);
    expectClose(g, graph, TOL.f32);
  });

  it('costs fewer rounds and bytes once folded (best protocols); the secure run agrees with the unfolded model', () => {
    const before = compileModel(g, { protocols: 'best', raise: 'raise-bert,canonicalize' }).cost;
    const after = compileModel(g, { protocols: 'best' });
    expect(after.cost.rounds).toBeLessThan(before.rounds);
    expect(after.cost.bytesTotal).toBeLessThan(before.bytesTotal);
    const inputs = randomInputs(g, 9);
    const run = runCircuit(after.circuit, { inputs, weights: after.weights, seed: new Uint8Array(16).fill(5) });
    expect(run.cost.rounds).toBe(after.cost.rounds);
    expect(run.cost.bytesTotal).toBe(after.cost.bytesTotal);
    const want = evaluate(g, inputs).get('y')!;
    const got = run.outputs.get('y')!;
    let scale = 0;
    let d = 0;
    for (let i = 0; i < want.size; i++) {
      scale = Math.max(scale, Math.abs(want.at(i)));
      d = Math.max(d, Math.abs(got.at(i) - want.at(i)));
    }
    // outputs up to ~5; fixed point with 16 fractional bits and the softmax/GELU protocols err by ~4e-4
    expect(scale).toBeGreaterThan(1);
    expect(d).toBeLessThan(2e-3);
  });
});

describe('fold-batch-norm on random f64 graphs (fast-check)', () => {
  it('forward, backward or both: the same outputs within float64 rounding, and no Mul left', () => {
    fc.assert(
      fc.property(
        fc.record({ n: fc.integer({ min: 1, max: 4 }), c: fc.integer({ min: 1, max: 5 }), d: fc.integer({ min: 1, max: 5 }), before: fc.boolean(), after: fc.boolean(), transposed: fc.boolean(), seed: fc.integer({ min: 1, max: 1 << 20 }) }),
        ({ n: tokens, c, d, before, after, transposed, seed }) => {
          const r = new Uniform(seed);
          const f = (k: number, scale: number, shift = 0): Tensor => Tensor.from('f64', [k], r.floats(k, scale).map((v) => v + shift));
          const inits: [string, Tensor][] = [];
          const nodes: ModelSpec['nodes'][number][] = [];
          let cur = 'x';
          let width = c;
          const bn = (name: string): void => {
            inits.push([`${name}.s`, f(width, 0.5, 1.2)], [`${name}.b`, f(width, 0.3)], [`${name}.m`, f(width, 0.5)], [`${name}.v`, f(width, 0.4, 0.6)]);
            nodes.push(...(transposed ? tokenBn(cur, `${name}.y`, name) : [bnNode(cur, `${name}.y`, name)]));
            cur = `${name}.y`;
          };
          const lin = (name: string, out: number): void => {
            inits.push([`${name}.W`, Tensor.from('f64', [width, out], r.floats(width * out, 0.5))], [`${name}.bias`, f(out, 0.2)]);
            nodes.push(...linear(cur, `${name}.y`, name));
            cur = `${name}.y`;
            width = out;
          };
          if (before) bn('bn0');
          lin('fc', d);
          if (after || !before) bn('bn1');
          nodes.push(node('Identity', [cur], ['y']));
          const shape = transposed ? [2, tokens, c] : [2, c];
          const g = imported(nodes, inits, shape, 'f64');
          const { graph, notes } = run(g, 'raise-bert,fold-batch-norm,canonicalize');
          expect(opCount(graph, 'Mul')).toBe(0);
          expect(notes).toEqual([]);
          expectClose(g, graph, TOL.f64);
        },
      ),
      { numRuns: 40, seed: 20261203 },
    );
  });
});
