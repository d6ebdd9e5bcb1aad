// TokenKeep {theta, ratio, bucket}: which tokens survive layer l. A token survives when it is
// kept now and its importance is >= theta ([CLS], token 0, always survives; padding and
// already-pruned tokens never do). ratio > 0 replaces the threshold by a fixed schedule:
// drop that fraction of the kept tokens, least important first (ties: the later token goes),
// keeping ceil((1 - ratio) * kept). `bucket` is the granularity the segment shapes are
// rounded up to; it does not change the flags, and must divide the sequence length.

import type { OpDef } from '../../op.ts';
import { floatAttr, intAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data } from '../broadcast.ts';
import { flagsOf, requireSameTokens, requireUnitInterval } from './check.ts';

export const TokenKeep: OpDef = {
  name: 'TokenKeep',
  summary: 'survivor flags [B,1,1,S]: kept and (score >= theta, or among the top (1-ratio) when ratio > 0); token 0 always',
  arity: [2, 2],
  attrs: {
    theta: { kind: 'float', default: 0, doc: 'prune tokens whose importance is below theta (in [0, 1])' },
    ratio: { kind: 'float', default: 0, doc: 'when > 0: prune this fraction of the kept tokens instead (in [0, 1))' },
    bucket: { kind: 'int', default: 1, doc: 'segment shapes are rounded up to a multiple of this; divides S' },
  },
  infer([score, keep], attrs) {
    const [B, S] = requireSameTokens('TokenKeep', score!, 'score', keep!, 'keep');
    requireUnitInterval('TokenKeep', 'theta', floatAttr(attrs, 'theta'));
    const ratio = floatAttr(attrs, 'ratio');
    if (!(ratio >= 0 && ratio < 1)) typeError(`TokenKeep: ratio must be in [0, 1), got ${ratio}`);
    const bucket = intAttr(attrs, 'bucket');
    if (bucket < 1 || S % bucket !== 0) typeError(`TokenKeep: bucket ${bucket} must be a positive divisor of the sequence length ${S}`);
    return { elem: keep!.elem, shape: [B, 1, 1, S] };
  },
  evaluate([score, keep], attrs, out) {
    const [B, , , S] = out.shape as [number, number, number, number];
    const theta = floatAttr(attrs, 'theta');
    const ratio = floatAttr(attrs, 'ratio');
    const X = float64Data(score!);
    const kept = flagsOf(keep!);
    const Y = new Float64Array(B * S);
    for (let b = 0; b < B; b++) {
      const o = b * S;
      if (ratio > 0) {
        const live: number[] = [];
        for (let j = 1; j < S; j++) if (kept[o + j]) live.push(j);
        const count = live.length + (kept[o] ? 1 : 0);
        const survivors = Math.max(0, Math.ceil((1 - ratio) * count) - 1);
        live.sort((p, q) => X[o + q]! - X[o + p]! || p - q);
        for (const j of live.slice(0, survivors)) Y[o + j] = 1;
      } else {
        for (let j = 1; j < S; j++) if (kept[o + j] && X[o + j]! >= theta) Y[o + j] = 1;
      }
      Y[o] = 1;
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
