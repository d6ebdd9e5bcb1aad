// Worker-thread entry: the simulated dealer of a worker-mode run, in a thread of its own. It
// holds the two dealer seeds (never the parties' common seed, no inputs, no weights) and makes
// every party's words ahead of need, in that party's order, stretch by stretch (dealer-words.ts),
// so its work overlaps the parties': while a party waits for its peer's round message, the core
// it leaves idle makes the words of the stretches to come. Each party's worker holds only its own
// seeds and what the dealer posts it, as in the deployment (`ig3dc dealer`).

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { Dealer } from './dealer.ts';
import { correctionOrder, type CorrectionOrder } from './dealer-stream.ts';
import { stretchCount, stretchItems, StretchWordsSender } from './dealer-words.ts';
import { planParty } from './plan.ts';
import { limitPool, recycle } from './pool.ts';
import { segmentSeed } from './segments.ts';

export interface DealerWorkerInput {
  readonly circuit: Circuit;
  /** The dealer's seeds with P0 and with P1. */
  readonly s0d: Uint8Array;
  readonly s1d: Uint8Array;
  /** The ports to P0 (only where the dealer may send P0 words: FSS keys) and to P1. */
  readonly toP0?: MessagePort;
  readonly toP1: MessagePort;
  /** The parties' plans fuse Beaver combinations (their consumption order depends on it). */
  readonly fuse: boolean;
  /** Bytes a party may hold before the dealer waits for it to take them. */
  readonly windowBytes: number;
  /** A model in segments: after each circuit, wait for the next (segment k's seeds derive from these and k). */
  readonly segmented?: boolean;
  /** Tell the main thread when every word of the circuit is posted (a run with its preprocessing phase first). */
  readonly reportDealt?: boolean;
}

/** From the main thread to a segmented run's dealer: the next segment's circuit, or the end. */
export type DealerSegmentMessage = { type: 'next'; circuit: Circuit } | { type: 'stop' };

export type DealerWorkerReply = { type: 'error'; kind?: string; detail: string; place?: object } | { type: 'dealt' };

/** Makes and posts one circuit's words to both parties, stretch by stretch, P0's then P1's of each stretch. */
async function serveOne(d: DealerWorkerInput, c: Circuit, segment: number, senders: readonly (StretchWordsSender | undefined)[]): Promise<void> {
  const seed = (s: Uint8Array): Uint8Array => (d.segmented === true ? segmentSeed(s, segment) : s);
  // Words are transferred to the parties' threads: each party's in a buffer of its own (P0's FSS words must not carry P1's).
  const dealer = new Dealer(seed(d.s0d), seed(d.s1d));
  const s = schedule(c);
  const orders: (CorrectionOrder | undefined)[] = ([0, 1] as const).map((p) => (senders[p] !== undefined ? correctionOrder(c, planParty(c, p, new Set(), s, { fuse: d.fuse }), p) : undefined));
  const stretches = Math.max(...orders.map((o) => (o === undefined ? 0 : stretchCount(o))));
  for (let k = 0; k < stretches; k++) {
    for (const p of [0, 1] as const) {
      const order = orders[p];
      if (order === undefined) continue;
      const items = stretchItems(order, k);
      if (items.length === 0) continue;
      const sender = senders[p]!;
      await sender.room();
      const words: BigUint64Array[] = [];
      const made: number[] = [];
      for (const item of items) {
        const ins = c.instructions[item.ins]!;
        made.push(item.ins);
        const w = dealer.material(ins, c.registers, p);
        if (w === undefined) throw new Error(`dealer: '${ins.op}' sends party ${p} nothing`);
        if (w.byteOffset === 0 && w.byteLength === w.buffer.byteLength) words.push(w); // its own buffer: transferred as is
        else {
          words.push(w.slice()); // compact, so the transfer moves exactly these words
          recycle(w);
        }
      }
      sender.post(segment, k, made, words);
    }
  }
}

/**
 * This thread's pool: the dealer's temporaries of one instruction (masks, products) come back
 * each layer, but the words it makes leave the thread, so it needs far less than a party's.
 */
const DEALER_POOL_BYTES = 64 * 1024 * 1024;

async function main(): Promise<void> {
  const d = workerData as DealerWorkerInput;
  limitPool(DEALER_POOL_BYTES);
  const senders = [d.toP0 !== undefined ? new StretchWordsSender(d.toP0, d.windowBytes) : undefined, new StretchWordsSender(d.toP1, d.windowBytes)];
  const queue: DealerSegmentMessage[] = [];
  let waiting: ((m: DealerSegmentMessage) => void) | undefined;
  if (d.segmented === true) {
    parentPort!.on('message', (m: DealerSegmentMessage) => {
      const w = waiting;
      waiting = undefined;
      if (w !== undefined) w(m);
      else queue.push(m);
    });
  }
  let c = d.circuit;
  for (let k = 0; ; k++) {
    await serveOne(d, c, k, senders);
    if (d.reportDealt === true) parentPort!.postMessage({ type: 'dealt' } satisfies DealerWorkerReply);
    if (d.segmented !== true) break;
    const m = queue.shift() ?? (await new Promise<DealerSegmentMessage>((r) => (waiting = r)));
    if (m.type === 'stop') break;
    c = m.circuit;
  }
  // The ports stay open: the parties may still be taking the last words. The thread waits for the
  // main thread to end it: once a party closes its end of the words port nothing else would keep
  // it alive, and its exit could reach the main thread before the parties' results do, as a
  // dealer that stopped early.
  parentPort!.on('message', () => {});
}

main().catch((e: unknown) => {
  const reply: DealerWorkerReply =
    e instanceof Ig3dcError ? { type: 'error', kind: e.kind, detail: e.detail, place: e.place } : { type: 'error', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  parentPort!.postMessage(reply);
});
