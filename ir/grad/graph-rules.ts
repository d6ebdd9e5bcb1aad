// The reverse-mode rules as graph builders (see graph-vjp.ts), for the ops a raised BERT
// uses between its embeddings and its logits, plus the ONNX-level element-wise, matrix and
// data-movement ops they decompose into. Each rule is the graph form of the numeric rule
// of the same op in this folder, and is tested against it.

import { floatAttr, intAttr, intsAttr, stringAttr } from '../op.ts';
import { type Node, constValue } from '../node.ts';
import { slicePlan } from '../ops/slice.ts';
import { reduceAxes } from '../ops/reduce.ts';
import { numel } from '../types.ts';
import type { GradBuilder, GraphVjp } from './graph-vjp.ts';

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_TANH_C = Math.sqrt(2 / Math.PI);
const GELU_TANH_K = 0.044715;

/** A rule for an op of one input whose gradient is g * f'(x, y). */
function unary(derivative: (b: GradBuilder, x: Node, y: Node) => Node): GraphVjp {
  return ({ node, grad, needs, b }) => (needs[0] ? [b.mul(grad, derivative(b, node.inputs[0]!, node))] : [undefined]);
}

const add: GraphVjp = ({ node, grad, needs, b }) => node.inputs.map((x, i) => (needs[i] ? b.sumTo(grad, x.type.shape) : undefined));

const sub: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, y] = node.inputs as [Node, Node];
  return [needs[0] ? b.sumTo(grad, x.type.shape) : undefined, needs[1] ? b.sumTo(b.op('Neg', [grad]), y.type.shape) : undefined];
};

const mul: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, y] = node.inputs as [Node, Node];
  return [needs[0] ? b.sumTo(b.mul(grad, y), x.type.shape) : undefined, needs[1] ? b.sumTo(b.mul(grad, x), y.type.shape) : undefined];
};

/** z = x / y: dx = g / y, dy = -g z / y. */
const div: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, y] = node.inputs as [Node, Node];
  return [
    needs[0] ? b.sumTo(b.div(grad, y), x.type.shape) : undefined,
    needs[1] ? b.sumTo(b.op('Neg', [b.div(b.mul(grad, node), y)]), y.type.shape) : undefined,
  ];
};

/** z = x^p: dx = g p x^(p-1), dp = g z ln x. */
const pow: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, p] = node.inputs as [Node, Node];
  return [
    needs[0] ? b.sumTo(b.mul(grad, b.mul(p, b.op('Pow', [x, b.sub(p, b.scalar(1))]))), x.type.shape) : undefined,
    needs[1] ? b.sumTo(b.mul(grad, b.mul(node, b.op('Log', [x]))), p.type.shape) : undefined,
  ];
};

/** d tanh = 1 - y^2. */
const tanhDerivative = (b: GradBuilder, y: Node): Node => b.sub(b.scalar(1), b.mul(y, y));

/** GELU'(x) = Phi(x) + x phi(x) (erf form), or the derivative of the tanh form. */
function geluDerivative(b: GradBuilder, x: Node, approximate: string): Node {
  if (approximate === 'tanh') {
    // gelu = 0.5 x (1 + t), t = tanh(c (x + k x^3)): gelu' = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3k x^2)
    const x2 = b.mul(x, x);
    const u = b.scale(b.add(x, b.scale(b.mul(x2, x), GELU_TANH_K)), GELU_TANH_C);
    const t = b.op('Tanh', [u]);
    const du = b.scale(b.add(b.scalar(1), b.scale(x2, 3 * GELU_TANH_K)), GELU_TANH_C);
    return b.add(b.scale(b.add(b.scalar(1), t), 0.5), b.mul(b.scale(b.mul(x, tanhDerivative(b, t)), 0.5), du));
  }
  const phi = b.scale(b.add(b.scalar(1), b.op('Erf', [b.scale(x, SQRT1_2)])), 0.5);
  const density = b.scale(b.op('Exp', [b.scale(b.mul(x, x), -0.5)]), INV_SQRT_2PI);
  return b.add(phi, b.mul(x, density));
}

