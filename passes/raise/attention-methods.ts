// Attention trained with a method other than softmax, recognized exactly: each method's
// formula over the scores of one layer (or of a Slice of its heads, as an export with a
// method per head writes it) becomes AttentionSoftmax with that method, and a Concat of the
// heads' pieces, in head order, becomes one AttentionSoftmax with a method per head.
// ir/ops/transformer/attention-methods.ts defines the methods; s is AttentionScores (the
// scale 1/sqrt(d) already folded in), n the number of keys (the models have no mask).
//
// A formula must match exactly, constants included (within float32 rounding): a division by
// a length other than n, a sum over another axis, two different ReLUs, shifts that differ
// between numerator and denominator, or pieces that do not cover the heads in order are left
// as they are.

import type { Node } from '../../ir/node.ts';
import { constNode, constValue, type AttrValue } from '../../ir/node.ts';
import { findAttentionMethod } from '../../ir/ops/transformer/attention-methods.ts';
import { Tensor } from '../../ir/tensor.ts';
import { any, constant, either, op, type Pattern } from '../pattern.ts';
import { type RewriteContext, type Rule, rule } from '../rewrite.ts';
import { cap, isLastAxisOnly, range, scalarValue } from './predicates.ts';

/** AttentionScores, or a unit-step Slice of its heads (axis 1). */
const headScores: Pattern = either(
  op('AttentionScores', undefined, { capture: 's' }),
  op('Slice', [op('AttentionScores', undefined, { capture: 's' })], {
    attrs: { axes: [1], steps: [1] },
    capture: 'slice',
  }),
);

/** A float32 constant equal to v (the export rounds to float32). */
function closeTo(got: number | undefined, v: number): boolean {
  return got !== undefined && Math.abs(got - v) <= 1e-6 * Math.abs(v);
}

/** The head ids of the matched scores: the slice's range of the SplitHeads ids (or 0..H-1). */
function headIds(s: Node, slice: Node | undefined): number[] {
  const q = s.inputs[0]!;
  const all = q.op === 'SplitHeads' ? [...(q.attrs['heads'] as readonly number[])] : range(s.type.shape[1]!);
  if (slice === undefined) return all;
  const start = (slice.attrs['starts'] as readonly number[])[0]!;
  const end = (slice.attrs['ends'] as readonly number[])[0]!;
  return all.slice(start, end);
}

function keysOf(s: Node): number {
  return s.type.shape[3]!;
}

/** A public [B,1,1,S] keep mask of ones for scores [B,H,S,S]. */
function keepAll(s: Node): Node {
  const [B, , , S] = s.type.shape as [number, number, number, number];
  const shape = [B, 1, 1, S];
  return constNode(Tensor.from('f32', shape, new Array<number>(B * S).fill(1)), { elem: 'f32', shape, vis: 'public' });
}

/** AttentionSoftmax over the matched scores (or slice) with one method on every head. */
function methodOver(c: Readonly<Record<string, Node>>, ctx: RewriteContext, method: string, attrs: Record<string, number> = {}): Node {
  const s = cap(c, 's');
  const x = c['slice'] ?? s;
  const heads = headIds(s, c['slice']);
  return ctx.build('AttentionSoftmax', [x, keepAll(s)], { heads, methods: heads.map(() => method), ...attrs });
}

/** x / d or x * d (whether d is the length factor is checked by the rule). */
function overLength(inner: Pattern): Pattern {
  return either(op('Div', [inner, constant('d')]), op('Mul', [inner, constant('d')], { commutative: true }));
}

/** Whether the root divides by (or multiplies by the inverse of) `v`. */
function dividesBy(root: Node, c: Readonly<Record<string, Node>>, v: number): boolean {
  const d = scalarValue(cap(c, 'd'));
  return root.op === 'Div' ? closeTo(d, v) : closeTo(d, 1 / v);
}

/** The numerator's row sum over the keys, kept as [.., 1], optionally plus eps. */
function rowSumOf(u: string): Pattern {
  const sum = op('ReduceSum', [any(u)], { attrs: { keepdims: 1 }, where: (n) => isLastAxisOnly(n.attrs['axes'], n.type.shape.length), capture: 'sum' });
  return either(op('Add', [sum, constant('eps')], { commutative: true }), sum);
}

