// A simulation diagnostic: how likely one inference is to hit a failure of local truncation.
//
// Local truncation (the `trunc` gate, and the slope outputs of `fss_spline`) shifts each share
// on its own: P0 computes floor(s0 / 2^k), P1 ceil(s1 / 2^k), with s0, s1 the shares read as
// signed 64-bit integers. When s0 + s1 = x holds over the integers (no wrap), the result is
// floor(x / 2^k) or that + 1. It wraps when x - s0 leaves [-2^63, 2^63): with s0 uniform,
// for x >= 0 that is s0 in [-2^63, x - 2^63), x values of 2^64; for x < 0, s0 in
// (x + 2^63, 2^63), -x - 1 values. A wrap is off by 2^(64 - k): a garbage value. So the
// failure probability of one element is
//
//   p(x) = x / 2^64 (x >= 0),   (-x - 1) / 2^64 (x < 0),   at most 2^(b - 64) for |x| < 2^b,
//
// and the expected number of failures of one inference is the sum of p over every element
// of every truncation. Only an in-process run holds both shares, so only it can measure this:
// the probe reconstructs each truncation's input (and output, to count the failures that did
// happen) and groups the figures by the protocol and op kind that emitted the truncation.
// For `fss_spline` the value before the shift is never a register: it is estimated from the
// output, |T| ~ |y| 2^k (within 2^k), which is all the probability needs.

import type { Circuit } from '../ir/circuit/circuit.ts';
import type { Instruction } from '../ir/circuit/types.ts';
import { numel } from '../ir/types.ts';

type Ring = BigUint64Array;

/** The truncations of one protocol / op kind. */
export interface TruncationGroup {
  /** The protocol that emitted the truncations (the instruction's provenance), else the gate. */
  readonly protocol: string;
  readonly opKind: string;
  /** Truncation instructions run. */
  readonly instructions: number;
  /** Elements truncated. */
  readonly elements: number;
  /** Bits of the largest |x| truncated: ceil(log2(|x| + 1)). */
  readonly maxBits: number;
  /** The IR node whose truncation saw the largest value. */
  readonly worstNode: string;
  /** Sum of p(x) over the elements: the expected number of failures per inference. */
  readonly expectedFailures: number;
  /** Failures that happened in this run (a result off by more than one ulp). */
  readonly observedFailures: number;
}

/** One truncation instruction. */
export interface TruncationSite {
  /** Index of the instruction in the circuit. */
  readonly instruction: number;
  readonly protocol: string;
  readonly irNode: string;
  readonly elements: number;
  readonly maxBits: number;
  readonly expectedFailures: number;
  readonly observedFailures: number;
}

export interface TruncationReport {
  readonly groups: readonly TruncationGroup[];
  /** The instructions with the most expected failures (at most 10). */
  readonly worst: readonly TruncationSite[];
  /** Sum over the groups. */
  readonly expectedFailures: number;
  readonly observedFailures: number;
  readonly elements: number;
  readonly maxBits: number;
}

const TWO64 = 2 ** 64;

/** p(x) of one reconstructed value (see the top of the file). */
export function truncationFailureProbability(x: bigint): number {
  return Number(x >= 0n ? x : -x - 1n) / TWO64;
}

/** Bits of |x|: ceil(log2(|x| + 1)). */
export function bitsOf(x: bigint): number {
  return (x < 0n ? -x : x).toString(2).length - (x === 0n ? 1 : 0);
}

interface Acc {
  protocol: string;
  opKind: string;
  instructions: number;
  elements: number;
  maxAbs: bigint;
  worstNode: string;
  expected: number;
  observed: number;
}

interface Site {
  readonly index: number;
  readonly ins: Instruction;
  readonly acc: Acc;
  /** This instruction's own figures. */
  readonly own: { elements: number; maxAbs: bigint; expected: number; observed: number };
}

