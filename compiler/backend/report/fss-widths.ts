// The bit widths of a circuit's FSS comparisons and splines (compiler/backend/fss-bits.ts), per
// op kind and protocol: how many keys run at which width and the dealer bytes they cost. Read
// from the circuit's fss_key instructions, so the report shows what the runtime will do.

import type { Circuit } from '../../../ir/circuit/circuit.ts';
import { fssKeyBytesPerElement, type FssMode } from '../../../ir/circuit/gates/fss.ts';
import { numel } from '../../../ir/types.ts';

export interface FssWidthRow {
  readonly opKind: string;
  readonly protocol: string;
  /** Keys (elements) per width, widths ascending. */
  readonly byBits: Readonly<Record<string, number>>;
  readonly minBits: number;
  readonly maxBits: number;
  /** Keys in all. */
  readonly keys: number;
  /** Dealer bytes of these keys, to P0 and P1 together. */
  readonly dealerBytes: number;
}

/** One row per op kind and protocol that makes FSS keys (none for a circuit without them). */
export function fssWidthRows(c: Circuit): FssWidthRow[] {
  const rows = new Map<string, { opKind: string; protocol: string; byBits: Map<number, number>; dealerBytes: number }>();
  for (const ins of c.instructions) {
    if (ins.op !== 'fss_key') continue;
    const bits = ins.attrs['bits'] as number;
    const n = numel(ins.attrs['shape'] as number[]);
    const key = `${ins.prov.opKind}\u0000${ins.prov.protocol}`;
    let r = rows.get(key);
    if (r === undefined) rows.set(key, (r = { opKind: ins.prov.opKind, protocol: ins.prov.protocol, byBits: new Map(), dealerBytes: 0 }));
    r.byBits.set(bits, (r.byBits.get(bits) ?? 0) + n);
    const [b0, b1] = fssKeyBytesPerElement(bits, ins.attrs['mode'] as FssMode, (ins.attrs['drop'] as number | undefined) ?? 0);
    r.dealerBytes += (b0 + b1) * n;
  }
  return [...rows.values()].map((r) => {
    const widths = [...r.byBits.keys()].sort((a, b) => a - b);
    return {
      opKind: r.opKind,
      protocol: r.protocol,
      byBits: Object.fromEntries(widths.map((w) => [String(w), r.byBits.get(w)!])),
      minBits: widths[0]!,
      maxBits: widths[widths.length - 1]!,
      keys: widths.reduce((a, w) => a + r.byBits.get(w)!, 0),
      dealerBytes: r.dealerBytes,
    };
  });
}
