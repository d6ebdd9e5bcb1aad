// Worker-thread entry: the simulated dealer of a two-worker run, in a thread of its own, for
// circuits whose dealer sends words to P1 only (Beaver corrections). It holds the two dealer
// seeds (no party's worker does), makes P1's words in the order P1's plan takes them, one
// stretch of local work at a time, and posts each stretch to P1's worker ahead of need. A
// triple's correction costs about as much as one of the parties' own products, so on two cores
// this work fills the time the parties spend waiting for each other instead of lengthening
// P1's turn. It runs ahead by at most a window of bytes: P1's worker acknowledges each stretch
// it has used.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { Dealer } from './dealer.ts';
import { correctionOrder, stretchItems } from './dealer-stream.ts';
import { ringStats } from './kernels.ts';
import { planParty } from './plan.ts';
import { adopt, recycle, setPoolLimit } from './pool.ts';

/** Bytes of words the dealer thread posts ahead of what P1 has used (the next stretch is always made). */
const WINDOW_BYTES = 32 * 1024 * 1024;

export interface DealerWorkerInput {
  readonly circuit: Circuit;
  readonly s0d: Uint8Array;
  readonly s1d: Uint8Array;
  /** To P1's worker: the words of each stretch; from it, the number of bytes it has used. */
  readonly port: MessagePort;
  readonly fuse: boolean;
}

/** Dealer words of one stretch of local work, from the dealer to the party that takes them. */
export interface StretchWords {
  readonly stretch: number;
  readonly words: BigUint64Array[];
}

/** From P1's worker: the bytes of words it has used since the last one, and their buffers (back to the dealer's pool). */
export interface Acknowledgement {
  readonly bytes: number;
  readonly buffers: ArrayBuffer[];
}

export type DealerWorkerReply = { type: 'done'; macs: number } | { type: 'error'; kind?: string; detail: string; place?: object };

async function main(): Promise<void> {
  const d = workerData as DealerWorkerInput;
  const c = d.circuit;
  // The pool holds one instruction's temporaries and the word buffers P1's worker sends back
  // (at most the window's worth): less than a party's.
  setPoolLimit(160 * 1024 * 1024);
  const dealer = new Dealer(d.s0d, d.s1d);
  const order = correctionOrder(c, planParty(c, 1, new Set(), schedule(c), { fuse: d.fuse }), 1);
  let posted = 0;
  let used = 0;
  let wake: (() => void) | undefined;
  d.port.on('message', (m: Acknowledgement) => {
    used += m.bytes;
    for (const b of m.buffers) recycle(adopt(new BigUint64Array(b)));
    const w = wake;
    wake = undefined;
    w?.();
  });
  for (let k = 0; k < order.neededBy.length; k++) {
    const items = stretchItems(order, k);
    if (items.length === 0) continue;
    // Take the acknowledgements that came in (their buffers serve this stretch), then stay
    // ahead by at most the window (the next stretch is always made).
    await new Promise<void>((r) => setImmediate(r));
    while (posted - used > WINDOW_BYTES) await new Promise<void>((r) => (wake = r));
    const words: BigUint64Array[] = [];
    for (const item of items) {
      const w = dealer.correction(c.instructions[item.ins]!, c.registers);
      words.push(w.byteOffset === 0 && w.byteLength === w.buffer.byteLength ? w : w.slice());
      if (words[words.length - 1] !== w) recycle(w);
      posted += w.byteLength;
    }
    d.port.postMessage({ stretch: k, words } satisfies StretchWords, words.map((w) => w.buffer as ArrayBuffer));
  }
  // Every word is posted; the acknowledgements that follow need not keep this thread alive.
  d.port.unref();
  parentPort!.postMessage({ type: 'done', macs: ringStats.macs } satisfies DealerWorkerReply);
}

main().catch((e: unknown) => {
  const reply: DealerWorkerReply =
    e instanceof Ig3dcError ? { type: 'error', kind: e.kind, detail: e.detail, place: e.place } : { type: 'error', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  parentPort!.postMessage(reply);
});
