// Worker mode's simulated dealer in a thread of its own: what each thread starts with (no party's
// worker holds a dealer seed it does not share), the stream of dealer words between the dealer's
// thread and a party's (in the party's order, stretch by stretch, checked; held back past a
// window of bytes), and whole runs with the smallest window, which must equal the in-process run.

import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import * as P from '../compiler/backend/protocols/index.ts';
import { CircuitBuilder, beaverMul, type Circuit } from '../ir/circuit/index.ts';
import { Tensor } from '../ir/tensor.ts';
import { correctionOrder, type CorrectionOrder } from '../runtime/dealer-stream.ts';
import { stretchCount, stretchItems, StretchWordsFeed, StretchWordsSender, type StretchWords, type WordsTaken } from '../runtime/dealer-words.ts';
import { planParty } from '../runtime/plan.ts';
import { allocLent, borrow, holdView, isLendable, poolStats, recycle, takeBack } from '../runtime/pool.ts';
import { deriveSeeds } from '../runtime/prg.ts';
import { runCircuit, runCircuitWorkers, type RunResult } from '../runtime/index.ts';
import { workerInputs } from '../runtime/workers.ts';
import { smallCircuit, smallInputs, smallWeights } from './deploy-helpers.ts';

/** Every byte array reachable from `v` (own enumerable properties, arrays, maps). */
function byteArrays(v: unknown, seen = new Set<unknown>()): Uint8Array[] {
  if (v === null || typeof v !== 'object' || seen.has(v)) return [];
  seen.add(v);
  if (v instanceof Uint8Array) return [v];
  if (ArrayBuffer.isView(v)) return [new Uint8Array(v.buffer, v.byteOffset, v.byteLength)];
  const out: Uint8Array[] = [];
  const children = v instanceof Map ? [...v.keys(), ...v.values()] : Object.values(v);
  for (const c of children) out.push(...byteArrays(c, seen));
  return out;
}
const holds = (v: unknown, secret: Uint8Array): boolean => byteArrays(v).some((b) => Buffer.from(b).includes(Buffer.from(secret)));

function fssCircuit(): Circuit {
  const fss = P.protocolConfig('fss');
  const b = new CircuitBuilder({ name: 'fss-thread' });
  const x = b.input('x', 1, [8]);
  const w = b.input('w', 0, [8]);
  b.output(P.relu(b, beaverMul(b, x, w), fss), 'relu');
  b.output(P.toFixed(b, P.ltz(b, x, fss)), 'ltz');
  return b.build();
}
const fssInputs = new Map([['x', Tensor.from('f64', [8], [0, -1.5, 2.25, -1000, 1000, 3, -(2 ** -16), 2 ** -16])]]);
const fssWeights = new Map([['w', Tensor.from('f64', [8], [1, 2, -0.5, 0.25, -3, 1.5, 4, -1])]]);

describe("worker mode's three threads start with", () => {
  const seeds = deriveSeeds(new Uint8Array(16).fill(5));
  const served = [0, 1].map(() => ({ requests: { port: new MessageChannel().port1, signal: new SharedArrayBuffer(4) } }));
  const flags = { progress: false, transcript: true, fuse: true };

  it('each party its own seeds only, the dealer its two seeds and never s01', () => {
    for (const dealerToP0 of [false, true]) {
      const { parties, dealer } = workerInputs(smallCircuit(), served, seeds, dealerToP0, flags);
      expect(holds(parties[0], seeds.s01) && holds(parties[0], seeds.s0d)).toBe(true);
      expect(holds(parties[1], seeds.s01) && holds(parties[1], seeds.s1d)).toBe(true);
      // P1's worker holds neither the dealer's seed with P0 nor, beyond its own, anything of the dealer's
      expect(holds(parties[1], seeds.s0d)).toBe(false);
      expect(holds(parties[0], seeds.s1d)).toBe(false);
      expect(holds(dealer, seeds.s0d) && holds(dealer, seeds.s1d)).toBe(true);
      expect(holds(dealer, seeds.s01)).toBe(false);
      // P0 hears from the dealer only where the dealer may send it words; P1 always
      expect(parties[0].dealerPort !== undefined).toBe(dealerToP0);
      expect(parties[1].dealerPort).toBeDefined();
      expect(dealer.toP0 !== undefined).toBe(dealerToP0);
    }
  });
});

// P1's words of the FSS circuit, stretch by stretch.
const c = fssCircuit();
const order: CorrectionOrder = correctionOrder(c, planParty(c, 1, new Set(), undefined, { fuse: true }), 1);
const stretches = [...Array(stretchCount(order)).keys()].filter((k) => stretchItems(order, k).length > 0);
const insOf = (k: number): number[] => stretchItems(order, k).map((it) => it.ins);
const wordsOf = (k: number): BigUint64Array[] => stretchItems(order, k).map((it) => new BigUint64Array(it.words).fill(BigInt(k + 1)));

