// Bit widths of FSS comparisons. On 64 bits a comparison is exact for every ring element; on
// m < 64 bits it is exact only for inputs with |x| < 2^(m-1) in ring units (fss.ts: the sign
// formula reads X's low m bits, and x + 2^m would give the same ones). So a narrower width
// must be proven for every comparison the circuit makes, from the bound range analysis
// (range.ts) proves on the value compared, carried to the comparison by the lowering
// (CircuitBuilder.bound: range analysis's bound of every IR value, and what a protocol knows
// of its own intermediates: a max tree's result lies within its input's bound, softmax's sum
// of exps over n keys, divided by n, within [0, 1], LayerNorm's sum of squares within n (hi - lo)^2 / 4).
//
// What the bound covers: range analysis bounds the exact (float64) values, and its rules for
// ops whose lowering approximates (LayerNorm's inverse square root, weight rounding in a
// Linear) include the secure error. The lowering's remaining error at the compared value (one
// ulp per local truncation, a spline's tolerance, at most 2.5e-4 in any table, the secure
// softmax's probabilities within 1e-3 of [0, 1]) is covered by widening the bound M of |x| at
// the comparison: |x| <= M 2^f (1 + 2^-6) + 2^(f-4) + 2 ring units (1/64 relative, 1/16
// absolute, 2 ulp). Shares, opens and truncations stay in Z_2^64, so the width adds no failure
// of its own: a comparison can only be wrong where an earlier local truncation wrapped
// (probability |x| / 2^64 per truncated element, README "Truncation failures").
//
// `fssBits=auto` (the fss preset): each comparison on the bits its bound needs, 64 where range
// analysis proves none. `fssBits=m`: every comparison on m bits, refused (a usage error naming
// the first node, its bound and the bits it needs) where any needs more or has no bound.

import type { CircuitBuilder } from '../../ir/circuit/builder.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';

/** Relative and absolute widening of a bound at the comparison (see the header). */
export const WIDTH_MARGIN_REL = 2 ** -6;
export const WIDTH_MARGIN_ABS = 2 ** -4;

/** The bits a comparison of values within [lo, hi] (reals, f fractional bits) needs. */
export function comparisonBits(lo: number, hi: number, f: number): number {
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  const units = m * 2 ** f * (1 + WIDTH_MARGIN_REL) + WIDTH_MARGIN_ABS * 2 ** f + 2;
  return Math.min(64, Math.max(2, Math.ceil(Math.log2(units + 1)) + 1));
}

/** One FSS comparison (or spline) and what range analysis proves about the values it compares. */
export interface FssBitsFinding {
  /** The IR node (its name) that emitted it and the protocol. */
  readonly node: string;
  readonly protocol: string;
  /** The bound proven on the compared values, if any (reals; a spline's: x - k_p over its breakpoints). */
  readonly bound?: readonly [number, number];
  /** Bits that bound needs (undefined: no proof). */
  readonly need?: number;
  /** The width used. */
  readonly bits: number;
}

const findingsOf = new WeakMap<CircuitBuilder, FssBitsFinding[]>();

/** The comparisons recorded on a builder (in emission order). */
export function fssBitsFindings(b: CircuitBuilder): readonly FssBitsFinding[] {
  return findingsOf.get(b) ?? [];
}

/**
 * The width of one comparison (or spline key) of values within `bound` (reals; undefined:
 * none proven) under `fssBits`: auto -> the bits needed (64 without a bound); m -> m. Records
 * the finding on the builder, for checkFssBits.
 */
export function fssWidth(b: CircuitBuilder, bound: readonly [number, number] | undefined, fssBits: number | 'auto'): number {
  const finite = bound !== undefined && Number.isFinite(bound[0]) && Number.isFinite(bound[1]);
  const need = finite ? comparisonBits(bound[0], bound[1], b.f) : undefined;
  const bits = fssBits === 'auto' ? (need ?? 64) : fssBits;
  let list = findingsOf.get(b);
  if (list === undefined) findingsOf.set(b, (list = []));
  list.push({ node: b.provenance.irNode, protocol: b.provenance.protocol, ...(finite ? { bound, need } : {}), bits });
  return bits;
}

const num = (x: number): string => String(Number(x.toPrecision(6)));

/**
 * Refuses an explicit FSS comparison width (`bits` < 64) that range analysis does not prove
 * safe for every comparison of the circuit: a 'usage' error naming the first IR node that
 * fails, its op, the bound range analysis proves on the compared value (or that it proves
 * none), the bits that bound needs, and the narrowest width the whole model would accept.
 */
export function checkFssBits(graph: Graph, findings: readonly FssBitsFinding[], bits: number | 'auto', f: number): void {
  if (bits === 'auto' || bits >= 64) return;
  const failing = findings.filter((x) => x.need === undefined || x.need > bits);
  if (failing.length === 0) return;
  const byName = new Map<string, Node>();
  for (const n of graph.nodes()) if (n.loc.name !== undefined) byName.set(n.loc.name, n);
  const first = failing[0]!;
  const op = byName.get(first.node)?.op ?? 'op';
  const what = `the ${op} (protocol ${first.protocol})`;
  const why =
    first.need === undefined
      ? `range analysis proves no bound on the values it compares`
      : `range analysis bounds its input to [${num(first.bound![0])}, ${num(first.bound![1])}]: |x| <= ${num(Math.max(Math.abs(first.bound![0]), Math.abs(first.bound![1])))} * 2^${f} plus the lowering's error needs ${first.need} bits`;
  const nodes = new Set(failing.map((x) => x.node));
  const unproven = findings.some((x) => x.need === undefined);
  const widest = Math.max(...findings.map((x) => x.need ?? 64));
  const more = nodes.size > 1 ? `; ${nodes.size - 1} more node(s) fail too` : '';
  const fix = unproven ? 'use fssBits=auto (the fewest proven bits per comparison, 64 where none is proven) or 64' : `use fssBits=${widest} or more (the widest any comparison of this model needs), or auto`;
  throw new Ig3dcError('usage', `fssBits=${bits}: cannot prove a ${bits}-bit comparison safe in ${what}: ${why}${more}; ${fix}`, first.node === '' ? {} : { node: first.node });
}
