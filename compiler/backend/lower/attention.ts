// Attention: SplitHeads and MergeHeads (local reshapes and transposes), AttentionScores
// (q k^T, a secret x secret batched matmul, times the public scale) and AttentionContext
// (probs @ v).

import { floatAttr } from '../../../ir/op.ts';
import { secretValue, type LowerContext } from './context.ts';
import { mulPublic, scalarTensor } from './local.ts';
import type { LoweringTable } from './lowering.ts';
import { matmulValues } from './linear.ts';
import * as lib from '../protocols/index.ts';

/** Attention's products of two secrets, truncated exactly under truncation=attention (see ProtocolConfig.truncation). */
function attentionTruncation<T>(ctx: LowerContext, fn: () => T): T {
  return ctx.config.truncation === 'attention' ? ctx.b.withExactTruncation(true, fn) : fn();
}

export const ATTENTION_LOWERINGS: LoweringTable = {
  SplitHeads: {
    lower: (ctx, node, [x]) => {
      const [B, H, S, d] = node.type.shape as [number, number, number, number];
      const xs = ctx.share(x!);
      return secretValue(ctx.b.withProtocol('local', () => ctx.b.transpose(ctx.b.reshape(xs, [B, S, H, d]), [0, 2, 1, 3])));
    },
  },
  MergeHeads: {
    lower: (ctx, node, [x]) => {
      const xs = ctx.share(x!);
      return secretValue(ctx.b.withProtocol('local', () => ctx.b.reshape(ctx.b.transpose(xs, [0, 2, 1, 3]), node.type.shape)));
    },
  },
  AttentionScores: {
    opKind: 'attention-matmul',
    lower: (ctx, node, [q, k]) => {
      const ks = ctx.share(k!);
      const kt = ctx.b.withProtocol('local', () => ctx.b.transpose(ks, [0, 1, 3, 2]));
      const scores = attentionTruncation(ctx, () => matmulValues(ctx, q!, secretValue(kt), node.type.shape));
      const scale = floatAttr(node.attrs, 'scale');
      return secretValue(scale === 1 ? scores : mulPublic(ctx, scores, scalarTensor(scale)));
    },
  },
  AttentionContext: {
    opKind: 'attention-matmul',
    lower: (ctx, node, [p, v]) => {
      const out = attentionTruncation(ctx, () => matmulValues(ctx, p!, v!, node.type.shape));
      const d = p!.kind === 'secret' ? ctx.rowScaled.get(p!.reg.id) : undefined;
      if (d === undefined) return secretValue(out);
      // Softmax's normalization after the matmul: (num @ v) (n / sum) / n, the reciprocal's round beside the matmul's.
      const normalized = attentionTruncation(ctx, () => ctx.b.withProtocol('softmax', () => lib.mul(ctx.b, out, d.inv)));
      return secretValue(ctx.b.withProtocol('softmax', () => lib.mulConst(ctx.b, normalized, 1 / d.scale, ctx.config)));
    },
  },
};
