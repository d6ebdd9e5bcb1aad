// The dealer as its own process: holds the P0-dealer and P1-dealer keys (never the P0-P1 key,
// no inputs, no weights), waits for P1 (and for P0 when the circuit has gates whose dealer
// sends P0 words: FSS keys), checks that P0 authorized the session for the same circuit (the
// ticket: P1 forwards the one P0 made, P0 presents its own), and streams each party its words
// in its own consumption order (dealer-stream.ts), each stream under its party's flow control.
// It makes one instruction's material at a time; where one instruction sends both parties
// words (one key generation gives both keys), the half for the party whose stream is behind
// waits in the Dealer until that stream reaches it. The parties run in lockstep (one round
// apart at most), so that backlog is bounded by one party's read-ahead window plus a stretch.

import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { admitCircuit } from './admit.ts';
import { listenTlsPeers, T_CORRECTION, T_DONE, T_HELLO, type HostPort } from './channel.ts';
import { Dealer } from './dealer.ts';
import { correctionOrder, dealerSendsP0 } from './dealer-stream.ts';
import { pairKey, sessionSeed, ticketValid, tlsPsk, type RoleKeys } from './keys.ts';
import { planParty } from './plan.ts';
import { recycle } from './pool.ts';
import { DEFAULT_TIMEOUT_MS, failLinks, helloSegment, Link, PROTOCOL_VERSION, type SegmentId } from './tcp.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';

export interface DealerOptions {
  readonly circuit: Circuit;
  readonly circuitHash: string;
  /**
   * Other circuits the session may be for, by hash (a model in segments: the parties pick a
   * segment's bucket at run time, and P1's hello names its circuit). All must agree on which
   * parties the dealer sends words to.
   */
  readonly alternatives?: ReadonlyMap<string, Circuit>;
  /** A model in segments: the segment this session must be and what the dealer holds for it (for the error when P1 names another bucket). */
  readonly segment?: { readonly index: number; readonly held: string };
  readonly listen: HostPort;
  /** The dealer's key file. */
  readonly keys: RoleKeys;
  /** Time-out for each write to a party (default 60 s). */
  readonly timeoutMs?: number;
  /** Time-out for the parties to connect (default: timeoutMs). */
  readonly connectTimeoutMs?: number;
  readonly onListening?: (port: number) => void;
  readonly onRefused?: (why: string) => void;
  /** Called once the session is authorized, with its (public) id and the parties served. */
  readonly onSession?: (sessionId: string, parties: readonly (0 | 1)[]) => void;
}

export interface DealerResult {
  readonly sessionId: string;
  /** The hash of the circuit served (one of the alternatives, for a model in segments). */
  readonly circuitHash: string;
  /** Dealer instructions whose words were sent (to either party). */
  readonly corrections: number;
  /** Bytes sent, to both parties. */
  readonly bytes: number;
  /** Bytes sent to P0 and to P1. */
  readonly bytesPerParty: readonly [number, number];
}

interface DealerHello {
  readonly protocol: string;
  readonly circuitHash: string;
  readonly sessionId: string;
  readonly ticket: string;
  readonly segment?: SegmentId;
}

