import { describe, expect, it } from 'vitest';
import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { coerceInput, evaluate, evaluateNode, foldOp } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode, type Node } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import type { ElemType, Shape } from '../ir/types.ts';

const weight = (shape: Shape, values: number[], name?: string): Node =>
  constNode(Tensor.from('f32', shape, values), { elem: 'f32', shape, vis: 'server' }, name !== undefined ? { name } : {});

function smallGraph(): { graph: Graph; x: Node; h: Node } {
  // y = relu(x W + b), z = y + x... with x [1,2]
  const x = inputNode('x', { elem: 'f32', shape: [1, 2], vis: 'client' });
  const w = weight([2, 2], [1, -1, 2, 1], 'W');
  const b = weight([2], [0.5, -10], 'b');
  const h = build('Add', [build('MatMul', [x, w], {}, { name: 'mm' }), b], {}, { name: 'add' });
  const y = build('Relu', [h], {}, { name: 'relu' });
  const z = build('Add', [y, y], {}, { name: 'twice' });
  return { graph: new Graph('g', [x], [{ name: 'z', node: z }, { name: 'h', node: h }]), x, h };
}

describe('evaluate', () => {
  it('runs a graph and returns outputs by name (hand-checked)', () => {
    const { graph } = smallGraph();
    const out = evaluate(graph, new Map([['x', Tensor.from('f32', [1, 2], [3, 4])]]));
    // x W = [3 + 8, -3 + 4] = [11, 1]; + b = [11.5, -9]; relu = [11.5, 0]; twice = [23, 0]
    expect(out.get('h')!.toNumbers()).toEqual([11.5, -9]);
    expect(out.get('z')!.toNumbers()).toEqual([23, 0]);
    expect(out.get('z')!.shape).toEqual([1, 2]);
  });

  it('reports every value through onValue, in graph order', () => {
    const { graph } = smallGraph();
    const seen: string[] = [];
    evaluate(graph, new Map([['x', Tensor.from('f32', [1, 2], [3, 4])]]), {
      onValue: (n, v) => {
        expect(v.shape).toEqual(n.type.shape);
        seen.push(n.loc.name ?? n.name ?? n.op);
      },
    });
    expect(seen).toEqual(graph.nodes().map((n) => n.loc.name ?? n.name ?? n.op));
    expect(seen).toContain('relu');
  });

  it('input errors name the input and what was expected', () => {
    const { graph } = smallGraph();
    const run = (m: Map<string, Tensor>) => () => evaluate(graph, m);
    const kindOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof Ig3dcError ? e.kind : 'not an Ig3dcError';
      }
      return undefined;
    };
    expect(run(new Map())).toThrow(/missing input 'x' \(expected f32\[1,2\]\)/);
    expect(kindOf(run(new Map()))).toBe('input');
    expect(run(new Map([['x', Tensor.from('f64', [1, 2], [1, 2])]]))).toThrow(/input 'x' has element type f64, expected f32\[1,2\]/);
    expect(run(new Map([['x', Tensor.from('f32', [2], [1, 2])]]))).toThrow(/input 'x' has shape \[2\], expected f32\[1,2\]/);
    expect(
      run(
        new Map([
          ['x', Tensor.from('f32', [1, 2], [1, 2])],
          ['y', Tensor.from('f32', [1], [1])],
        ]),
      ),
    ).toThrow(/unknown input 'y'/);
  });

  it('an elided constant is an eval error naming it', () => {
    const x = inputNode('x', { elem: 'f32', shape: [2], vis: 'client' });
    const c = constNode({ kind: 'elided' }, { elem: 'f32', shape: [2], vis: 'server' }, { name: 'bias' });
    const g = new Graph('g', [x], [{ name: 'y', node: build('Add', [x, c]) }]);
    expect(() => evaluate(g, new Map([['x', Tensor.from('f32', [2], [1, 2])]]))).toThrow(/constant 'bias'.*elided/);
  });

  it("re-throws an op's error with the node's name as place", () => {
    const x = inputNode('ids', { elem: 'i64', shape: [2], vis: 'client' });
    const table = weight([3, 2], [1, 2, 3, 4, 5, 6], 'emb');
    const g = new Graph('g', [x], [{ name: 'y', node: build('Gather', [table, x], {}, { name: '/embeddings/Gather' }) }]);
    let err: unknown;
    try {
      evaluate(g, new Map([['ids', Tensor.from('i64', [2], [0n, 7n])]]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Ig3dcError);
    expect((err as Ig3dcError).kind).toBe('eval');
    expect((err as Ig3dcError).place.node).toBe('/embeddings/Gather');
    expect((err as Ig3dcError).message).toMatch(/node '\/embeddings\/Gather'.*index 7 is out of range/);
  });

  it('keeps a value that is both an output and an input of later nodes', () => {
    const x = inputNode('x', { elem: 'f64', shape: [3], vis: 'client' });
    const e = build('Exp', [x]);
    const s = build('ReduceSum', [e], { axes: [0] });
    const d = build('Div', [e, s]);
    const g = new Graph('g', [x], [
      { name: 'exp', node: e },
      { name: 'p', node: d },
    ]);
    const out = evaluate(g, new Map([['x', Tensor.from('f64', [3], [0, 0, Math.log(2)])]]));
    expect(out.get('exp')!.toNumbers()).toEqual([1, 1, 2]);
    expect(out.get('p')!.toNumbers()).toEqual([0.25, 0.25, 0.5]);
  });
});

