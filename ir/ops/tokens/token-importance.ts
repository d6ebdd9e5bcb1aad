// TokenImportance: CipherPrune's token importance at one layer, S(x_j) = the attention token
// j receives, averaged over heads and over the kept query rows. Pruned and padding tokens
// (keep = 0) score 0. Local on shares except the division by the kept-row count, which the
// threshold comparison avoids by scaling the threshold instead (see TokenKeep).

import type { OpDef } from '../../op.ts';
import { typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data, fmtShape } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { requireRank } from '../transformer/check.ts';
import { flagsOf, requireTokenVector } from './check.ts';

export const TokenImportance: OpDef = {
  name: 'TokenImportance',
  summary: 'attention received per token, mean over heads and kept query rows: probs [B,H,S,S], keep [B,1,1,S] -> [B,1,1,S]',
  arity: [2, 2],
  attrs: {},
  infer([probs, keep]) {
    requireFloat('TokenImportance', probs!, 'probs');
    requireRank('TokenImportance', probs!, 4, 'probs', '[B, H, S, S]');
    const [B, S] = requireTokenVector('TokenImportance', keep!, 'keep');
    const ps = probs!.shape;
    if (ps[0] !== B || ps[2] !== S || ps[3] !== S) {
      typeError(`TokenImportance: probs must be [${B}, H, ${S}, ${S}] for keep ${fmtShape(keep!.shape)}, got ${fmtShape(ps)}`);
    }
    return { elem: probs!.elem, shape: [B, 1, 1, S] };
  },
  evaluate([probs, keep], _attrs, out) {
    const [B, H, S] = probs!.shape as [number, number, number, number];
    const P = float64Data(probs!);
    const kept = flagsOf(keep!);
    const Y = new Float64Array(B * S);
    for (let b = 0; b < B; b++) {
      let rows = 0;
      for (let i = 0; i < S; i++) rows += kept[b * S + i]!;
      if (rows === 0 || H === 0) continue;
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < S; i++) {
          if (kept[b * S + i] === 0) continue;
          const row = ((b * H + h) * S + i) * S;
          for (let j = 0; j < S; j++) if (kept[b * S + j] !== 0) Y[b * S + j]! += P[row + j]!;
        }
      }
      const inv = 1 / (H * rows);
      for (let j = 0; j < S; j++) Y[b * S + j]! *= inv;
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
