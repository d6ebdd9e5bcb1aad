// Attention with an explicit head axis: the exported reshapes and transposes around the
// per-head matmuls become SplitHeads / AttentionScores / AttentionSoftmax / AttentionContext
// / MergeHeads.

import type { Node } from '../../ir/node.ts';
import { constNode } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { isFloatType, shapesEqual } from '../../ir/types.ts';
import { any, constant, either, op } from '../pattern.ts';
import { type RewriteContext, type Rule, rule } from '../rewrite.ts';
import { additiveMaskSource, keepMaskInput } from './mask.ts';
import { cap, hasPerm, isLastAxis, range, scalarValue } from './predicates.ts';

/** Reshape(x [B, S, H*d]) -> [B, S, H, d]: the head split of a projection. */
const toHeads = op('Reshape', [any('x', (n) => n.type.shape.length === 3 && isFloatType(n.type.elem))], {
  where: (r) => {
    const [B, S, D] = r.inputs[0]!.type.shape;
    const o = r.type.shape;
    return o.length === 4 && o[0] === B && o[1] === S && o[2]! * o[3]! === D && o[2]! > 0;
  },
  capture: 'r',
});
const splitHeads = (capture: string) => op('SplitHeads', undefined, { capture });
/** Attention scores always are [B, H, S, S]; Softmax must run over the keys (the last axis). */
const overKeys = (n: Node): boolean => isLastAxis(n.attrs['axis'], n.type.shape.length);
const single = constant('c', (t) => t.size === 1 && t.at(0) !== 0 && Number.isFinite(t.at(0)));

/** The head ids of scores: those of the SplitHeads the queries come from, else 0..H-1. */
function headsOf(scores: Node): readonly number[] {
  const q = scores.inputs[0]!;
  return q.op === 'SplitHeads' ? (q.attrs['heads'] as readonly number[]) : range(scores.type.shape[1]!);
}

function attentionSoftmax(scores: Node, keep: Node, ctx: RewriteContext): Node {
  const heads = headsOf(scores);
  return ctx.build('AttentionSoftmax', [scores, keep], { heads: [...heads], methods: heads.map(() => 'exact') });
}

