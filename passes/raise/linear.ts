// Linear layers: MatMul by a rank-2 weight (plus a rank-1 bias) and ONNX Gemm become
// Linear(x, W[K, N], b[N]).

import type { Node } from '../../ir/node.ts';
import { isFloatType } from '../../ir/types.ts';
import { any, op } from '../pattern.ts';
import { type RewriteContext, type Rule, rule } from '../rewrite.ts';
import { cap, isWeight } from './predicates.ts';

/** x [..., K] and W [K, N] of one float element type. */
function multiplies(x: Node, w: Node): boolean {
  const K = x.type.shape[x.type.shape.length - 1];
  return x.type.shape.length >= 1 && isFloatType(x.type.elem) && x.type.elem === w.type.elem && w.type.shape[0] === K;
}

/** b is [N] for W [K, N], of W's element type. */
function biases(b: Node, w: Node): boolean {
  return b.type.shape.length === 1 && b.type.shape[0] === w.type.shape[1] && b.type.elem === w.type.elem;
}

/** W^T (canonicalize folds the Transpose of a weight into a weight of the same owner). */
function transposed(w: Node, ctx: RewriteContext): Node {
  return ctx.build('Transpose', [w], { perm: [1, 0] }, w.loc);
}

export const LINEAR_RULES: readonly Rule[] = [
  // x @ W -> Linear(x, W)
  rule('MatMulWeightToLinear', 'MatMul(x, W) with W a rank-2 weight -> Linear(x, W)', op('MatMul', [any('x'), any('W', isWeight(2))]), (c, ctx) => {
    const [x, w] = [cap(c, 'x'), cap(c, 'W')];
    return multiplies(x, w) ? ctx.build('Linear', [x, w]) : undefined;
  }),
  // Linear(x, W) + b, b + Linear(x, W) -> Linear(x, W, b)
  rule(
    'LinearAddBiasToLinear',
    'Linear(x, W) + b with b a rank-1 weight -> Linear(x, W, b)',
    op('Add', [op('Linear', [any('x'), any('W')], { capture: 'linear' }), any('b', isWeight(1))], { commutative: true }),
    (c, ctx) => {
      const [x, w, b] = [cap(c, 'x'), cap(c, 'W'), cap(c, 'b')];
      if (!biases(b, w)) return undefined;
      return ctx.build('Linear', [x, w, b], { role: cap(c, 'linear').attrs['role']! });
    },
  ),
  // Gemm(x, W, b) -> Linear(x, W, b); Gemm{transB}(x, W, b) -> Linear(x, W^T, b)
  rule(
    'GemmToLinear',
    'Gemm{alpha = 1, beta = 1, transA = 0, transB}(x, W, b?) with W a rank-2 weight -> Linear(x, transB ? W^T : W, b)',
    op('Gemm', undefined, { attrs: { alpha: 1, beta: 1, transA: 0 }, where: (n) => isWeight(2)(n.inputs[1]!) }),
    (_c, ctx) => {
      const [x, given, b] = ctx.root.inputs as [Node, Node, Node | undefined];
      const transB = ctx.root.attrs['transB'];
      if (transB !== 0 && transB !== 1) return undefined;
      const w = transB === 1 ? transposed(given, ctx) : given;
      if (!multiplies(x, w) || (b !== undefined && !biases(b, w))) return undefined;
      return ctx.build('Linear', b === undefined ? [x, w] : [x, w, b]);
    },
  ),
];
