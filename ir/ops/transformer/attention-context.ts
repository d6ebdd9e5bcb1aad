// AttentionContext {heads}: probs @ v per batch and head, the per-head attention output
// O(l,h); axis 1 carries the original head ids `heads` of the layer.

import type { OpDef } from '../../op.ts';
import { intsAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData, fmtShape } from '../broadcast.ts';
import { matmulFloatInto } from '../matmul.ts';
import { checkHeads, requireRank, requireSameFloat } from './check.ts';

export const AttentionContext: OpDef = {
  name: 'AttentionContext',
  summary: 'probs @ v per batch and head: [B,H,S,S] x [B,H,S,d] -> [B,H,S,d]',
  arity: [2, 2],
  attrs: { heads: { kind: 'ints', doc: 'original head ids of this layer, one per head' } },
  infer([probs, v], attrs) {
    const elem = requireSameFloat('AttentionContext', [['probs', probs], ['v', v]]);
    requireRank('AttentionContext', probs!, 4, 'probs', '[B, H, S, S]');
    requireRank('AttentionContext', v!, 4, 'v', '[B, H, S, d]');
    const ps = probs!.shape;
    const vs = v!.shape;
    if (ps[2] !== ps[3]) typeError(`AttentionContext: probs must be [B, H, S, S], got ${fmtShape(ps)}`);
    if (ps[0] !== vs[0] || ps[1] !== vs[1] || ps[3] !== vs[2]) {
      typeError(`AttentionContext: probs ${fmtShape(ps)} and v ${fmtShape(vs)} do not agree on [B, H, S]`);
    }
    checkHeads('AttentionContext', intsAttr(attrs, 'heads'), ps[1]);
    return { elem, shape: vs };
  },
  evaluate([probs, v], _attrs, out) {
    const [B, H, S, d] = v!.shape as [number, number, number, number];
    const P = floatData(probs!);
    const V = floatData(v!);
    const Y = new Float64Array(B * H * S * d);
    for (let p = 0; p < B * H; p++) matmulFloatInto(P, p * S * S, V, p * S * d, Y, p * S * d, S, S, d);
    return new Tensor(out.elem, out.shape, Y);
  },
};
