// Bit widths of FSS comparisons. On 64 bits a comparison is exact for every ring element; on
// m < 64 bits (protocol option fssBits) it is exact only for inputs with |x| < 2^(m-1) in ring
// units, so a narrower width must be proven from range analysis for every comparison the
// circuit makes. The proof covered here: a Relu whose input has a finite interval bound B,
// with |x| <= B 2^f + 2 (the input's share carries at most 2 ulp of local-truncation error:
// each truncation of a product is off by at most one ulp, or, with probability at most
// 2^(b+1-64) for a value of b bits, by a wrap of the shares, the bound every local truncation
// in the circuit already carries). Any other comparison on fewer than 64 bits (max, clips,
// splines: range analysis bounds no value they compare) is refused.

import type { Circuit } from '../../ir/circuit/circuit.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';

/** The bits a comparison of values within [lo, hi] (reals, f fractional bits) needs. */
export function comparisonBits(lo: number, hi: number, f: number): number {
  const units = Math.max(Math.abs(lo), Math.abs(hi)) * 2 ** f + 2;
  return Math.ceil(Math.log2(units + 1)) + 1;
}

/** One IR node whose FSS comparisons were checked against range analysis. */
export interface FssBitsFinding {
  /** The IR node (its name) and op. */
  readonly node: string;
  readonly op: string;
  /** The protocol that emitted the comparison (provenance). */
  readonly protocol: string;
  /** The bound range analysis proves on the compared value, if any. */
  readonly bound?: readonly [number, number];
  /** Bits that bound needs (undefined: no proof). */
  readonly need?: number;
}

const num = (x: number): string => String(Number(x.toPrecision(6)));

/** What range analysis proves about each IR node's narrower-than-64-bit FSS comparisons (one entry per node). */
export function fssBitsFindings(graph: Graph, c: Circuit, bounds: ReadonlyMap<Node, readonly [number, number]>): FssBitsFinding[] {
  const byName = new Map<string, Node>();
  for (const n of graph.nodes()) if (n.loc.name !== undefined) byName.set(n.loc.name, n);
  const seen = new Set<string>();
  const out: FssBitsFinding[] = [];
  for (const ins of c.instructions) {
    // a gate on 64 bits is exact whatever its input
    if (ins.op !== 'fss_key' || ins.attrs['bits'] === 64 || seen.has(ins.prov.irNode)) continue;
    seen.add(ins.prov.irNode);
    const node = byName.get(ins.prov.irNode);
    const b = node?.op === 'Relu' ? bounds.get(node.inputs[0]!) : undefined;
    const finite = b !== undefined && Number.isFinite(b[0]) && Number.isFinite(b[1]);
    out.push({
      node: ins.prov.irNode === '' ? '(unnamed)' : ins.prov.irNode,
      op: node?.op ?? ins.prov.opKind,
      protocol: ins.prov.protocol,
      ...(finite ? { bound: b, need: comparisonBits(b[0], b[1], c.f) } : {}),
    });
  }
  return out;
}

/**
 * Refuses an FSS comparison width (`bits` < 64) that range analysis does not prove safe for
 * every comparison of the circuit: a 'usage' error naming the first IR node that fails, its
 * op, the bound range analysis proves on the compared value (or that it proves none), the
 * bits that bound needs, and the narrowest width the whole model would accept.
 */
export function checkFssBits(graph: Graph, c: Circuit, bounds: ReadonlyMap<Node, readonly [number, number]>, bits: number): void {
  if (bits >= 64) return;
  const findings = fssBitsFindings(graph, c, bounds);
  const failing = findings.filter((x) => x.need === undefined || x.need > bits);
  if (failing.length === 0) return;
  const first = failing[0]!;
  const what = `the ${first.op} (protocol ${first.protocol})`;
  const why =
    first.need === undefined
      ? first.op === 'Relu'
        ? `range analysis proves no finite bound on its input`
        : `range analysis proves no bound on the values it compares (only a Relu's input bound is used)`
      : `range analysis bounds its input to [${num(first.bound![0])}, ${num(first.bound![1])}]: |x| <= ${num(Math.max(Math.abs(first.bound![0]), Math.abs(first.bound![1])))} * 2^${c.f} + 2 ring units needs ${first.need} bits`;
  const unproven = findings.some((x) => x.need === undefined);
  const widest = Math.max(...findings.map((x) => x.need ?? 64));
  const more = failing.length > 1 ? `; ${failing.length - 1} more node(s) fail too` : '';
  const fix = unproven ? 'use fssBits=64 (exact for every ring element)' : `use fssBits=${widest} or more (the widest any comparison of this model needs; 64 is exact)`;
  throw new Ig3dcError('usage', `fssBits=${bits}: cannot prove a ${bits}-bit comparison safe in ${what}: ${why}${more}; ${fix}`, { node: first.node });
}