/** Y = A B with numpy batching (operands of rank >= 2). */
const matmul: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, w] = node.inputs as [Node, Node];
  if (x.type.shape.length < 2 || w.type.shape.length < 2) b.unsupported(node, 'operands of rank 1 are not supported (reshape them to matrices)');
  return [
    needs[0] ? b.sumTo(b.matmul(grad, b.transposeLast(w)), x.type.shape) : undefined,
    needs[1] ? b.sumTo(b.matmul(b.transposeLast(x), grad), w.type.shape) : undefined,
  ];
};

/** y = x W + b over the last axis: dx = g W^T, dW = x^T g (rows flattened), db = sum of g's rows. */
const linear: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, w] = node.inputs as [Node, Node];
  const [K, N] = w.type.shape as [number, number];
  const M = numel(x.type.shape) / Math.max(K, 1);
  const rows = Array.from({ length: x.type.shape.length - 1 }, (_, i) => i);
  return [
    needs[0] ? b.matmul(grad, b.op('Transpose', [w], { perm: [1, 0] })) : undefined,
    needs[1] ? b.matmul(b.op('Transpose', [b.reshape(x, [M, K])], { perm: [1, 0] }), b.reshape(grad, [M, N])) : undefined,
    needs[2] ? (rows.length === 0 ? grad : b.op('ReduceSum', [grad], { axes: rows, keepdims: 0 })) : undefined,
  ];
};

/** y = tanh(x[:, 0] W + b): dz = g (1 - y^2); dx[:, 0] = dz W^T (other tokens 0); dW = x0^T dz; db = sum dz. */
const pooler: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, w] = node.inputs as [Node, Node];
  const [B, S, D] = x.type.shape as [number, number, number];
  const dz = b.mul(grad, tanhDerivative(b, node));
  let dx: Node | undefined;
  if (needs[0]) {
    const first = b.reshape(b.matmul(dz, b.op('Transpose', [w], { perm: [1, 0] })), [B, 1, D]);
    dx = S === 1 ? first : b.op('Concat', [first, b.zeros([B, S - 1, D])], { axis: 1 });
  }
  const x0 = (): Node => b.reshape(b.op('Slice', [x], { starts: [0], ends: [1], axes: [1] }), [B, D]);
  return [
    dx,
    needs[1] ? b.matmul(b.op('Transpose', [x0()], { perm: [1, 0] }), dz) : undefined,
    needs[2] ? b.op('ReduceSum', [dz], { axes: [0], keepdims: 0 }) : undefined,
  ];
};

/** Rows over the last axis: dx = rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)). */
const layerNorm: GraphVjp = ({ node, grad, needs, b }) => {
  const [x, gamma, beta] = node.inputs as [Node, Node, Node];
  const centered = b.sub(x, b.meanLast(x));
  const variance = b.meanLast(b.mul(centered, centered));
  const rstd = b.op('Reciprocal', [b.op('Sqrt', [b.add(variance, b.scalar(floatAttr(node.attrs, 'epsilon')))])]);
  const xhat = b.mul(centered, rstd);
  let dx: Node | undefined;
  if (needs[0]) {
    const dxhat = b.mul(grad, gamma);
    const m1 = b.meanLast(dxhat);
    const m2 = b.meanLast(b.mul(dxhat, xhat));
    dx = b.mul(rstd, b.sub(b.sub(dxhat, m1), b.mul(xhat, m2)));
  }
  return [dx, needs[1] ? b.sumTo(b.mul(grad, xhat), gamma.type.shape) : undefined, needs[2] ? b.sumTo(grad, beta.type.shape) : undefined];
};

/** dx = y (g - sum(g y)) along the axis. */
function softmaxGrad(b: GradBuilder, y: Node, grad: Node, axis: number): Node {
  return b.mul(y, b.sub(grad, b.op('ReduceSum', [b.mul(grad, y)], { axes: [axis], keepdims: 1 })));
}

const softmax: GraphVjp = ({ node, grad, needs, b }) => [needs[0] ? softmaxGrad(b, node, grad, intAttr(node.attrs, 'axis')) : undefined];

