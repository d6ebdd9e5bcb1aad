// Interval rules for the values the secure lowering computes past LayerNorm, so that FSS
// comparisons there can run on fewer bits (fss-bits.ts). Each rule bounds the lowering's value
// given bounds on the lowering's inputs, i.e. it includes the lowering's own error where that
// error is not a few ulp (which the comparison's margin covers):
//
// - LayerNorm over d elements (the fss preset's: the sum of squares S of the deviations u,
//   truncated once to S', then 1/sqrt by one spline and a Newton step; README "The fss protocol
//   family"): a row u with sum u = -d e (e: the secure mean's error) has |u_i| <=
//   sqrt((d-1)/d S) + |e| (Cauchy-Schwarz on the other d-1 entries), and S >= d e^2. Where
//   S' >= 2^-14 (the spline's lowest bucket, 4 ulp at f = 16; S >= 5 ulp), the inverse square
//   root is within a relative `layerNormError` and S' >= 4/5 S, so |normalized| <=
//   (sqrt(d-1) + 1)(1 + err) sqrt(5/4). Below that, |u_i| <= sqrt(S) < sqrt(5 ulp) and the
//   clamped spline and its Newton step give at most 2^7 * 1.42 * 1.5 / sqrt(d) per sqrt(d): the
//   product sqrt(S) * that was estimated at 1.25 sqrt(d) over S' in 0..5 ulp, but secure runs on
//   rows of a few ulp of variance reached 1.504 sqrt(d) (the truncations of the mean and the
//   squares move S' further than estimated), so CLAMPED_ROW = 2 sqrt(d) is used: a measured
//   margin, not a proof, for rows whose variance is a few ulp. So |normalized| <= max of the two, and per channel
//   output_i in beta_i +- (|gamma_i| + 2^-(f+1)) that (gamma rounded to the 2^-f grid). The
//   exact LayerNorm's own bound is sqrt(d-1): the secure one costs under a bit more.
// - Linear / MatMul with a constant W [K, N]: per column j, sum_i W_ij [lo, hi] + b_j, with
//   each W_ij and b_j off by half an ulp (its encoding): +- 2^-(f+1) (K max|x| + 1).
// - AttentionScores: |scale| d [lo_q, hi_q] [lo_k, hi_k] (interval product, summed d times).
// - AttentionSoftmax: the method's bound on its weights (ir/ops/transformer/attention-methods.ts).
// - AttentionContext: weights that are nonnegative and sum to at most 1 (exact, poly of even
//   degree, rsattn, 2quad) give a value within max|v|; other methods S |p| |v|.
// - Gelu, GeluMix: [-0.17, max(0, hi)] (GELU's minimum is -0.1700 at x = -0.75).
//
// Row norms: next to its interval, a value may carry a bound N on the L2 norm of every row
// (its last axis), and a Linear's output the bound M_j of each column. A LayerNorm's rows have
// norm sqrt(d) exactly; the secure ones at most CLAMPED_ROW sqrt(d) (the two cases above: sqrt(S)
// times the inverse square root is within (1 + err) sqrt(5/4), or the clamped range's margin),
// so N <= (max|gamma| + 2^-(f+1)) CLAMPED_ROW sqrt(d) + ||beta|| + sqrt(d) 2^-(f+1). A Linear's column
// then has |y_j| <= (||W_:j|| + sqrt(K) 2^-(f+1)) N + |b_j| (Cauchy-Schwarz; the tighter of this
// and the interval rule is kept per column), its rows norm sqrt(sum_j M_j^2), a head's slice
// (SplitHeads) the norm of its columns' M_j, and an attention score |s| <= |scale| N_q N_k.
// A residual Add's rows: N_a + N_b; an attention context's (weights >= 0, summing to at most
// 1): v's (the secure weights' sum within 2^-8 of 1); merged heads: sqrt(H) times a head's.
//
// Bounds are hulls over the whole tensor (one interval per value): a per-channel bound is used
// inside a rule (LayerNorm's gamma and beta, a Linear's columns) and then widened to the hull.

import type { Node } from '../../ir/node.ts';
import { floatAttr, intAttr } from '../../ir/op.ts';
import { attentionMethod } from '../../ir/ops/transformer/attention-methods.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { normalizeAxis, numel } from '../../ir/types.ts';

type Interval = readonly [number, number];

/** Facts beyond an interval, per node: the L2 norm bound of its rows (last axis) and a Linear's column bounds. */
export interface RowFacts {
  readonly norms: Map<Node, number>;
  readonly cols: Map<Node, Float64Array>;
}

export function rowFacts(): RowFacts {
  return { norms: new Map(), cols: new Map() };
}

const GELU_MIN = -0.1701;
/** The secure LayerNorm's |normalized| / sqrt(d) on rows whose variance is a few ulp (see the header). */
export const CLAMPED_ROW = 2;

const finite = (iv: Interval | undefined): iv is Interval => iv !== undefined && Number.isFinite(iv[0]) && Number.isFinite(iv[1]);

function mulI(a: Interval, b: Interval): Interval {
  const ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]];
  return [Math.min(...ps), Math.max(...ps)];
}

