// Exact truncation (truncation=exact, ir/circuit/gates/truncation.ts): one open of x - m' and
// the dealer's shares of m >> k and msb(m). It must equal floor(x / 2^k) or one more for every
// |x| < 2^62 in ring units (the edges included: 0, -1, +-2^61, values whose low bits are 0 or all
// ones), never wrap where local truncation does, round without bias, pass the leakage rule, and
// cost what the static report says: one round, 16 bytes per element online and 16 from the dealer.

import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CircuitBuilder, checkLeakage, findLeaks, circuitCost, costSummary, type Reg } from '../ir/circuit/index.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit, runCircuitWorkers, simulatedSessionSeeds } from '../runtime/index.ts';
import { beaverMul } from '../ir/circuit/index.ts';
import { allPairKeys, freshKeys, hashOf, threeRoles, value } from './deploy-helpers.ts';
import { protocolConfig } from '../compiler/backend/protocols/config.ts';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { join } from 'node:path';

/** x (client input at scale 16) truncated by `bits`, exactly or locally; outputs at scale 16 - bits. */
function truncate(values: readonly number[], bits: number, exact: boolean, seed: Uint8Array = randomBytes(32)) {
  const b = new CircuitBuilder({ exactTruncation: exact });
  const x = b.input('x', 1, [values.length]);
  b.output(b.trunc(x, bits), 'y');
  const c = b.build();
  const r = runCircuit(c, { inputs: new Map([['x', Tensor.from('f64', [values.length], values)]]), weights: new Map(), seed, truncationReport: true });
  return { circuit: c, run: r, out: r.outputs.get('y')!.toNumbers() };
}

/** floor(x 2^16 / 2^bits) in units of the output scale (exact in doubles for the values used here). */
const floorOf = (v: number, bits: number): number => Math.floor((v * 2 ** 16) / 2 ** bits);

