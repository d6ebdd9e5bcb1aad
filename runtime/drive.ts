// Runs one party program against an asynchronous link to the other party (a MessagePort or a
// TCP socket): send this round's message, wait for the peer's, continue. Counts what it sends,
// round by round, and (party 1, which sees every message) hashes the transcript the same way
// the in-process interpreter does.

import { createHash, type Hash } from 'node:crypto';
import type { PartyResult } from './party.ts';

/** The other party, as the program sees it. */
export interface PeerLink {
  send(msg: Uint8Array, round: number): void | Promise<void>;
  /** The peer's message of round `round` (1-based over both phases). */
  receive(round: number): Promise<Uint8Array>;
}

export interface PartyStats {
  /** Bytes this party sent, per round (both phases, in order). */
  readonly sentPerRound: number[];
  /** Bytes the peer sent, per round. */
  readonly receivedPerRound: number[];
}

export interface DriveOptions {
  readonly party: 0 | 1;
  /** Party 1: the transcript hash (fed with dealer messages elsewhere, round messages here). */
  readonly transcript?: Hash;
  /** Awaited before each stretch of local work (0: before the first round; k: after round k), e.g. until the dealer's corrections for it are here. */
  readonly beforeStretch?: (k: number) => Promise<void>;
}

export async function driveParty(
  program: Generator<Uint8Array, PartyResult, Uint8Array>,
  link: PeerLink,
  opts: DriveOptions,
): Promise<{ result: PartyResult; stats: PartyStats }> {
  const stats: PartyStats = { sentPerRound: [], receivedPerRound: [] };
  await opts.beforeStretch?.(0);
  let step = program.next(new Uint8Array(0));
  let round = 0;
  while (!step.done) {
    round++;
    const mine = step.value;
    stats.sentPerRound.push(mine.byteLength);
    // Copy before handing it to the link: a MessagePort transfer detaches the buffer.
    const own = opts.transcript !== undefined ? mine.slice() : mine;
    await link.send(mine, round);
    const theirs = await link.receive(round);
    stats.receivedPerRound.push(theirs.byteLength);
    if (opts.transcript !== undefined) {
      if (opts.party === 1) opts.transcript.update(theirs).update(own);
      else opts.transcript.update(own).update(theirs);
    }
    await opts.beforeStretch?.(round);
    step = program.next(theirs);
  }
  return { result: step.value, stats };
}

export function newTranscript(): Hash {
  return createHash('sha256');
}
