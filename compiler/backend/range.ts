// Range analysis before lowering: every number the circuit will hold as fixed point (Z_2^64
// with f fractional bits) must fit, with room for a product before its truncation.
//
// Checked: the compile-time values (constants, folded public values, server weights) that
// input-dependent ops consume as data, and, by cheap interval propagation, values whose
// bounds are known from their inputs (masks, probabilities, bounded activations, sums and
// products of bounded values). A value that cannot be represented is an error naming the
// node; e.g. the additive attention mask of an exported BERT (about -3.4e38, float32's
// minimum) must be rewritten into a keep mask, not shared.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { evaluateNode } from '../../ir/evaluate.ts';
import type { Graph } from '../../ir/graph.ts';
import { CONST_OP, INPUT_OP, isElided, type Node } from '../../ir/node.ts';
import { floatAttr, intsAttr } from '../../ir/op.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { findLowering, indexInputsOf, inputDependent } from './lower/index.ts';
import { rowFacts, secureInterval } from './secure-range.ts';

export interface RangeOptions {
  /** Fractional bits (default 16). */
  readonly f?: number;
  /**
   * Bound the values after LayerNorm, Linear, MatMul with a constant, attention and GELU too
   * (the rules in secure-range.ts), for the secure lowering's FSS comparison widths:
   * `layerNormError` is the relative error of the lowering's normalized value (x - mean) /
   * sqrt(var + eps) (undefined: these rules are off, as for protocols whose inverse square
   * root has no error bound). The overflow check ignores bounds that depend on them (they
   * are conservative: a product of two such bounds overstates what a value can reach).
   */
  readonly layerNormError?: number;
}

export interface RangeResult {
  /** Every compile-time value (constants and folded nodes), for lowering to reuse. */
  readonly known: Map<Node, Tensor>;
  /** Interval bounds found for input-dependent values ([-Inf, Inf] when unknown). */
  readonly bounds: Map<Node, readonly [number, number]>;
  /** Non-fatal findings, e.g. constants that round to zero. */
  readonly warnings: string[];
}

/** |x| at or above this cannot be encoded at all: x * 2^f leaves the signed 64-bit range. */
export function encodeLimit(f: number): number {
  return 2 ** (63 - f);
}

/**
 * |x| at or above this risks overflow: a product of two fixed-point values carries 2f
 * fractional bits before truncation, so with one bit of headroom for sums a factor must stay
 * below 2^(62 - 2f) (2^30, about 1.07e9, for f = 16) when the other is about 1.
 */
export function safeLimit(f: number): number {
  return 2 ** (62 - 2 * f);
}

/** Numbers as a float32 prints them when huge or tiny (-3.4028235e+38), else as they are. */
function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1e21 || (a < 1e-6 && a > 0) ? String(Number(x.toPrecision(8))) : String(x);
}

interface Extremes {
  readonly min: number;
  readonly max: number;
  /** The element of largest magnitude. */
  readonly worst: number;
  readonly nonFinite: number | undefined;
  /** Nonzero elements below `tinyBelow` in magnitude. */
  readonly tiny: number;
}

/** One pass over the elements, in their own storage (no float64 copy of a large weight). */
function extremes(t: Tensor, tinyBelow: number): Extremes {
  let min = Infinity;
  let max = -Infinity;
  let nonFinite: number | undefined;
  let tiny = 0;
  const d = t.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < d.length; i++) {
      const v = Number(d[i]!);
      if (v < min) min = v;
      if (v > max) max = v;
    }
  } else {
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
      if (v !== 0 && v < tinyBelow && v > -tinyBelow) tiny++;
    }
    if (!(Number.isFinite(min) && Number.isFinite(max)) && d.length > 0) {
      for (let i = 0; i < d.length; i++) {
        if (!Number.isFinite(d[i]!)) {
          nonFinite = d[i]!;
          break;
        }
      }
    }
  }
  if (d.length === 0) return { min: 0, max: 0, worst: 0, nonFinite, tiny };
  const worst = Math.abs(min) > Math.abs(max) ? min : max;
  return { min, max, worst, nonFinite, tiny };
}

function place(n: Node): { node?: string } {
  return n.loc.name !== undefined && n.loc.name !== '' ? { node: n.loc.name } : {};
}

