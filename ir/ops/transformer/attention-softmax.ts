// AttentionSoftmax {heads, methods, degree, shift, clip, eps, c}: the attention weights of
// one layer, with a per-head method (attention-methods.ts defines each: "exact" softmax,
// IG-3D's PolySoftmax, MPCViT's rsattn and scale, PolyTransformer's scaled-relu/-gelu/-relu2,
// MPCFormer's 2quad). Masked keys (keep = 0) get exactly zero weight in every method; a row
// with every key masked is all zeros. Rows are independent: scores may have fewer query rows
// than keys ([B, H, Sq, S]; a token-pruning segment gives each degree its own rows).

import type { OpDef } from '../../op.ts';
import { boolAttr, floatAttr, intAttr, intsAttr, stringAttr, typeError } from '../../op.ts';
import type { Attrs } from '../../node.ts';
import { Tensor } from '../../tensor.ts';
import { float64Data, fmtShape } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { checkHeads, requireRank } from './check.ts';
import { ATTENTION_METHOD_NAMES, expTaylor, findAttentionMethod, type AttentionParams } from './attention-methods.ts';

/** The method names, in the order of ir/ops/transformer/attention-methods.ts. */
export const SOFTMAX_METHODS: readonly string[] = ATTENTION_METHOD_NAMES;

export { expTaylor };

function methodsOf(attrs: Attrs): readonly string[] {
  return attrs['methods'] as readonly string[];
}

/** The per-layer parameters the methods read. */
export function attentionParams(attrs: Attrs): AttentionParams {
  return {
    degree: intAttr(attrs, 'degree'),
    shift: boolAttr(attrs, 'shift'),
    clip: floatAttr(attrs, 'clip'),
    eps: floatAttr(attrs, 'eps'),
    c: floatAttr(attrs, 'c'),
  };
}

export const AttentionSoftmax: OpDef = {
  name: 'AttentionSoftmax',
  summary: `attention weights over the keys with a method per head (${ATTENTION_METHOD_NAMES.join(', ')}); masked keys get 0`,
  arity: [2, 2],
  attrs: {
    heads: { kind: 'ints', doc: 'original head ids of this layer, one per head' },
    methods: { kind: 'strings', doc: `one per head: ${ATTENTION_METHOD_NAMES.join(', ')}` },
    degree: { kind: 'int', default: 2, doc: 'degree of the Taylor polynomial of "poly"' },
    shift: { kind: 'bool', default: true, doc: '"poly": subtract the row max over kept keys first' },
    clip: { kind: 'float', default: 0, doc: '"poly": clamp z to [-clip, clip] when > 0' },
    eps: { kind: 'float', default: 0, doc: '"rsattn", "2quad": added to the denominator' },
    c: { kind: 'float', default: 5, doc: '"2quad": the shift c of (s + c)^2' },
  },
  infer([scores, keep], attrs) {
    requireFloat('AttentionSoftmax', scores!, 'scores');
    if (keep!.elem === 'ring64') typeError('AttentionSoftmax: keep must be a float, int or bool mask, got ring64');
    requireRank('AttentionSoftmax', scores!, 4, 'scores', '[B, H, Sq, S]');
    requireRank('AttentionSoftmax', keep!, 4, 'keep', '[B, 1, 1, S]');
    const [B, H, Sq, Sk] = scores!.shape as [number, number, number, number];
    // fewer query rows than keys: a segment's rows of one degree (prune-tokens{reduce=reveal-count})
    if (Sq > Sk) typeError(`AttentionSoftmax: scores must be [B, H, Sq, S] with Sq <= S, got ${fmtShape(scores!.shape)}`);
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
      if (findAttentionMethod(m) === undefined) typeError(`AttentionSoftmax: unknown method "${m}" (expected one of ${ATTENTION_METHOD_NAMES.map((n) => `"${n}"`).join(', ')})`);
    }
    const degree = intAttr(attrs, 'degree');
    if (degree < 1) typeError(`AttentionSoftmax: degree must be >= 1, got ${degree}`);
    const clip = floatAttr(attrs, 'clip');
    if (!(clip >= 0)) typeError(`AttentionSoftmax: clip must be >= 0 (0 disables clamping), got ${clip}`);
    const eps = floatAttr(attrs, 'eps');
    if (!(eps >= 0) || !Number.isFinite(eps)) typeError(`AttentionSoftmax: eps must be a finite number >= 0, got ${eps}`);
    if (!Number.isFinite(floatAttr(attrs, 'c'))) typeError('AttentionSoftmax: c must be finite');
    return { elem: scores!.elem, shape: scores!.shape };
  },
  evaluate([scores, keep], attrs, out) {
    const [B, H, Sq, S] = scores!.shape as [number, number, number, number];
    const methods = methodsOf(attrs).map((m) => findAttentionMethod(m)!);
    const params = attentionParams(attrs);
    const X = float64Data(scores!);
    const kept = keptKeys(keep!, B * S);
    const Y = new Float64Array(X.length);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const method = methods[h]!;
        for (let i = 0; i < Sq; i++) method.row(X, Y, ((b * H + h) * Sq + i) * S, S, kept, b * S, params);
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
