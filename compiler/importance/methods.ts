// The four head-importance methods, per example (weight norm: per model), exactly as the
// fixtures' README defines them:
//
// - integrated gradients: IG(l,h) = O(l,h)/m * sum_k dF/dO(l,h) at alpha_k O(l,h) (only head
//   (l,h) scaled, every other head at its actual value), alpha_k = k/m, k = 1..m; F = the
//   target logit; score = ||IG(l,h)||_F over the example's tokens x head_dim.
// - gradient sensitivity: ||dL/dA(l,h)||_F, A = attention probabilities, L = cross-entropy
//   of the logits with the gold label.
// - attention entropy: mean over query rows of -sum_j A_ij ln A_ij.
// - weight norm: ||Wq_h||_F ||Wk_h||_F ||Wv_h||_F over head h's columns of the projections.
//
// A head's perturbation only changes what lies downstream of its layer's AttentionContext,
// so each path point re-evaluates from there (Replay) on top of one cached full forward
// pass, and the backward pass stops at that AttentionContext (GradientPlan).

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Node } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { floatData } from '../../ir/ops/broadcast.ts';
import { forwardValues } from '../../ir/grad/index.ts';
import type { Example } from './dataset.ts';
import type { BoundModel, ImportanceModel } from './model.ts';

export type Method = 'ig' | 'grad' | 'norm' | 'entropy';
export type Target = 'predicted' | 'gold';

/** Per-example result: scores[l][h], and for IG the completeness pairs (sum of IG, F(O) - F(head zeroed)). */
export interface ExampleResult {
  readonly index: number;
  readonly scores: number[][];
  readonly predicted: number;
  readonly completeness?: readonly (readonly [number, number])[];
}

export interface IgOptions {
  /** The path points alpha in (0, 1] and their weight (1/m for the Riemann sum). */
  readonly alphas: readonly number[];
  readonly target: Target;
}

/** alpha_k = k/m, k = 1..m (right Riemann sum). */
export function riemannAlphas(m: number): number[] {
  return Array.from({ length: m }, (_, k) => (k + 1) / m);
}

/** K alphas drawn uniformly from (0, 1], reproducibly from (seed, example row). */
export function sampledAlphas(k: number, seed: number, row: number): number[] {
  // mulberry32 seeded by both, so the draw does not depend on which worker runs the row
  let s = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(row + 1, 0x85ebca77)) >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: k }, () => 1 - next());
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

export function targetClass(logits: ArrayLike<number>, target: Target, ex: Example): number {
  if (target === 'predicted') return argmax(logits);
  if (ex.label === undefined) throw new Ig3dcError('input', `example ${ex.index} has no label (--target gold needs labels)`);
  return ex.label;
}

function prepare(model: ImportanceModel, ex: Example): { bound: BoundModel; values: Map<Node, Tensor> } {
  const bound = model.at(model.lengthOf(ex));
  const values = forwardValues(bound.graph, model.feeds(bound, ex));
  return { bound, values };
}

/** Integrated gradients of every head for one example; `onHead` is called after each head. */
export function igExample(model: ImportanceModel, ex: Example, opts: IgOptions, onHead?: () => void): ExampleResult {
  const { bound, values } = prepare(model, ex);
  const logits = floatData(values.get(bound.logits)!);
  const predicted = argmax(logits);
  const c = targetClass(logits, opts.target, ex);
  const seed = new Float64Array(logits.length);
  seed[c] = 1;
  const seeds = new Map([[bound.logits, seed]]);
  const m = opts.alphas.length;
  const scores: number[][] = [];
  const completeness: [number, number][] = [];
  for (const site of bound.sites) {
    const replay = bound.replayFrom(site.layer);
    const plan = bound.plan(`context${site.layer}`, () => [site.context]);
    const O = floatData(values.get(site.context)!);
    const [, H, S, d] = site.context.type.shape as [number, number, number, number];
    const size = S * d;
    const row: number[] = [];
    const at = (h: number, alpha: number): Map<Node, Tensor> => {
      const scaled = Float64Array.from(O);
      for (let i = h * size; i < (h + 1) * size; i++) scaled[i]! *= alpha;
      return replay.run(values, new Map([[site.context, new Tensor(site.context.type.elem, site.context.type.shape, scaled)]]));
    };
    for (let h = 0; h < H; h++) {
      const sum = new Float64Array(size);
      for (const alpha of opts.alphas) {
        const changed = alpha === 1 ? undefined : at(h, alpha);
        const value = changed === undefined ? (n: Node) => values.get(n)! : (n: Node) => changed.get(n) ?? values.get(n)!;
        const g = plan.run(value, seeds).get(site.context)!;
        for (let i = 0; i < size; i++) sum[i]! += g[h * size + i]!;
      }
      let norm = 0;
      let total = 0;
      for (let i = 0; i < size; i++) {
        const ig = (O[h * size + i]! * sum[i]!) / m;
        norm += ig * ig;
        total += ig;
      }
      row.push(Math.sqrt(norm));
      const zeroed = floatData(at(h, 0).get(bound.logits)!);
      completeness.push([total, logits[c]! - zeroed[c]!]);
      onHead?.();
    }
    scores.push(row);
  }
  return { index: ex.index, scores, predicted, completeness };
}

