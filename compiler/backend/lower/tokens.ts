// Token pruning (CipherPrune) on shares: the ops prune-tokens inserts (ir/ops/tokens/), lowered
// so that a segment boundary opens nothing; only the survivor count is revealed afterwards,
// by the segment's `reveal` (lower/index.ts).
//
// - TokenImportance: U_j = sum over heads and kept query rows i of probs[h, i, j], one Beaver
//   product keep^T (sum_h probs) per example. The mean's division by H * rows is never made:
//   the thresholds are scaled instead (rows = the kept rows, a local sum of the keep mask).
//   So its register holds U, not S; only TokenKeep and TokenReduce read it.
// - TokenKeep{theta}: one comparison per token, of the margin
//   U_j - theta H rows + eps - BIG (1 - keep_j): survivors are the kept tokens with
//   S_j >= theta - eps / (H rows) (eps = 2^-12 absorbs the fixed-point error of U, so theta = 0
//   keeps every kept token, as the evaluator does); BIG > H S puts every pruned or padding
//   token below zero. Token 0 is set to 1 locally. The flags are exact bits at scale 0.
// - TokenReduce{beta}: the same margin moved down by (beta - theta) H rows, compared in the
//   same rounds as TokenKeep's; reduce = survivors - (survivors at or above beta), token 0 off.
//   part "full" is survivors - reduce from the same comparison, so the parts partition exactly.
// - CompactTokens: the shift network (protocols/compaction.ts) per example; the shift bits
//   of one set of flags are made once and shared by every value compacted by them.
// - TokenSelect: full + flags * (reduced - full), one Beaver product broadcast over the row.
// TokenKeep{ratio} (a fixed fraction, which needs a secret sort of the scores) has no lowering.

import { floatAttr, intAttr, stringAttr } from '../../../ir/op.ts';
import type { Node } from '../../../ir/node.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import * as lib from '../protocols/index.ts';
import { secretValue, type LowerContext } from './context.ts';
import { mulPublic, scalarTensor, tensorOf } from './local.ts';
import type { LoweringTable } from './lowering.ts';

/** Added to every importance margin: S >= theta is decided as S >= theta - EPS / (H rows). */
export const IMPORTANCE_EPS = 2 ** -12;

/** What TokenImportance leaves for the comparisons. */
export interface TokenScores {
  /** [B,1,1,S] at scale f: S_j * H * rows. */
  readonly unnormalized: Reg;
  /** [B,1,1,1] at scale f: kept query rows. */
  readonly rows: Reg;
  /** [B,1,1,S] at scale f: the keep mask the scores were taken under. */
  readonly keep: Reg;
  readonly heads: number;
}

/** What TokenKeep and TokenReduce leave for the compaction and the next comparison. */
export interface TokenFlags {
  /** [B,1,1,S] exact bits at scale 0. */
  readonly bits: Reg;
  /** TokenKeep only: its comparison's margin (scale f) and theta. */
  readonly margin?: Reg;
  readonly theta?: number;
  readonly scores?: TokenScores;
}

function scoresOf(ctx: LowerContext, node: Node, input: Node): TokenScores {
  const s = ctx.tokenScores.get(input);
  if (s === undefined) throw ctx.error('unsupported', `${node.op} compares importance scores made by TokenImportance in the same circuit; its input is ${input.op}`);
  return s;
}

function flagsOf(ctx: LowerContext, node: Node, input: Node): TokenFlags {
  const f = ctx.tokenFlags.get(input);
  if (f === undefined) throw ctx.error('unsupported', `${node.op} needs survivor flags made by TokenKeep in the same circuit (the flags stay secret); its flags come from ${input.op}`);
  return f;
}

/** [B,1,1,S] public bits at scale 0: 1 at token 0 (`first`) or everywhere else. */
function tokenZero(ctx: LowerContext, shape: readonly number[], first: boolean): Reg {
  const S = shape[3]!;
  return ctx.constReg(tensorOf(shape, (i) => ((i % S === 0) === first ? 1 : 0)), 0);
}

/** The reduction flags of each survivor flags, by beta (lowered once, read by both parts of TokenReduce). */
const reducedBits = new WeakMap<TokenFlags, Map<number, Reg>>();

/** 1 where the margin is >= 0, as exact bits at scale 0. */
function nonNegative(ctx: LowerContext, margin: Reg): Reg {
  return lib.rsubConst(ctx.b, 1, lib.ltz(ctx.b, margin, ctx.config));
}

