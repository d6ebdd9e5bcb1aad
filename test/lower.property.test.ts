// Property tests: random small graphs of lowerable ops compile to circuits that pass the
// leakage checker, whose scheduled rounds equal the critical-path bound, and whose costs
// add up over layers.
//
// Additivity, as tested: bytes (online, preprocessing, dealer) and unmerged rounds of the
// layers sum exactly to the totals. Rounds per layer are distinct rounds, which layers may
// share, so for them: max over layers <= total rounds <= sum over layers, and the union of
// the layers' rounds is every online round. Per layer, the op kinds' credited rounds sum to
// the layer's rounds and their bytes to its bytes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findLeaks } from '../ir/circuit/leakage.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { compileModel, type Compiled } from '../compiler/backend/compile.ts';
import { loweredOps } from '../compiler/backend/lower/index.ts';
import { criticalPathRounds, layerBreakdown } from '../compiler/backend/report/index.ts';
import { GENERATED_OPS, arbGraph } from './arbitrary.ts';
import { layerKey } from '../ir/circuit/cost.ts';

const LOWERABLE = GENERATED_OPS.filter((op) => loweredOps().includes(op));

function tryCompile(g: Parameters<typeof compileModel>[0], protocols: string): Compiled | undefined {
  try {
    return compileModel(g, { raise: false, protocols });
  } catch (e) {
    // legitimate refusals: huge or non-finite constants, ops or forms without a protocol
    if (e instanceof Ig3dcError && (e.kind === 'unsupported' || e.kind === 'input')) return undefined;
    throw e;
  }
}

function checkInvariants(c: Compiled): void {
  expect(findLeaks(c.circuit)).toEqual([]);
  expect(c.cost.rounds).toBe(criticalPathRounds(c.circuit));
  const layers = Object.values(c.cost.byLayer);
  const sum = (k: 'bytes' | 'preprocessingBytes' | 'dealerBytes' | 'unmergedRounds'): number => layers.reduce((a, e) => a + e[k], 0);
  expect(sum('bytes')).toBe(c.cost.onlineBytes);
  expect(sum('preprocessingBytes')).toBe(c.cost.preprocessingBytes);
  expect(sum('dealerBytes')).toBe(c.cost.dealerBytes);
  expect(sum('unmergedRounds')).toBe(c.cost.unmergedRounds);
  const maxR = Math.max(0, ...layers.map((e) => e.rounds));
  const sumR = layers.reduce((a, e) => a + e.rounds, 0);
  expect(maxR).toBeLessThanOrEqual(c.cost.rounds);
  expect(c.cost.rounds).toBeLessThanOrEqual(sumR);
  // the union of the layers' rounds is every online round (no round is empty)
  const union = new Set<number>();
  c.circuit.instructions.forEach((ins, i) => {
    if ((ins.op === 'open' || ins.op === 'open_b' || ins.op === 'output') && c.schedule.phase[i] === 'online') union.add(c.schedule.depth[i]!);
  });
  expect(union.size).toBe(c.cost.rounds);
  for (const l of layerBreakdown(c.circuit, c.schedule)) {
    const e = c.cost.byLayer[l.layer]!;
    const kinds = Object.values(l.byKind);
    expect(kinds.reduce((a, k) => a + k.rounds, 0)).toBe(e.rounds);
    expect(kinds.reduce((a, k) => a + k.bytes, 0)).toBe(e.bytes);
  }
  void layerKey;
}

describe('random graphs lower to safe, well-scheduled circuits', () => {
  it('uses a reasonable set of ops', () => {
    expect(LOWERABLE.length).toBeGreaterThan(30);
  });

  for (const protocols of ['crypten', 'best']) {
    it(`leakage-free, rounds = critical path, costs additive over layers (${protocols})`, () => {
      let compiled = 0;
      let tried = 0;
      fc.assert(
        fc.property(arbGraph({ ops: LOWERABLE, constData: 'concrete', elems: ['f32', 'f32', 'i64', 'bool'], emptyDims: false, oddNames: false, maxSteps: 8 }), (g) => {
          tried++;
          const c = tryCompile(g, protocols);
          if (c === undefined) return;
          compiled++;
          checkInvariants(c);
        }),
        { numRuns: 120, seed: protocols === 'crypten' ? 11 : 12 },
      );
      // most graphs must actually compile, or the property says little
      expect(compiled / tried).toBeGreaterThan(0.4);
    });
  }
});