/** The elements of a compile-time tensor as numbers (any storage). */
function values(t: Tensor): ArrayLike<number> {
  return t.data instanceof Float32Array || t.data instanceof Float64Array ? t.data : t.toFloat64();
}

/** LayerNorm's output bound from its constant gamma and beta (d elements per row). */
export function layerNormBound(d: number, gamma: Tensor | undefined, beta: Tensor | undefined, gammaIv: Interval, betaIv: Interval, f: number, err: number): Interval | undefined {
  const c = Math.max((Math.sqrt(Math.max(0, d - 1)) + 1) * (1 + err) * Math.sqrt(5 / 4), CLAMPED_ROW * Math.sqrt(d));
  const h = 2 ** -(f + 1);
  if (gamma === undefined || (beta !== undefined && beta.size !== gamma.size)) {
    if (!finite(gammaIv) || !finite(betaIv)) return undefined;
    const g = Math.max(Math.abs(gammaIv[0]), Math.abs(gammaIv[1])) + h;
    return [betaIv[0] - g * c - h, betaIv[1] + g * c + h];
  }
  const gv = values(gamma);
  const bv = beta === undefined ? undefined : values(beta);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < gv.length; i++) {
    const g = (Math.abs(gv[i]!) + h) * c;
    const b = bv === undefined ? 0 : bv[i]!;
    lo = Math.min(lo, b - g - h);
    hi = Math.max(hi, b + g + h);
  }
  return [lo, hi];
}

/** x [.., K] @ W [K, N] (+ b [N]) for x within `x`: per column, then the hull. */
export function linearBound(x: Interval, w: Tensor, bias: Tensor | undefined, f: number, xNorm?: number, colsOut?: (m: Float64Array) => void): Interval {
  const [K, N] = w.shape as [number, number];
  const wv = values(w);
  const bv = bias === undefined ? undefined : values(bias);
  const lo = new Float64Array(N);
  const hi = new Float64Array(N);
  for (let i = 0; i < K; i++) {
    const row = i * N;
    for (let j = 0; j < N; j++) {
      const v = wv[row + j]!;
      if (v >= 0) {
        lo[j] += v * x[0];
        hi[j] += v * x[1];
      } else {
        lo[j] += v * x[1];
        hi[j] += v * x[0];
      }
    }
  }
  const round = 2 ** -(f + 1) * (K * Math.max(Math.abs(x[0]), Math.abs(x[1])) + 1);
  // Cauchy-Schwarz per column from the rows' norm: |x W_:j| <= (||W_:j|| + sqrt(K) 2^-(f+1)) N
  let cs: Float64Array | undefined;
  if (xNorm !== undefined && Number.isFinite(xNorm)) {
    cs = new Float64Array(N);
    for (let i = 0; i < K; i++) {
      const row = i * N;
      for (let j = 0; j < N; j++) cs[j] += wv[row + j]! * wv[row + j]!;
    }
    for (let j = 0; j < N; j++) cs[j] = (Math.sqrt(cs[j]!) + Math.sqrt(K) * 2 ** -(f + 1)) * xNorm + 2 ** -(f + 1);
  }
  const cols = new Float64Array(N);
  let a = Infinity;
  let b = -Infinity;
  for (let j = 0; j < N; j++) {
    const c = bv === undefined ? 0 : bv[j]!;
    let l = lo[j]! - round;
    let h = hi[j]! + round;
    if (cs !== undefined) {
      l = Math.max(l, -cs[j]!);
      h = Math.min(h, cs[j]!);
    }
    cols[j] = Math.max(Math.abs(l + c), Math.abs(h + c));
    a = Math.min(a, l + c);
    b = Math.max(b, h + c);
  }
  colsOut?.(cols);
  return [a, b];
}

/** Attention methods whose weights are nonnegative and sum to at most 1 per row. */
function subConvex(n: Node): boolean {
  if (n.op !== 'AttentionSoftmax') return false;
  const methods = n.attrs['methods'] as readonly string[];
  return methods.every((m) => m === 'exact' || m === 'rsattn' || m === '2quad' || (m === 'poly' && intAttr(n.attrs, 'degree') % 2 === 0));
}

/**
 * The bound of a node's secure value from its inputs' bounds, for the ops above; undefined for
 * any other op (range.ts's own rule applies) or when an input it needs is unbounded.
 * `constOf(k)`: input k's value when it is known at compile time.
 */
