// The oblivious compaction protocols run by two parties and a dealer: the shift network and
// the bitonic-sort baseline both give the stable partition the evaluator defines
// (CompactTokens), open nothing but dealer-masked values, and the shift network's rounds grow
// as log S where the sort's grow as log^2 S.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CircuitBuilder, checkLeakage, circuitCost, type Reg } from '../ir/circuit/index.ts';
import { foldOp } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit } from '../runtime/index.ts';
import * as P from '../compiler/backend/protocols/index.ts';
import { BOUNDARY_COUNT, checkBoundaryLeaks } from '../compiler/tokens/boundary.ts';

type Compact = (b: CircuitBuilder, x: Reg, keep: Reg) => Reg;

/**
 * A minimal boundary at n tokens of width D: compare the margins (S - theta, S - beta) with
 * zero, compact the hidden state with the flags as two extra columns, reveal the count;
 * `revealKeep` also reveals the keep flags (what the checker must reject).
 */
function boundaryCircuit(n: number, D: number, revealKeep?: 'open' | 'output') {
  const b = new CircuitBuilder();
  const hidden = b.input('hidden', 1, [n, D]);
  const margin = b.input('margins', 1, [n, 2]);
  const flags = P.rsubConst(b, 1, P.ltz(b, margin));
  const keep = b.slice(flags, [0], [1], [1]);
  P.compactShift(b, b.concat([hidden, b.mulPub(flags, b.constant(1, b.f))], 1), keep);
  b.output(b.reduceSum(keep, [0, 1], false), BOUNDARY_COUNT);
  if (revealKeep === 'open') b.open([keep]);
  if (revealKeep === 'output') b.output(keep, 'keep');
  return b.build();
}

/** keep arrives as a fixed-point 0/1 input and becomes an arithmetic bit by one comparison, as TokenKeep's would. */
function circuit(S: number, D: number, compact: Compact): CircuitBuilder {
  const b = new CircuitBuilder();
  const x = b.input('x', 1, [S, D]);
  const k = b.input('k', 1, [S, 1]);
  const keep = P.rsubConst(b, 1, P.ltz(b, b.subPub(k, b.constant(0.5, b.f))));
  b.output(compact(b, x, keep), 'y');
  return b;
}

function runCompact(flags: readonly number[], D: number, compact: Compact): number[] {
  const S = flags.length;
  const c = circuit(S, D, compact).build();
  checkLeakage(c);
  const xs = Array.from({ length: S * D }, (_, i) => ((i * 37) % 23) / 4 - 2.5);
  const res = runCircuit(c, {
    inputs: new Map([
      ['x', Tensor.from('f64', [S, D], xs)],
      ['k', Tensor.from('f64', [S, 1], flags)],
    ]),
    weights: new Map(),
  });
  const want = foldOp('CompactTokens', [Tensor.from('f64', [1, S, D], xs), Tensor.from('f64', [1, 1, 1, S], flags)], { axis: 1 }).toNumbers();
  const got = res.outputs.get('y')!.toNumbers();
  got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(2 ** -15));
  return got;
}

describe('oblivious compaction', () => {
  it('shift network: the stable partition for random flags (S = 8, 11)', () => {
    fc.assert(
      fc.property(fc.constantFrom(8, 11), fc.array(fc.boolean(), { minLength: 11, maxLength: 11 }), (S, f) => {
        runCompact(f.slice(0, S).map(Number), 3, P.compactShift);
      }),
      { numRuns: 6 },
    );
  });

  it('bitonic baseline: the same result', () => {
    runCompact([0, 1, 1, 0, 0, 1, 0, 1], 2, P.compactBitonic);
    runCompact([1, 0, 0, 0, 0, 0, 0, 1], 2, P.compactBitonic);
  });

  it('rounds: log S stages for the shift network, log^2 S layers for the sort', () => {
    const rounds = (S: number, f: Compact): number => circuitCost(circuit(S, 4, f).build()).rounds;
    // one more stage per doubling
    expect(rounds(16, P.compactShift) - rounds(8, P.compactShift)).toBe(1);
    expect(rounds(64, P.compactShift) - rounds(8, P.compactShift)).toBe(3);
    // log S (log S + 1) / 2 layers of 8 (comparison) + 1 (swap) rounds: 6 layers at S = 8, 10 at 16, 21 at 64
    expect(rounds(16, P.compactBitonic) - rounds(8, P.compactBitonic)).toBe(4 * 9);
    expect(rounds(64, P.compactBitonic) - rounds(8, P.compactBitonic)).toBe(15 * 9);
  });
});

describe('a segment boundary reveals only its survivor count', () => {
  it('the boundary circuit passes the checker and declares one element, the count', () => {
    const c = boundaryCircuit(16, 4);
    expect(() => checkBoundaryLeaks(c)).not.toThrow();
    expect(c.outputs.map((o) => o.name)).toEqual(['count']);
  });

  it('a circuit that opens the keep mask is rejected', () => {
    expect(() => checkBoundaryLeaks(boundaryCircuit(16, 4, 'open'))).toThrow(/open reveals %\d+, defined by .*not a sub with a dealer mask/);
  });

  it('a circuit that declares the keep mask as an output is rejected too', () => {
    expect(() => checkBoundaryLeaks(boundaryCircuit(16, 4, 'output'))).toThrow(/may reveal only its survivor count .* also reveals 'keep'/);
  });

  it('the count it reveals is the number of survivors', () => {
    const c = boundaryCircuit(8, 2);
    const margins = [0.3, -0.2, 0.1, -0.1, 0.5, 0.2, -0.4, 0.05].flatMap((m) => [m, m - 0.1]);
    const res = runCircuit(c, {
      inputs: new Map([
        ['hidden', Tensor.from('f64', [8, 2], Array.from({ length: 16 }, (_, i) => i / 8))],
        ['margins', Tensor.from('f64', [8, 2], margins)],
      ]),
      weights: new Map(),
    });
    expect(res.outputs.get('count')!.toNumbers()).toEqual([5]);
  });
});