/** The additive-mask idiom: a huge negative constant (float32's minimum) in a Mul/Add/Where/Sub. */
function isMaskConstruction(n: Node, v: number): boolean {
  return v <= -1e30 && ['Mul', 'Add', 'Sub', 'Where'].includes(n.op);
}

function rangeError(n: Node, v: number, f: number, hard: boolean): Ig3dcError {
  const mask = isMaskConstruction(n, v);
  const what = mask ? 'mask construction' : n.op;
  const layer = n.loc.layer !== undefined ? `, layer ${n.loc.layer}` : '';
  const problem = !Number.isFinite(v)
    ? `constant ${fmt(v)} cannot be represented in 64-bit fixed point`
    : hard
      ? `constant ${fmt(v)} overflows 64-bit fixed point with ${f} fractional bits`
      : `constant ${fmt(v)} is too large for 64-bit fixed point with ${f} fractional bits: a product with it would overflow before truncation (|x| must stay below 2^${62 - 2 * f} = ${fmt(safeLimit(f))})`;
  const hint = mask ? 'run raise-bert so the additive mask becomes a keep mask' : 'rewrite the graph so this value is not needed (e.g. clip or rescale it)';
  return new Ig3dcError('unsupported', `(${what}${layer}): ${problem}; ${hint}`, place(n));
}

type Interval = readonly [number, number];
const UNKNOWN: Interval = [-Infinity, Infinity];

function hull(xs: readonly Interval[]): Interval {
  return [Math.min(...xs.map((x) => x[0])), Math.max(...xs.map((x) => x[1]))];
}

function mulI(a: Interval, b: Interval): Interval {
  const ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]].map((v) => (Number.isNaN(v) ? Infinity : v));
  if (ps.some((v) => !Number.isFinite(v))) return UNKNOWN;
  return [Math.min(...ps), Math.max(...ps)];
}

/** Bounds of an input-dependent node from its inputs' bounds (UNKNOWN where not cheap). */
function intervalOf(n: Node, ins: readonly Interval[]): Interval {
  const [a, b] = ins;
  switch (n.op) {
    case 'AttentionMask':
    case 'Softmax':
    case 'AttentionSoftmax':
    case 'Sigmoid':
      return [0, 1];
    case 'Tanh':
    case 'Erf':
    case 'Pooler':
      return [-1, 1];
    case 'Relu':
      return [Math.max(0, a![0]), Math.max(0, a![1])];
    case 'Neg':
      return [-a![1], -a![0]];
    case 'Add':
      return [a![0] + b![0], a![1] + b![1]];
    case 'Sub':
      return [a![0] - b![1], a![1] - b![0]];
    case 'Mul':
      return mulI(a!, b!);
    case 'Embedding':
    case 'Gather':
      return a!;
    case 'Identity':
    case 'Cast':
    case 'Reshape':
    case 'Transpose':
    case 'Slice':
    case 'Expand':
    case 'Tile':
    case 'SplitHeads':
    case 'MergeHeads':
      return a!;
    case 'Concat':
      return hull(ins);
    case 'Clip':
      return [Math.max(a![0], floatAttr(n.attrs, 'min')), Math.min(a![1], floatAttr(n.attrs, 'max'))];
    case 'ReduceSum': {
      const axes = intsAttr(n.attrs, 'axes');
      const s = n.inputs[0]!.type.shape;
      const cnt = axes.reduce((acc, ax) => acc * (s[ax < 0 ? ax + s.length : ax] ?? 1), 1);
      return [a![0] * cnt, a![1] * cnt];
    }
    case 'ReduceMean':
    case 'ReduceMax':
    case 'ReduceMin':
      return a!;
    default:
      return UNKNOWN;
  }
}

