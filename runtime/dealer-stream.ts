// The dealer's words as a stream from the dealer's process to a party's.
//
// Every party that receives dealer words has its own stream: P1 (Beaver corrections, FSS
// keys), and P0 only when the circuit has gates whose dealer sends P0 words (FSS keys). Both
// ends know the order in which the party consumes its words: a party's execution plan is a
// function of the circuit alone, so the dealer computes it too. Words travel in that order, one
// frame per dealer instruction, numbered. The party reads ahead in the background up to a
// window of bytes (default 64 MiB, never less than what the next stretch of local work between
// two rounds needs); past that it stops reading, TCP's flow control stops the dealer, and the
// dealer waits (within its time-out). So the dealer runs ahead of each party by at most the
// window plus the sockets' buffers, and a party holds at most that many dealer bytes.

import type { Circuit } from '../ir/circuit/circuit.ts';
import { findCircuitOp } from '../ir/circuit/ops.ts';
import type { Instruction } from '../ir/circuit/types.ts';
import { FrameReader, T_CORRECTION } from './channel.ts';
import type { PartyPlan } from './plan.ts';

type Ring = BigUint64Array;

export const DEFAULT_WINDOW_BYTES = 64 * 1024 * 1024;

export interface CorrectionOrder {
  /** Dealer instructions that send the party words, in the order it runs them, with the words' size in ring words. */
  readonly items: readonly { readonly ins: number; readonly words: number }[];
  /** Per stretch of local work (before round 1, between rounds k and k+1, after the last): the number of items needed by its end. */
  readonly neededBy: readonly number[];
}

/** The order of the dealer words `party` receives, under `plan` (that party's plan). */
export function correctionOrder(c: Circuit, plan: PartyPlan, party: 0 | 1): CorrectionOrder {
  const items: { ins: number; words: number }[] = [];
  const neededBy: number[] = [];
  for (const st of plan.steps) {
    if (st.kind === 'round') {
      neededBy.push(items.length);
      continue;
    }
    const ins = c.instructions[st.ins]!;
    const gate = findCircuitOp(ins.op)?.dealer;
    if (gate === undefined) continue;
    const bytes = gate.bytes(ins, c.registers)[party];
    if (bytes > 0) items.push({ ins: st.ins, words: bytes / 8 });
  }
  neededBy.push(items.length);
  return { items, neededBy };
}

/** Whether the dealer sends P0 any words for this circuit (FSS keys): then P0 needs a channel to it. */
export function dealerSendsP0(c: Circuit): boolean {
  return c.instructions.some((ins) => {
    const gate = findCircuitOp(ins.op)?.dealer;
    return gate !== undefined && gate.bytes(ins, c.registers)[0] > 0;
  });
}

/** The largest number of correction bytes one stretch of local work needs. */
export function largestStretchBytes(o: CorrectionOrder): number {
  let max = 0;
  let from = 0;
  for (const to of o.neededBy) {
    let b = 0;
    for (let i = from; i < to; i++) b += 8 * o.items[i]!.words;
    max = Math.max(max, b);
    from = to;
  }
  return max;
}

/** A party's end: reads its dealer words ahead into a bounded queue; the party program takes them synchronously. */
export class CorrectionFeed {
  readonly #circuit: Circuit;
  readonly #order: CorrectionOrder;
  readonly #reader: FrameReader;
  readonly #window: number;
  readonly #queue: Ring[] = [];
  #fetched = 0;
  #taken = 0;
  #queuedBytes = 0;
  #need = 0;
  #failed: Error | undefined;
  #running = false;
  #waiters: { upTo: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Dealer bytes received. */
  bytes = 0;
  /** Most dealer bytes held at once. */
  peakQueuedBytes = 0;

  constructor(circuit: Circuit, order: CorrectionOrder, reader: FrameReader, windowBytes = DEFAULT_WINDOW_BYTES) {
    this.#circuit = circuit;
    this.#order = order;
    this.#reader = reader;
    this.#window = Math.max(windowBytes, largestStretchBytes(order));
  }

  get windowBytes(): number {
    return this.#window;
  }

  /** Waits until every correction of stretch `k` (0-based) is here; reading continues ahead in the background. */
  ready(k: number): Promise<void> {
    const upTo = this.#order.neededBy[k] ?? this.#order.items.length;
    this.#need = Math.max(this.#need, upTo);
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const p = this.#fetched >= upTo ? Promise.resolve() : new Promise<void>((resolve, reject) => this.#waiters.push({ upTo, resolve, reject }));
    this.#run();
    return p;
  }

  /** The next correction, which must be for `ins`. */
  take(ins: Instruction): Ring {
    const item = this.#order.items[this.#taken];
    if (item === undefined || this.#circuit.instructions[item.ins] !== ins || this.#queue.length === 0) {
      throw new Error(`the dealer's words for a ${ins.op} are not here: the party's plan and the dealer's order disagree`);
    }
    this.#taken++;
    const w = this.#queue.shift()!;
    this.#queuedBytes -= w.byteLength;
    this.#run();
    return w;
  }

  #run(): void {
    if (this.#running || this.#failed !== undefined) return;
    this.#running = true;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    const items = this.#order.items;
    while (this.#fetched < items.length && (this.#fetched < this.#need || this.#queuedBytes < this.#window)) {
      const item = items[this.#fetched]!;
      let payload: Uint8Array;
      try {
        payload = (await this.#reader.next(T_CORRECTION, this.#fetched + 1, 8 * item.words, `correction ${this.#fetched + 1} of ${items.length}`)).payload;
      } catch (e) {
        this.#failed = e as Error;
        this.#running = false;
        for (const w of this.#waiters.splice(0)) w.reject(this.#failed);
        return;
      }
      const ring = new BigUint64Array(payload.buffer, payload.byteOffset, item.words);
      this.#queue.push(ring);
      this.#queuedBytes += payload.byteLength;
      this.bytes += payload.byteLength;
      this.peakQueuedBytes = Math.max(this.peakQueuedBytes, this.#queuedBytes);
      this.#fetched++;
      this.#waiters = this.#waiters.filter((w) => (this.#fetched >= w.upTo ? (w.resolve(), false) : true));
    }
    // Synchronously after the last check: a ready() or take() from now on starts a new loop.
    this.#running = false;
  }

  /** Whether every word was received and used. */
  get complete(): boolean {
    return this.#taken === this.#order.items.length;
  }
}
