// A party's whole view of a deployed run (its key file, its arguments, every message it
// receives, the seeds it derives) and what it cannot compute from it: P1 cannot recompute P0's
// dealer mask share on the weights (so not the weights), P0 cannot recompute P1's dealer mask
// share on the inputs (so not the inputs). Structurally (the secret is nowhere in the view)
// and by a direct attempt (every seed-like value in the view, through every derivation the
// code uses, fails to give the mask, and the weights / inputs it would reveal).

import { describe, expect, it } from 'vitest';
import { decodeFixedArray } from '../ir/circuit/index.ts';
import type { Circuit } from '../ir/circuit/index.ts';
import { deriveSeeds, runCircuit, ROLE_PAIRS, sessionSeed, simulatedSessionSeeds, type Pair, type RoleKeys } from '../runtime/index.ts';
import { prgRing } from '../runtime/prg.ts';
import { ringAdd } from '../runtime/kernels.ts';
import { allPairKeys, freshKeys, hashOf, smallCircuit, smallInputs, smallWeights, threeRoles, value } from './deploy-helpers.ts';

interface View {
  readonly keys: RoleKeys;
  /** The options a party's process gets besides its own tensors: circuit, hash, addresses, time-outs. */
  readonly args: string;
  readonly received: Uint8Array[];
  readonly seeds: Uint8Array[];
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  const h = Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength);
  return h.indexOf(Buffer.from(needle)) >= 0 || h.toString('latin1').includes(Buffer.from(needle).toString('hex'));
}

/** Every 16-byte value a party could try as a seed: its keys, its seeds, their prefixes and derivations, windows of what it received. */
function candidateSeeds(v: View, sid: string, hash: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const base = [...v.keys.keys.values(), ...v.seeds];
  for (const b of base) {
    out.push(b.subarray(0, 16));
    const d = deriveSeeds(b);
    out.push(d.s01, d.s0d, d.s1d);
    for (const pair of ['p0-p1', 'p0-dealer', 'p1-dealer'] as Pair[]) out.push(sessionSeed(b, pair, sid, hash));
  }
  for (const m of v.received) for (let at = 0; at + 16 <= Math.min(m.length, 4096); at += 8) out.push(m.subarray(at, at + 16));
  return out;
}

/** The masks of the small circuit's matmul triple: A hides the input x, B the weight w. */
function triple(c: Circuit): { a: number; b: number } {
  const ins = c.instructions.find((i) => i.op === 'beaver_matmul')!;
  return { a: ins.outputs[0]!, b: ins.outputs[1]! };
}

