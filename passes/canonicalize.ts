// Canonicalization: fold public constants, remove identities, merge equal subexpressions.
// Dead code needs no rule: a graph is what its outputs reach.

import { evaluateNode } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { CONST_OP, constNode, constValue, INPUT_OP, rawNode } from '../ir/node.ts';
import { numel, shapesEqual, typesEqual } from '../ir/types.ts';
import { registerPass, type Pass } from './pass.ts';
import { any, op, scalar } from './pattern.ts';
import { type Rule, rewriteGraph, rule } from './rewrite.ts';

const isPublicConst = (n: Node): boolean => n.op === CONST_OP && n.type.vis === 'public' && constValue(n) !== undefined;

/** Folding a public op bigger than this many elements would bloat the graph; leave it. */
const FOLD_LIMIT = 1 << 22;

export const CANONICALIZE_RULES: readonly Rule[] = [
  // op(public consts...) -> const
  rule(
    'PublicOpToConst',
    'op(c1, ..., cn) with every ci a public constant -> its value',
    any(undefined, (n) => n.op !== CONST_OP && n.op !== INPUT_OP && n.inputs.length > 0 && n.inputs.every(isPublicConst) && numel(n.type.shape) <= FOLD_LIMIT),
    (_c, { root }) => {
      const value = evaluateNode(
        root,
        root.inputs.map((i) => constValue(i)!),
      );
      return constNode(value, { ...root.type, vis: 'public' }, root.loc);
    },
  ),
  // Identity(x) -> x
  rule('IdentityToInput', 'Identity(x) -> x', op('Identity', [any('x')]), ({ x }) => x),
  // Cast(x) to x's own type -> x
  rule('NoopCastToInput', 'Cast(x) to the type x has -> x', op('Cast', [any('x')]), ({ x }, { root }) => (x!.type.elem === root.type.elem ? x : undefined)),
  // Reshape(x) to x's own shape -> x
  rule('NoopReshapeToInput', 'Reshape(x) to the shape x has -> x', op('Reshape', [any('x')]), ({ x }, { root }) => (shapesEqual(x!.type.shape, root.type.shape) ? x : undefined)),
  // Reshape(Reshape(x)) -> Reshape(x)
  rule('ReshapeReshapeToReshape', 'Reshape(Reshape(x)) -> Reshape(x)', op('Reshape', [op('Reshape', [any('x')])]), ({ x }, ctx) =>
    ctx.build('Reshape', [x!], { shape: [...ctx.root.type.shape] }),
  ),
  // Transpose(x) by the identity permutation -> x
  rule('IdentityTransposeToInput', 'Transpose(x) by [0,1,...] -> x', op('Transpose', [any('x')]), ({ x }, { root }) => {
    const perm = root.attrs['perm'] as readonly number[];
    return perm.length === x!.type.shape.length && perm.every((p, i) => p === i) ? x : undefined;
  }),
  // Transpose(Transpose(x, p), q) -> Transpose(x, p∘q)
  rule('TransposeTransposeToTranspose', 'Transpose(Transpose(x, p), q) -> Transpose(x, p[q])', op('Transpose', [op('Transpose', [any('x')], { capture: 'inner' })]), ({ x, inner }, ctx) => {
    const p = inner!.attrs['perm'] as readonly number[];
    const q = ctx.root.attrs['perm'] as readonly number[];
    if (p.length === 0 || q.length === 0) return undefined;
    return ctx.build('Transpose', [x!], { perm: q.map((i) => p[i]!) });
  }),
  // x + 0, 0 + x -> x (when the constant does not broadcast x to a bigger shape)
  rule('AddZeroToInput', 'x + 0 -> x', op('Add', [any('x'), scalar(0)], { commutative: true }), ({ x }, { root }) => keepsType(x!, root)),
  // x - 0 -> x
  rule('SubZeroToInput', 'x - 0 -> x', op('Sub', [any('x'), scalar(0)]), ({ x }, { root }) => keepsType(x!, root)),
  // x * 1, 1 * x -> x
  rule('MulOneToInput', 'x * 1 -> x', op('Mul', [any('x'), scalar(1)], { commutative: true }), ({ x }, { root }) => keepsType(x!, root)),
  // x / 1 -> x
  rule('DivOneToInput', 'x / 1 -> x', op('Div', [any('x'), scalar(1)]), ({ x }, { root }) => keepsType(x!, root)),
  // Expand(x) to x's own shape -> x
  rule('NoopExpandToInput', 'Expand(x) to the shape x has -> x', op('Expand', [any('x')]), ({ x }, { root }) => keepsType(x!, root)),
  // Concat(x) -> x
  rule('SingleConcatToInput', 'Concat(x) -> x', op('Concat', [any('x')]), ({ x }) => x),
  // Slice(x) covering all of x -> x
  rule('FullSliceToInput', 'Slice(x) that keeps every element -> x', op('Slice', [any('x')]), ({ x }, { root }) => keepsType(x!, root)),
];

/** x itself when it already has the root's type (so dropping the op changes nothing). */
function keepsType(x: Node, root: Node): Node | undefined {
  return x.type.elem === root.type.elem && shapesEqual(x.type.shape, root.type.shape) ? x : undefined;
}

/**
 * Common subexpression elimination: nodes with the same op, inputs and attributes are one
 * node; constants with equal type and contents too.
 */
export function eliminateCommonSubexpressions(graph: Graph): Graph {
  const canon = new Map<string, Node>();
  const memo = new Map<Node, Node>();
  let changed = false;
  for (const n of graph.nodes()) {
    if (n.op === INPUT_OP) continue;
    const inputs = n.inputs.map((i) => memo.get(i) ?? i);
    const key = nodeKey(n, inputs);
    const seen = key !== undefined ? canon.get(key) : undefined;
    if (seen !== undefined && typesEqual(seen.type, n.type)) {
      memo.set(n, seen);
      changed = true;
      continue;
    }
    let m = n;
    if (inputs.some((x, k) => x !== n.inputs[k])) {
      // same op, attrs and type: only the inputs were merged
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

const ids = new WeakMap<Node, number>();
let nextKeyId = 0;
function keyId(n: Node): number {
  let id = ids.get(n);
  if (id === undefined) ids.set(n, (id = nextKeyId++));
  return id;
}

/** A structural key, or undefined for nodes never merged (large constants are compared by identity). */
function nodeKey(n: Node, inputs: readonly Node[]): string | undefined {
  if (n.op === CONST_OP) {
    const v = constValue(n);
    if (v === undefined || v.size > 4096) return undefined;
    return `const|${n.type.elem}|${n.type.vis}|${n.type.shape.join(',')}|${v.toNumbers().join(',')}`;
  }
  return `${n.op}|${inputs.map(keyId).join(',')}|${JSON.stringify(n.attrs)}`;
}

export const canonicalize: Pass = {
  name: 'canonicalize',
  summary: 'fold public constants, remove identity ops (x*1, Identity, no-op Reshape/Cast/Transpose), merge common subexpressions, drop dead code',
  options: {},
  run(graph) {
    let g = graph;
    for (let i = 0; i < 8; i++) {
      const folded = rewriteGraph(g, CANONICALIZE_RULES).graph;
      const merged = eliminateCommonSubexpressions(folded);
      if (merged === g) return g;
      g = merged;
    }
    return g;
  },
};

registerPass(canonicalize);