/** Exact heads only: masked keys have y = 0, so they receive no gradient; the mask none. */
const attentionSoftmax: GraphVjp = ({ node, grad, needs, b }) => {
  const methods = node.attrs['methods'] as readonly string[];
  if (methods.some((m) => m !== 'exact')) b.unsupported(node, 'PolySoftmax heads have no gradient graph; differentiate the model before softmax-to-poly');
  return [needs[0] ? softmaxGrad(b, node, grad, 3) : undefined, undefined];
};

/** Y = scale q k^T: dq = scale g k, dk = scale g^T q. */
const attentionScores: GraphVjp = ({ node, grad, needs, b }) => {
  const [q, k] = node.inputs as [Node, Node];
  const scale = floatAttr(node.attrs, 'scale');
  return [needs[0] ? b.scale(b.matmul(grad, k), scale) : undefined, needs[1] ? b.scale(b.matmul(b.transposeLast(grad), q), scale) : undefined];
};

/** Y = P v: dP = g v^T, dv = P^T g. */
const attentionContext: GraphVjp = ({ node, grad, needs, b }) => {
  const [p, v] = node.inputs as [Node, Node];
  return [needs[0] ? b.matmul(grad, b.transposeLast(v)) : undefined, needs[1] ? b.matmul(b.transposeLast(p), grad) : undefined];
};

const splitHeads: GraphVjp = ({ grad, needs, b }) => [needs[0] ? b.op('MergeHeads', [grad]) : undefined];

const mergeHeads: GraphVjp = ({ node, grad, needs, b }) => {
  const H = node.inputs[0]!.type.shape[1]!;
  return [needs[0] ? b.op('SplitHeads', [grad], { heads: Array.from({ length: H }, (_, h) => h) }) : undefined];
};

const reshape: GraphVjp = ({ node, grad, needs, b }) => [needs[0] ? b.reshape(grad, node.inputs[0]!.type.shape) : undefined];

const transpose: GraphVjp = ({ node, grad, needs, b }) => {
  if (!needs[0]) return [undefined];
  const r = node.type.shape.length;
  const given = intsAttr(node.attrs, 'perm');
  const perm = given.length === 0 ? Array.from({ length: r }, (_, i) => r - 1 - i) : given;
  const inverse = new Array<number>(r);
  perm.forEach((p, i) => (inverse[p] = i));
  return [b.op('Transpose', [grad], { perm: inverse })];
};

/** Unit steps: the gradient padded with zeros back to the input's extent, axis by axis. */
const slice: GraphVjp = ({ node, grad, needs, b }) => {
  if (!needs[0]) return [undefined];
  const shape = node.inputs[0]!.type.shape;
  const plan = slicePlan(shape, intsAttr(node.attrs, 'starts'), intsAttr(node.attrs, 'ends'), intsAttr(node.attrs, 'axes'), intsAttr(node.attrs, 'steps'));
  if (plan.step.some((s) => s !== 1)) b.unsupported(node, 'only unit steps are supported');
  let g = grad;
  for (let a = 0; a < shape.length; a++) {
    const before = plan.start[a]!;
    const after = shape[a]! - before - plan.shape[a]!;
    if (before === 0 && after === 0) continue;
    const part = (n: number): Node => b.zeros(g.type.shape.map((d, i) => (i === a ? n : d)));
    g = b.op('Concat', [...(before > 0 ? [part(before)] : []), g, ...(after > 0 ? [part(after)] : [])], { axis: a });
  }
  return [g];
};

/**
 * Gather of one constant index along an axis (a ViT's classifier reading token 0): the
 * gradient, with the axis restored, padded with zeros to the input's extent on that axis.
 */
const gather: GraphVjp = ({ node, grad, needs, b }) => {
  if (!needs[0]) return [undefined];
  const x = node.inputs[0]!;
  const idx = constValue(node.inputs[1]!);
  if (idx === undefined || idx.size !== 1 || idx.shape.length !== 0) return b.unsupported(node, 'only a constant scalar index is supported');
  const shape = x.type.shape;
  const attr = intAttr(node.attrs, 'axis');
  const axis = attr < 0 ? attr + shape.length : attr;
  const n = shape[axis]!;
  const i = ((idx.at(0) % n) + n) % n;
  const g = b.reshape(grad, shape.map((d, a) => (a === axis ? 1 : d)));
  const part = (k: number): Node => b.zeros(shape.map((d, a) => (a === axis ? k : d)));
  if (n === 1) return [g];
  return [b.op('Concat', [...(i > 0 ? [part(i)] : []), g, ...(i < n - 1 ? [part(n - 1 - i)] : [])], { axis })];
};

