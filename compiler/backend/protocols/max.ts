// Max over one axis (kept as size 1).
//
// `log-reduction` (CrypTen's default): floor(ln n) halving steps, each
// where(x0 >= x1, x0, x1) on the two halves (ltz + two products = 10 rounds); then the
// all-pairs argmax over the k survivors (each against its k-1 rotations: one ltz on k(k-1)
// elements, a product tree over the k-1 comparisons), CrypTen's randomized tie-break
// (weighted_index: a 16-bit random number converted from binary, scaled by the count of
// maxima, compared with the running count), and one product to pick the max. CrypTen's max
// also returns the one-hot argmax over the whole row (an equality test of every element with
// the max, and another tie-break); `maxComputesArgmax` keeps that work, which nothing uses
// here, so the costs match CrypTen's: n = 128 gives 79 rounds, 1339.5 bytes per element.
//
// `tree`: a pairwise max tree, ceil(log2 n) levels of where(x0 >= x1, x0, x1); with FSS
// comparisons each level is x1 + ReLU(x0 - x1), one round.

import { typeError } from '../../../ir/op.ts';
import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { normalizeAxis } from '../../../ir/types.ts';
import { matmulPublic, mul, toFixed } from './arith.ts';
import { b2aBit, eqz, ge, gt, relu } from './compare.ts';
import { CRYPTEN, type ProtocolConfig } from './config.ts';
import { spline } from './spline.ts';
import type { SplineTable } from '../../../ir/circuit/gates/fss-spline.ts';

function axisOf(x: Reg, axis: number): number {
  const a = normalizeAxis(axis, x.shape.length);
  if (a === undefined) typeError(`max: axis ${axis} out of range for rank ${x.shape.length}`);
  return a;
}

function sliceAxis(b: CircuitBuilder, x: Reg, axis: number, start: number, end: number): Reg {
  return b.slice(x, [start], [end], [axis]);
}

/**
 * One halving step: where(x0 >= x1, x0, x1) over the two halves, the odd element carried.
 * `loose` s > 0 (FSS only): the comparisons ignore the s lowest bits (a one-breakpoint spline
 * ReLU(x) = x for x >= 0, fss-spline.ts `drop`), so a step may keep the smaller element when
 * the two lie within 2^s ulp: s tree levels fewer per key, and still one of the two elements.
 */
function halve(b: CircuitBuilder, x: Reg, axis: number, cfg: ProtocolConfig, loose = 0): Reg {
  const m = x.shape[axis]!;
  const h = Math.floor(m / 2);
  const x0 = sliceAxis(b, x, axis, 0, h);
  const x1 = sliceAxis(b, x, axis, h, 2 * h);
  // With FSS comparisons the select merges into the comparison: max(a, b) = b + ReLU(a - b), one round.
  const d = b.sub(x0, x1);
  const w = cfg.compare !== 'fss' ? whereCrypten(b, ge(b, x0, x1, cfg), x0, x1, cfg) : b.add(x1, loose > 0 ? spline(b, d, looseRelu(loose), cfg)[0]! : relu(b, d, cfg));
  // a max of elements lies within their bound
  const bx = b.boundOf(x);
  if (bx !== undefined) b.bound(w, bx[0], bx[1]);
  return m % 2 === 0 ? w : b.concat([w, sliceAxis(b, x, axis, 2 * h, m)], axis);
}

function whereCrypten(b: CircuitBuilder, c: Reg, x: Reg, y: Reg, cfg: ProtocolConfig): Reg {
  if (cfg.whereMethod === 'one-mul') return b.add(mul(b, c, b.sub(x, y)), y);
  const yMasked = mul(b, b.rsubPub(b.constant(1, c.scale), c), y);
  return b.add(mul(b, x, c), yMasked);
}

/** Moves `axis` last (returns the permutation to undo it, or undefined when already last). */
function toLast(b: CircuitBuilder, x: Reg, axis: number): [Reg, number[] | undefined] {
  const r = x.shape.length;
  if (axis === r - 1) return [x, undefined];
  const perm = [...Array(r).keys()].filter((i) => i !== axis).concat([axis]);
  const inv = new Array<number>(r);
  perm.forEach((p, i) => (inv[p] = i));
  return [b.transpose(x, perm), inv];
}

function fromLast(b: CircuitBuilder, x: Reg, inv: number[] | undefined): Reg {
  return inv === undefined ? x : b.transpose(x, inv);
}

/** A public k x k matrix at scale 0 (row-major entries from fn). */
function pubMatrix(b: CircuitBuilder, k: number, fn: (i: number, j: number) => number): Reg {
  const data: number[] = [];
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) data.push(fn(i, j));
  return b.constant(data, 0, [k, k]);
}

/**
 * CrypTen's random value in [0, 1) with 16 fractional bits: random bits shared in binary,
 * converted to arithmetic (one open of 16 bits per value), weighted by powers of two.
 */
function randUnit(b: CircuitBuilder, shape: readonly number[]): Reg {
  const bits = b.f;
  const [, rb] = b.dealer.randBit([...shape, bits]);
  const arith = b2aBit(b, rb);
  const weights = b.constant(
    Array.from({ length: bits }, (_, i) => 2 ** (i - bits)),
    bits,
    [bits],
  );
  const v = b.reduceSum(b.mulPub(arith, weights), [-1], false);
  return v.scale === b.f ? v : b.trunc(v, v.scale - b.f);
}

