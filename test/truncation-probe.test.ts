// The truncation diagnostic: its expected number of failures is the formula of
// runtime/truncation-probe.ts (p(x) = x / 2^64 for x >= 0, (-x - 1) / 2^64 below), the wraps it
// observes happen at that rate, and shiftPowersOfTwo (best) shrinks what is truncated.

import { describe, expect, it } from 'vitest';
import { CircuitBuilder, type Reg } from '../ir/circuit/index.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit, truncationFailureProbability, type TruncationReport } from '../runtime/index.ts';
import * as P from '../compiler/backend/protocols/index.ts';

const SEED = Uint8Array.from({ length: 32 }, (_, i) => (i * 73 + 11) & 0xff);

/** A client input x (fixed point, scale 16) through `fn`, with the truncation report. */
function probe(values: number[], fn: (b: CircuitBuilder, x: Reg) => Reg, seed = SEED): { report: TruncationReport; out: number[] } {
  const b = new CircuitBuilder();
  const x = b.input('x', 1, [values.length]);
  b.output(fn(b, x), 'y');
  const c = b.build();
  const r = runCircuit(c, { inputs: new Map([['x', Tensor.from('f64', [values.length], values)]]), weights: new Map(), seed, truncationReport: true });
  return { report: r.truncation!, out: r.outputs.get('y')!.toNumbers() };
}

describe('truncation probe', () => {
  it('sums p(x) = |x| / 2^64 over the truncated elements (x in ring units, both signs)', () => {
    const values = [2 ** 40, -(2 ** 40), 3.5, -0.25, 0, 2 ** 30 + 0.5];
    const { report } = probe(values, (b, x) => b.trunc(x, 16));
    const ring = values.map((v) => BigInt(Math.round(v * 2 ** 16)));
    const want = ring.reduce((s, v) => s + truncationFailureProbability(v), 0);
    expect(truncationFailureProbability(2n ** 56n)).toBe(2 ** -8);
    expect(truncationFailureProbability(-(2n ** 56n))).toBe((2 ** 56 - 1) / 2 ** 64);
    expect(report.expectedFailures).toBeCloseTo(want, 20);
    // Two elements of 2^56 in ring units dominate: 2 2^-8 (plus 2^46 / 2^64 from 2^30).
    expect(report.expectedFailures / 2 ** -8).toBeCloseTo(2 + 2 ** -10, 6);
    expect(report.maxBits).toBe(57);
    expect(report.elements).toBe(values.length);
    expect(report.groups).toHaveLength(1);
  });

  it('observes wraps at the rate it predicts (4096 elements of 2^56 in ring units: 16 expected)', () => {
    const n = 4096;
    const values = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 2 ** 40 : -(2 ** 40)));
    const { report, out } = probe(values, (b, x) => b.trunc(x, 16));
    expect(report.expectedFailures).toBeCloseTo(n * 2 ** -8, 6);
    // Poisson(16): [4, 36] holds with probability > 0.9999; the seed is fixed, so this is deterministic.
    expect(report.observedFailures).toBeGreaterThanOrEqual(4);
    expect(report.observedFailures).toBeLessThanOrEqual(36);
    // The wrapped elements are garbage in the output too (off by 2^48 at scale 0).
    const garbage = out.filter((v, i) => Math.abs(v - values[i]!) > 1).length;
    expect(garbage).toBe(report.observedFailures);
  });

  it('shiftPowersOfTwo truncates x itself, not x 2^16: 2^16 times fewer expected failures, the same values', () => {
    const values = Array.from({ length: 64 }, (_, i) => 1000 + 37 * i - (i % 3) * 4000);
    const cfgs = { crypten: P.CRYPTEN, best: P.BEST };
    const runs = Object.fromEntries(Object.entries(cfgs).map(([k, cfg]) => [k, probe(values, (b, x) => P.mulConst(b, x, 2 ** -6, cfg))]));
    const ring = values.map((v) => BigInt(Math.round(v * 2 ** 16)));
    const direct = ring.reduce((s, v) => s + truncationFailureProbability(v), 0);
    expect(runs['best']!.report.expectedFailures).toBeCloseTo(direct, 20);
    expect(runs['crypten']!.report.expectedFailures / runs['best']!.report.expectedFailures).toBeGreaterThan(2 ** 15);
    for (const k of Object.keys(cfgs)) runs[k]!.out.forEach((v, i) => expect(Math.abs(v - values[i]! / 64)).toBeLessThanOrEqual(2 ** -16));
  });

  it('softmax under best: its exp scales by a shift, far fewer expected failures than without', () => {
    const scores = Array.from({ length: 4 * 32 }, (_, i) => ((i * 7919) % 200) / 10 - 10);
    const run = (cfg: P.ProtocolConfig): number => probe(scores, (b, x) => P.softmax(b, b.reshape(x, [4, 32]), -1, undefined, cfg)).report.expectedFailures;
    const fixed = run(P.BEST);
    const unfixed = run({ ...P.BEST, shiftPowersOfTwo: false });
    // exp's x 2^-6 was the largest truncated value; the max, squarings and reciprocal remain (2.4x here, 4x on spam-bert).
    expect(unfixed / fixed).toBeGreaterThan(2);
  });
});