/** Collects both parties' shares at every truncation; feed it every define of both parties. */
export class TruncationProbe {
  readonly #circuit: Circuit;
  readonly #groups = new Map<string, Acc>();
  /** trunc input register -> the truncations reading it. */
  readonly #truncInputs = new Map<number, Site[]>();
  /** trunc / fss_spline output register -> its site. */
  readonly #outputs = new Map<number, Site>();
  /** Shares seen by one party so far, until the other one's arrive. */
  readonly #pending = new Map<number, [Ring | undefined, Ring | undefined]>();
  /** A trunc output register -> its input's plain value (to check the result). */
  readonly #plainIn = new Map<number, BigInt64Array>();

  constructor(c: Circuit) {
    this.#circuit = c;
    for (const [index, ins] of c.instructions.entries()) {
      if (ins.op !== 'trunc' && ins.op !== 'fss_spline') continue;
      const protocol = ins.prov.protocol || ins.op;
      const key = `${protocol}\u0000${ins.prov.opKind}`;
      let acc = this.#groups.get(key);
      if (acc === undefined) this.#groups.set(key, (acc = { protocol, opKind: ins.prov.opKind, instructions: 0, elements: 0, maxAbs: -1n, worstNode: '', expected: 0, observed: 0 }));
      const site: Site = { index, ins, acc, own: { elements: 0, maxAbs: -1n, expected: 0, observed: 0 } };
      if (ins.op === 'trunc') {
        const r = ins.inputs[0]!;
        const list = this.#truncInputs.get(r);
        if (list === undefined) this.#truncInputs.set(r, [site]);
        else list.push(site);
      } else if (!(ins.attrs['shifts'] as readonly number[]).some((k) => k > 0)) continue;
      this.#outputs.set(ins.outputs[0]!, site);
    }
  }

  /** Party `p` defined register `r` (the value may be recycled afterwards: copied when kept). */
  define(p: 0 | 1, r: number, v: Ring): void {
    const isIn = this.#truncInputs.has(r);
    const isOut = this.#outputs.has(r);
    if (!isIn && !isOut) return;
    let pair = this.#pending.get(r);
    if (pair === undefined) this.#pending.set(r, (pair = [undefined, undefined]));
    pair[p] = v.slice();
    if (pair[0] === undefined || pair[1] === undefined) return;
    this.#pending.delete(r);
    const plain = new BigInt64Array(pair[0].length);
    for (let i = 0; i < plain.length; i++) plain[i] = BigInt.asIntN(64, pair[0][i]! + pair[1][i]!);
    if (isIn) for (const site of this.#truncInputs.get(r)!) this.#truncInput(site, plain);
    if (isOut) this.#output(this.#outputs.get(r)!, plain);
  }

  #note(site: Site, maxAbs: bigint, expected: number, elements: number): void {
    const { acc, ins, own } = site;
    own.elements += elements;
    own.expected += expected;
    if (maxAbs > own.maxAbs) own.maxAbs = maxAbs;
    acc.instructions++;
    acc.elements += elements;
    acc.expected += expected;
    if (maxAbs > acc.maxAbs) {
      acc.maxAbs = maxAbs;
      acc.worstNode = ins.prov.irNode;
    }
  }