/** eps of the denominator: 0 without the Add, else a non-negative finite scalar. */
function epsOf(c: Readonly<Record<string, Node>>): number | undefined {
  if (c['eps'] === undefined) return 0;
  const e = scalarValue(c['eps']);
  return e !== undefined && e >= 0 && Number.isFinite(e) ? e : undefined;
}

const relu = (capture?: string): Pattern => op('Relu', [headScores], capture !== undefined ? { capture } : {});
/** inner^2 as Pow(inner, 2) or inner * inner (captures bind once, so both factors compute the same value). */
const squared = (inner: Pattern, capture?: string): Pattern => {
  const opts = capture !== undefined ? { capture } : {};
  return either(op('Pow', [inner, constant(undefined, (t) => t.size === 1 && t.at(0) === 2)], opts), op('Mul', [inner, inner], opts));
};

function lengthScaledRule(name: string, method: string, doc: string, activation: Pattern): Rule {
  return rule(name, doc, overLength(activation), (c, ctx) => (dividesBy(ctx.root, c, Math.sqrt(keysOf(cap(c, 's')))) ? methodOver(c, ctx, method) : undefined));
}

/** Two AttentionSoftmax keep masks that keep the same keys. */
function sameKeep(a: Node, b: Node): boolean {
  if (a === b) return true;
  const [ta, tb] = [constValue(a), constValue(b)];
  if (ta === undefined || tb === undefined || ta.size !== tb.size) return false;
  for (let i = 0; i < ta.size; i++) if ((ta.at(i) !== 0) !== (tb.at(i) !== 0)) return false;
  return true;
}

/**
 * Concat{axis 1} of AttentionSoftmax pieces over Slices of one AttentionScores that cover its
 * heads in order, with equal masks and parameters -> one AttentionSoftmax with the pieces' methods.
 */
function mergeHeadPieces(ctx: RewriteContext): Node | undefined {
  const parts = ctx.root.inputs;
  let s: Node | undefined;
  let next = 0;
  const heads: number[] = [];
  const methods: string[] = [];
  const first = parts[0]!;
  const params: Record<string, AttrValue> = {};
  for (const p of parts) {
    if (p.op !== 'AttentionSoftmax' || p.inputs[0]!.op !== 'Slice') return undefined;
    const slice = p.inputs[0]!;
    const scores = slice.inputs[0]!;
    if (scores.op !== 'AttentionScores' || (s !== undefined && scores !== s)) return undefined;
    s = scores;
    const axes = slice.attrs['axes'] as readonly number[];
    const steps = slice.attrs['steps'] as readonly number[];
    const [start, end] = [(slice.attrs['starts'] as readonly number[])[0]!, (slice.attrs['ends'] as readonly number[])[0]!];
    if (axes.length !== 1 || axes[0] !== 1 || steps[0] !== 1 || start !== next || end <= start) return undefined;
    if (!sameKeep(p.inputs[1]!, first.inputs[1]!)) return undefined;
    // a parameter is set by the pieces whose methods read it, and they must agree
    for (const m of p.attrs['methods'] as readonly string[]) {
      for (const k of findAttentionMethod(m)?.uses ?? []) {
        if (k in params && params[k] !== p.attrs[k]) return undefined;
        params[k] = p.attrs[k]!;
      }
    }
    next = end;
    heads.push(...(p.attrs['heads'] as readonly number[]));
    methods.push(...(p.attrs['methods'] as readonly string[]));
  }
  if (s === undefined || next !== s.type.shape[1]) return undefined;
  return ctx.build('AttentionSoftmax', [s, first.inputs[1]!], { ...params, heads, methods });
}