export const TOKEN_LOWERINGS: LoweringTable = {
  TokenImportance: {
    lower: (ctx, node, [probsV, keepV]) => {
      const b = ctx.b;
      const probs = ctx.share(probsV!);
      const keep = ctx.share(keepV!);
      const H = probs.shape[1]!;
      const summed = b.withProtocol('local', () => b.reduceSum(probs, [1], true)); // [B,1,S,S]
      const unnormalized = ctx.p.matmul(keep, summed); // [B,1,1,S] @ [B,1,S,S]: attention received from kept rows
      const rows = b.withProtocol('local', () => b.reduceSum(keep, [3], true));
      ctx.tokenScores.set(node, { unnormalized, rows, keep, heads: H });
      return secretValue(unnormalized);
    },
  },
  TokenKeep: {
    lower: (ctx, node, [, keepV]) => {
      if (floatAttr(node.attrs, 'ratio') > 0) {
        throw ctx.error('unsupported', 'TokenKeep{ratio} has no MPC protocol (a fixed fraction needs a secret sort of the scores); prune by thresholds: prune-tokens{theta=[..]} or thresholds="FILE"');
      }
      const b = ctx.b;
      const sc = scoresOf(ctx, node, node.inputs[0]!);
      const keep = ctx.share(keepV!);
      const theta = floatAttr(node.attrs, 'theta');
      const shape = sc.unnormalized.shape;
      const S = shape[3]!;
      const big = 2 * sc.heads * S + 1;
      const margin = b.withProtocol('token-margin', () => {
        const threshold = mulPublic(ctx, sc.rows, scalarTensor(theta * sc.heads)); // [B,1,1,1]
        const dropped = b.mulPub(lib.rsubConst(b, 1, keep), ctx.constReg(scalarTensor(big), 0));
        const m = b.sub(b.sub(sc.unnormalized, threshold), dropped);
        return b.addPub(m, ctx.constReg(scalarTensor(IMPORTANCE_EPS)));
      });
      const ge = nonNegative(ctx, margin);
      const bits = b.withProtocol('local', () => b.addPub(b.mulPub(ge, tokenZero(ctx, shape, false)), tokenZero(ctx, shape, true)));
      ctx.tokenFlags.set(node, { bits, margin, theta, scores: sc });
      return secretValue(bits);
    },
  },
  TokenReduce: {
    lower: (ctx, node) => {
      const b = ctx.b;
      const keepNode = node.inputs[1]!;
      const kept = flagsOf(ctx, node, keepNode);
      if (kept.margin === undefined || kept.scores === undefined || kept.theta === undefined) {
        throw ctx.error('unsupported', `TokenReduce needs the survivors of TokenKeep; its flags come from ${keepNode.op}`);
      }
      const beta = floatAttr(node.attrs, 'beta');
      const shape = kept.bits.shape;
      // one comparison per (survivors, beta), shared by both parts
      let byBeta = reducedBits.get(kept);
      if (byBeta === undefined) reducedBits.set(kept, (byBeta = new Map()));
      let reduced = byBeta.get(beta);
      if (reduced === undefined) {
        // the same margin, moved down by (beta - theta) H rows: at or above beta (and kept)
        const above = nonNegative(ctx, b.withProtocol('token-margin', () => b.sub(kept.margin!, mulPublic(ctx, kept.scores!.rows, scalarTensor((beta - kept.theta!) * kept.scores!.heads)))));
        byBeta.set(beta, (reduced = b.withProtocol('local', () => b.mulPub(b.sub(kept.bits, above), tokenZero(ctx, shape, false)))));
      }
      const r = reduced;
      const bits = stringAttr(node.attrs, 'part') === 'full' ? b.withProtocol('local', () => b.sub(kept.bits, r)) : r;
      ctx.tokenFlags.set(node, { bits });
      return secretValue(bits);
    },
  },
  CompactTokens: {
    lower: (ctx, node, [xV]) => {
      const b = ctx.b;
      const flagsNode = node.inputs[1]!;
      const flags = flagsOf(ctx, node, flagsNode).bits;
      const axis = intAttr(node.attrs, 'axis');
      const x = ctx.share(xV!);
      const s = x.shape;
      const [B, S] = [s[0]!, s[axis]!];
      if (s.slice(1, axis).some((d) => d !== 1)) throw ctx.error('unsupported', `CompactTokens on axis ${axis} of [${s.join(',')}]: the axes between batch and tokens must be 1`);
      const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
      const parts: Reg[] = [];
      for (let e = 0; e < B; e++) {
        const key = `${flagsNode.id}:${e}`;
        const keep = b.withProtocol('local', () => b.reshape(b.slice(flags, [e], [e + 1], [0]), [S, 1]));
        let bits = ctx.compactBits.get(key);
        if (bits === undefined) ctx.compactBits.set(key, (bits = lib.shiftBits(b, keep, ctx.config)));
        const rows = b.withProtocol('local', () => b.reshape(b.slice(x, [e], [e + 1], [0]), [S, inner]));
        parts.push(b.withProtocol('local', () => b.reshape(lib.shiftRows(b, rows, keep, bits), [1, ...s.slice(1)])));
      }
      return secretValue(parts.length === 1 ? parts[0]! : b.withProtocol('local', () => b.concat(parts, 0)));
    },
  },
  TokenSelect: {
    lower: (ctx, node, [flagsV, lowV, fullV]) => {
      const b = ctx.b;
      const axis = intAttr(node.attrs, 'axis');
      const full = ctx.share(fullV!);
      const low = ctx.share(lowV!);
      const known = ctx.tokenFlags.get(node.inputs[0]!)?.bits;
      const flags = known ?? ctx.share(flagsV!);
      const s = full.shape;
      // flags [B,1,1,S] as [B, 1.., S, 1..] with S on `axis`
      const shape = s.map((d, i) => (i === 0 || i === axis ? d : 1));
      const f = b.withProtocol('local', () => b.reshape(flags, shape));
      const diff = b.withProtocol('local', () => b.sub(low, full));
      return secretValue(b.withProtocol('token-select', () => b.add(full, ctx.p.mul(f, diff))));
    },
  },
};