describe('evaluateNode and foldOp', () => {
  it('evaluates one node from given input values (constant folding)', () => {
    const a = weight([2], [1, 2]);
    const n = build('Mul', [a, a]);
    expect(evaluateNode(n, [Tensor.from('f32', [2], [3, 4]), Tensor.from('f32', [2], [5, 6])]).toNumbers()).toEqual([15, 24]);
    expect(evaluateNode(a, []).toNumbers()).toEqual([1, 2]);
  });
  it('foldOp infers the type and fills Range size', () => {
    const r = foldOp('Range', [Tensor.scalar('i64', 0n), Tensor.scalar('i64', 5n), Tensor.scalar('i64', 2n)]);
    expect(r.shape).toEqual([3]);
    expect(r.toNumbers()).toEqual([0, 2, 4]);
    expect(() => foldOp('Nope', [])).toThrow(/unknown op 'Nope'/);
  });
});

describe('coerceInput', () => {
  const ids = (dtype: ElemType, v: (number | bigint)[]) => Tensor.from(dtype, [v.length], v);
  it('converts between integer types when every value fits', () => {
    const t = coerceInput(ids('i32', [1, -2]), { elem: 'i64', shape: [2], vis: 'client' });
    expect(t.dtype).toBe('i64');
    expect(t.data).toBeInstanceOf(BigInt64Array);
    expect(t.toNumbers()).toEqual([1, -2]);
    expect(coerceInput(ids('i64', [7n]), 'u8').toNumbers()).toEqual([7]);
    expect(() => coerceInput(ids('i64', [2n ** 40n]), 'i32', 'input_ids')).toThrow(/input 'input_ids'.*does not fit i32/);
    expect(() => coerceInput(ids('i32', [-1]), 'u32')).toThrow(Ig3dcError);
  });
  it('converts between float types (f64 -> f32 rounds)', () => {
    const t = coerceInput(ids('f64', [0.1]), 'f32');
    expect(t.dtype).toBe('f32');
    expect(t.at(0)).toBe(Math.fround(0.1));
    expect(coerceInput(t, 'f64').at(0)).toBe(Math.fround(0.1));
  });
  it('refuses float <-> integer', () => {
    expect(() => coerceInput(ids('f32', [1]), 'i64', 'x')).toThrow(/input 'x' has element type f32; it cannot be converted to i64/);
  });
  it('returns the same tensor when the type already matches', () => {
    const t = ids('i64', [1n]);
    expect(coerceInput(t, 'i64')).toBe(t);
  });
});

describe('a BERT-mini-sized graph', () => {
  it('evaluates a 4-layer encoder (hidden 256, seq 128) to finite values of the right shape', () => {
    const S = 128;
    const D = 256;
    const H = 4;
    const d = D / H;
    const F = 1024;
    let seed = 1;
    const rnd = (n: number): number[] =>
      Array.from({ length: n }, () => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return (seed / 2147483648 - 0.5) * 0.2;
      });
    const W = (shape: number[]) => weight(shape, rnd(shape.reduce((a, b) => a * b, 1)));
    const input = inputNode('x', { elem: 'f32', shape: [1, S, D], vis: 'client' });
    const mask = constNode(Tensor.from('f32', [1, 1, 1, S], new Array(S).fill(0)), { elem: 'f32', shape: [1, 1, 1, S], vis: 'client' });
    const c = (v: number) => constNode(Tensor.scalar('f32', v), { elem: 'f32', shape: [], vis: 'public' });
    const linear = (x: Node, i: number, o: number) => build('Add', [build('MatMul', [x, W([i, o])]), W([o])]);
    const ln = (x: Node) => build('LayerNormalization', [x, W([D]), W([D])], { axis: -1, epsilon: 1e-12 });
    const heads = (x: Node) => build('Transpose', [build('Reshape', [x], { shape: [1, S, H, d] })], { perm: [0, 2, 1, 3] });
    let x: Node = input;
    for (let l = 0; l < 4; l++) {
      const q = heads(linear(x, D, D));
      const k = build('Transpose', [build('Reshape', [linear(x, D, D)], { shape: [1, S, H, d] })], { perm: [0, 2, 3, 1] });
      const v = heads(linear(x, D, D));
      const scores = build('Add', [build('Div', [build('MatMul', [q, k]), c(8)]), mask]);
      const p = build('Softmax', [scores], { axis: -1 });
      const ctx = build('Reshape', [build('Transpose', [build('MatMul', [p, v])], { perm: [0, 2, 1, 3] })], { shape: [1, S, D] });
      x = ln(build('Add', [linear(ctx, D, D), x]));
      const u = linear(x, D, F);
      const gelu = build('Mul', [build('Mul', [u, build('Add', [build('Erf', [build('Div', [u, c(Math.SQRT2)])]), c(1)])]), c(0.5)]);
      x = ln(build('Add', [linear(gelu, F, D), x]));
    }
    const g = new Graph('bert-mini-like', [input], [{ name: 'out', node: x }]);
    const inputs = new Map([['x', Tensor.from('f32', [1, S, D], rnd(S * D))]]);
    const out = evaluate(g, inputs).get('out')!;
    expect(out.shape).toEqual([1, S, D]);
    expect(out.toNumbers().every(Number.isFinite)).toBe(true);
  });
});