export const ATTENTION_METHOD_RULES: readonly Rule[] = [
  // Softmax(Slice(s)) -> AttentionSoftmax{exact}(Slice(s)) (heads with softmax in a mixed layer)
  rule(
    'SlicedSoftmaxToAttentionSoftmax',
    'Softmax{axis = -1}(Slice of AttentionScores heads) -> AttentionSoftmax{methods = "exact"}(slice, ones)',
    op('Softmax', [op('Slice', [op('AttentionScores', undefined, { capture: 's' })], { attrs: { axes: [1], steps: [1] }, capture: 'slice' })], {
      where: (n) => n.attrs['axis'] === 3 || n.attrs['axis'] === -1,
    }),
    (c, ctx) => methodOver(c, ctx, 'exact'),
  ),
  // s / n -> AttentionSoftmax{scale}(s)
  rule('ScoresOverLengthToScaleAttention', 's / n (or s * 1/n), n the number of keys -> AttentionSoftmax{methods = "scale"}(s, ones)', overLength(headScores), (c, ctx) =>
    dividesBy(ctx.root, c, keysOf(cap(c, 's'))) ? methodOver(c, ctx, 'scale') : undefined,
  ),
  lengthScaledRule('ReluOverSqrtLengthToScaledRelu', 'scaled-relu', 'Relu(s) / sqrt(n) -> AttentionSoftmax{methods = "scaled-relu"}(s, ones)', relu()),
  lengthScaledRule('SquaredReluOverSqrtLengthToScaledRelu2', 'scaled-relu2', 'Relu(s)^2 / sqrt(n) (Pow 2 or r * r) -> AttentionSoftmax{methods = "scaled-relu2"}(s, ones)', squared(relu('r'))),
  lengthScaledRule('GeluOverSqrtLengthToScaledGelu', 'scaled-gelu', 'Gelu(s) / sqrt(n) -> AttentionSoftmax{methods = "scaled-gelu"}(s, ones)', op('Gelu', [headScores], { attrs: { approximate: 'none' } })),
  // Relu(s) / (sum Relu(s) + eps) -> AttentionSoftmax{rsattn, eps}(s)
  rule(
    'ReluOverRowSumToRsAttention',
    'r / (ReduceSum{last axis, keepdims}(r) + eps?) with r = Relu(s) -> AttentionSoftmax{methods = "rsattn", eps}(s, ones)',
    op('Div', [relu('u'), rowSumOf('u')]),
    (c, ctx) => {
      const eps = epsOf(c);
      return eps === undefined ? undefined : methodOver(c, ctx, 'rsattn', { eps });
    },
  ),
  // (s + c)^2 / (sum (s + c)^2 + eps) -> AttentionSoftmax{2quad, c, eps}(s)
  rule(
    'ShiftedSquareOverRowSumToTwoQuad',
    'q / (ReduceSum{last axis, keepdims}(q) + eps?) with q = (s + c)^2 -> AttentionSoftmax{methods = "2quad", c, eps}(s, ones)',
    op('Div', [squared(op('Add', [headScores, constant('c')], { commutative: true }), 'u'), rowSumOf('u')]),
    (c, ctx) => {
      const eps = epsOf(c);
      const shift = scalarValue(cap(c, 'c'));
      return eps === undefined || shift === undefined || !Number.isFinite(shift) ? undefined : methodOver(c, ctx, '2quad', { eps, c: shift });
    },
  ),
  // s / n over a whole layer is folded into AttentionScores' scale by ScaledScoresToScores:
  // scores used directly as weights are scale attention over n times those scores
  rule(
    'ScoresAsWeightsToScaleAttention',
    'MatMul(AttentionScores{c}(q, k), SplitHeads v) -> AttentionContext(AttentionSoftmax{methods = "scale"}(AttentionScores{c * n}(q, k), ones), v)',
    op('MatMul', [op('AttentionScores', [any('q'), any('k')], { capture: 's' }), op('SplitHeads', undefined, { capture: 'v' })]),
    (c, ctx) => {
      const [s, v] = [cap(c, 's'), cap(c, 'v')];
      const heads = v.attrs['heads'] as readonly number[];
      if (heads.length !== s.type.shape[1] || s.type.elem !== v.type.elem) return undefined;
      const unscaled = ctx.build('AttentionScores', [cap(c, 'q'), cap(c, 'k')], { scale: (s.attrs['scale'] as number) * keysOf(s) }, s.loc);
      const weights = ctx.build('AttentionSoftmax', [unscaled, keepAll(s)], { heads: headIds(s, undefined), methods: heads.map(() => 'scale') });
      return ctx.build('AttentionContext', [weights, v], { heads: [...heads] });
    },
  ),
  rule(
    'ConcatHeadPiecesToAttentionSoftmax',
    'Concat{axis = 1}(AttentionSoftmax(Slice(s, heads a..b)), AttentionSoftmax(Slice(s, b..c)), ...) covering every head of s in order -> AttentionSoftmax{methods of the pieces}(s)',
    op('Concat', undefined, { attrs: { axis: 1 } }),
    (_c, ctx) => mergeHeadPieces(ctx),
  ),
];

