// The pattern engine and the rewrite driver: every pattern constructor matches what it
// should and not what it should not; captures, commutativity, attribute predicates; the
// driver's fixed point, its type check and its loop detection.

import { describe, expect, it } from 'vitest';
import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode, type Node } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { any, approx, constant, either, match, op, rewriteGraph, rule, scalar } from '../passes/index.ts';

const x = inputNode('x', { elem: 'f32', shape: [2, 3], vis: 'client' });
const y = inputNode('y', { elem: 'f32', shape: [2, 3], vis: 'client' });
const f32 = (v: number, shape: number[] = [], vis: 'public' | 'server' = 'public'): Node =>
  constNode(Tensor.from('f32', shape, new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(v)), { elem: 'f32', shape, vis });
const one = f32(1);
const two = f32(2);
const relu = build('Relu', [x]);
const mulX1 = build('Mul', [x, one]);
const mul1X = build('Mul', [one, x]);
const subXX = build('Sub', [x, x]);
const subXY = build('Sub', [x, y]);
const soft1 = build('Softmax', [x], { axis: 1 });
const soft0 = build('Softmax', [x], { axis: 0 });

describe('pattern constructors', () => {
  it('any: matches every node, captures it, honours where', () => {
    expect(match(any('v'), relu)).toEqual({ v: relu });
    expect(match(any(), x)).toEqual({});
    expect(match(any('v', (n) => n.op === 'Relu'), relu)).toEqual({ v: relu });
    expect(match(any('v', (n) => n.op === 'Relu'), x)).toBeUndefined();
  });

  it('op: matches the op kind and the inputs, in arity', () => {
    expect(match(op('Relu', [any('a')]), relu)).toEqual({ a: x });
    expect(match(op('Neg', [any('a')]), relu)).toBeUndefined();
    expect(match(op(['Neg', 'Relu']), relu)).toEqual({});
    // arity must agree when inputs are given
    expect(match(op('Relu', [any(), any()]), relu)).toBeUndefined();
    // an input pattern that fails fails the match
    expect(match(op('Mul', [any(), scalar(2)]), mulX1)).toBeUndefined();
  });

  it('constant: only constants with data, constrained by where', () => {
    expect(match(constant('c'), two)).toEqual({ c: two });
    expect(match(constant('c'), x)).toBeUndefined();
    const elided = constNode({ kind: 'elided' }, { elem: 'f32', shape: [2], vis: 'server' });
    expect(match(constant('c'), elided)).toBeUndefined();
    expect(match(constant('c', (t) => t.at(0) > 1), two)).toEqual({ c: two });
    expect(match(constant('c', (t) => t.at(0) > 1), one)).toBeUndefined();
    expect(match(constant('c', (_t, n) => n.type.vis === 'server'), f32(2, [], 'server'))).toBeDefined();
    expect(match(constant('c', (_t, n) => n.type.vis === 'server'), two)).toBeUndefined();
  });

  it('scalar: every element equal to v, any shape; not empty', () => {
    expect(match(scalar(1), one)).toBeDefined();
    expect(match(scalar(1), f32(1, [2, 2]))).toBeDefined();
    expect(match(scalar(1), two)).toBeUndefined();
    const mixed = constNode(Tensor.from('f32', [2], [1, 2]), { elem: 'f32', shape: [2], vis: 'public' });
    expect(match(scalar(1), mixed)).toBeUndefined();
    expect(match(scalar(1), f32(1, [0]))).toBeUndefined();
    const i64 = constNode(Tensor.from('i64', [2], [1n, 1n]), { elem: 'i64', shape: [2], vis: 'public' });
    expect(match(scalar(1), i64)).toBeDefined();
  });

  it('approx: within a relative tolerance', () => {
    const sqrt2 = f32(Math.SQRT2);
    expect(match(approx(1.41421356), sqrt2)).toBeDefined();
    expect(match(approx(1.4142), sqrt2)).toBeUndefined();
    expect(match(approx(1.4142, 1e-3), sqrt2)).toBeDefined();
    expect(match(approx(1), f32(Number.NaN))).toBeUndefined();
  });

  it('either: the first alternative that matches', () => {
    const p = either(op('Mul', [any('a'), scalar(1)]), op('Relu', [any('a')]));
    expect(match(p, mulX1)).toEqual({ a: x });
    expect(match(p, relu)).toEqual({ a: x });
    expect(match(p, soft1)).toBeUndefined();
  });

  it('a name captured twice binds one node (x - x)', () => {
    const xMinusX = op('Sub', [any('a'), any('a')]);
    expect(match(xMinusX, subXX)).toEqual({ a: x });
    expect(match(xMinusX, subXY)).toBeUndefined();
    // and agrees with a capture made outside
    expect(match(op('Sub', [any('a'), any('b')]), subXY, { a: y })).toBeUndefined();
    expect(match(op('Sub', [any('a'), any('b')]), subXY, { a: x })).toEqual({ a: x, b: y });
  });

  it('commutative: tries the inputs swapped, only when asked', () => {
    const p = op('Mul', [any('v'), scalar(1)], { commutative: true });
    expect(match(p, mulX1)).toEqual({ v: x });
    expect(match(p, mul1X)).toEqual({ v: x });
    expect(match(op('Mul', [any('v'), scalar(1)]), mul1X)).toBeUndefined();
    expect(match(p, build('Mul', [x, two]))).toBeUndefined();
  });

  it('attrs: exact values and predicates', () => {
    expect(match(op('Softmax', [any()], { attrs: { axis: 1 } }), soft1)).toBeDefined();
    expect(match(op('Softmax', [any()], { attrs: { axis: 1 } }), soft0)).toBeUndefined();
    const last = op('Softmax', [any()], { attrs: { axis: (v) => v === 1 || v === -1 } });
    expect(match(last, soft1)).toBeDefined();
    expect(match(last, soft0)).toBeUndefined();
    const perm = op('Transpose', [any()], { attrs: { perm: [1, 0] } });
    expect(match(perm, build('Transpose', [x], { perm: [1, 0] }))).toBeDefined();
    expect(match(perm, build('Transpose', [x], { perm: [0, 1] }))).toBeUndefined();
  });

  it('where on op: sees the node and the captures', () => {
    const p = op('Sub', [any('a'), any('b')], { where: (_n, c) => c['a'] !== c['b'] });
    expect(match(p, subXY)).toBeDefined();
    expect(match(p, subXX)).toBeUndefined();
  });
});

