// AttentionMask: the padding mask (1 = attend, 0 = padding) as an f32 [B, 1, 1, S] "keep"
// mask of exact zeros and ones, broadcastable over heads and query rows.

import type { OpDef } from '../../op.ts';
import { typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { fmtShape } from '../broadcast.ts';

export const AttentionMask: OpDef = {
  name: 'AttentionMask',
  summary: 'padding mask [B, S] (or [B,1,1,S]) -> f32 [B,1,1,S] keep mask, 1 where mask != 0',
  arity: [1, 1],
  attrs: {},
  infer([m]) {
    if (m!.elem === 'ring64') typeError('AttentionMask: mask must be an int, float or bool tensor, got ring64');
    const s = m!.shape;
    if (s.length === 2) return { elem: 'f32', shape: [s[0]!, 1, 1, s[1]!] };
    if (s.length === 4 && s[1] === 1 && s[2] === 1) return { elem: 'f32', shape: s };
    return typeError(`AttentionMask: mask must be [B, S] or [B, 1, 1, S], got ${fmtShape(s)}`);
  },
  evaluate([m], _attrs, out) {
    const n = m!.size;
    const Y = new Float64Array(n);
    const d = m!.data;
    for (let i = 0; i < n; i++) Y[i] = d[i] !== 0 && d[i] !== 0n ? 1 : 0;
    return new Tensor(out.elem, out.shape, Y);
  },
};