/** Throws on a value that cannot be held in fixed point; returns the folded values and warnings. */
export function checkRanges(graph: Graph, options: RangeOptions = {}): RangeResult {
  const f = options.f ?? 16;
  const hard = encodeLimit(f);
  const safe = safeLimit(f);
  const resolution = 2 ** -(f + 1);
  const dep = inputDependent(graph);
  const known = new Map<Node, Tensor>();
  const bounds = new Map<Node, Interval>();
  const checked = new Set<Node>();
  const warnings: string[] = [];
  let tinyElements = 0;
  const tinyNodes = new Set<Node>();
  const stats = new Map<Node, Extremes>();
  const tinyEps: number[] = [];
  /** Nodes whose bound came from a secure-range rule (directly or through an input). */
  const conservative = new Set<Node>();
  const secure = options.layerNormError;
  const facts = rowFacts();

  const valueOf = (n: Node): Tensor | undefined => {
    let t = known.get(n);
    if (t !== undefined) return t;
    if (n.op === CONST_OP) {
      if (n.data === undefined || isElided(n.data)) return undefined;
      t = n.data;
    } else {
      const ins = n.inputs.map(valueOf);
      if (ins.some((x) => x === undefined)) return undefined;
      t = evaluateNode(n, ins as Tensor[]);
    }
    known.set(n, t);
    return t;
  };

  for (const n of graph.nodes()) {
    if (n.op === INPUT_OP) {
      bounds.set(n, n.type.elem === 'bool' ? [0, 1] : UNKNOWN);
      continue;
    }
    if (!dep.has(n)) {
      valueOf(n);
      continue;
    }
    if (findLowering(n.op) === undefined) {
      bounds.set(n, UNKNOWN);
      continue;
    }
    const index = new Set(indexInputsOf(n));
    const ins: Interval[] = n.inputs.map((i, k) => {
      if (dep.has(i)) return bounds.get(i) ?? UNKNOWN;
      const t = valueOf(i);
      if (t === undefined) return UNKNOWN;
      let e = stats.get(i);
      if (e === undefined) {
        e = extremes(t, resolution);
        stats.set(i, e);
      }
      const iv: Interval = e.nonFinite !== undefined ? UNKNOWN : [e.min, e.max];
      if (index.has(k) || checked.has(i)) return iv;
      checked.add(i);
      if (e.nonFinite !== undefined) throw rangeError(n, e.nonFinite, f, true);
      if (Math.abs(e.worst) >= hard) throw rangeError(n, e.worst, f, true);
      if (Math.abs(e.worst) >= safe) throw rangeError(n, e.worst, f, false);
      if (e.tiny > 0) {
        tinyElements += e.tiny;
        tinyNodes.add(i);
      }
      return iv;
    });
    let iv = intervalOf(n, ins);
    if (secure !== undefined) {
      const rule = secureInterval(n, ins, (k) => (dep.has(n.inputs[k]!) ? undefined : valueOf(n.inputs[k]!)), f, secure, facts);
      if (rule !== undefined) {
        iv = rule;
        conservative.add(n);
      } else if (n.inputs.some((i) => conservative.has(i))) conservative.add(n);
    }
    bounds.set(n, iv);
    const worst = Math.max(Math.abs(iv[0]), Math.abs(iv[1]));
    if (Number.isFinite(worst) && worst >= safe && !conservative.has(n)) {
      const layer = n.loc.layer !== undefined ? `, layer ${n.loc.layer}` : '';
      throw new Ig3dcError(
        'unsupported',
        `(${n.op}${layer}): its values may reach ${fmt(worst)} (interval [${fmt(iv[0])}, ${fmt(iv[1])}] from its inputs), beyond what 64-bit fixed point with ${f} fractional bits can multiply safely (|x| < 2^${62 - 2 * f}); rescale or clip it`,
        place(n),
      );
    }
    if ((n.op === 'LayerNorm' || n.op === 'LayerNormalization') && floatAttr(n.attrs, 'epsilon') < resolution && floatAttr(n.attrs, 'epsilon') > 0) {
      tinyEps.push(floatAttr(n.attrs, 'epsilon'));
    }
  }
  if (tinyEps.length > 0) {
    warnings.push(
      `${tinyEps.length} LayerNorm epsilon(s) (${[...new Set(tinyEps)].map(fmt).join(', ')}) are below the fixed-point resolution 2^-${f} and round to 0 (a constant row would divide by ~0)`,
    );
  }
  if (tinyElements > 0) {
    warnings.push(`${tinyElements} nonzero element(s) of ${tinyNodes.size} constant(s) are below 2^-${f + 1} in magnitude and round to 0 in fixed point with ${f} fractional bits`);
  }
  return { known, bounds, warnings };
}