export const ATTENTION_RULES: readonly Rule[] = [
  // Transpose(Reshape(x, [B,S,H,d]), [0,2,1,3]) -> SplitHeads(x)
  rule(
    'ReshapeTransposeToSplitHeads',
    'Transpose(Reshape(x [B,S,H*d] -> [B,S,H,d]), perm = [0,2,1,3]) -> SplitHeads{heads = 0..H-1}(x)',
    op('Transpose', [toHeads], { attrs: { perm: [0, 2, 1, 3] } }),
    (c, ctx) => ctx.build('SplitHeads', [cap(c, 'x')], { heads: range(cap(c, 'r').type.shape[2]!) }),
  ),
  // Transpose(Reshape(x, [B,S,H,d]), [0,2,3,1]) -> Transpose(SplitHeads(x), [0,1,3,2])
  rule(
    'ReshapeTransposeToSplitHeadsTransposed',
    'Transpose(Reshape(x [B,S,H*d] -> [B,S,H,d]), perm = [0,2,3,1]) -> Transpose(SplitHeads(x), [0,1,3,2]) (keys, transposed)',
    op('Transpose', [toHeads], { attrs: { perm: [0, 2, 3, 1] } }),
    (c, ctx) => {
      const k = ctx.build('SplitHeads', [cap(c, 'x')], { heads: range(cap(c, 'r').type.shape[2]!) });
      return ctx.build('Transpose', [k], { perm: [0, 1, 3, 2] });
    },
  ),
  // q @ k^T -> AttentionScores(q, k)
  rule(
    'QueryKeyMatMulToScores',
    'MatMul(SplitHeads q, Transpose(SplitHeads k, [0,1,3,2])) -> AttentionScores{scale = 1}(q, k)',
    op('MatMul', [splitHeads('q'), op('Transpose', [splitHeads('k')], { where: (t) => hasPerm(t, [0, 1, 3, 2]) })]),
    (c, ctx) => {
      const [q, k] = [cap(c, 'q'), cap(c, 'k')];
      return shapesEqual(q.type.shape, k.type.shape) && q.type.elem === k.type.elem ? ctx.build('AttentionScores', [q, k], { scale: 1 }) : undefined;
    },
  ),
  // AttentionScores{s}(q, k) / c -> AttentionScores{s / c}(q, k); * c likewise
  rule(
    'ScaledScoresToScores',
    'AttentionScores{s}(q, k) / c -> AttentionScores{s / c}(q, k); AttentionScores{s}(q, k) * c -> AttentionScores{s * c}(q, k)',
    either(
      op('Div', [op('AttentionScores', [any('q'), any('k')], { capture: 's' }), single]),
      op('Mul', [op('AttentionScores', [any('q'), any('k')], { capture: 's' }), single], { commutative: true }),
    ),
    (c, ctx) => {
      const s = cap(c, 's');
      if (!shapesEqual(ctx.root.type.shape, s.type.shape)) return undefined;
      const v = scalarValue(cap(c, 'c'))!;
      const scale = ctx.root.op === 'Div' ? (s.attrs['scale'] as number) / v : (s.attrs['scale'] as number) * v;
      return ctx.build('AttentionScores', [cap(c, 'q'), cap(c, 'k')], { scale });
    },
  ),
  // Softmax(scores + mask(m)) -> AttentionSoftmax(scores, AttentionMask(m))
  rule(
    'MaskedSoftmaxToAttentionSoftmax',
    'Softmax{axis = -1}(AttentionScores s + additive mask of m) -> AttentionSoftmax{heads, methods = "exact"}(s, AttentionMask(m))',
    op('Softmax', [op('Add', [op('AttentionScores', undefined, { capture: 's' }), any('mask')], { commutative: true })], { where: overKeys }),
    (c, ctx) => {
      const [s, mask] = [cap(c, 's'), cap(c, 'mask')];
      const m = additiveMaskSource(mask);
      if (m === undefined || !shapesEqual(ctx.root.type.shape, s.type.shape)) return undefined;
      const [B, , , S] = s.type.shape as [number, number, number, number];
      const input = keepMaskInput(m, B, S);
      if (input === undefined) return undefined;
      // the mask is shared by every layer: it keeps the location of its own construction
      const keep = ctx.build('AttentionMask', [input], {}, mask.loc);
      return attentionSoftmax(s, keep, ctx);
    },
  ),
  // Softmax(scores) -> AttentionSoftmax(scores, all ones)
  rule(
    'SoftmaxToAttentionSoftmax',
    'Softmax{axis = -1}(AttentionScores s) -> AttentionSoftmax{heads, methods = "exact"}(s, ones [B,1,1,S])',
    op('Softmax', [op('AttentionScores', undefined, { capture: 's' })], { where: overKeys }),
    (c, ctx) => {
      const s = cap(c, 's');
      const [B, , , S] = s.type.shape as [number, number, number, number];
      const shape = [B, 1, 1, S];
      const ones = Tensor.from('f32', shape, new Array<number>(B * S).fill(1));
      return attentionSoftmax(s, constNode(ones, { elem: 'f32', shape, vis: 'public' }), ctx);
    },
  ),
  // probs @ v -> AttentionContext(probs, v)
  rule(
    'ProbsValueMatMulToContext',
    'MatMul(AttentionSoftmax p, SplitHeads v) -> AttentionContext{heads of v}(p, v)',
    op('MatMul', [op('AttentionSoftmax', undefined, { capture: 'p' }), splitHeads('v')]),
    (c, ctx) => {
      const [p, v] = [cap(c, 'p'), cap(c, 'v')];
      const heads = v.attrs['heads'] as readonly number[];
      if (heads.length !== p.type.shape[1] || p.type.elem !== v.type.elem) return undefined;
      return ctx.build('AttentionContext', [p, v], { heads: [...heads] });
    },
  ),
  // Reshape(Transpose(o, [0,2,1,3]), [B,S,H*d]) -> MergeHeads(o)
  rule(
    'TransposeReshapeToMergeHeads',
    'Reshape(Transpose(o [B,H,S,d], perm = [0,2,1,3]) -> [B,S,H*d]) -> MergeHeads(o)',
    op('Reshape', [op('Transpose', [any('o', (n) => n.type.shape.length === 4 && isFloatType(n.type.elem))], { attrs: { perm: [0, 2, 1, 3] } })]),
    (c, ctx) => {
      const [B, H, S, d] = cap(c, 'o').type.shape as [number, number, number, number];
      return shapesEqual(ctx.root.type.shape, [B, S, H * d]) ? ctx.build('MergeHeads', [cap(c, 'o')]) : undefined;
    },
  ),
];
