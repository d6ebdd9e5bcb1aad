// AttentionScores {scale}: scale * q k^T per batch and head: [B,H,S,d] x [B,H,S,d] -> [B,H,S,S].

import type { OpDef } from '../../op.ts';
import { floatAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData, fmtShape } from '../broadcast.ts';
import { matmulPackedInto, packRight } from '../matmul.ts';
import { requireRank, requireSameFloat } from './check.ts';

export const AttentionScores: OpDef = {
  name: 'AttentionScores',
  summary: 'scale * q k^T per batch and head: [B,H,S,d] x [B,H,S,d] -> [B,H,S,S]',
  arity: [2, 2],
  attrs: { scale: { kind: 'float', default: 1, doc: 'multiplies every score (usually 1/sqrt(d))' } },
  infer([q, k]) {
    const elem = requireSameFloat('AttentionScores', [['q', q], ['k', k]]);
    requireRank('AttentionScores', q!, 4, 'q', '[B, H, S, d]');
    requireRank('AttentionScores', k!, 4, 'k', '[B, H, S, d]');
    const qs = q!.shape;
    const ks = k!.shape;
    if (!qs.every((v, i) => v === ks[i])) typeError(`AttentionScores: q ${fmtShape(qs)} and k ${fmtShape(ks)} must have the same shape [B, H, S, d]`);
    return { elem, shape: [qs[0]!, qs[1]!, qs[2]!, qs[2]!] };
  },
  evaluate([q, k], attrs, out) {
    const [B, H, S, d] = q!.shape as [number, number, number, number];
    const scale = floatAttr(attrs, 'scale');
    const Q = floatData(q!);
    const K = floatData(k!);
    const Y = new Float64Array(B * H * S * S);
    // per head: Y = q k^T accumulated from 0 in increasing c, then scaled (k read transposed)
    for (let p = 0; p < B * H; p++) {
      const base = p * S * d;
      matmulPackedInto(Q, base, S, packRight(K, base, 1, d, d, S), Y, p * S * S);
    }
    for (let i = 0; i < Y.length; i++) Y[i]! *= scale;
    return new Tensor(out.elem, out.shape, Y);
  },
};
