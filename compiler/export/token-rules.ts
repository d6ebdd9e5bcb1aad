// Export rules of the token-pruning ops, as standard ONNX: flags become bool masks, the
// compaction a 0/1 permutation matrix built from a running count (CumSum) and applied
// with one MatMul, so the exported model computes exactly what the evaluator does.

import { floatAttr, intAttr, stringAttr } from '../../ir/op.ts';
import { Tensor } from '../../ir/tensor.ts';
import { reduce, reshape, type ExportContext, type ExportRule } from './export-rule.ts';
import { onnxInt, onnxInts } from './onnx-writer.ts';

/** flags != 0 as bool. */
function nonZero(ctx: ExportContext, i: number): string {
  return ctx.emit('Not', [ctx.emit('Equal', [ctx.input(i), ctx.scalar(0, ctx.inputType(i).elem)])]);
}

/** 0/1 in the element type of input i. */
function asFloat(ctx: ExportContext, b: string, i: number): string {
  return ctx.emit('Where', [b, ctx.scalar(1, ctx.inputType(i).elem), ctx.scalar(0, ctx.inputType(i).elem)]);
}

/** A bool [1,1,1,S] that is true at token 0 ([CLS]) only. */
function firstToken(ctx: ExportContext, S: number): string {
  const v = Array.from({ length: S }, (_, j) => (j === 0 ? 1 : 0));
  return ctx.emit('Cast', [ctx.constant(Tensor.from('i64', [1, 1, 1, S], v), 'cls')], { to: onnxInt(9) });
}

const TokenImportanceRule: ExportRule = {
  op: 'TokenImportance',
  onnx: 'ReduceSum(probs * keep^T, [1,2]) * keep / max(H * ReduceSum(keep), 1)',
  export(ctx) {
    const H = ctx.inputType(0).shape[1]!;
    const elem = ctx.inputType(0).elem;
    const keep = asFloat(ctx, nonZero(ctx, 1), 1);
    const rows = ctx.emit('Transpose', [keep], { perm: onnxInts([0, 1, 3, 2]) });
    const received = reduce(ctx, 'ReduceSum', ctx.emit('Mul', [ctx.input(0), rows]), [1, 2], 1);
    const count = ctx.emit('Mul', [reduce(ctx, 'ReduceSum', keep, [3], 1), ctx.scalar(H, elem)]);
    return ctx.emit('Div', [ctx.emit('Mul', [received, keep]), ctx.emit('Max', [count, ctx.scalar(1, elem)])]);
  },
};

const TokenKeepRule: ExportRule = {
  op: 'TokenKeep',
  onnx: 'Or(And(keep != 0, Not(score < theta)), token 0) as 0/1',
  export(ctx) {
    if (floatAttr(ctx.attrs, 'ratio') > 0) ctx.fail('TokenKeep with ratio > 0 (a top-k schedule) has no ONNX export; export the theta form');
    const S = ctx.inputType(0).shape[3]!;
    const above = ctx.emit('Not', [ctx.emit('Less', [ctx.input(0), ctx.scalar(floatAttr(ctx.attrs, 'theta'), ctx.inputType(0).elem)])]);
    const kept = ctx.emit('Or', [ctx.emit('And', [nonZero(ctx, 1), above]), firstToken(ctx, S)]);
    return asFloat(ctx, kept, 1);
  },
};

const TokenReduceRule: ExportRule = {
  op: 'TokenReduce',
  onnx: 'And(survivors != 0, score < beta, not token 0) as 0/1 (part "full": And(survivors != 0, Not(that)))',
  export(ctx) {
    const S = ctx.inputType(0).shape[3]!;
    const below = ctx.emit('Less', [ctx.input(0), ctx.scalar(floatAttr(ctx.attrs, 'beta'), ctx.inputType(0).elem)]);
    const reduced = ctx.emit('And', [below, ctx.emit('Not', [firstToken(ctx, S)])]);
    const part = stringAttr(ctx.attrs, 'part') === 'full' ? ctx.emit('Not', [reduced]) : reduced;
    return asFloat(ctx, ctx.emit('And', [nonZero(ctx, 1), part]), 1);
  },
};

const CompactTokensRule: ExportRule = {
  op: 'CompactTokens',
  onnx: 'MatMul(P, x) with P[t, j] = flag_j * (CumSum(flags)_j - 1 == t)',
  export(ctx) {
    const s = ctx.inputType(0).shape;
    const axis = intAttr(ctx.attrs, 'axis');
    const B = s[0]!;
    const S = s[axis]!;
    const elem = ctx.inputType(0).elem;
    const kept = nonZero(ctx, 1);
    const flags = asFloat(ctx, kept, 1);
    const slot = ctx.emit('Sub', [ctx.emit('CumSum', [flags, ctx.ints([3], 'axis')]), ctx.scalar(1, ctx.inputType(1).elem)]);
    const targets = ctx.constant(Tensor.from(ctx.inputType(1).elem, [S, 1], Array.from({ length: S }, (_, t) => t)), 'slots');
    const hit = ctx.emit('Equal', [reshape(ctx, slot, [B, 1, S]), targets]);
    const move = ctx.emit('And', [hit, reshape(ctx, kept, [B, 1, S])]);
    const perm = reshape(ctx, ctx.emit('Where', [move, ctx.scalar(1, elem), ctx.scalar(0, elem)]), [B, 1, S, S]);
    const outer = s.slice(1, axis).reduce((p, d) => p * d, 1);
    const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
    const y = ctx.emit('MatMul', [perm, reshape(ctx, ctx.input(0), [B, outer, S, inner])]);
    return reshape(ctx, y, s);
  },
};

const TokenSelectRule: ExportRule = {
  op: 'TokenSelect',
  onnx: 'Where(flags != 0 on the token axis, reduced, full)',
  export(ctx) {
    const s = ctx.inputType(2).shape;
    const axis = intAttr(ctx.attrs, 'axis');
    const shape = s.map((d, i) => (i === 0 || i === axis ? d : 1));
    return ctx.emit('Where', [reshape(ctx, nonZero(ctx, 0), shape), ctx.input(1), ctx.input(2)]);
  },
};

// these rules build their masks and permutations at the bound shapes
export const TOKEN_RULES: readonly ExportRule[] = [TokenImportanceRule, TokenKeepRule, TokenReduceRule, CompactTokensRule, TokenSelectRule].map((r) => ({
  ...r,
  staticShapes: true,
}));
