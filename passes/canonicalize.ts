// Canonicalization: fold constant ops, remove identities, merge equal subexpressions.
// Dead code needs no rule: a graph is what its outputs reach.
//
// Every rule is exact under the plaintext evaluator (float64 semantics): the rewritten graph
// computes bit-for-bit the same outputs. Two consequences:
// - a fold whose result the constant's element type cannot hold exactly (an f32 result the
//   evaluator keeps in float64) is left alone;
// - `x + 0 -> x` holds for floats only with -0.0 (-0 + 0 is +0), as in LLVM and MLIR.
// And one MPC concern: rules that look at a constant's *value* (x * 1, x + 0, CSE of equal
// constants) only look at public constants; doing so for a weight would make the circuit's
// shape reveal something about the server's weights.

import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluateNode } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { CONST_OP, INPUT_OP, constNode, constValue, rawNode } from '../ir/node.ts';
import { Tensor, allocStorage } from '../ir/tensor.ts';
import { isFloatType, joinVisibility, numel, shapesEqual, typesEqual, type Visibility } from '../ir/types.ts';
import { registerPass, type Pass } from './pass.ts';
import { allEqual, any, constant, op, type ConstPattern } from './pattern.ts';
import { type Rule, rewriteGraph, rule } from './rewrite.ts';

/** Folding an op with a result bigger than this many elements would bloat the graph; leave it. */
export const FOLD_LIMIT = 1 << 22;

/** A public constant whose every element equals `v` (0 matches -0 too). */
function publicScalar(v: number): ConstPattern {
  return constant(undefined, (t, n) => n.type.vis === 'public' && allEqual(t, v));
}

/** A public constant that adds nothing: -0.0 for floats (x + -0 is x for every x), 0 for integers. */
const additiveIdentity = constant(undefined, (t, n) => {
  if (n.type.vis !== 'public' || t.size === 0) return false;
  if (!isFloatType(t.dtype)) return allEqual(t, 0);
  for (let i = 0; i < t.size; i++) if (!Object.is(t.at(i), -0)) return false;
  return true;
});

/** A public constant that subtracts nothing: +0.0 for floats (x - -0 is +0 for x = -0), 0 for integers. */
const subtractiveIdentity = constant(undefined, (t, n) => {
  if (n.type.vis !== 'public' || t.size === 0) return false;
  if (!isFloatType(t.dtype)) return allEqual(t, 0);
  for (let i = 0; i < t.size; i++) if (!Object.is(t.at(i), 0)) return false;
  return true;
});

/** Whether a node's value is known here and may be computed by one party (or by anyone). */
function foldable(n: Node): boolean {
  if (n.op === CONST_OP || n.op === INPUT_OP || n.inputs.length === 0) return false;
  if (numel(n.type.shape) > FOLD_LIMIT) return false;
  let vis: Visibility = 'public';
  for (const i of n.inputs) {
    if (i.op !== CONST_OP || constValue(i) === undefined) return false;
    vis = joinVisibility(vis, i.type.vis);
  }
  // client and server data together: no single party may compute the value
  return vis !== 'shared';
}

/**
 * The tensor in the compact storage its element type has in a constant, or undefined when
 * that would change a value (an f32 result the evaluator computed in float64).
 */
export function compactExactly(t: Tensor): Tensor | undefined {
  const want = allocStorage(t.dtype, 0).constructor;
  if (t.data.constructor === want) return t;
  if (t.dtype === 'f32' && t.data instanceof Float64Array) {
    const out = new Float32Array(t.size);
    for (let i = 0; i < t.size; i++) {
      out[i] = t.data[i]!;
      if (!Object.is(out[i], t.data[i])) return undefined;
    }
    return new Tensor(t.dtype, t.shape, out);
  }
  return undefined;
}

