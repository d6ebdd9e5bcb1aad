// TokenReduce {beta, part, reveal}: CipherPrune's polynomial reduction mask. A surviving token
// (flag 1) whose importance is below beta runs the next layer's softmax row and GELU with the
// lower-degree polynomial; tokens at or above beta, and [CLS], keep the full-degree ones.
// With survivors from TokenKeep{theta}, these are the tokens with theta <= S < beta.
// part = "full" gives the other side of that split: the survivors that keep the full degree
// ([CLS] among them), so the two parts partition the survivors exactly.
// reveal = true is the opt-in of prune-tokens{reduce=reveal-count}: a segment boundary then
// reveals the number of reduced tokens too and groups them after the full-degree ones, so the
// next segment computes each degree on its own rows only. The flags mean the same either way.

import type { OpDef } from '../../op.ts';
import { floatAttr, stringAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data } from '../broadcast.ts';
import { flagsOf, requireSameTokens, requireUnitInterval } from './check.ts';

export const REDUCE_PARTS = ['reduced', 'full'] as const;

export const TokenReduce: OpDef = {
  name: 'TokenReduce',
  summary: 'reduction flags [B,1,1,S]: surviving, not token 0, and score < beta (part "full": the other survivors)',
  arity: [2, 2],
  attrs: {
    beta: { kind: 'float', doc: 'surviving tokens below beta use the lower-degree polynomials (in [0, 1])' },
    part: { kind: 'string', default: 'reduced', doc: '"reduced": the survivors below beta (not token 0); "full": the other survivors' },
    reveal: { kind: 'bool', default: false, doc: 'a segment boundary reveals the number of reduced tokens and groups them after the full-degree ones' },
  },
  infer([score, survivors], attrs) {
    const [B, S] = requireSameTokens('TokenReduce', score!, 'score', survivors!, 'survivors');
    requireUnitInterval('TokenReduce', 'beta', floatAttr(attrs, 'beta'));
    const part = stringAttr(attrs, 'part');
    if (!(REDUCE_PARTS as readonly string[]).includes(part)) typeError(`TokenReduce: part must be ${REDUCE_PARTS.map((p) => `"${p}"`).join(' or ')}, got "${part}"`);
    return { elem: survivors!.elem, shape: [B, 1, 1, S] };
  },
  evaluate([score, survivors], attrs, out) {
    const [B, , , S] = out.shape as [number, number, number, number];
    const beta = floatAttr(attrs, 'beta');
    const full = stringAttr(attrs, 'part') === 'full';
    const X = float64Data(score!);
    const kept = flagsOf(survivors!);
    const Y = new Float64Array(B * S);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < S; j++) {
        if (!kept[b * S + j]) continue;
        const reduced = j > 0 && X[b * S + j]! < beta;
        if (reduced !== full) Y[b * S + j] = 1;
      }
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
