// TokenReduce {beta}: CipherPrune's polynomial reduction mask. A surviving token (flag 1)
// whose importance is below beta runs the next layer's softmax row and GELU with the
// lower-degree polynomial; tokens at or above beta, and [CLS], keep the full-degree ones.
// With survivors from TokenKeep{theta}, these are the tokens with theta <= S < beta.

import type { OpDef } from '../../op.ts';
import { floatAttr } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data } from '../broadcast.ts';
import { flagsOf, requireSameTokens, requireUnitInterval } from './check.ts';

export const TokenReduce: OpDef = {
  name: 'TokenReduce',
  summary: 'reduction flags [B,1,1,S]: surviving, not token 0, and score < beta',
  arity: [2, 2],
  attrs: { beta: { kind: 'float', doc: 'surviving tokens below beta use the lower-degree polynomials (in [0, 1])' } },
  infer([score, survivors], attrs) {
    const [B, S] = requireSameTokens('TokenReduce', score!, 'score', survivors!, 'survivors');
    requireUnitInterval('TokenReduce', 'beta', floatAttr(attrs, 'beta'));
    return { elem: survivors!.elem, shape: [B, 1, 1, S] };
  },
  evaluate([score, survivors], attrs, out) {
    const [B, , , S] = out.shape as [number, number, number, number];
    const beta = floatAttr(attrs, 'beta');
    const X = float64Data(score!);
    const kept = flagsOf(survivors!);
    const Y = new Float64Array(B * S);
    for (let b = 0; b < B; b++) {
      for (let j = 1; j < S; j++) if (kept[b * S + j] && X[b * S + j]! < beta) Y[b * S + j] = 1;
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
