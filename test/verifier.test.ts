import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Graph, type GraphOutput } from '../ir/graph.ts';
import { constNode, inputNode, rawNode, type Node } from '../ir/node.ts';
import { findOp } from '../ir/op.ts';
import { Tensor } from '../ir/tensor.ts';
import type { ValueType } from '../ir/types.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { arbGraph } from './arbitrary.ts';

const f32 = (shape: number[], vis: ValueType['vis'] = 'client'): ValueType => ({ elem: 'f32', shape, vis });

function verifyError(g: Graph): Ig3dcError {
  try {
    verifyGraph(g);
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw new Error(`expected an Ig3dcError, got ${String(e)}`);
  }
  throw new Error('the verifier accepted a bad graph');
}

function graphOf(outputs: Node[], inputs: Node[]): Graph {
  return new Graph(
    'g',
    inputs,
    outputs.map((node, i) => ({ name: `y${i}`, node })),
  );
}

/** A Graph-shaped object that skips the constructor's own check (graph inputs that are not Input nodes). */
function unsafeGraph(inputs: Node[], outputs: GraphOutput[]): Graph {
  const g = Object.create(Graph.prototype) as Graph;
  Object.assign(g, { name: 'g', inputs, outputs, meta: {} });
  return g;
}

const x = inputNode('x', f32([2, 3]));