describe("a party's view does not give the other party's masks", () => {
  it("P1 cannot recompute P0's mask share on the weights, nor the weights; P0 cannot recompute P1's share on the inputs, nor the inputs", async () => {
    const c = smallCircuit();
    const hash = hashOf(c);
    const keys = freshKeys();
    const got: Record<0 | 1, Uint8Array[]> = { 0: [], 1: [] };
    const run = await threeRoles(c, {
      keys,
      p0: { onReceive: (_from, _type, payload) => void got[0].push(payload.slice()) },
      p1: { onReceive: (_from, _type, payload) => void got[1].push(payload.slice()) },
    });
    const r1 = value(run.p1);
    const sid = r1.sessionId;
    const truth = simulatedSessionSeeds(allPairKeys(keys), sid, hash);
    const views: Record<0 | 1, View> = {
      0: { keys: keys.party0, args: JSON.stringify({ hash, sid, party: 0 }), received: got[0], seeds: [truth.s01, truth.s0d] },
      1: { keys: keys.party1, args: JSON.stringify({ hash, sid, party: 1 }), received: got[1], seeds: [truth.s01, truth.s1d] },
    };
    expect(got[1].length).toBeGreaterThan(3); // hello, ticket, dealer hello, corrections, rounds
    expect(got[0].length).toBeGreaterThan(1);

    // Structurally: each role's key file holds only its pairs; the other party's dealer key and seed are nowhere in the view.
    expect([...keys.party1.keys.keys()].sort()).toEqual([...ROLE_PAIRS.party1].sort());
    expect([...keys.party0.keys.keys()].sort()).toEqual([...ROLE_PAIRS.party0].sort());
    const secretOf = { 1: [keys.party0.keys.get('p0-dealer')!, truth.s0d], 0: [keys.party1.keys.get('p1-dealer')!, truth.s1d] } as const;
    for (const p of [0, 1] as const) {
      const v = views[p];
      const everything = [...v.keys.keys.values(), ...v.seeds, ...v.received, Buffer.from(v.args)];
      for (const s of secretOf[p]) for (const item of everything) expect(contains(item, s)).toBe(false);
    }

    // The run's registers, replayed in one process with the same session seeds (the test alone holds all three keys).
    const { a, b } = triple(c);
    const opens = c.instructions.filter((i) => i.op === 'open').flatMap((i) => i.outputs);
    const replay = runCircuit(c, { inputs: smallInputs, weights: smallWeights, seeds: truth, captureShares: [a, b, ...opens] });
    expect(replay.transcriptHash).toBe(r1.transcriptHash);
    const n = (r: number): number => c.registers[r]!.shape.reduce((x, y) => x * y, 1);
    const sameShape = (r: number, s: number): boolean => JSON.stringify(c.registers[r]!.shape) === JSON.stringify(c.registers[s]!.shape);
    const opened = (mask: number): BigUint64Array => {
      const r = opens.find((o) => sameShape(o, mask))!;
      return replay.shares.get(r)![0]; // public: both hold the same value
    };
    const f = c.f;
    const decode = (v: BigUint64Array): number[] => Array.from(decodeFixedArray(v, f));
    const maxDiff = (x: number[], y: number[]): number => Math.max(...x.map((v, i) => Math.abs(v - y[i]!)));

    // P1 against P0's b0 (the mask share hiding the weights): F = W - (b0 + b1).
    const b0 = replay.shares.get(b)![0];
    const b1 = replay.shares.get(b)![1];
    expect(Array.from(prgRing(truth.s0d, b, n(b)))).toEqual(Array.from(b0)); // what the mask really is
    const wTrue = Array.from(smallWeights.get('w')!.toNumbers());
    const F = opened(b);
    // With the right b0 the weights come out (the attack works in principle) ...
    expect(maxDiff(decode(ringAdd(F, ringAdd(b0, b1))), wTrue)).toBeLessThan(1e-4);
    // ... but no candidate in P1's view gives b0, and the best guess is far from the weights.
    for (const seed of candidateSeeds(views[1], sid, hash)) {
      const guess = prgRing(seed, b, n(b));
      expect(Buffer.from(guess.buffer).equals(Buffer.from(b0.buffer))).toBe(false);
      expect(maxDiff(decode(ringAdd(F, ringAdd(guess, b1))), wTrue)).toBeGreaterThan(1);
    }

    // P0 against P1's a1 (the mask share hiding the inputs): E = X - (a0 + a1).
    const a0 = replay.shares.get(a)![0];
    const a1 = replay.shares.get(a)![1];
    expect(Array.from(prgRing(truth.s1d, a, n(a)))).toEqual(Array.from(a1));
    const xTrue = Array.from(smallInputs.get('x')!.toNumbers());
    const E = opened(a);
    expect(maxDiff(decode(ringAdd(E, ringAdd(a0, a1))), xTrue)).toBeLessThan(1e-4);
    for (const seed of candidateSeeds(views[0], sid, hash)) {
      const guess = prgRing(seed, a, n(a));
      expect(Buffer.from(guess.buffer).equals(Buffer.from(a1.buffer))).toBe(false);
      expect(maxDiff(decode(ringAdd(E, ringAdd(a0, guess))), xTrue)).toBeGreaterThan(1);
    }
  }, 60_000);
});