function graphOf(out: Node): Graph {
  return new Graph('g', [x, y], [{ name: 'out', node: out }]);
}

describe('rewrite driver', () => {
  // Neg(Neg(v)) -> v
  const negNeg = rule('NegNegToInput', 'Neg(Neg(v)) -> v', op('Neg', [op('Neg', [any('v')])]), ({ v }) => v);

  it('reaches a fixed point: nested patterns exposed by earlier rewrites are rewritten too', () => {
    let n: Node = x;
    for (let i = 0; i < 6; i++) n = build('Neg', [n]);
    const g = graphOf(build('Relu', [n]));
    const r = rewriteGraph(g, [negNeg]);
    expect(r.graph.outputs[0]!.node.op).toBe('Relu');
    expect(r.graph.outputs[0]!.node.inputs[0]).toBe(x);
    expect(r.applied.get('NegNegToInput')).toBe(3);
    // a second run changes nothing and returns the same graph
    const again = rewriteGraph(r.graph, [negNeg]);
    expect(again.graph).toBe(r.graph);
    expect(again.applied.size).toBe(0);
  });

  it('rebuilds users of a rewritten node and keeps the rest', () => {
    const g = graphOf(build('Add', [build('Neg', [build('Neg', [x])]), relu]));
    const out = rewriteGraph(g, [negNeg]).graph.outputs[0]!.node;
    expect(out.op).toBe('Add');
    expect(out.inputs[0]).toBe(x);
    expect(out.inputs[1]).toBe(relu);
  });

  it('a replacement built with ctx.build is rewritten by the rules too', () => {
    // Relu(v) -> Neg(Neg(Neg(Neg(v)))) is then collapsed back by NegNegToInput... to v
    const expand = rule('ReluToNegs', 'Relu(v) -> Neg(Neg(v))', op('Relu', [any('v')]), ({ v }, ctx) => ctx.build('Neg', [ctx.build('Neg', [v!])]));
    const r = rewriteGraph(graphOf(build('Sigmoid', [relu])), [expand, negNeg]);
    expect(r.graph.outputs[0]!.node.inputs[0]).toBe(x);
    expect(r.applied.get('ReluToNegs')).toBe(1);
    expect(r.applied.get('NegNegToInput')).toBe(1);
  });

  it('earlier rules win at a node', () => {
    const toSig = rule('ReluToSigmoid', 'Relu(v) -> Sigmoid(v)', op('Relu', [any('v')]), ({ v }, ctx) => ctx.build('Sigmoid', [v!]));
    const toTanh = rule('AnyToTanh', 'Relu(v) -> Tanh(v)', any(undefined, (n) => n.op === 'Relu'), (_c, ctx) => ctx.build('Tanh', [ctx.root.inputs[0]!]));
    expect(rewriteGraph(graphOf(relu), [toSig, toTanh]).graph.outputs[0]!.node.op).toBe('Sigmoid');
    expect(rewriteGraph(graphOf(relu), [toTanh, toSig]).graph.outputs[0]!.node.op).toBe('Tanh');
  });

  it('rejects a rule that changes the type unless it says changesType', () => {
    const shrink = (changesType: boolean) =>
      rule('ReluToSlice', 'Relu(v) -> Slice(v)', op('Relu', [any('v')]), ({ v }, ctx) => ctx.build('Slice', [v!], { starts: [0], ends: [1] }), { changesType });
    const g = graphOf(build('Neg', [relu]));
    let err: unknown;
    try {
      rewriteGraph(g, [shrink(false)]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Ig3dcError);
    expect((err as Ig3dcError).message).toMatch(/rule ReluToSlice replaced Relu of type f32\[2,3\] secret\(client\) with Slice of type f32\[1,3\].*changesType/);
    // allowed, and the user (Neg) is rebuilt with the new type
    const out = rewriteGraph(g, [shrink(true)]).graph.outputs[0]!.node;
    expect(out.op).toBe('Neg');
    expect(out.type.shape).toEqual([1, 3]);
  });

  it('a looping rule set is a clear error naming the rules', () => {
    const ab = rule('ReluToSigmoid', 'Relu -> Sigmoid', op('Relu', [any('v')]), ({ v }, ctx) => ctx.build('Sigmoid', [v!]));
    const ba = rule('SigmoidToRelu', 'Sigmoid -> Relu', op('Sigmoid', [any('v')]), ({ v }, ctx) => ctx.build('Relu', [v!]));
    expect(() => rewriteGraph(graphOf(relu), [ab, ba])).toThrow(Ig3dcError);
    expect(() => rewriteGraph(graphOf(relu), [ab, ba])).toThrow(/rewrite rules loop at Relu.*ReluToSigmoid -> SigmoidToRelu -> ReluToSigmoid/);
    // a rule that rebuilds its own root forever
    const self = rule('ReluToRelu', 'Relu(v) -> Relu(v)', op('Relu', [any('v')]), ({ v }, ctx) => ctx.build('Relu', [v!]));
    expect(() => rewriteGraph(graphOf(relu), [self])).toThrow(/rewrite rules loop.*ReluToRelu -> ReluToRelu/);
  });

  it('an ill-typed replacement names the rule', () => {
    const bad = rule('ReluToMatMul', 'Relu(v) -> MatMul(v, v)', op('Relu', [any('v')]), ({ v }, ctx) => ctx.build('MatMul', [v!, v!]));
    expect(() => rewriteGraph(graphOf(relu), [bad])).toThrow(/rule ReluToMatMul at Relu: MatMul/);
  });

  it('declining (undefined) or returning the root is no rewrite', () => {
    const decline = rule('Never', 'never', op('Relu', [any()]), () => undefined);
    const same = rule('Same', 'same', op('Relu', [any()]), (_c, ctx) => ctx.root);
    const g = graphOf(relu);
    const r = rewriteGraph(g, [decline, same]);
    expect(r.graph).toBe(g);
    expect(r.applied.size).toBe(0);
  });
});