/** ||dL/dA(l,h)||_F with L = cross-entropy of the logits with the gold label. */
export function gradSensitivityExample(model: ImportanceModel, ex: Example): ExampleResult {
  const { bound, values } = prepare(model, ex);
  const logits = floatData(values.get(bound.logits)!);
  const gold = targetClass(logits, 'gold', ex);
  // dL/dz = softmax(z) - onehot(gold)
  const max = Math.max(...logits);
  const e = Array.from(logits, (z) => Math.exp(z - max));
  const total = e.reduce((a, b) => a + b, 0);
  const seed = Float64Array.from(e, (v, i) => v / total - (i === gold ? 1 : 0));
  const plan = bound.plan('softmax', () => bound.sites.map((s) => s.softmax));
  const grads = plan.run((n) => values.get(n)!, new Map([[bound.logits, seed]]));
  const scores = bound.sites.map((site) => {
    const g = grads.get(site.softmax)!;
    const [, H, S] = site.softmax.type.shape as [number, number, number, number];
    return Array.from({ length: H }, (_, h) => {
      let s = 0;
      for (let i = h * S * S; i < (h + 1) * S * S; i++) s += g[i]! * g[i]!;
      return Math.sqrt(s);
    });
  });
  return { index: ex.index, scores, predicted: argmax(logits) };
}

/** Mean over query rows of the attention entropy, per head (nats). */
export function entropyExample(model: ImportanceModel, ex: Example): ExampleResult {
  const { bound, values } = prepare(model, ex);
  const scores = bound.sites.map((site) => {
    const A = floatData(values.get(site.softmax)!);
    const [, H, S] = site.softmax.type.shape as [number, number, number, number];
    return Array.from({ length: H }, (_, h) => {
      let sum = 0;
      for (let i = 0; i < S; i++) {
        const row = (h * S + i) * S;
        let ent = 0;
        for (let j = 0; j < S; j++) {
          const p = A[row + j]!;
          if (p > 0) ent -= p * Math.log(p);
        }
        sum += ent;
      }
      return sum / S;
    });
  });
  return { index: ex.index, scores, predicted: argmax(floatData(values.get(bound.logits)!)) };
}

/** ||Wq_h||_F ||Wk_h||_F ||Wv_h||_F, head h = columns h*d..h*d+d-1 of the [D, H*d] weights. */
export function weightNormScores(bound: BoundModel): number[][] {
  return bound.sites.map((site) => {
    const norms = (['query', 'key', 'value'] as const).map((role) => {
      const linear = site[role];
      const w = linear?.inputs[1];
      const data = w?.data;
      if (w === undefined || data === undefined || !('shape' in data)) {
        throw new Ig3dcError('unsupported', `layer ${site.layer}: no ${role} projection with constant weights feeds the attention heads, so the weight norm is undefined`);
      }
      const W = floatData(data);
      const [K, N] = w.type.shape as [number, number];
      const d = site.headDim;
      return site.heads.map((_, h) => {
        let s = 0;
        for (let k = 0; k < K; k++) for (let j = h * d; j < (h + 1) * d; j++) s += W[k * N + j]! * W[k * N + j]!;
        return Math.sqrt(s);
      });
    });
    return site.heads.map((_, h) => norms[0]![h]! * norms[1]![h]! * norms[2]![h]!);
  });
}