describe('verifier', () => {
  it('accepts random well-typed graphs', () => {
    fc.assert(
      fc.property(arbGraph(), (g) => {
        verifyGraph(g);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects an unregistered op', () => {
    const bad = rawNode({ op: 'Frobnicate', inputs: [x], attrs: {}, type: f32([2, 3]), loc: {} });
    const e = verifyError(graphOf([bad], [x]));
    expect(e.kind).toBe('verify');
    expect(e.message).toMatch(/%0 = Frobnicate: unknown op 'Frobnicate'/);
  });

  it('rejects a wrong number of operands', () => {
    const bad = rawNode({ op: 'Relu', inputs: [x, x], attrs: {}, type: f32([2, 3]), loc: { name: '/enc/Relu' } });
    const e = verifyError(graphOf([bad], [x]));
    expect(e.message).toMatch(/%0 = Relu: Relu takes 1 input, got 2/);
    // the loc name is the place
    expect(e.place.node).toBe('/enc/Relu');
    expect(e.message).toMatch(/^node '\/enc\/Relu': /);
  });

  it('rejects bad attributes: unknown, wrong kind, defaults not filled in', () => {
    if (findOp('Softmax') === undefined) return;
    const unknown = rawNode({ op: 'Softmax', inputs: [x], attrs: { axis: 1, axes: [1] }, type: f32([2, 3]), loc: {} });
    expect(verifyError(graphOf([unknown], [x])).message).toMatch(/Softmax has no attribute 'axes'/);
    const wrongKind = rawNode({ op: 'Softmax', inputs: [x], attrs: { axis: 0.5 }, type: f32([2, 3]), loc: {} });
    expect(verifyError(graphOf([wrongKind], [x])).message).toMatch(/attribute 'axis' must be an integer/);
    const incomplete = rawNode({ op: 'Softmax', inputs: [x], attrs: {}, type: f32([2, 3]), loc: {} });
    expect(verifyError(graphOf([incomplete], [x])).message).toMatch(/attribute 'axis' missing/);
    // the same node made by build() is fine
    verifyGraph(graphOf([build('Softmax', [x])], [x]));
  });

  it('rejects a type the type rule does not give: shape, element type, visibility', () => {
    const relu = build('Relu', [x]);
    const withType = (type: ValueType): Node => rawNode({ op: 'Relu', inputs: [x], attrs: relu.attrs, type, loc: {} });
    expect(verifyError(graphOf([withType(f32([2, 4]))], [x])).message).toMatch(
      /%0 = Relu: type is f32\[2,4\] secret\(client\) but Relu gives f32\[2,3\] secret\(client\)/,
    );
    expect(verifyError(graphOf([withType({ elem: 'f64', shape: [2, 3], vis: 'client' })], [x])).message).toMatch(/type is f64\[2,3\] secret\(client\) but Relu gives f32/);
    expect(verifyError(graphOf([withType(f32([2, 3], 'public'))], [x])).message).toMatch(/type is f32\[2,3\] public but Relu gives f32\[2,3\] secret\(client\)/);
    verifyGraph(graphOf([withType(f32([2, 3]))], [x]));
  });

  it('rejects a type rule failure (operands of the wrong type)', () => {
    const ints = inputNode('i', { elem: 'i64', shape: [2], vis: 'client' });
    const bad = rawNode({ op: 'Relu', inputs: [ints], attrs: {}, type: { elem: 'i64', shape: [2], vis: 'client' }, loc: {} });
    expect(verifyError(graphOf([bad], [ints])).message).toMatch(/%0 = Relu: .*float/);
  });

  it('checks Const data: present, right element type, shape, size and storage', () => {
    const type = f32([2], 'server');
    const ok = constNode(Tensor.from('f32', [2], [1, 2]), type);
    verifyGraph(graphOf([ok], []));
    verifyGraph(graphOf([constNode({ kind: 'elided' }, type)], []));

    const noData = rawNode({ op: 'Const', inputs: [], attrs: {}, type, loc: {} });
    expect(verifyError(graphOf([noData], [])).message).toMatch(/%0 = Const: a Const node needs data/);
    const wrongShape = constNode(Tensor.from('f32', [3], [1, 2, 3]), type);
    expect(verifyError(graphOf([wrongShape], [])).message).toMatch(/data has shape \[3\] but the type says \[2\]/);
    const reshaped = constNode(Tensor.from('f32', [1, 2], [1, 2]), type);
    expect(verifyError(graphOf([reshaped], [])).message).toMatch(/data has shape \[1,2\]/);
    const wrongElem = constNode(Tensor.from('f64', [2], [1, 2]), type);
    expect(verifyError(graphOf([wrongElem], [])).message).toMatch(/data is f64 but the type says f32/);
    const wrongStorage = constNode(new Tensor('f32', [2], new Float64Array([1, 2])), type);
    expect(verifyError(graphOf([wrongStorage], [])).message).toMatch(/f32 data must be stored in a Float32Array, not a Float64Array/);
    const withOperand = rawNode({ op: 'Const', inputs: [x], attrs: {}, type, loc: {}, data: ok.data! });
    expect(verifyError(graphOf([withOperand], [x])).message).toMatch(/a Const node has no operands/);
  });

  it('rejects cycles', () => {
    const operands: Node[] = [x];
    const a = rawNode({ op: 'Relu', inputs: operands, attrs: {}, type: f32([2, 3]), loc: { name: 'a' } });
    const b = build('Relu', [a]);
    operands[0] = b; // a -> b -> a
    const e = verifyError(graphOf([b], [x]));
    expect(e.message).toMatch(/cycle/);
    const self: Node[] = [x];
    const s = rawNode({ op: 'Relu', inputs: self, attrs: {}, type: f32([2, 3]), loc: {} });
    self[0] = s;
    expect(verifyError(graphOf([s], [x])).message).toMatch(/cycle/);
  });

  it('rejects duplicate input names and duplicate output names', () => {
    const x2 = inputNode('x', f32([2, 3]));
    const y = build('Relu', [x]);
    expect(verifyError(graphOf([y], [x, x2])).message).toMatch(/graph input name %x is used twice/);
    const dupOut = new Graph('g', [x], [
      { name: 'y', node: y },
      { name: 'y', node: x },
    ]);
    expect(verifyError(dupOut).message).toMatch(/output name 'y' is used twice/);
  });

  it('rejects a graph input that is not an Input node', () => {
    const c = constNode(Tensor.from('f32', [1], [1]), f32([1], 'public'));
    expect(verifyError(unsafeGraph([c], [{ name: 'y', node: c }])).message).toMatch(/graph input 0 is a Const node, not an Input/);
  });

  it('rejects an Input node that is not a graph input', () => {
    const stray = inputNode('stray', f32([2, 3]));
    const y = build('Relu', [stray]);
    const e = verifyError(graphOf([y], [x]));
    expect(e.message).toMatch(/%stray = Input: this Input node is not a graph input/);
  });

  it('names values as the printer numbers them', () => {
    const a = build('Relu', [x]);
    const b = build('Relu', [a]);
    const bad = rawNode({ op: 'Relu', inputs: [b], attrs: {}, type: f32([9]), loc: {} });
    expect(verifyError(graphOf([bad], [x])).message).toMatch(/^%2 = Relu: type is f32\[9\]/);
  });

  it('handles a 20000-node chain without overflowing the stack', () => {
    let n: Node = x;
    for (let i = 0; i < 20000; i++) n = build('Relu', [n]);
    verifyGraph(graphOf([n], [x]));
    const bad = rawNode({ op: 'Relu', inputs: [n], attrs: {}, type: f32([1]), loc: {} });
    expect(verifyError(graphOf([bad], [x])).message).toMatch(/^%20000 = Relu/);
  });
});
