// Reverse-mode rules of the head-structured attention ops: AttentionScores (scale q k^T),
// AttentionSoftmax (each head by its method's rule, masked keys carry no gradient) and
// AttentionContext (probs @ v), per batch and head.

import type { Tensor } from '../tensor.ts';
import { floatAttr } from '../op.ts';
import { floatData } from '../ops/broadcast.ts';
import { findAttentionMethod } from '../ops/transformer/attention-methods.ts';
import { attentionParams, keptKeys } from '../ops/transformer/attention-softmax.ts';
import { stridedMatmulInto } from './linear-algebra.ts';
import type { Vjp } from './vjp.ts';

/** Y = scale q k^T: dq = scale dY k, dk = scale dY^T q. */
export const attentionScoresVjp: Vjp = ({ node, inputs, grad, needs }) => {
  const [q, k] = inputs as [Tensor, Tensor];
  const [B, H, S, d] = q.shape as [number, number, number, number];
  const scale = floatAttr(node.attrs, 'scale');
  const Q = floatData(q);
  const K = floatData(k);
  const gq = needs[0] ? new Float64Array(q.size) : undefined;
  const gk = needs[1] ? new Float64Array(k.size) : undefined;
  for (let p = 0; p < B * H; p++) {
    const so = p * S * S;
    const vo = p * S * d;
    if (gq !== undefined) stridedMatmulInto(grad, so, S, 1, K, vo, d, 1, gq, vo, S, S, d);
    if (gk !== undefined) stridedMatmulInto(grad, so, 1, S, Q, vo, d, 1, gk, vo, S, S, d);
  }
  for (const g of [gq, gk]) if (g !== undefined && scale !== 1) for (let i = 0; i < g.length; i++) g[i]! *= scale;
  return [gq, gk];
};

/** Y = probs @ v: dprobs = dY v^T, dv = probs^T dY. */
export const attentionContextVjp: Vjp = ({ inputs, grad, needs }) => {
  const [probs, v] = inputs as [Tensor, Tensor];
  const [B, H, S, d] = v.shape as [number, number, number, number];
  const P = floatData(probs);
  const V = floatData(v);
  const gp = needs[0] ? new Float64Array(probs.size) : undefined;
  const gv = needs[1] ? new Float64Array(v.size) : undefined;
  for (let p = 0; p < B * H; p++) {
    const so = p * S * S;
    const vo = p * S * d;
    if (gp !== undefined) stridedMatmulInto(grad, vo, d, 1, V, vo, 1, d, gp, so, S, d, S);
    if (gv !== undefined) stridedMatmulInto(P, so, 1, S, grad, vo, d, 1, gv, vo, S, S, d);
  }
  return [gp, gv];
};

/** Each head's method gives the vjp of its rows (attention-methods.ts); the keep mask gets no gradient. */
export const attentionSoftmaxVjp: Vjp = ({ node, inputs, output, grad, needs }) => {
  if (!needs[0]) return [undefined, undefined];
  const [scores, keep] = inputs as [Tensor, Tensor];
  const [B, H, S] = scores.shape as [number, number, number, number];
  const methods = (node.attrs['methods'] as readonly string[]).map((m) => findAttentionMethod(m)!);
  const params = attentionParams(node.attrs);
  const X = floatData(scores);
  const Y = floatData(output);
  const kept = keptKeys(keep, B * S);
  const g = new Float64Array(X.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const method = methods[h]!;
      for (let i = 0; i < S; i++) method.rowVjp(X, Y, grad, g, ((b * H + h) * S + i) * S, S, kept, b * S, params);
    }
  }
  return [g, undefined];
};