/** Slice(x) that takes every element in order: same shape, and no axis longer than 1 is stepped other than by 1. */
function isFullSlice(x: Node, root: Node): boolean {
  if (!shapesEqual(x.type.shape, root.type.shape)) return false;
  const starts = root.attrs['starts'] as readonly number[];
  const given = root.attrs['axes'] as readonly number[];
  const steps = root.attrs['steps'] as readonly number[];
  const rank = x.type.shape.length;
  const axes = given.length > 0 ? given : starts.map((_, i) => i);
  return axes.every((a, i) => {
    const step = steps.length > 0 ? steps[i]! : 1;
    const dim = x.type.shape[a < 0 ? a + rank : a] ?? 0;
    return step === 1 || dim <= 1;
  });
}

/** Transpose's permutation with the default `[]` (reversed axes) spelled out. */
function permOf(n: Node, rank: number): number[] {
  const p = n.attrs['perm'] as readonly number[];
  return p.length > 0 ? [...p] : Array.from({ length: rank }, (_, i) => rank - 1 - i);
}

export const CANONICALIZE_RULES: readonly Rule[] = [
  // op(c1, ..., cn) -> c  (constants with data, computable by one party)
  rule('ConstantOpToConst', 'op(c1, ..., cn) with every ci a constant of one owner -> its value', any(undefined, foldable), (_c, { root }) => {
    let value: Tensor;
    try {
      value = evaluateNode(
        root,
        root.inputs.map((i) => constValue(i)!),
      );
    } catch {
      // e.g. an index out of range: the error stays where it is, at run time
      return undefined;
    }
    const exact = compactExactly(value);
    return exact === undefined ? undefined : constNode(exact, root.type, root.loc);
  }),
  // Identity(x) -> x
  rule('IdentityToInput', 'Identity(x) -> x', op('Identity', [any('x')]), ({ x }) => x),
  // Cast(x) to x's own type -> x
  rule('NoopCastToInput', 'Cast(x) to the type x has -> x', op('Cast', [any('x')]), ({ x }, { root }) => keepsType(x!, root)),
  // Reshape(x) to x's own shape -> x
  rule('NoopReshapeToInput', 'Reshape(x) to the shape x has -> x', op('Reshape', [any('x')]), ({ x }, { root }) => keepsType(x!, root)),
  // Reshape(Reshape(x)) -> Reshape(x)
  rule('ReshapeReshapeToReshape', 'Reshape(Reshape(x)) -> Reshape(x)', op('Reshape', [op('Reshape', [any('x')])]), ({ x }, ctx) =>
    ctx.build('Reshape', [x!], { shape: [...ctx.root.type.shape] }),
  ),
  // Transpose(x) by the identity permutation -> x
  rule('IdentityTransposeToInput', 'Transpose(x) by [0,1,...] -> x', op('Transpose', [any('x')]), ({ x }, { root }) => {
    const perm = permOf(root, x!.type.shape.length);
    return perm.every((p, i) => p === i) ? x : undefined;
  }),
  // Transpose(Transpose(x, p), q) -> Transpose(x, p[q])
  rule('TransposeTransposeToTranspose', 'Transpose(Transpose(x, p), q) -> Transpose(x, p[q])', op('Transpose', [op('Transpose', [any('x')], { capture: 'inner' })]), ({ x, inner }, ctx) => {
    const rank = x!.type.shape.length;
    const p = permOf(inner!, rank);
    const q = permOf(ctx.root, rank);
    return ctx.build('Transpose', [x!], { perm: q.map((i) => p[i]!) });
  }),
  // x + -0.0, -0.0 + x -> x (x + 0 for integers); not when the constant broadcasts x to a bigger shape
  rule('AddZeroToInput', 'x + 0 -> x (floats: x + -0.0)', op('Add', [any('x'), additiveIdentity], { commutative: true }), ({ x }, { root }) => keepsType(x!, root)),
  // x - 0 -> x (floats: x - +0.0)
  rule('SubZeroToInput', 'x - 0 -> x (floats: x - +0.0)', op('Sub', [any('x'), subtractiveIdentity]), ({ x }, { root }) => keepsType(x!, root)),
  // x * 1, 1 * x -> x
  rule('MulOneToInput', 'x * 1 -> x', op('Mul', [any('x'), publicScalar(1)], { commutative: true }), ({ x }, { root }) => keepsType(x!, root)),
  // x / 1 -> x
  rule('DivOneToInput', 'x / 1 -> x', op('Div', [any('x'), publicScalar(1)]), ({ x }, { root }) => keepsType(x!, root)),
  // Expand(x) to x's own shape -> x
  rule('NoopExpandToInput', 'Expand(x) to the shape x has -> x', op('Expand', [any('x')]), ({ x }, { root }) => keepsType(x!, root)),
  // Concat(x) -> x
  rule('SingleConcatToInput', 'Concat(x) -> x', op('Concat', [any('x')]), ({ x }, { root }) => keepsType(x!, root)),
  // Slice(x) covering all of x in order -> x
  rule('FullSliceToInput', 'Slice(x) that keeps every element in order -> x', op('Slice', [any('x')]), ({ x }, { root }) => (isFullSlice(x!, root) ? keepsType(x!, root) : undefined)),
];

