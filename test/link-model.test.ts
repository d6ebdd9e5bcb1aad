// The emulated network between the parties' threads (runtime/link-model.ts): a message is handed
// over no earlier than its bytes take on the sender's line plus half an RTT, the line serves one
// message after another, the messages themselves are unchanged, and a run over the link equals
// the run without it but for the time.

import { describe, expect, it } from 'vitest';
import type { PeerLink } from '../runtime/drive.ts';
import { emulatedLink } from '../runtime/link-model.ts';
import { runCircuit, runCircuitWorkers } from '../runtime/index.ts';
import { smallCircuit, smallInputs, smallWeights } from './deploy-helpers.ts';

/** Two ends of an in-memory link, each end's sends queued for the other. */
function pipe(): [PeerLink, PeerLink] {
  const queues: Uint8Array[][] = [[], []];
  const waiting: (((m: Uint8Array) => void) | undefined)[] = [undefined, undefined];
  const end = (me: 0 | 1): PeerLink => ({
    send(msg) {
      const w = waiting[1 - me];
      waiting[1 - me] = undefined;
      if (w !== undefined) w(msg);
      else queues[1 - me]!.push(msg);
    },
    receive() {
      const q = queues[me]!;
      return q.length > 0 ? Promise.resolve(q.shift()!) : new Promise((r) => (waiting[me] = r));
    },
  });
  return [end(0), end(1)];
}

const model = { bandwidth: 1e6, rtt: 0.04 }; // 1 MB/s, 40 ms

describe('emulated link', () => {
  it('delivers a message after its bytes and half an RTT (one way), unchanged, and the line serves messages one after another', async () => {
    const [a, b] = pipe().map((l) => emulatedLink(l, model)) as [PeerLink, PeerLink];
    const msg = new Uint8Array(20_000).map((_, i) => i % 251); // 20 ms on the line
    const t0 = performance.now();
    await a.send(msg.slice(), 1);
    await a.send(msg.slice(), 2); // waits behind the first: leaves at 40 ms
    const first = await b.receive(1);
    const t1 = performance.now() - t0;
    const second = await b.receive(2);
    const t2 = performance.now() - t0;
    expect(first).toEqual(msg);
    expect(second).toEqual(msg);
    expect(t1).toBeGreaterThanOrEqual(20 + 20);
    expect(t2).toBeGreaterThanOrEqual(40 + 20);
  });

  it('a worker-mode run over the link: the outputs and counts of the run without it, and at least half an RTT per round of time', async () => {
    const c = smallCircuit();
    const seed = new Uint8Array(16).fill(21);
    const a = runCircuit(c, { inputs: smallInputs, weights: smallWeights, seed });
    const w = await runCircuitWorkers(c, { inputs: smallInputs, weights: smallWeights, seed, preprocessFirst: true, link: { bandwidth: 1e9, rtt: 0.2 } });
    for (const [k, t] of a.outputs) expect(w.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
    expect(w.cost.rounds).toBe(a.cost.rounds);
    expect(w.cost.bytesTotal).toBe(a.cost.bytesTotal);
    expect(w.transcriptHash).toBe(a.transcriptHash);
    // the online phase: its rounds, one way each
    expect(w.cost.rounds).toBeGreaterThan(1);
    expect(w.phases!.onlineSeconds).toBeGreaterThanOrEqual((w.cost.rounds * 0.2) / 2);
  }, 60_000);
});