/** Each input receives its slab of the gradient. */
const concat: GraphVjp = ({ node, grad, needs, b }) => {
  const r = node.type.shape.length;
  const axisAttr = intAttr(node.attrs, 'axis');
  const axis = axisAttr < 0 ? axisAttr + r : axisAttr;
  let at = 0;
  return node.inputs.map((x, i) => {
    const start = at;
    at += x.type.shape[axis]!;
    return needs[i] ? b.op('Slice', [grad], { starts: [start], ends: [at], axes: [axis] }) : undefined;
  });
};

const expand: GraphVjp = ({ node, grad, needs, b }) => [needs[0] ? b.sumTo(grad, node.inputs[0]!.type.shape) : undefined];

function reduce(mean: boolean): GraphVjp {
  return ({ node, grad, needs, b }) => {
    if (!needs[0]) return [undefined];
    const shape = node.inputs[0]!.type.shape;
    const axes = reduceAxes(node.op, intsAttr(node.attrs, 'axes'), shape);
    const kept = shape.map((d, i) => (axes.has(i) ? 1 : d));
    const spread = b.op('Expand', [b.reshape(grad, kept)], { shape: [...shape] });
    const count = numel(shape) / Math.max(numel(kept), 1);
    return [mean ? b.scale(spread, 1 / count) : spread];
  };
}

const relu: GraphVjp = ({ node, grad, needs, b }) => {
  const x = node.inputs[0]!;
  return [needs[0] ? b.op('Where', [b.op('Greater', [x, b.scalar(0)]), grad, b.zeros(grad.type.shape)]) : undefined];
};

const table = new Map<string, GraphVjp>(
  Object.entries({
    // element-wise
    Add: add,
    Sub: sub,
    Mul: mul,
    Div: div,
    Pow: pow,
    Neg: ({ grad, needs, b }) => [needs[0] ? b.op('Neg', [grad]) : undefined],
    Identity: ({ grad, needs }) => [needs[0] ? grad : undefined],
    Exp: unary((_b, _x, y) => y),
    Log: ({ node, grad, needs, b }) => [needs[0] ? b.div(grad, node.inputs[0]!) : undefined],
    Sqrt: ({ node, grad, needs, b }) => [needs[0] ? b.div(b.scale(grad, 0.5), node) : undefined],
    Reciprocal: unary((b, _x, y) => b.op('Neg', [b.mul(y, y)])),
    Tanh: unary((b, _x, y) => tanhDerivative(b, y)),
    Erf: unary((b, x) => b.scale(b.op('Exp', [b.op('Neg', [b.mul(x, x)])]), 2 / Math.sqrt(Math.PI))),
    Relu: relu,
    Gelu: unary((b, x, y) => geluDerivative(b, x, stringAttr(y.attrs, 'approximate'))),
    // linear algebra
    MatMul: matmul,
    Linear: linear,
    Pooler: pooler,
    // data movement
    Reshape: reshape,
    Transpose: transpose,
    Slice: slice,
    Concat: concat,
    Gather: gather,
    Expand: expand,
    SplitHeads: splitHeads,
    MergeHeads: mergeHeads,
    // reductions and normalization
    ReduceSum: reduce(false),
    ReduceMean: reduce(true),
    Softmax: softmax,
    LayerNorm: layerNorm,
    // attention
    AttentionScores: attentionScores,
    AttentionSoftmax: attentionSoftmax,
    AttentionContext: attentionContext,
  }),
);

export function findGraphVjp(op: string): GraphVjp | undefined {
  return table.get(op);
}

/** Names of the ops with a graph rule, sorted. */
export function graphDifferentiableOps(): string[] {
  return [...table.keys()].sort();
}