describe('dealer words between threads', () => {
  /** A feed over a list of messages, recording what it tells the dealer. */
  const feedOf = (msgs: StretchWords[], segment = 0): { feed: StretchWordsFeed; taken: number[] } => {
    const taken: number[] = [];
    const feed = new StretchWordsFeed(() => Promise.resolve(msgs.shift()!), (m: WordsTaken) => taken.push(m.taken), c, order, segment);
    return { feed, taken };
  };
  const runFeed = async (feed: StretchWordsFeed): Promise<void> => {
    for (let k = 0; k < stretchCount(order); k++) {
      await feed.ready(k);
      for (const it of stretchItems(order, k)) expect(feed.take(c.instructions[it.ins]!)[0]).toBe(BigInt(k + 1));
    }
  };

  it('taken in order: every word used, one "taken" per stretch with its bytes', async () => {
    expect(stretches.length).toBeGreaterThan(1);
    const { feed, taken } = feedOf(stretches.map((k) => ({ segment: 0, stretch: k, ins: insOf(k), words: wordsOf(k), lent: insOf(k).map(() => false) })));
    await runFeed(feed);
    expect(feed.complete).toBe(true);
    expect(taken).toEqual(stretches.map((k) => 8 * stretchItems(order, k).reduce((a, it) => a + it.words, 0)));
    expect(feed.bytes).toBe(8 * order.items.reduce((a, it) => a + it.words, 0));
  });

  it('words out of order (two stretches swapped, or another segment\'s) are refused', async () => {
    const msgs = stretches.map((k) => ({ segment: 0, stretch: k, ins: insOf(k), words: wordsOf(k), lent: insOf(k).map(() => false) }));
    [msgs[0], msgs[1]] = [msgs[1]!, msgs[0]!];
    await expect(runFeed(feedOf(msgs).feed)).rejects.toThrow(/dealer words out of order: segment 0 stretch \d+ came where segment 0 stretch \d+ was due/);
    const other = stretches.map((k) => ({ segment: 1, stretch: k, ins: insOf(k), words: wordsOf(k), lent: insOf(k).map(() => false) }));
    await expect(runFeed(feedOf(other).feed)).rejects.toThrow(/out of order: segment 1 .* where segment 0/);
    // within a stretch: the same sizes, in another order
    const k = stretches.find((j) => stretchItems(order, j).length > 1)!;
    const swapped = stretches.map((j) => ({ segment: 0, stretch: j, ins: j === k ? insOf(j).reverse() : insOf(j), words: wordsOf(j), lent: insOf(j).map(() => false) }));
    await expect(runFeed(feedOf(swapped).feed)).rejects.toThrow(/dealer words out of order: words for instruction \d+ came where instruction \d+'s/);
  });

  it('the sender holds back while the party holds a window of bytes, and never holds back a party that holds none', async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const sender = new StretchWordsSender(port1, 16);
      await sender.room(); // holds none
      sender.post(0, 0, [0], [new BigUint64Array(4)]); // 32 bytes, past the window: one stretch always goes
      let roomy = false;
      const room = sender.room().then(() => (roomy = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(roomy).toBe(false);
      port2.postMessage({ taken: 32 } satisfies WordsTaken);
      await room;
      expect(roomy).toBe(true);
      expect(sender.peakHeld).toBe(32);
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe('lent dealer words (a dealer\'s largest words go back to its thread for the next layer)', () => {
  it('a borrowed buffer goes home zeroed once every view a register held is recycled, and the dealer\'s next words of that size reuse it', () => {
    const home: ArrayBuffer[] = [];
    const words = allocLent(64);
    expect(isLendable(words)).toBe(true);
    expect(isLendable(words.subarray(8))).toBe(false);
    expect(isLendable(new BigUint64Array(64))).toBe(false);
    words.fill(7n);
    borrow(words, (buf) => home.push(buf));
    // two registers hold views of it (a key's correction words and its constants, say)
    const [a, b] = [words.subarray(0, 32), words.subarray(32)];
    holdView(a);
    holdView(b);
    recycle(new BigUint64Array(words.buffer, 0, 8)); // a view no register held: ignored
    recycle(a);
    expect(home).toHaveLength(0);
    recycle(a); // released twice: nothing more
    expect(home).toHaveLength(0);
    recycle(b);
    expect(home).toEqual([words.buffer]);
    expect(new BigUint64Array(home[0]!).every((w) => w === 0n)).toBe(true);
    takeBack(home[0]!);
    const next = allocLent(64);
    expect(next.buffer).toBe(words.buffer);
    expect(allocLent(63).buffer).not.toBe(words.buffer);
  });

  it('recycle gives a whole lent array of this thread back to allocLent (a dealer done framing it), but not one that is lent out', () => {
    const framed = allocLent(96);
    recycle(framed.subarray(8)); // a view: ignored
    expect(allocLent(96).buffer).not.toBe(framed.buffer);
    recycle(framed);
    expect(allocLent(96).buffer).toBe(framed.buffer);
    const out = allocLent(80);
    borrow(out, () => {});
    recycle(out); // still lent: its views decide when it comes back
    expect(allocLent(80).buffer).not.toBe(out.buffer);
  });

  it('through the ports: the feed borrows what the sender marks lent, and the sender takes it back', async () => {
    const { port1, port2 } = new MessageChannel();
    try {
      const sender = new StretchWordsSender(port1, 1 << 20);
      const k = stretches[0]!;
      const items = stretchItems(order, k);
      const sent = items.map((it) => allocLent(it.words).fill(5n));
      const buffers = sent.map((w) => w.buffer);
      const sizes = sent.map((w) => w.byteLength);
      const arrived = new Promise<StretchWords>((r) => port2.once('message', r));
      sender.post(0, k, insOf(k), sent);
      const m = await arrived;
      expect(m.lent).toEqual(items.map(() => true));
      const msgs: StretchWords[] = [...stretches.slice(0, stretches.indexOf(k)).map((j) => ({ segment: 0, stretch: j, ins: insOf(j), words: wordsOf(j), lent: insOf(j).map(() => false) })), m];
      const feed = new StretchWordsFeed(() => Promise.resolve(msgs.shift()!), (t: WordsTaken) => port2.postMessage(t, t.returned !== undefined ? [t.returned] : []), c, order, 0);
      for (let j = 0; j <= k; j++) {
        await feed.ready(j);
        for (const it of stretchItems(order, j)) {
          const w = feed.take(c.instructions[it.ins]!);
          if (j === k) {
            holdView(w);
            recycle(w);
          }
        }
      }
      // every buffer back at the sender's end: the next words of those sizes are made in them
      await new Promise((r) => setTimeout(r, 50));
      const reused = poolStats.reused;
      const again = items.map((it) => allocLent(it.words));
      expect(poolStats.reused - reused).toBe(sizes.reduce((a, b) => a + b, 0));
      expect(again.every((w) => w.every((x) => x === 0n))).toBe(true);
      expect(again.map((w) => w.byteLength)).toEqual(sizes);
      // transferred there and back: the sender's buffers are detached, the words live in new buffer objects
      expect(buffers.every((b) => b.byteLength === 0)).toBe(true);
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe('worker mode with the smallest dealer window (the dealer waits for every stretch to be taken)', () => {
  const expectSame = (a: RunResult, w: RunResult): void => {
    for (const [k, t] of a.outputs) expect(w.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
    expect(w.cost).toEqual(a.cost);
    expect(w.transcriptHash).toBe(a.transcriptHash);
  };
  it('Beaver corrections to P1 only: outputs, counts and transcript of the in-process run', async () => {
    const seed = new Uint8Array(16).fill(11);
    const c = smallCircuit();
    expectSame(runCircuit(c, { inputs: smallInputs, weights: smallWeights, seed }), await runCircuitWorkers(c, { inputs: smallInputs, weights: smallWeights, seed, dealerWindowBytes: 1 }));
  }, 60_000);
  it('FSS keys to both parties: the same, dealer bytes counted where they arrive', async () => {
    const seed = new Uint8Array(16).fill(12);
    const c = fssCircuit();
    const a = runCircuit(c, { inputs: fssInputs, weights: fssWeights, seed });
    expect(a.cost.dealerBytesPerParty[0]).toBeGreaterThan(0);
    expectSame(a, await runCircuitWorkers(c, { inputs: fssInputs, weights: fssWeights, seed, dealerWindowBytes: 1 }));
  }, 60_000);
  it('preprocessing first (every word made and posted before the parties start): the same outputs, counts and transcript, and the two phases timed apart', async () => {
    const seed = new Uint8Array(16).fill(13);
    const c = fssCircuit();
    const a = runCircuit(c, { inputs: fssInputs, weights: fssWeights, seed });
    expect(a.phases).toBeUndefined();
    const w = await runCircuitWorkers(c, { inputs: fssInputs, weights: fssWeights, seed, preprocessFirst: true });
    expectSame(a, w);
    const p = w.phases!;
    for (const v of [p.preprocessingSeconds, p.onlineSeconds, p.preprocessingCpuSeconds, p.onlineCpuSeconds]) expect(v).toBeGreaterThan(0);
    expect((await runCircuitWorkers(c, { inputs: fssInputs, weights: fssWeights, seed })).phases).toBeUndefined();
  }, 60_000);
});
