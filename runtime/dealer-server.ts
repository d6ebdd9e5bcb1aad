// The dealer as its own process: holds the P0-dealer and P1-dealer keys (never the P0-P1 key,
// no inputs, no weights), waits for P1, checks that P0 authorized the session for the same
// circuit (the ticket), and streams P1's correction words in P1's order (dealer-stream.ts).
// It computes one instruction's material at a time and waits whenever P1 stops reading, so it
// holds at most one dealer instruction's arrays plus the socket's buffer.

import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { admitCircuit } from './admit.ts';
import { listenTls, T_CORRECTION, T_HELLO, type HostPort } from './channel.ts';
import { Dealer } from './dealer.ts';
import { correctionOrder } from './dealer-stream.ts';
import { pairKey, sessionSeed, ticketValid, tlsPsk, type RoleKeys } from './keys.ts';
import { planParty } from './plan.ts';
import { recycle } from './pool.ts';
import { DEFAULT_TIMEOUT_MS, failLinks, Link, PROTOCOL_VERSION } from './tcp.ts';

export interface DealerOptions {
  readonly circuit: Circuit;
  readonly circuitHash: string;
  readonly listen: HostPort;
  /** The dealer's key file. */
  readonly keys: RoleKeys;
  /** Time-out for each write to P1 (default 60 s). */
  readonly timeoutMs?: number;
  /** Time-out for P1 to connect (default: timeoutMs). */
  readonly connectTimeoutMs?: number;
  readonly onListening?: (port: number) => void;
  readonly onRefused?: (why: string) => void;
  /** Called once the session is authorized, with its (public) id. */
  readonly onSession?: (sessionId: string) => void;
}

export interface DealerResult {
  readonly sessionId: string;
  /** Correction instructions and bytes sent to P1. */
  readonly corrections: number;
  readonly bytes: number;
}

interface DealerHello {
  readonly protocol: string;
  readonly circuitHash: string;
  readonly sessionId: string;
  readonly ticket: string;
}

/** Serves one session's corrections to P1. */
export async function runDealerTcp(opts: DealerOptions): Promise<DealerResult> {
  const c = opts.circuit;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (opts.keys.role !== 'dealer') throw new Ig3dcError('usage', `the dealer needs the dealer key file, not the ${opts.keys.role} one`);
  admitCircuit(c);
  const k0d = pairKey(opts.keys, 'p0-dealer');
  const k1d = pairKey(opts.keys, 'p1-dealer');
  const key = { psk: tlsPsk(k1d, 'p1-dealer'), self: 'dealer', peer: 'party1' };
  const p1 = new Link(await listenTls(opts.listen, key, opts.connectTimeoutMs ?? timeoutMs, opts.onListening, opts.onRefused), 'party 1', timeoutMs);
  try {
    const h = await p1.receiveJson<DealerHello>(T_HELLO, 'hello');
    const mismatch =
      h.protocol !== PROTOCOL_VERSION
        ? `protocol version mismatch: the dealer speaks ${PROTOCOL_VERSION}, party 1 ${String(h.protocol).slice(0, 40)}`
        : h.circuitHash !== opts.circuitHash
          ? `party 1 loaded a different circuit than the dealer (hash ${String(h.circuitHash).slice(0, 12)}..., the dealer's ${opts.circuitHash.slice(0, 12)}...)`
          : typeof h.sessionId !== 'string' || !/^[0-9a-f]{64}$/.test(h.sessionId) || !ticketValid(k0d, h.sessionId, opts.circuitHash, h.ticket)
            ? 'party 0 did not authorize this session for this circuit (no valid ticket)'
            : undefined;
    if (mismatch !== undefined) throw new Ig3dcError('input', `handshake failed: ${mismatch}`);
    const sid = h.sessionId!;
    opts.onSession?.(sid);
    await p1.sendJson(T_HELLO, { protocol: PROTOCOL_VERSION, circuitHash: opts.circuitHash });
    const dealer = new Dealer(sessionSeed(k0d, 'p0-dealer', sid, opts.circuitHash), sessionSeed(k1d, 'p1-dealer', sid, opts.circuitHash));
    const order = correctionOrder(c, planParty(c, 1, new Set(), schedule(c)));
    // P1 sends nothing more: any frame or close from now on means it stopped, and ends the stream.
    const stopped = p1.reader.next(T_HELLO, 0, 0, 'nothing more', 0).then(() => {
      throw new Ig3dcError('decode', 'party 1 sent a frame after the handshake');
    });
    stopped.catch(() => {});
    let seq = 0;
    for (const item of order.items) {
      const w = dealer.correction(c.instructions[item.ins]!, c.registers);
      const sent = p1.send(T_CORRECTION, ++seq, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      recycle(w); // the frame holds a copy
      await Promise.race([sent, stopped]);
    }
    // Everything is sent: wait for P1 to finish with it and close.
    await new Promise<void>((resolve) => {
      if (p1.socket.closed) return resolve();
      const timer = setTimeout(() => {
        p1.socket.destroy();
        resolve();
      }, timeoutMs);
      p1.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      p1.socket.end();
    });
    return { sessionId: sid, corrections: order.items.length, bytes: dealer.bytes };
  } catch (e) {
    return failLinks([p1], e);
  }
}
