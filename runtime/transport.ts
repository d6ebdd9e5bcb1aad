// In-process transport: per round, one message per direction, the concatenation of that
// round's payloads in instruction order. Byte counts come from the messages themselves.

import { createHash, type Hash } from 'node:crypto';
import type { Phase } from '../ir/circuit/schedule.ts';
import { allocRing } from './pool.ts';

export interface MeasuredRound {
  readonly phase: Phase;
  readonly round: number;
  readonly bytesP0: number;
  readonly bytesP1: number;
}

/** Reads payloads back out of a received message, in the order they were posted. */
export class MessageReader {
  #view: BigUint64Array;
  #at = 0;
  constructor(message: Uint8Array) {
    // Messages are built 8-byte aligned, so this is a view, not a copy.
    this.#view = new BigUint64Array(message.buffer, message.byteOffset, message.byteLength / 8);
  }
  next(n: number): BigUint64Array {
    if (this.#at + n > this.#view.length) throw new Error(`message underrun: want ${n} words at ${this.#at}, have ${this.#view.length}`);
    const out = this.#view.slice(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  get done(): boolean {
    return this.#at === this.#view.length;
  }
}

export class LocalTransport {
  #pending: [BigUint64Array[], BigUint64Array[]] = [[], []];
  readonly sent: [number, number] = [0, 0];
  dealerBytes = 0;
  /** Dealer bytes to P0 and to P1. */
  readonly dealerSent: [number, number] = [0, 0];
  readonly rounds: MeasuredRound[] = [];
  readonly #transcript: Hash = createHash('sha256');
  readonly #hashing: boolean;

  constructor(hashing = true) {
    this.#hashing = hashing;
  }

  /** Queues a payload from party `from` for the current round. */
  post(from: 0 | 1, payload: BigUint64Array | Uint8Array): void {
    this.#pending[from].push(payload instanceof Uint8Array ? new BigUint64Array(payload.buffer, payload.byteOffset, payload.byteLength / 8) : payload);
  }

  /** Ends a round and delivers the raw messages [to P0, to P1] (counted as in exchange). */
  exchangeRaw(): [Uint8Array, Uint8Array] {
    const msgs = this.#pending.map((parts) => concatBytes(parts)) as [Uint8Array, Uint8Array];
    this.#pending = [[], []];
    this.sent[0] += msgs[0].byteLength;
    this.sent[1] += msgs[1].byteLength;
    if (this.#hashing) this.#transcript.update(msgs[0]).update(msgs[1]);
    this.rounds.push({ phase: 'online', round: this.rounds.length + 1, bytesP0: msgs[0].byteLength, bytesP1: msgs[1].byteLength });
    return [msgs[1], msgs[0]];
  }

  /**
   * The dealer's words to a party (counted and delivered as they are: the dealer keeps no
   * reference). Only P1's are hashed: the transcript is P1's view (every round message and the
   * dealer's words to P1), which P1 computes the same way in the worker and TCP modes, where
   * P0's dealer words (FSS keys) never reach it.
   */
  dealerTo(party: 0 | 1, words: BigUint64Array): BigUint64Array {
    this.dealerBytes += words.byteLength;
    this.dealerSent[party] += words.byteLength;
    if (this.#hashing && party === 1) this.#transcript.update(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
    return words;
  }

  /** sha256 over every message sent so far, in order. */
  transcriptHash(): string {
    return this.#hashing ? this.#transcript.copy().digest('hex') : '';
  }
}

/** The parts as one message; a single part is handed over as it is (its sender gives it up). */
function concatBytes(parts: readonly BigUint64Array[]): Uint8Array {
  if (parts.length === 1) return new Uint8Array(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.byteLength);
  let n = 0;
  for (const p of parts) n += p.length;
  const out = allocRing(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  // In-process, messages keep the host's byte order (little-endian on every supported host).
  return new Uint8Array(out.buffer);
}
