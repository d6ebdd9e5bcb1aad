// TokenSelect {axis}: per token, the reduced computation where the reduction flag is 1 and
// the full one elsewhere: the mask-selected polynomial degree of CipherPrune. `axis` is the
// token axis of the two computations (2: the query rows of attention probabilities [B,H,S,S];
// 1: the tokens of [B,S,F]).

import type { OpDef } from '../../op.ts';
import { intAttr, typeError } from '../../op.ts';
import { shapesEqual } from '../../types.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data, fmtShape } from '../broadcast.ts';
import { flagsOf, requireTokenVector } from './check.ts';

export const TokenSelect: OpDef = {
  name: 'TokenSelect',
  summary: 'per token on `axis`: reduced where flags [B,1,1,S] is 1, full elsewhere',
  arity: [3, 3],
  attrs: { axis: { kind: 'int', default: 1, doc: 'the token axis of reduced and full (not 0)' } },
  infer([flags, reduced, full], attrs) {
    const [B, S] = requireTokenVector('TokenSelect', flags!, 'flags');
    const s = full!.shape;
    if (!shapesEqual(reduced!.shape, s) || reduced!.elem !== full!.elem) {
      typeError(`TokenSelect: reduced ${reduced!.elem}${fmtShape(reduced!.shape)} and full ${full!.elem}${fmtShape(s)} must have one type`);
    }
    const axis = intAttr(attrs, 'axis');
    if (axis < 1 || axis >= s.length) typeError(`TokenSelect: axis ${axis} must name a non-batch axis of ${fmtShape(s)}`);
    if (s[0] !== B || s[axis] !== S) typeError(`TokenSelect: ${fmtShape(s)} must have batch ${B} and ${S} tokens on axis ${axis}`);
    return { elem: full!.elem, shape: s };
  },
  evaluate([flags, reduced, full], attrs, out) {
    const s = out.shape;
    const axis = intAttr(attrs, 'axis');
    const S = s[axis]!;
    const outer = s.slice(1, axis).reduce((p, d) => p * d, 1);
    const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
    const R = float64Data(reduced!);
    const Y = Float64Array.from(float64Data(full!));
    const red = flagsOf(flags!);
    for (let b = 0; b < s[0]!; b++) {
      for (let o = 0; o < outer; o++) {
        for (let t = 0; t < S; t++) {
          if (!red[b * S + t]) continue;
          const at = ((b * outer + o) * S + t) * inner;
          Y.set(R.subarray(at, at + inner), at);
        }
      }
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