describe('exact truncation', () => {
  const edges = [0, 2 ** -16, -(2 ** -16), 1, -1, 3.5, -0.25, 2 ** 45, -(2 ** 45), 2 ** 44 + 2 ** -16, -(2 ** 44) - 2 ** -16, 2 ** 30 - 2 ** -16, 1 - 2 ** -16, -(1 - 2 ** -16)];

  it('is floor(x / 2^k) or one more for every value up to 2^61 in ring units, at every shift', () => {
    for (const bits of [1, 5, 16]) {
      for (let trial = 0; trial < 8; trial++) {
        const { out } = truncate(edges, bits, true);
        out.forEach((y, i) => {
          const lo = floorOf(edges[i]!, bits) / 2 ** (16 - bits);
          expect([lo, lo + 2 ** (bits - 16)], `x = ${edges[i]}, bits ${bits}`).toContain(y);
        });
      }
    }
  });

  it('never wraps where local truncation does (4096 elements of 2^56 in ring units: about 16 local wraps)', () => {
    const n = 4096;
    const values = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 2 ** 40 : -(2 ** 40)));
    const seed = Uint8Array.from({ length: 32 }, (_, i) => (i * 73 + 11) & 0xff);
    const local = truncate(values, 16, false, seed);
    expect(local.run.truncation!.observedFailures).toBeGreaterThanOrEqual(4);
    const exact = truncate(values, 16, true, seed);
    exact.out.forEach((y, i) => expect(Math.abs(y - values[i]!)).toBeLessThanOrEqual(1));
    // nothing is truncated locally any more, so nothing can wrap
    expect(exact.run.truncation!.elements).toBe(0);
  });

  it('rounds without bias: the mean of many truncations of one value is the value', () => {
    // x = 5 + 3/8 ulp of the output scale: rounds up with probability 3/8
    const n = 20000;
    const v = (5 + 3 / 8) * 2 ** -11;
    const { out } = truncate(Array<number>(n).fill(v), 5, true);
    const ups = out.filter((y) => y > 5 * 2 ** -11).length;
    // binomial(20000, 3/8): sd 68; 5 sd either side
    expect(Math.abs(ups - (3 / 8) * n)).toBeLessThan(5 * 68);
  });

  it('opens only x - m with a fresh dealer mask; a mask used twice is rejected', () => {
    const { circuit } = truncate([1, 2, 3], 16, true);
    expect(() => checkLeakage(circuit)).not.toThrow();
    const pairs = circuit.instructions.filter((i) => i.op === 'trunc_pair');
    expect(pairs).toHaveLength(1);
    // a second open reusing the pair's mask
    const b = new CircuitBuilder({ exactTruncation: true });
    const x = b.input('x', 1, [3]);
    const y = b.input('y', 1, [3]);
    const [mask, high, top] = b.dealer.truncPair([3], 16, 16);
    const [c1] = b.open([b.sub(x, mask)]);
    b.open([b.sub(y, mask)]);
    b.output(b.emit('trunc_exact', [c1!, high, top], { bits: 16 })[0]! as Reg, 'z');
    expect(findLeaks(b.build()).map((l) => l.message).join('\n')).toMatch(/used by more than one open/);
  });

  it('costs one round, 16 bytes per element online and 16 from the dealer: the measured cost equals the static one', () => {
    const n = 1000;
    const values = Array.from({ length: n }, (_, i) => i / 7 - 50);
    const exact = truncate(values, 16, true);
    const local = truncate(values, 16, false);
    const s = costSummary(circuitCost(exact.circuit));
    const l = costSummary(circuitCost(local.circuit));
    expect(costSummary(exact.run.cost)).toEqual(s);
    expect(s.rounds - l.rounds).toBe(1);
    expect(s.bytesTotal - l.bytesTotal).toBe(16 * n);
    expect(s.dealerBytes - l.dealerBytes).toBe(16 * n);
  });

  describe('in every mode: a product of a client and a server value, truncated exactly', () => {
    const b = new CircuitBuilder({ name: 'exact-modes', exactTruncation: true });
    const x = b.input('x', 1, [6]);
    const w = b.input('w', 0, [6]);
    b.output(beaverMul(b, x, w), 'y');
    const c = b.build();
    const inputs = new Map([['x', Tensor.from('f64', [6], [0, -1.5, 2.25, -1000, 1000, 3])]]);
    const weights = new Map([['w', Tensor.from('f64', [6], [1, 2, -0.5, 0.25, -3, 1.5])]]);
    const want = [0, -3, -1.125, -250, -3000, 4.5];

    it('the circuit truncates exactly (no local trunc)', () => {
      expect(c.instructions.some((i) => i.op === 'trunc')).toBe(false);
      expect(c.instructions.filter((i) => i.op === 'trunc_exact')).toHaveLength(1);
    });

    it('two worker threads: the in-process outputs, counts and transcript', async () => {
      const seed = new Uint8Array(16).fill(5);
      const a = runCircuit(c, { inputs, weights, seed });
      a.outputs.get('y')!.toNumbers().forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(2 ** -16));
      const r = await runCircuitWorkers(c, { inputs, weights, seed });
      expect(r.outputs.get('y')!.toNumbers()).toEqual(a.outputs.get('y')!.toNumbers());
      expect(r.cost).toEqual(a.cost);
      expect(r.transcriptHash).toBe(a.transcriptHash);
    }, 60_000);

    it('three roles over TLS: the dealer sends P1 its pair shares; the in-process outputs and transcript', async () => {
      const keys = freshKeys();
      const run = await threeRoles(c, { keys, inputs, weights });
      const r1 = value(run.p1);
      const a = runCircuit(c, { inputs, weights, seeds: simulatedSessionSeeds(allPairKeys(keys), r1.sessionId, hashOf(c)) });
      expect(r1.outputs.get('y')!.toNumbers()).toEqual(a.outputs.get('y')!.toNumbers());
      expect(r1.transcriptHash).toBe(a.transcriptHash);
      expect(value(run.dealer).bytes).toBe(circuitCost(c).dealerBytes);
    }, 60_000);
  });

  it('is the protocol option truncation=exact, refused with any other value', () => {
    expect(protocolConfig('best,truncation=exact').truncation).toBe('exact');
    expect(protocolConfig('best').truncation).toBe('local');
    expect(protocolConfig('fss').truncation).toBe('attention');
    expect(protocolConfig('best,truncation=attention').truncation).toBe('attention');
    expect(() => protocolConfig('best,truncation=exactly')).toThrow(/truncation must be one of local, attention, exact/);
  });
});

describe('truncation=attention (the fss preset)', () => {
  const tiny = loadModel(join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx'), { batch: 1, seq: 16 });
  const truncations = (protocols: string) => {
    const c = compileModel(tiny, { protocols }).circuit;
    const ts = c.instructions.filter((i) => i.op === 'trunc' || i.op === 'trunc_exact');
    return { c, ts, exact: ts.filter((i) => i.op === 'trunc_exact'), attention: ts.filter((i) => i.prov?.opKind === 'attention-matmul') };
  };

  it("truncates attention's three products of secrets exactly (q k^T, probs v, the normalization after it), everything else locally, one round each", () => {
    const layers = 2;
    const attn = truncations('fss');
    const local = truncations('fss,truncation=local');
    const inAttention = (i: { prov?: { opKind: string } }): boolean => i.prov?.opKind === 'attention-matmul';
    expect(local.exact.filter(inAttention)).toHaveLength(0);
    expect(attn.exact.filter(inAttention)).toHaveLength(3 * layers);
    // the other exact truncations (the cubic GELU's) are the same under either choice
    expect(attn.exact.length - 3 * layers).toBe(local.exact.length);
    // the rest of attention's truncations are the public 2^-n shifts (1/sqrt(d), 1/n), local and short
    const shifts = attn.attention.filter((i) => i.op === 'trunc');
    expect(shifts).toHaveLength(2 * layers);
    for (const i of shifts) expect(i.attrs['bits']).toBeLessThan(attn.c.f);
    expect(attn.ts.length - attn.attention.length).toBe(local.ts.length - local.attention.length);
    expect(circuitCost(attn.c).rounds).toBe(circuitCost(local.c).rounds + 3 * layers);
  });
});