/** x itself when it already has the root's element type and shape (so dropping the op changes no value). */
function keepsType(x: Node, root: Node): Node | undefined {
  return x.type.elem === root.type.elem && shapesEqual(x.type.shape, root.type.shape) ? x : undefined;
}

/**
 * Common subexpression elimination: nodes with the same op, inputs, attributes and type are
 * one node; public constants with equal type and contents too.
 */
export function eliminateCommonSubexpressions(graph: Graph): Graph {
  const canon = new Map<string, Node>();
  const memo = new Map<Node, Node>();
  const ids = new Map<Node, number>();
  const keyId = (n: Node): number => {
    let id = ids.get(n);
    if (id === undefined) ids.set(n, (id = ids.size));
    return id;
  };
  let changed = false;
  for (const n of graph.nodes()) {
    if (n.op === INPUT_OP) continue;
    const inputs = n.inputs.map((i) => memo.get(i) ?? i);
    const key = nodeKey(n, inputs, keyId);
    const seen = key !== undefined ? canon.get(key) : undefined;
    if (seen !== undefined) {
      memo.set(n, seen);
      changed = true;
      continue;
    }
    let m = n;
    if (inputs.some((x, k) => x !== n.inputs[k])) {
      // an input was merged into one of the same type: op, attributes and type stay valid
      const { id: _id, ...fields } = n;
      m = rawNode({ ...fields, inputs });
      memo.set(n, m);
      changed = true;
    }
    if (key !== undefined) canon.set(key, m);
  }
  if (!changed) return graph;
  return graph.with({ outputs: graph.outputs.map((o) => ({ name: o.name, node: memo.get(o.node) ?? o.node })) });
}

const typeKey = (n: Node): string => `${n.type.elem}|${n.type.vis}|${n.type.shape.join(',')}`;

/** A structural key, or undefined for nodes never merged (secret or large constants). */
function nodeKey(n: Node, inputs: readonly Node[], keyId: (n: Node) => number): string | undefined {
  if (n.op === CONST_OP) {
    const v = constValue(n);
    if (v === undefined || n.type.vis !== 'public' || v.size > 4096) return undefined;
    // the bytes, so -0 and 0 (or i64 values beyond 2^53) stay apart
    const bytes = Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('base64');
    return `const|${typeKey(n)}|${v.data.constructor.name}|${bytes}`;
  }
  const attrs = Object.keys(n.attrs)
    .sort()
    .map((k) => `${k}=${JSON.stringify(n.attrs[k])}`)
    .join(';');
  return `${n.op}|${typeKey(n)}|${inputs.map(keyId).join(',')}|${attrs}`;
}

export const canonicalize: Pass = {
  name: 'canonicalize',
  summary: 'fold constant ops, remove identity ops (x*1, Identity, no-op Reshape/Cast/Transpose/Slice), merge common subexpressions, drop dead code',
  options: {},
  rules: CANONICALIZE_RULES,
  run(graph) {
    let g = graph;
    for (let round = 0; round < 32; round++) {
      const merged = eliminateCommonSubexpressions(rewriteGraph(g, CANONICALIZE_RULES).graph);
      if (merged === g) return g;
      g = merged;
    }
    throw new Ig3dcError('verify', 'canonicalize did not reach a fixed point in 32 rounds of rewriting and merging');
  },
};

registerPass(canonicalize);
