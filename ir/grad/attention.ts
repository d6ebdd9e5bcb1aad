// Reverse-mode rules of the head-structured attention ops: AttentionScores (scale q k^T),
// AttentionSoftmax (exact and PolySoftmax, masked keys carry no gradient) and
// AttentionContext (probs @ v), per batch and head.

import type { Tensor } from '../tensor.ts';
import { boolAttr, floatAttr, intAttr } from '../op.ts';
import { floatData } from '../ops/broadcast.ts';
import { expTaylor } from '../ops/transformer/attention-softmax.ts';
import { stridedMatmulInto } from './linear-algebra.ts';
import type { Vjp } from './vjp.ts';
import { keptKeys } from '../ops/transformer/attention-softmax.ts';

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

/**
 * Exact rows: dx = p (g - sum(g p)) over kept keys. Poly rows (u_j = q(z_j) keep_j,
 * p = u / sum u): du_j = (g_j - sum_i g_i p_i) / sum u; dz_j = du_j q'(z_j) (zero where
 * z was clamped); with the shift z = x - max, the row maximum receives -sum_j dz_j.
 * The keep mask gets no gradient.
 */
export const attentionSoftmaxVjp: Vjp = ({ node, inputs, output, grad, needs }) => {
  if (!needs[0]) return [undefined, undefined];
  const [scores, keep] = inputs as [Tensor, Tensor];
  const [B, H, S] = scores.shape as [number, number, number, number];
  const methods = node.attrs['methods'] as readonly string[];
  const degree = intAttr(node.attrs, 'degree');
  const shift = boolAttr(node.attrs, 'shift');
  const clip = floatAttr(node.attrs, 'clip');
  const X = floatData(scores);
  const Y = floatData(output);
  const kept = keptKeys(keep, B * S);
  const g = new Float64Array(X.length);
  for (let b = 0; b < B; b++) {
    const ko = b * S;
    for (let h = 0; h < H; h++) {
      const poly = methods[h] === 'poly';
      for (let i = 0; i < S; i++) {
        const row = ((b * H + h) * S + i) * S;
        let dot = 0;
        for (let j = 0; j < S; j++) dot += grad[row + j]! * Y[row + j]!;
        if (!poly) {
          for (let j = 0; j < S; j++) if (kept[ko + j] !== 0) g[row + j] = Y[row + j]! * (grad[row + j]! - dot);
          continue;
        }
        let max = -Infinity;
        let arg = -1;
        let sum = 0;
        for (let j = 0; j < S; j++) {
          if (kept[ko + j] === 0) continue;
          if (X[row + j]! > max) {
            max = X[row + j]!;
            arg = j;
          }
        }
        if (arg < 0) continue; // every key masked: the row is constant zero
        const m = shift ? max : 0;
        for (let j = 0; j < S; j++) {
          if (kept[ko + j] === 0) continue;
          let z = X[row + j]! - m;
          if (clip > 0) z = z < -clip ? -clip : z > clip ? clip : z;
          sum += expTaylor(z, degree);
        }
        let total = 0;
        for (let j = 0; j < S; j++) {
          if (kept[ko + j] === 0) continue;
          const z0 = X[row + j]! - m;
          const clamped = clip > 0 && (z0 < -clip || z0 > clip);
          const dz = clamped ? 0 : ((grad[row + j]! - dot) / sum) * expTaylor(z0, degree - 1);
          g[row + j]! += dz;
          total += dz;
        }
        if (shift) g[row + arg]! -= total;
      }
    }
  }
  return [g, undefined];
};
