// Small ONNX-level graphs shaped like torch's BERT export, for the raise-bert rule tests.

import { expect } from 'vitest';
import { build } from '../ir/build.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import type { Attrs, Node } from '../ir/node.ts';
import { constNode, inputNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { isFloatType, numel, type ElemType } from '../ir/types.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { raiseBert, unraised } from '../passes/raise/index.ts';

/** A deterministic generator of uniform floats in [-1, 1). */
export class Uniform {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return (this.#s / 4294967296) * 2 - 1;
  }
  floats(n: number, scale = 1): number[] {
    return Array.from({ length: n }, () => this.next() * scale);
  }
}

const rng = new Uniform(12345);

export function input(name: string, shape: readonly number[], elem: ElemType = 'f32'): Node {
  return inputNode(name, { elem, shape, vis: 'client' }, { name });
}

/** A server-side weight with random elements. */
export function weight(shape: readonly number[], name = 'w', scale = 0.5): Node {
  return constNode(Tensor.from('f32', shape, rng.floats(numel(shape), scale)), { elem: 'f32', shape, vis: 'server' }, { name });
}

/** A public constant: one number (a scalar, or `shape` filled with it) or explicit values. */
export function pub(values: number | readonly number[], shape: readonly number[] = [], elem: ElemType = 'f32'): Node {
  const data = typeof values === 'number' ? new Array<number>(numel(shape)).fill(values) : values;
  return constNode(Tensor.from(elem, shape, data), { elem, shape, vis: 'public' });
}

export function n(op: string, inputs: readonly Node[], attrs: Attrs = {}, name?: string): Node {
  return build(op, inputs, attrs, name !== undefined ? { name } : {});
}

export function graphOf(inputs: readonly Node[], out: Node): Graph {
  return new Graph('t', inputs, [{ name: 'y', node: out }]);
}

export function opCount(g: Graph, op: string): number {
  return g.nodes().filter((x) => x.op === op).length;
}

export function opsOf(g: Graph): Set<string> {
  return new Set(g.nodes().map((x) => x.op));
}

/** Random values for every graph input: floats in [-2, 2), ints as `ints` says (default 0/1 with a leading 1 per row). */
export function randomInputs(g: Graph, seed: number, ints?: (shape: readonly number[], r: Uniform) => number[]): Map<string, Tensor> {
  const r = new Uniform(seed);
  const m = new Map<string, Tensor>();
  for (const i of g.inputs) {
    const { elem, shape } = i.type;
    const k = numel(shape);
    const values = isFloatType(elem)
      ? r.floats(k, 2)
      : ints !== undefined
        ? ints(shape, r)
        : Array.from({ length: k }, (_, j) => (j % shape[shape.length - 1]! === 0 ? 1 : r.next() > -0.4 ? 1 : 0));
    m.set(i.name!, Tensor.from(elem, shape, values));
  }
  return m;
}

export interface Raised {
  readonly graph: Graph;
  readonly notes: readonly string[];
}

/** raise-bert with its notes collected; the result must verify. */
export function raise(g: Graph): Raised {
  const notes: string[] = [];
  const graph = raiseBert(g, { resources: new Map(), note: (pass, message) => notes.push(`${pass}: ${message}`) });
  verifyGraph(graph);
  expect(notes.length).toBe(unraised(graph).length);
  return { graph, notes };
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  let m = 0;
  for (let i = 0; i < a.size; i++) {
    const [x, y] = [a.at(i), b.at(i)];
    // NaN where both are NaN agrees (e.g. the sqrt of a negative "variance" in a near miss)
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    m = Math.max(m, Number.isNaN(x) || Number.isNaN(y) ? Infinity : Math.abs(x - y));
  }
  return m;
}

/** The raised graph computes what the original does on `inputs` (every output within tol). */
export function expectSameResult(before: Graph, after: Graph, inputs: ReadonlyMap<string, Tensor>, tol = 1e-9): void {
  const a = evaluate(before, inputs);
  const b = evaluate(after, inputs);
  for (const [name, t] of a) {
    const d = maxAbsDiff(t, b.get(name)!);
    expect(Number.isFinite(d), `${name} is finite`).toBe(true);
    expect(d, name).toBeLessThanOrEqual(tol);
  }
}

// ---------------------------------------------------------------------------------------
// The exported subgraphs.

export interface LayerNormForm {
  axis?: number;
  exponent?: number;
  /** Mul(gamma, normed) and Add(beta, scaled) instead of the exported order. */
  swapped?: boolean;
  /** Subtract the mean from this node instead of x (breaks the same-capture constraint). */
  subtractFrom?: Node;
  eps?: number;
}

/** ReduceMean -> Sub -> Pow -> ReduceMean -> Add(eps) -> Sqrt -> Div -> Mul(gamma) -> Add(beta). */
export function decomposedLayerNorm(x: Node, form: LayerNormForm = {}, name = 'ln'): Node {
  const rank = x.type.shape.length;
  const axis = form.axis ?? rank - 1;
  const D = x.type.shape[axis]!;
  const mean = n('ReduceMean', [x], { axes: [axis] });
  const c = n('Sub', [form.subtractFrom ?? x, mean]);
  const sq = n('Pow', [c, pub(form.exponent ?? 2)]);
  const v = n('ReduceMean', [sq], { axes: [axis] });
  const std = n('Sqrt', [n('Add', [v, pub(form.eps ?? 1e-12)])]);
  const normed = n('Div', [c, std]);
  // over another axis, gamma and beta are [D, 1, ..., 1] so they broadcast along it
  const pshape = x.type.shape.slice(axis).map((dim, i) => (i === 0 ? D : 1));
  const gamma = weight(pshape, `${name}.weight`);
  const beta = weight(pshape, `${name}.bias`);
  const scaled = form.swapped ? n('Mul', [gamma, normed]) : n('Mul', [normed, gamma]);
  return form.swapped ? n('Add', [beta, scaled], {}, `${name}/Add_1`) : n('Add', [scaled, beta], {}, `${name}/Add_1`);
}

export type ErfGeluForm = 'torch' | 'half-first' | 'half-last' | 'mul-inv-sqrt2';

/** 0.5 x (1 + erf(x / sqrt 2)) as torch writes it, or a re-association. */
export function erfGelu(x: Node, form: ErfGeluForm = 'torch', sqrt2 = Math.SQRT2): Node {
  const u = form === 'mul-inv-sqrt2' ? n('Mul', [x, pub(1 / sqrt2)]) : n('Div', [x, pub(sqrt2)]);
  const phi = n('Add', [n('Erf', [u]), pub(1)]);
  if (form === 'half-first') return n('Mul', [n('Mul', [x, pub(0.5)]), phi]);
  if (form === 'half-last') return n('Mul', [x, n('Mul', [phi, pub(0.5)])]);
  return n('Mul', [n('Mul', [x, phi]), pub(0.5)]);
}

/** HF NewGELU as bench/make-bert.ts exports it. */
export function tanhGelu(x: Node, coefficient = 0.044715): Node {
  const half = n('Mul', [x, pub(0.5)]);
  const cube = n('Pow', [x, pub(3)]);
  const inner = n('Add', [x, n('Mul', [cube, pub(coefficient)])]);
  const t = n('Tanh', [n('Mul', [inner, pub(Math.sqrt(2 / Math.PI))])]);
  return n('Mul', [half, n('Add', [t, pub(1)])]);
}

/** torch's 3-D Linear: Add(bias, MatMul(x, W)). */
export function matmulLinear(x: Node, N: number, name = 'dense', biasFirst = true): Node {
  const K = x.type.shape[x.type.shape.length - 1]!;
  const mm = n('MatMul', [x, weight([K, N], `${name}.W`)], {}, `${name}/MatMul`);
  const b = weight([N], `${name}.bias`);
  return n('Add', biasFirst ? [b, mm] : [mm, b], {}, `${name}/Add`);
}

export type MaskForm = 'mul-min' | 'where' | 'small' | 'none';

/** The exported additive mask from the int mask [B, S]: Reshape to [B,1,1,S], Cast, 1 - m, times float32 min. */
export function additiveMask(mask: Node, form: MaskForm): Node {
  const [B, S] = mask.type.shape as [number, number];
  const m4 = n('Reshape', [n('Reshape', [mask], { shape: [B, 1, S] })], { shape: [B, 1, 1, S] });
  const inv = n('Sub', [pub(1), n('Cast', [m4], { to: 'f32' })]);
  const big = form === 'small' ? -1e9 : -3.4028234663852886e38;
  if (form === 'where') return n('Where', [n('Cast', [inv], { to: 'bool' }), pub(big), inv], {}, '/bert/Where');
  return n('Mul', [inv, pub(big)], {}, '/bert/Mul');
}

export interface AttentionForm {
  mask?: MaskForm;
  softmaxAxis?: number;
  /** Multiply the scores by 1/sqrt(d) instead of dividing by sqrt(d). */
  mulScale?: boolean;
  /** Use this (non-projected) value in place of the value projection. */
}

/** One self-attention block as exported: projections, head split, scores, mask, softmax, context, merge. */
export function attentionBlock(x: Node, heads: number, mask: Node | undefined, form: AttentionForm = {}): Node {
  const [B, S, D] = x.type.shape as [number, number, number];
  const d = D / heads;
  const split = (t: Node, perm: number[]): Node => n('Transpose', [n('Reshape', [t], { shape: [B, S, heads, d] })], { perm });
  const q = split(matmulLinear(x, D, 'query'), [0, 2, 1, 3]);
  const kT = split(matmulLinear(x, D, 'key'), [0, 2, 3, 1]);
  const v = split(matmulLinear(x, D, 'value'), [0, 2, 1, 3]);
  const qk = n('MatMul', [q, kT]);
  const scores = form.mulScale ? n('Mul', [qk, pub(1 / Math.sqrt(d))]) : n('Div', [qk, pub(Math.sqrt(d))]);
  const masked = mask !== undefined && form.mask !== 'none' ? n('Add', [scores, additiveMask(mask, form.mask ?? 'mul-min')]) : scores;
  const probs = n('Softmax', [masked], { axis: form.softmaxAxis ?? -1 }, 'attention/Softmax');
  const ctx = n('MatMul', [probs, v]);
  return n('Reshape', [n('Transpose', [ctx], { perm: [0, 2, 1, 3] })], { shape: [B, S, D] });
}