  #truncInput(site: Site, x: BigInt64Array): void {
    let expected = 0;
    let maxAbs = 0n;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      const a = v < 0n ? -v : v;
      if (a > maxAbs) maxAbs = a;
      expected += truncationFailureProbability(v);
    }
    this.#note(site, maxAbs, expected, x.length);
    this.#plainIn.set(site.ins.outputs[0]!, x);
  }

  #output(site: Site, y: BigInt64Array): void {
    const { ins, acc } = site;
    if (ins.op === 'trunc') {
      const x = this.#plainIn.get(ins.outputs[0]!);
      if (x === undefined) return;
      this.#plainIn.delete(ins.outputs[0]!);
      const k = BigInt(ins.attrs['bits'] as number);
      for (let i = 0; i < y.length; i++) {
        const d = y[i]! - (x[i]! >> k);
        if (d > 1n || d < 0n) acc.observed++, site.own.observed++;
      }
      return;
    }
    // fss_spline: output o is T_o / 2^(k_o), [O, n] output-major.
    const shifts = ins.attrs['shifts'] as readonly number[];
    const n = numel(this.#circuit.registers[ins.outputs[0]!]!.shape) / shifts.length;
    let expected = 0;
    let maxAbs = 0n;
    let elements = 0;
    shifts.forEach((k, o) => {
      if (k === 0) return;
      const kb = BigInt(k);
      // A wrapped result is off by 2^(64 - k): beyond 2^(62 - k) it is no plain value of T.
      const garbage = 1n << BigInt(62 - k);
      for (let i = o * n; i < (o + 1) * n; i++) {
        const v = y[i]!;
        const a = v < 0n ? -v : v;
        if (a >= garbage) acc.observed++, site.own.observed++;
        const t = v << kb;
        const at = a << kb;
        if (at > maxAbs) maxAbs = at;
        expected += truncationFailureProbability(t);
        elements++;
      }
    });
    this.#note(site, maxAbs, expected, elements);
  }

  /** The figures so far, the largest expected failures first. */
  report(): TruncationReport {
    const worst: TruncationSite[] = [...this.#outputs.values(), ...[...this.#truncInputs.values()].flat()]
      .filter((s, i, all) => s.own.elements > 0 && all.indexOf(s) === i)
      .sort((a, b) => b.own.expected - a.own.expected)
      .slice(0, 10)
      .map((s) => ({
        instruction: s.index,
        protocol: s.acc.protocol,
        irNode: s.ins.prov.irNode,
        elements: s.own.elements,
        maxBits: bitsOf(s.own.maxAbs),
        expectedFailures: s.own.expected,
        observedFailures: s.own.observed,
      }));
    const groups: TruncationGroup[] = [...this.#groups.values()]
      .filter((a) => a.instructions > 0)
      .map((a) => ({
        protocol: a.protocol,
        opKind: a.opKind,
        instructions: a.instructions,
        elements: a.elements,
        maxBits: bitsOf(a.maxAbs),
        worstNode: a.worstNode,
        expectedFailures: a.expected,
        observedFailures: a.observed,
      }))
      .sort((a, b) => b.expectedFailures - a.expectedFailures || b.maxBits - a.maxBits);
    return reportOf(groups, worst);
  }
}

/** Merges the reports of several inferences into their mean per inference (observed: the total). */
export function meanTruncationReport(reports: readonly TruncationReport[]): TruncationReport {
  const n = reports.length;
  const by = new Map<string, TruncationGroup & { expectedSum: number }>();
  for (const r of reports) {
    for (const g of r.groups) {
      const key = `${g.protocol}\u0000${g.opKind}`;
      const was = by.get(key);
      if (was === undefined) by.set(key, { ...g, expectedSum: g.expectedFailures });
      else {
        by.set(key, {
          ...was,
          instructions: Math.max(was.instructions, g.instructions),
          elements: Math.max(was.elements, g.elements),
          maxBits: Math.max(was.maxBits, g.maxBits),
          worstNode: g.maxBits > was.maxBits ? g.worstNode : was.worstNode,
          observedFailures: was.observedFailures + g.observedFailures,
          expectedSum: was.expectedSum + g.expectedFailures,
        });
      }
    }
  }
  const groups = [...by.values()]
    .map(({ expectedSum, ...g }) => ({ ...g, expectedFailures: expectedSum / n }))
    .sort((a, b) => b.expectedFailures - a.expectedFailures || b.maxBits - a.maxBits);
  const worst = reports
    .flatMap((r) => r.worst)
    .sort((a, b) => b.expectedFailures - a.expectedFailures)
    .filter((s, i, all) => all.findIndex((t) => t.instruction === s.instruction) === i)
    .slice(0, 10);
  return reportOf(groups, worst);
}

/** A report from its groups: the totals are the groups' sums (the largest width for bits). */
function reportOf(groups: TruncationGroup[], worst: TruncationReport['worst']): TruncationReport {
  return {
    groups,
    worst,
    expectedFailures: groups.reduce((s, g) => s + g.expectedFailures, 0),
    observedFailures: groups.reduce((s, g) => s + g.observedFailures, 0),
    elements: groups.reduce((s, g) => s + g.elements, 0),
    maxBits: groups.reduce((m, g) => Math.max(m, g.maxBits), 0),
  };
}