/** Serves one session's dealer words to P1 (and to P0, for circuits with FSS gates). */
export async function runDealerTcp(opts: DealerOptions): Promise<DealerResult> {
  tuneGarbageCollector();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (opts.keys.role !== 'dealer') throw new Ig3dcError('usage', `the dealer needs the dealer key file, not the ${opts.keys.role} one`);
  admitCircuit(opts.circuit);
  const known = new Map<string, Circuit>([[opts.circuitHash, opts.circuit], ...(opts.alternatives ?? new Map<string, Circuit>())]);
  for (const a of known.values()) {
    if (a !== opts.circuit) admitCircuit(a);
    if (dealerSendsP0(a) !== dealerSendsP0(opts.circuit)) throw new Ig3dcError('usage', `circuits '${opts.circuit.name}' and '${a.name}' differ in whether the dealer sends party 0 words: serve them apart`);
  }
  let c = opts.circuit;
  let circuitHash = opts.circuitHash;
  const k0d = pairKey(opts.keys, 'p0-dealer');
  const k1d = pairKey(opts.keys, 'p1-dealer');
  const parties: readonly (0 | 1)[] = dealerSendsP0(c) ? [0, 1] : [1];
  const peerKeys = parties.map((p) => (p === 0 ? { psk: tlsPsk(k0d, 'p0-dealer'), peer: 'party0' } : { psk: tlsPsk(k1d, 'p1-dealer'), peer: 'party1' }));
  const sockets = await listenTlsPeers(opts.listen, 'dealer', peerKeys, opts.connectTimeoutMs ?? timeoutMs, opts.onListening, opts.onRefused);
  const links = parties.map((p) => new Link(sockets.get(`party${p}`)!, `party ${p}`, timeoutMs));
  try {
    // Both hellos must name this circuit and one session P0 authorized.
    let sid: string | undefined;
    for (const [i, p] of parties.entries()) {
      const h = await links[i]!.receiveJson<DealerHello>(T_HELLO, 'hello');
      // the first hello picks the circuit among those the dealer holds; the other must name the same
      if (i === 0 && typeof h.circuitHash === 'string' && known.has(h.circuitHash)) {
        circuitHash = h.circuitHash;
        c = known.get(circuitHash)!;
      }
      const named = helloSegment(h.segment);
      const mismatch =
        h.protocol !== PROTOCOL_VERSION
          ? `protocol version mismatch: the dealer speaks ${PROTOCOL_VERSION}, party ${p} ${String(h.protocol).slice(0, 40)}`
          : opts.segment !== undefined && !known.has(String(h.circuitHash))
            ? `party ${p} runs ${named === undefined ? 'a circuit' : `segment ${named.index} at ${named.tokens} tokens`} (hash ${String(h.circuitHash).slice(0, 12)}...) that is not in the dealer's segments bundle for segment ${opts.segment.index} (it holds ${opts.segment.held})`
            : h.circuitHash !== circuitHash
            ? `party ${p} loaded a different circuit than the dealer (hash ${String(h.circuitHash).slice(0, 12)}..., the dealer's ${circuitHash.slice(0, 12)}...)`
            : typeof h.sessionId !== 'string' || !/^[0-9a-f]{64}$/.test(h.sessionId) || !ticketValid(k0d, h.sessionId, circuitHash, h.ticket)
              ? 'party 0 did not authorize this session for this circuit (no valid ticket)'
              : sid !== undefined && h.sessionId !== sid
                ? 'party 0 and party 1 name different sessions'
                : undefined;
      if (mismatch !== undefined) throw new Ig3dcError('input', `handshake failed: ${mismatch}`);
      sid = h.sessionId!;
    }
    opts.onSession?.(sid!, parties);
    for (const l of links) await l.sendJson(T_HELLO, { protocol: PROTOCOL_VERSION, circuitHash });
    const dealer = new Dealer(sessionSeed(k0d, 'p0-dealer', sid!, circuitHash), sessionSeed(k1d, 'p1-dealer', sid!, circuitHash));
    const s = schedule(c);
    const sent: [number, number] = [0, 0];
    const served = new Set<number>();
    const stream = async (p: 0 | 1, link: Link): Promise<void> => {
      const order = correctionOrder(c, planParty(c, p, new Set(), s), p);
      // The party's next frame is its end of the session (T_DONE), once it has read every correction;
      // a close or an error frame before it means it stopped, and ends the stream.
      let issued = false;
      const finished = link.reader.next(T_DONE, 0, 0, 'end of the session', 0).then(() => {
        if (!issued) throw new Ig3dcError('decode', `party ${p} ended the session before the dealer had sent every correction`);
      });
      finished.catch(() => {});
      let seq = 0;
      for (const [i, item] of order.items.entries()) {
        const w = dealer.material(c.instructions[item.ins]!, c.registers, p);
        if (w === undefined) throw new Error(`dealer: '${c.instructions[item.ins]!.op}' sends party ${p} nothing`);
        served.add(item.ins);
        sent[p] += w.byteLength;
        const done = link.send(T_CORRECTION, ++seq, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
        recycle(w); // the frame holds a copy (an FSS key's lent buffer goes back to the lent pool)
        if (i + 1 === order.items.length) {
          // The last write may still be completing when the party, having read it, says it is done.
          issued = true;
          done.catch(() => {});
        }
        await Promise.race([done, finished]);
      }
      issued = true; // also when the party is sent nothing
      // Everything is sent: wait for the party to say it has read it (a party that goes silent is
      // its peer's to time out; the dealer's part is done), then close.
      await awaitAtMost(finished, timeoutMs);
      const closed = new Promise<void>((resolve) => (link.socket.closed ? resolve() : link.socket.once('close', () => resolve())));
      if (!link.socket.closed) link.socket.end();
      await awaitAtMost(closed, timeoutMs, () => link.socket.destroy());
    };
    // One failing stream stops the other at once (failLinks below tells both parties why).
    await new Promise<void>((resolve, reject) => {
      let left = links.length;
      links.forEach((l, i) => stream(parties[i]!, l).then(() => void (--left === 0 && resolve()), reject));
    });
    return { sessionId: sid!, circuitHash, corrections: served.size, bytes: sent[0] + sent[1], bytesPerParty: sent };
  } catch (e) {
    return failLinks(links, e);
  }
}

/** Waits for `p`, or `ms` at most: then runs `onTimeout` and goes on. A rejection of `p` in time is thrown. */
async function awaitAtMost(p: Promise<unknown>, ms: number, onTimeout?: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout?.();
      resolve();
    }, ms);
  });
  try {
    await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