/**
 * CrypTen's weighted_index along the last axis of a 0/1 tensor (scale 0): picks one of the
 * ones uniformly. cumsum (local), r = rand * total, gt(cumsum, r), minus its shift by one.
 */
function weightedIndex(b: CircuitBuilder, ones: Reg, cfg: ProtocolConfig): Reg {
  const k = ones.shape[ones.shape.length - 1]!;
  const cum = b.matmulPub(ones, pubMatrix(b, k, (i, j) => (i <= j ? 1 : 0)));
  const total = b.slice(cum, [k - 1], [k], [-1]);
  const r = mul(b, randUnit(b, total.shape), total);
  const g = gt(b, toFixed(b, cum), r, cfg);
  const shifted = b.matmulPub(g, pubMatrix(b, k, (i, j) => (j === i + 1 ? 1 : 0)));
  return b.sub(g, shifted);
}

/** Product over axis 0 by halving (CrypTen's prod): ceil(log2 n) rounds. */
function prodAxis0(b: CircuitBuilder, x: Reg): Reg {
  let cur = x;
  while (cur.shape[0]! > 1) {
    const m = cur.shape[0]!;
    const h = Math.floor(m / 2);
    const p = mul(b, sliceAxis(b, cur, 0, 0, h), sliceAxis(b, cur, 0, h, 2 * h));
    cur = m % 2 === 0 ? p : b.concat([p, sliceAxis(b, cur, 0, 2 * h, m)], 0);
  }
  return b.reshape(cur, cur.shape.slice(1));
}

/** All-pairs argmax along the last axis (one-hot, scale 0), CrypTen's `pairwise` method without tie-break. */
function pairwiseArgmax(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig): Reg {
  const k = x.shape[x.shape.length - 1]!;
  const lift = (v: Reg): Reg => b.reshape(v, [1, ...v.shape]);
  const a = b.expand(lift(x), [k - 1, ...x.shape]);
  const rolls: Reg[] = [];
  for (let i = 1; i < k; i++) {
    // roll by i along the last axis
    rolls.push(lift(b.concat([b.slice(x, [k - i], [k], [-1]), b.slice(x, [0], [k - i], [-1])], -1)));
  }
  const rolled = rolls.length === 1 ? rolls[0]! : b.concat(rolls, 0);
  return prodAxis0(b, ge(b, a, rolled, cfg));
}

/** ReLU as a spline (a = 0, slope 1, no truncation: exact) whose comparison ignores `drop` low bits. */
const looseRelu = (drop: number): SplineTable => ({ knots: [0], shifts: [0], a: [0, 0], s: [0, 1], drop });

/** How far below the row max a loose max (`looseBits` s, rows of n) may be: ceil(log2 n) steps of 2^s ulp each, in reals at scale f. */
export const looseMaxSlack = (n: number, looseBits: number, f: number): number => (Math.ceil(Math.log2(Math.max(n, 1))) * 2 ** looseBits) / 2 ** f;

/**
 * Max of x over `axis` (kept as size 1). `looseBits` s > 0 (FSS comparisons with the tree
 * only; for a caller that is indifferent to a small shift, as softmax is): each element of the
 * result is an element of its row at most looseMaxSlack below the row's max.
 */
export function max(b: CircuitBuilder, x: Reg, axis: number, cfg: ProtocolConfig = CRYPTEN, looseBits = 0): Reg {
  return b.withProtocol(`max-${cfg.maxMethod}`, () => {
    const ax = axisOf(x, axis);
    if (x.shape[ax] === 1) return x;
    if (looseBits > 0 && (cfg.compare !== 'fss' || cfg.maxMethod !== 'tree')) throw new Error('max: a loose max needs FSS comparisons and maxMethod=tree');
    if (cfg.maxMethod === 'tree') {
      let cur = x;
      while (cur.shape[ax]! > 1) cur = halve(b, cur, ax, cfg, looseBits);
      return cur;
    }
    const [xl, inv] = toLast(b, x, ax);
    const last = xl.shape.length - 1;
    const steps = Math.floor(Math.log(xl.shape[last]!));
    let cur = xl;
    for (let i = 0; i < steps; i++) cur = halve(b, cur, last, cfg);
    let m: Reg;
    if (cur.shape[last] === 1) m = cur;
    else {
      const onehot = weightedIndex(b, pairwiseArgmax(b, cur, cfg), cfg);
      m = b.reduceSum(mul(b, cur, onehot), [-1], true);
    }
    if (cfg.maxComputesArgmax) {
      // The one-hot argmax CrypTen computes alongside (unused here; kept for equal costs).
      weightedIndex(b, eqz(b, b.sub(xl, m)), cfg);
    }
    return fromLast(b, m, inv);
  });
}

/** One-hot argmax over `axis` (scale 0), CrypTen's way: max, equality with it, random tie-break. */
export function argmax(b: CircuitBuilder, x: Reg, axis: number, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol('argmax', () => {
    const ax = axisOf(x, axis);
    const m = max(b, x, ax, { ...cfg, maxComputesArgmax: false });
    const [xl, inv] = toLast(b, x, ax);
    const [ml] = toLast(b, m, ax);
    return fromLast(b, weightedIndex(b, eqz(b, b.sub(xl, ml)), cfg), inv);
  });
}
