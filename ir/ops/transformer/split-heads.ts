// SplitHeads {heads}: [B, S, H*d] -> [B, H, S, d]. `heads` are the original head ids of
// the layer (before pruning), so a pruned layer still knows which heads it kept.

import type { OpDef } from '../../op.ts';
import { intsAttr, typeError } from '../../op.ts';
import { stridedCopy } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { checkHeads, requireRank } from './check.ts';

export const SplitHeads: OpDef = {
  name: 'SplitHeads',
  summary: '[B, S, H*d] -> [B, H, S, d]; heads lists the original ids of the H heads',
  arity: [1, 1],
  attrs: { heads: { kind: 'ints', doc: 'original head ids of this layer, one per head' } },
  infer([x], attrs) {
    requireFloat('SplitHeads', x!);
    requireRank('SplitHeads', x!, 3, 'x', '[B, S, H*d]');
    const heads = intsAttr(attrs, 'heads');
    checkHeads('SplitHeads', heads, undefined);
    const [B, S, D] = x!.shape as [number, number, number];
    const H = heads.length;
    if (D % H !== 0) typeError(`SplitHeads: ${D} features do not split into ${H} heads`);
    return { elem: x!.elem, shape: [B, H, S, D / H] };
  },
  evaluate([x], _attrs, out) {
    const [, H, S, d] = out.shape as [number, number, number, number];
    // out[b,h,s,j] = x[b, s, h*d + j]
    return stridedCopy(x!, out.elem, out.shape, 0, [S * H * d, d, H * d, 1]);
  },
};