export function secureInterval(
  n: Node,
  ins: readonly Interval[],
  constOf: (k: number) => Tensor | undefined,
  f: number,
  layerNormError: number,
  facts: RowFacts = rowFacts(),
): Interval | undefined {
  const normOf = (k: number): number | undefined => facts.norms.get(n.inputs[k]!);
  switch (n.op) {
    case 'LayerNorm':
    case 'LayerNormalization': {
      const shape = n.inputs[0]!.type.shape;
      const axis = n.op === 'LayerNorm' ? shape.length - 1 : normalizeAxis(intAttr(n.attrs, 'axis'), shape.length)!;
      if (!(floatAttr(n.attrs, 'epsilon') >= 0)) return undefined;
      const d = numel(shape.slice(axis));
      const beta = n.inputs.length > 2 ? constOf(2) : undefined;
      const gamma = constOf(1);
      if (axis === shape.length - 1 && gamma !== undefined) {
        const h = 2 ** -(f + 1);
        let g = 0;
        for (const v of Array.from(values(gamma))) g = Math.max(g, Math.abs(v));
        let nb = 0;
        if (beta !== undefined) for (const v of Array.from(values(beta))) nb += v * v;
        facts.norms.set(n, (g + h) * CLAMPED_ROW * Math.sqrt(d) + Math.sqrt(nb) + Math.sqrt(d) * h + 2 ** -f);
      }
      const betaIv: Interval = n.inputs.length > 2 ? ins[2]! : [0, 0];
      if (n.inputs.length > 2 && beta === undefined && !finite(betaIv)) return undefined;
      return layerNormBound(d, constOf(1), n.inputs.length > 2 ? beta : undefined, ins[1]!, betaIv, f, layerNormError);
    }
    case 'Linear':
    case 'MatMul': {
      const x = ins[0]!;
      const w = constOf(1);
      if (!finite(x) || w === undefined || w.shape.length !== 2) return undefined;
      if (n.op === 'Linear' && n.inputs.length > 2 && constOf(2) === undefined) return undefined;
      return linearBound(x, w, n.op === 'Linear' && n.inputs.length > 2 ? constOf(2) : undefined, f, normOf(0), (cols) => {
        facts.cols.set(n, cols);
        let s2 = 0;
        for (const m of cols) s2 += m * m;
        facts.norms.set(n, Math.sqrt(s2));
      });
    }
    case 'SplitHeads': {
      // a head's rows are a slice of the input's: the norm of its columns' bounds, or the input's row norm
      const cols = facts.cols.get(n.inputs[0]!);
      const H = n.type.shape[1]!;
      const dh = n.type.shape[3]!;
      if (cols !== undefined && cols.length === H * dh) {
        let worst = 0;
        for (let h = 0; h < H; h++) {
          let s2 = 0;
          for (let j = h * dh; j < (h + 1) * dh; j++) s2 += cols[j]! * cols[j]!;
          worst = Math.max(worst, Math.sqrt(s2));
        }
        facts.norms.set(n, worst);
      } else if (normOf(0) !== undefined) facts.norms.set(n, normOf(0)!);
      return undefined;
    }
    case 'MergeHeads': {
      // H head rows side by side
      if (normOf(0) !== undefined) facts.norms.set(n, normOf(0)! * Math.sqrt(n.inputs[0]!.type.shape[1]!));
      return undefined;
    }
    case 'Add': {
      const [na, nb] = [normOf(0), normOf(1)];
      const sa = n.inputs[0]!.type.shape;
      const sb = n.inputs[1]!.type.shape;
      if (na !== undefined && nb !== undefined && sa[sa.length - 1] === sb[sb.length - 1]) facts.norms.set(n, na + nb);
      return undefined;
    }
    case 'AttentionScores': {
      const [q, k] = ins;
      if (!finite(q) || !finite(k)) return undefined;
      const d = n.inputs[0]!.type.shape[n.inputs[0]!.type.shape.length - 1]!;
      const p = mulI(q, k);
      const scale = Math.abs(floatAttr(n.attrs, 'scale'));
      let lo = p[0] * scale * d;
      let hi = p[1] * scale * d;
      // Cauchy-Schwarz on the rows of q and k
      const [nq, nk] = [normOf(0), normOf(1)];
      if (nq !== undefined && nk !== undefined) {
        const c = scale * nq * nk;
        lo = Math.max(lo, -c);
        hi = Math.min(hi, c);
      }
      return [lo, hi];
    }
    case 'AttentionSoftmax': {
      const x = ins[0]!;
      if (!finite(x)) return undefined;
      const S = n.inputs[0]!.type.shape[n.inputs[0]!.type.shape.length - 1]!;
      const ivs = [...new Set(n.attrs['methods'] as readonly string[])].map((m) => attentionMethod(m).interval(x[0], x[1], S));
      return [Math.min(...ivs.map((v) => v[0])), Math.max(...ivs.map((v) => v[1]))];
    }
    case 'AttentionContext': {
      const [p, v] = ins;
      if (!finite(v)) return undefined;
      if (subConvex(n.inputs[0]!)) {
        // a combination of v's rows with weights >= 0 summing to at most 1: no longer than they are
        if (normOf(1) !== undefined) facts.norms.set(n, normOf(1)! * (1 + 2 ** -8));
        const m = Math.max(Math.abs(v[0]), Math.abs(v[1]));
        return [-m, m];
      }
      if (!finite(p)) return undefined;
      const S = n.inputs[1]!.type.shape[n.inputs[1]!.type.shape.length - 2]!;
      const pv = mulI(p, v);
      return [Math.min(0, pv[0] * S), Math.max(0, pv[1] * S)];
    }
    case 'Gelu':
    case 'GeluMix': {
      const x = ins[0]!;
      if (!finite(x)) return undefined;
      return [GELU_MIN, Math.max(0, x[1])];
    }
    default:
      return undefined;
  }
}
