// AttentionSoftmax {heads, methods, degree, shift, clip}: the attention probabilities of
// one layer, with a per-head method: "exact" softmax, or PolySoftmax (exp replaced by its
// Taylor polynomial of `degree`, cheap under MPC). Masked keys (keep = 0) get exactly zero
// weight in both; a row with every key masked is all zeros.

import type { OpDef } from '../../op.ts';
import { boolAttr, floatAttr, intAttr, intsAttr, stringAttr, typeError } from '../../op.ts';
import type { Attrs } from '../../node.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data, fmtShape } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { checkHeads, requireRank } from './check.ts';

export const SOFTMAX_METHODS: readonly string[] = ['exact', 'poly'];

function methodsOf(attrs: Attrs): readonly string[] {
  return attrs['methods'] as readonly string[];
}

/** sum_{k=0..degree} z^k / k!, by Horner: 1 + z(1 + z/2(1 + z/3(...))). */
export function expTaylor(z: number, degree: number): number {
  let r = 1;
  for (let k = degree; k >= 1; k--) r = 1 + (r * z) / k;
  return r;
}

export const AttentionSoftmax: OpDef = {
  name: 'AttentionSoftmax',
  summary: 'masked softmax over keys, per head "exact" or "poly" (Taylor exp of `degree`)',
  arity: [2, 2],
  attrs: {
    heads: { kind: 'ints', doc: 'original head ids of this layer, one per head' },
    methods: { kind: 'strings', doc: '"exact" or "poly", one per head' },
    degree: { kind: 'int', default: 2, doc: 'degree of the Taylor polynomial of "poly"' },
    shift: { kind: 'bool', default: true, doc: '"poly": subtract the row max over kept keys first' },
    clip: { kind: 'float', default: 0, doc: '"poly": clamp z to [-clip, clip] when > 0' },
  },
  infer([scores, keep], attrs) {
    requireFloat('AttentionSoftmax', scores!, 'scores');
    if (keep!.elem === 'ring64') typeError('AttentionSoftmax: keep must be a float, int or bool mask, got ring64');
    requireRank('AttentionSoftmax', scores!, 4, 'scores', '[B, H, S, S]');
    requireRank('AttentionSoftmax', keep!, 4, 'keep', '[B, 1, 1, S]');
    const [B, H, Sq, Sk] = scores!.shape as [number, number, number, number];
    if (Sq !== Sk) typeError(`AttentionSoftmax: scores must be [B, H, S, S], got ${fmtShape(scores!.shape)}`);
    const ks = keep!.shape;
    if (ks[0] !== B || ks[1] !== 1 || ks[2] !== 1 || ks[3] !== Sk) {
      typeError(`AttentionSoftmax: keep must be [${B}, 1, 1, ${Sk}] for scores ${fmtShape(scores!.shape)}, got ${fmtShape(ks)}`);
    }
    const heads = intsAttr(attrs, 'heads');
    const methods = methodsOf(attrs);
    checkHeads('AttentionSoftmax', heads, H);
    if (methods.length !== heads.length) {
      typeError(`AttentionSoftmax: methods has ${methods.length} entr${methods.length === 1 ? 'y' : 'ies'} but heads has ${heads.length}; give one method per head`);
    }
    for (const m of methods) {
      if (!SOFTMAX_METHODS.includes(m)) typeError(`AttentionSoftmax: unknown method "${m}" (expected "exact" or "poly")`);
    }
    const degree = intAttr(attrs, 'degree');
    if (degree < 1) typeError(`AttentionSoftmax: degree must be >= 1, got ${degree}`);
    const clip = floatAttr(attrs, 'clip');
    if (!(clip >= 0)) typeError(`AttentionSoftmax: clip must be >= 0 (0 disables clamping), got ${clip}`);
    return { elem: scores!.elem, shape: scores!.shape };
  },
  evaluate([scores, keep], attrs, out) {
    const [B, H, S] = scores!.shape as [number, number, number, number];
    const methods = methodsOf(attrs);
    const degree = intAttr(attrs, 'degree');
    const shift = boolAttr(attrs, 'shift');
    const clip = floatAttr(attrs, 'clip');
    const X = float64Data(scores!);
    const kept = keptKeys(keep!, B * S);
    const Y = new Float64Array(X.length);
    for (let b = 0; b < B; b++) {
      const ko = b * S;
      for (let h = 0; h < H; h++) {
        const poly = methods[h] === 'poly';
        for (let i = 0; i < S; i++) {
          const row = ((b * H + h) * S + i) * S;
          let max = -Infinity;
          let any = false;
          for (let j = 0; j < S; j++) {
            if (kept[ko + j] === 0) continue;
            any = true;
            const v = X[row + j]!;
            if (v > max) max = v;
          }
          if (!any) continue; // all keys masked: zeros
          let sum = 0;
          if (poly) {
            const m = shift ? max : 0;
            for (let j = 0; j < S; j++) {
              if (kept[ko + j] === 0) continue;
              let z = X[row + j]! - m;
              if (clip > 0) z = z < -clip ? -clip : z > clip ? clip : z;
              const e = expTaylor(z, degree);
              Y[row + j] = e;
              sum += e;
            }
          } else {
            for (let j = 0; j < S; j++) {
              if (kept[ko + j] === 0) continue;
              const e = Math.exp(X[row + j]! - max);
              Y[row + j] = e;
              sum += e;
            }
          }
          const inv = 1 / sum;
          for (let j = 0; j < S; j++) Y[row + j]! *= inv;
        }
      }
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};

/** 1 where the keep mask ([B,1,1,S], any numeric type) keeps a key, 0 where it masks it. */
export function keptKeys(keep: Tensor, n: number): Uint8Array {
  const kd = keep.data;
  const kept = new Uint8Array(n);
  for (let i = 0; i < n; i++) kept[i] = kd[i] !== 0 && kd[i] !== 0n ? 1 : 0;
  return kept;
}
