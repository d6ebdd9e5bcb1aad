// CompactTokens {axis}: oblivious compaction along the token axis. The tokens whose flag is
// 1 move to the front in their order; the positions after them are zeros. Under MPC the
// flags stay secret: only their count is opened (a segment boundary), never the positions.
// x is [B, ..., S, ...] with the token axis at `axis`; flags are [B, 1, 1, S].

import type { OpDef } from '../../op.ts';
import { intAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data, fmtShape } from '../broadcast.ts';
import { flagsOf, requireTokenVector } from './check.ts';

export const CompactTokens: OpDef = {
  name: 'CompactTokens',
  summary: 'moves the flagged tokens (flags [B,1,1,S]) to the front of `axis` in order, zeros after',
  arity: [2, 2],
  attrs: { axis: { kind: 'int', default: 1, doc: 'the token axis of x (not 0, the batch axis)' } },
  infer([x, flags], attrs) {
    const [B, S] = requireTokenVector('CompactTokens', flags!, 'flags');
    const axis = intAttr(attrs, 'axis');
    const s = x!.shape;
    if (axis < 1 || axis >= s.length) typeError(`CompactTokens: axis ${axis} must name a non-batch axis of x ${fmtShape(s)}`);
    if (s[0] !== B || s[axis] !== S) typeError(`CompactTokens: x ${fmtShape(s)} must have batch ${B} and ${S} tokens on axis ${axis} (flags ${fmtShape(flags!.shape)})`);
    if (x!.elem === 'ring64' || x!.elem === 'bool') typeError(`CompactTokens: x must be a numeric tensor, got ${x!.elem}`);
    return { elem: x!.elem, shape: s };
  },
  evaluate([x, flags], attrs, out) {
    const s = out.shape;
    const axis = intAttr(attrs, 'axis');
    const B = s[0]!;
    const S = s[axis]!;
    const outer = s.slice(1, axis).reduce((p, d) => p * d, 1);
    const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
    const X = float64Data(x!);
    const keep = flagsOf(flags!);
    const Y = new Float64Array(X.length);
    for (let b = 0; b < B; b++) {
      for (let o = 0; o < outer; o++) {
        const base = (b * outer + o) * S * inner;
        let dst = 0;
        for (let t = 0; t < S; t++) {
          if (!keep[b * S + t]) continue;
          Y.set(X.subarray(base + t * inner, base + (t + 1) * inner), base + dst * inner);
          dst++;
        }
      }
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
