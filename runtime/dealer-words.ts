// Dealer words between the simulated dealer's worker thread and a party's worker thread (worker
// mode): the in-thread counterpart of dealer-stream.ts's TCP stream, one mechanism for both
// parties. The dealer makes each party's words stretch by stretch of the party's local work, in
// the order the party consumes them (correctionOrder), and posts each non-empty stretch as one
// message over the party's own MessagePort, the buffers transferred. The party takes them
// synchronously while it runs that stretch; when a stretch's last word is taken it tells the
// dealer how many bytes it let go, and the dealer makes a party's next stretch only while that
// party holds fewer than a window of bytes (never blocking a stretch when the party holds none),
// so it runs ahead of each party by at most the window plus one stretch.

import type { Circuit } from '../ir/circuit/circuit.ts';
import type { Instruction } from '../ir/circuit/types.ts';
import type { CorrectionOrder } from './dealer-stream.ts';
import { borrow, isLendable, takeBack } from './pool.ts';

type Ring = BigUint64Array;

/**
 * How far the dealer's thread runs ahead of a party, in bytes the party holds: in one process the
 * words arrive at once, so a stretch or two ahead is all the overlap needs. A party then holds at
 * most this plus one stretch (BERT-base with `best`: P1's largest stretch is 38 MB of its 2.1 GB
 * of dealer words), whatever the model's total.
 */
export const THREAD_WINDOW_BYTES = 16 * 1024 * 1024;

/** One stretch's words for one party, from the dealer's thread to the party's. */
export interface StretchWords {
  /** The circuit in a segment sequence (0 for a whole model). */
  readonly segment: number;
  /** The stretch (0: before round 1; k: after round k). */
  readonly stretch: number;
  /** The dealer instruction each array of words is for (its index in the circuit). */
  readonly ins: number[];
  readonly words: Ring[];
  /** Per array: lent (pool.ts allocLent), so the party hands its buffer back once done with it. */
  readonly lent: boolean[];
}

/** From a party's thread to the dealer's: a stretch's words were all taken, these bytes let go. */
export interface WordsTaken {
  readonly taken: number;
  /** A lent buffer the party is done with (zeroed), for the dealer's next words. */
  readonly returned?: ArrayBuffer;
}

/** The items of `order` one stretch needs (0: before round 1; k: after round k). */
export function stretchItems(order: CorrectionOrder, k: number): readonly { readonly ins: number; readonly words: number }[] {
  return order.items.slice(k === 0 ? 0 : order.neededBy[k - 1]!, order.neededBy[k] ?? order.items.length);
}

/** The number of stretches of local work in an order (one more than its rounds). */
export function stretchCount(order: CorrectionOrder): number {
  return order.neededBy.length;
}

/** A party's end: each stretch's words arrive before the party runs it and are taken in the party's order. */
export class StretchWordsFeed {
  readonly #next: () => Promise<StretchWords>;
  readonly #taken: (m: WordsTaken) => void;
  readonly #circuit: Circuit;
  readonly #order: CorrectionOrder;
  readonly #segment: number;
  #queue: Ring[] = [];
  #queueIns: number[] = [];
  #queueLent: boolean[] = [];
  #held = 0;
  #count = 0;
  /** Dealer bytes received. */
  bytes = 0;

  /** `next`: the port's next message; `taken`: posts back to the dealer. */
  constructor(next: () => Promise<StretchWords>, taken: (m: WordsTaken) => void, circuit: Circuit, order: CorrectionOrder, segment: number) {
    this.#next = next;
    this.#taken = taken;
    this.#circuit = circuit;
    this.#order = order;
    this.#segment = segment;
  }

  /** Waits until stretch `k`'s words are here (nothing to wait for when it needs none). */
  async ready(k: number): Promise<void> {
    const items = stretchItems(this.#order, k);
    if (items.length === 0) return;
    const m = await this.#next();
    if (m.segment !== this.#segment || m.stretch !== k || this.#queue.length !== 0) {
      throw new Error(`dealer words out of order: segment ${m.segment} stretch ${m.stretch} came where segment ${this.#segment} stretch ${k} was due${this.#queue.length !== 0 ? ` (${this.#queue.length} words of the stretch before still unused)` : ''}`);
    }
    if (m.words.length !== items.length || m.ins.length !== items.length) throw new Error(`dealer words for stretch ${k}: ${m.words.length} arrived, ${items.length} expected`);
    this.#queue = m.words;
    this.#queueIns = m.ins;
    this.#queueLent = m.lent;
    this.#held = 0;
    for (const w of m.words) this.#held += w.byteLength;
    this.bytes += this.#held;
  }

  /** The next words, which must be for `ins`. */
  take(ins: Instruction): Ring {
    const item = this.#order.items[this.#count];
    const w = this.#queue.shift();
    const made = this.#queueIns.shift();
    const lent = this.#queueLent.shift() === true;
    if (item === undefined || this.#circuit.instructions[item.ins] !== ins || w === undefined || w.length !== item.words) {
      throw new Error(`the dealer's words for a ${ins.op} are not here: the party's plan and the dealer's order disagree`);
    }
    if (made !== item.ins) throw new Error(`dealer words out of order: words for instruction ${made} came where instruction ${item.ins}'s (a ${ins.op}) were due`);
    this.#count++;
    if (this.#queue.length === 0) this.#taken({ taken: this.#held });
    // Not adopted into this thread's pool: nothing here allocates the dealer's sizes to take them back, so they would pile up there.
    // A lent buffer goes back to the dealer's thread instead, once the registers are done with it.
    if (lent) borrow(w, (buf) => this.#taken({ taken: 0, returned: buf }));
    return w;
  }

  /** Whether every word was received and used. */
  get complete(): boolean {
    return this.#count === this.#order.items.length;
  }
}

/** What the dealer's end needs of a port. */
export interface WordsPort {
  postMessage(m: StretchWords, transfer: ArrayBuffer[]): void;
  on(event: 'message', listener: (m: WordsTaken) => void): unknown;
}

/** The dealer's end of one party's port: posts stretches, holding back while the party holds a window of bytes. */
export class StretchWordsSender {
  readonly #port: WordsPort;
  readonly #window: number;
  #held = 0;
  #wake: (() => void) | undefined;
  /** Bytes posted. */
  bytes = 0;
  /** Most bytes the party held (posted, not yet all taken) at once. */
  peakHeld = 0;

  constructor(port: WordsPort, windowBytes: number) {
    this.#port = port;
    this.#window = windowBytes;
    port.on('message', (m) => {
      if (m.returned !== undefined) takeBack(m.returned);
      this.#held -= m.taken;
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    });
  }

  /** Resolves once the party holds fewer than the window's bytes (at once when it holds none). */
  async room(): Promise<void> {
    while (this.#held > 0 && this.#held >= this.#window) await new Promise<void>((r) => (this.#wake = r));
  }

  /** Posts one stretch's words (transferred: the caller gives them up). */
  post(segment: number, stretch: number, ins: number[], words: Ring[]): void {
    let b = 0;
    for (const w of words) b += w.byteLength;
    this.#held += b;
    this.bytes += b;
    this.peakHeld = Math.max(this.peakHeld, this.#held);
    this.#port.postMessage({ segment, stretch, ins, words, lent: words.map(isLendable) } satisfies StretchWords, words.map((w) => w.buffer as ArrayBuffer));
  }
}
