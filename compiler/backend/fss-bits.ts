// Bit widths of FSS comparisons. On 64 bits a comparison is exact for every ring element; on
// m < 64 bits (protocol option fssBits) it is exact only for inputs with |x| < 2^(m-1) in ring
// units, so a narrower width must be proven from range analysis for every comparison the
// circuit makes. The proof covered here: a Relu whose input has a finite interval bound B,
// with |x| <= B 2^f + 2 (the input's share carries at most 2 ulp of local-truncation error:
// each truncation of a product is off by at most one ulp, or, with probability at most
// 2^(b+1-64) for a value of b bits, by a wrap of the shares, the bound every local truncation
// in the circuit already carries). Any other comparison on fewer than 64 bits is an error.

import type { Circuit } from '../../ir/circuit/circuit.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';

/** The bits a comparison of values within [lo, hi] (reals, f fractional bits) needs. */
export function comparisonBits(lo: number, hi: number, f: number): number {
  const units = Math.max(Math.abs(lo), Math.abs(hi)) * 2 ** f + 2;
  return Math.ceil(Math.log2(units + 1)) + 1;
}

/** Throws a 'range' error naming the first IR node whose comparisons' bit width is not proven. */
export function checkFssBits(graph: Graph, c: Circuit, bounds: ReadonlyMap<Node, readonly [number, number]>): void {
  const byName = new Map<string, Node>();
  for (const n of graph.nodes()) if (n.loc.name !== undefined) byName.set(n.loc.name, n);
  const checked = new Set<string>();
  for (const ins of c.instructions) {
    if (ins.op !== 'fss_key') continue;
    const bits = ins.attrs['bits'] as number;
    if (bits === 64 || checked.has(ins.prov.irNode)) continue;
    checked.add(ins.prov.irNode);
    const node = byName.get(ins.prov.irNode);
    const b = node?.op === 'Relu' ? bounds.get(node.inputs[0]!) : undefined;
    const need = b !== undefined && Number.isFinite(b[0]) && Number.isFinite(b[1]) ? comparisonBits(b[0], b[1], c.f) : undefined;
    if (need === undefined || need > bits) {
      const why = need === undefined ? 'range analysis finds no bound on its input' : `its input's bound needs ${need} bits`;
      throw new Ig3dcError('unsupported', `fssBits=${bits}: cannot prove a ${bits}-bit comparison safe (${why}); use fssBits=64 (exact) or a wider width`, {
        node: ins.prov.irNode === '' ? '(unnamed)' : ins.prov.irNode,
      });
    }
  }
}
