// MergeHeads: [B, H, S, d] -> [B, S, H*d], the inverse of SplitHeads.

import type { OpDef } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { stridedCopy } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { requireRank } from './check.ts';

export const MergeHeads: OpDef = {
  name: 'MergeHeads',
  summary: '[B, H, S, d] -> [B, S, H*d] (inverse of SplitHeads)',
  arity: [1, 1],
  attrs: {},
  infer([x]) {
    requireFloat('MergeHeads', x!);
    requireRank('MergeHeads', x!, 4, 'x', '[B, H, S, d]');
    const [B, H, S, d] = x!.shape as [number, number, number, number];
    return { elem: x!.elem, shape: [B, S, H * d] };
  },
  evaluate([x], _attrs, out) {
    const [B, H, S, d] = x!.shape as [number, number, number, number];
    // walk as [B, S, H, d]: out[b,s,h,j] = x[b,h,s,j]
    const t = stridedCopy(x!, out.elem, [B, S, H, d], 0, [H * S * d, d, S * d, 1]);
    return new Tensor(out.elem, out.shape, t.data);
  },
};
