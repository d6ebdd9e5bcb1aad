// One party per process, over authenticated channels (channel.ts): P0 and P1 talk to each
// other; P1 also talks to the dealer's process (dealer-server.ts), which streams P1's
// correction words. P0 talks to the dealer only when the circuit has gates whose dealer sends
// P0 words (FSS keys: the correction words of a DCF go to both parties); otherwise its share
// of every dealer output derives from the seed it shares with the dealer, and it never
// connects.
//
// Handshake between P0 and P1 (inside TLS, so only the holder of the P0-P1 key gets this
// far): each sends a hello with the protocol version, its party, the circuit's hash and a
// fresh nonce. The session id is a hash of the circuit hash and both nonces; every PRG seed
// of the session derives from a pair's key and the session id (keys.ts), so a replayed or
// foreign session never reuses masks. P0 then sends P1 a ticket (an HMAC under the P0-dealer
// key over the session id and circuit hash); P1 hands it to the dealer, which so knows P0
// agreed to this session and circuit. Where P0 connects to the dealer itself, it presents the
// session id and a ticket of its own (the P0-dealer channel's key already authenticates it).

import type { TLSSocket } from 'node:tls';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { admitCircuit } from './admit.ts';
import { connectTls, frame, FrameReader, listenTls, netError, T_ERROR, T_HELLO, T_CORRECTION, T_DONE, T_ROUND, T_TICKET, writeFrame, type HostPort } from './channel.ts';
import { CorrectionFeed, correctionOrder, dealerSendsP0, DEFAULT_WINDOW_BYTES } from './dealer-stream.ts';
import { driveParty, newTranscript } from './drive.ts';
import type { MeasuredCost } from './interpreter.ts';
import { dealerTicket, freshNonce, pairKey, sessionId, sessionSeed, tlsPsk, type RoleKeys } from './keys.ts';
import { checkPartyInputs, checkSharedInputs, partyProgram, roundWords, type Shares } from './party.ts';
import { planParty, type Exchange, type Step } from './plan.ts';
import { measuredRounds } from './measured-rounds.ts';
import type { MeasuredRound } from './transport.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';

export type { HostPort } from './channel.ts';
export const PROTOCOL_VERSION = 'ig3dc-3pc/4';
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface TcpPartyOptions {
  readonly circuit: Circuit;
  /** Content hash of the circuit (the circuit file's hash); every role must agree. */
  readonly circuitHash: string;
  readonly party: 0 | 1;
  /** Exactly one of listen / connect (towards the other party). */
  readonly listen?: HostPort;
  readonly connect?: HostPort;
  /** Where the dealer listens: party 1 always; party 0 when the circuit has gates whose dealer sends P0 words (FSS). */
  readonly dealer?: HostPort;
  /** This party's tensors: weights (P0) or model inputs (P1). */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** This party's own shares of the circuit's shared inputs (a segment: what the previous one handed off). */
  readonly shared?: ReadonlyMap<string, Shares>;
  /** A model in segments: which segment this circuit is and the tokens (bucket) it runs on, named in the hellos so a disagreement is reported as such. */
  readonly segment?: SegmentId;
  /** This party's key file (party0 or party1). */
  readonly keys: RoleKeys;
  /** Time-out for each message and each write (default 60 s). */
  readonly timeoutMs?: number;
  /** Time-out for a peer to connect or to be reachable (default: timeoutMs). */
  readonly connectTimeoutMs?: number;
  /** How many dealer bytes to read ahead of use (default 64 MiB). */
  readonly windowBytes?: number;
  /** Called with the bound port once listening (port 0 asks the OS for one). */
  readonly onListening?: (port: number) => void;
  /** Called when a connection is refused for failing authentication (the listener keeps waiting). */
  readonly onRefused?: (why: string) => void;
  readonly onRound?: (done: number, total: number, round: Extract<Step, { kind: 'round' }>) => void;
  /** Sees every payload this party receives, in order (tests build a party's view from it). */
  readonly onReceive?: (from: 'peer' | 'dealer', type: number, payload: Uint8Array) => void;
}

export interface TcpPartyResult {
  /** Declared outputs this party learned (party 1: all; party 0: those revealed to both, e.g. a segment's count). */
  readonly outputs: Map<string, Tensor>;
  /** This party's shares of what the circuit hands off to the next segment. */
  readonly handoffs: Map<string, Shares>;
  /**
   * Both directions as this party measured them. Dealer bytes: only what this party received
   * (dealerBytes and its own entry of dealerBytesPerParty; the other entry is 0).
   */
  readonly cost: MeasuredCost;
  /** Party 1: sha256 of the transcript, as runCircuit computes it ('' on party 0). */
  readonly transcriptHash: string;
  /** The session id (public: a hash of both nonces and the circuit hash). */
  readonly sessionId: string;
  /** A party that talks to the dealer: its read-ahead window and the most dealer bytes it held at once. */
  readonly corrections?: { readonly windowBytes: number; readonly peakQueuedBytes: number };
}

/** A segment of a model in segments: its index and the tokens (bucket) it runs on. */
export interface SegmentId {
  readonly index: number;
  readonly tokens: number;
}

interface Hello {
  readonly protocol: string;
  readonly party: number;
  readonly circuitHash: string;
  readonly nonce: string;
  readonly segment?: SegmentId;
}

/** A segment named in a peer's hello, or undefined when it names none (or garbage). */
export function helloSegment(v: unknown): SegmentId | undefined {
  const s = v as Partial<SegmentId> | undefined;
  return typeof s === 'object' && s !== null && Number.isSafeInteger(s.index) && Number.isSafeInteger(s.tokens) ? { index: s.index!, tokens: s.tokens! } : undefined;
}

const segmentText = (s: SegmentId | undefined): string => (s === undefined ? 'no segment' : `segment ${s.index} at ${s.tokens} tokens`);

function parseJsonFrame<T>(payload: Uint8Array, what: string, peer: string): Partial<T> {
  try {
    const v = JSON.parse(Buffer.from(payload).toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null) return v as Partial<T>;
  } catch {
    // fall through
  }
  throw new Ig3dcError('decode', `malformed frame from ${peer}: the ${what} is not a JSON object`);
}

/** A connected, framed channel to one peer. */
export class Link {
  readonly reader: FrameReader;
  constructor(
    readonly socket: TLSSocket,
    readonly peer: string,
    readonly timeoutMs: number,
    maxBuffered?: number,
  ) {
    socket.setNoDelay(true);
    this.reader = new FrameReader(socket, timeoutMs, peer, maxBuffered);
  }
  send(type: number, seq: number, payload: Uint8Array): Promise<void> {
    return writeFrame(this.socket, frame(type, seq, payload), this.timeoutMs, this.peer);
  }
  sendJson(type: number, v: object): Promise<void> {
    return this.send(type, 0, Buffer.from(JSON.stringify(v), 'utf8'));
  }
  async receiveJson<T>(type: number, what: string): Promise<Partial<T>> {
    return parseJsonFrame<T>((await this.reader.next(type, 0, 0, what)).payload, what, this.peer);
  }
  /** Tells the peer why this side stops (best effort) and closes. */
  async stop(why: string): Promise<void> {
    try {
      if (!this.socket.destroyed) await this.send(T_ERROR, 0, Buffer.from(why.slice(0, 300), 'utf8'));
    } catch {
      // The peer may be gone already; the local error is what matters.
    }
    this.socket.destroy();
  }
}

/**
 * Ends a party's session (see T_DONE): tells the dealer and the other party it is done, and
 * closes the link to the other party only once that party has said so too. A failed write of
 * the end frame itself is no error: the run is complete, and the peer closes only after it has
 * read this side's frame, or stops with an error of its own.
 */
async function closeSession(peer: Link, dealer: Link | undefined): Promise<void> {
  const said = [dealer, peer].map((l) => l?.send(T_DONE, 0, new Uint8Array(0)).catch(() => {}));
  dealer?.socket.end();
  await peer.reader.next(T_DONE, 0, 0, 'end of the session');
  peer.socket.end();
  await Promise.all(said);
}

/** Stops every link and rethrows: a typed error's detail (never a secret) goes to the peers. */
export async function failLinks(links: readonly (Link | undefined)[], e: unknown): Promise<never> {
  const why = e instanceof Ig3dcError ? (e.kind === 'io' ? 'a peer failed' : e.detail) : 'internal error';
  await Promise.all(links.map((l) => l?.stop(why)));
  throw e;
}

/** The name of an exchange in errors: its round, and the preprocessing rounds whose opens it carries. */
function roundLabel(st: Exchange): string {
  const name = (phase: string, round: number): string => `${phase === 'pre' ? 'preprocessing' : 'online'} round ${round}`;
  const carried = st.parts.filter((pt) => pt.phase !== st.phase || pt.round !== st.round).map((pt) => name(pt.phase, pt.round));
  return `${name(st.phase, st.round)} message${carried.length > 0 ? ` (carrying ${carried.join(', ')})` : ''}`;
}

/** Runs one party of a circuit over TLS. */
export async function runPartyTcp(opts: TcpPartyOptions): Promise<TcpPartyResult> {
  tuneGarbageCollector();
  const c = opts.circuit;
  const p = opts.party;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (opts.keys.role !== (p === 0 ? 'party0' : 'party1')) throw new Ig3dcError('usage', `party ${p} needs the party${p} key file, not the ${opts.keys.role} one`);
  if ((opts.listen === undefined) === (opts.connect === undefined)) throw new Ig3dcError('usage', 'give exactly one of --listen HOST:PORT and --connect HOST:PORT');
  if (p === 1 && opts.dealer === undefined) throw new Ig3dcError('usage', 'party 1 needs the dealer\'s address (--dealer HOST:PORT)');
  admitCircuit(c);
  const talksToDealer = p === 1 || dealerSendsP0(c);
  if (p === 0 && talksToDealer && opts.dealer === undefined) {
    throw new Ig3dcError('usage', "this circuit has FSS gates, whose dealer sends party 0 key words: party 0 needs the dealer's address too (--dealer HOST:PORT)");
  }
  if (!talksToDealer && opts.dealer !== undefined) {
    throw new Ig3dcError('usage', 'party 0 talks to the dealer only for circuits whose dealer sends it words (FSS gates); this one has none: drop --dealer');
  }
  checkPartyInputs(c, p, opts.tensors);
  checkSharedInputs(c, p, opts.shared);
  const s = schedule(c);
  const me = p === 0 ? 'party0' : 'party1';
  const other = p === 0 ? 'party1' : 'party0';
  const key = { psk: tlsPsk(pairKey(opts.keys, 'p0-p1'), 'p0-p1'), self: me, peer: other };
  const connectMs = opts.connectTimeoutMs ?? timeoutMs;
  const socket = opts.listen !== undefined ? await listenTls(opts.listen, key, connectMs, opts.onListening, opts.onRefused) : await connectTls(opts.connect!, key, connectMs);
  // The peer has at most one round message in flight ahead of this side (it sends round k + 1
  // only after this side's round k message), so the read cap is twice the largest one: enough
  // never to stall the exchange, a bound on what a misbehaving peer can make this side buffer.
  const plan = planParty(c, p, new Set(), s);
  let largest = 0;
  for (const st of plan.steps) if (st.kind === 'round') largest = Math.max(largest, 8 * roundWords(c, st.comms, p === 0 ? 1 : 0));
  const peer = new Link(socket, `party ${1 - p}`, timeoutMs, 2 * (largest + 16) + 65536);
  let dealer: Link | undefined;
  try {
    // Handshake with the other party.
    const nonce = freshNonce();
    const hello: Hello = { protocol: PROTOCOL_VERSION, party: p, circuitHash: opts.circuitHash, nonce: Buffer.from(nonce).toString('hex'), ...(opts.segment !== undefined ? { segment: opts.segment } : {}) };
    await peer.sendJson(T_HELLO, hello);
    const theirs = await peer.receiveJson<Hello>(T_HELLO, 'hello');
    opts.onReceive?.('peer', T_HELLO, Buffer.from(JSON.stringify(theirs)));
    const theirSegment = helloSegment(theirs.segment);
    const mismatch =
      theirs.protocol !== PROTOCOL_VERSION
        ? `protocol version mismatch: this side speaks ${PROTOCOL_VERSION}, the peer ${String(theirs.protocol).slice(0, 40)}`
        : theirs.party !== 1 - p
          ? `both sides are party ${p}: start one with --party 0 and the other with --party 1`
          : opts.segment !== undefined && (theirSegment?.index !== opts.segment.index || theirSegment.tokens !== opts.segment.tokens)
            ? `the parties picked different segments: this side runs ${segmentText(opts.segment)}, the peer ${segmentText(theirSegment)} (from the same revealed count both must pick the same bucket)`
            : theirs.circuitHash !== opts.circuitHash
            ? `the peer loaded a different circuit (hash ${String(theirs.circuitHash).slice(0, 12)}..., this side ${opts.circuitHash.slice(0, 12)}...)`
            : typeof theirs.nonce !== 'string' || !/^[0-9a-f]{32}$/.test(theirs.nonce)
              ? 'the peer sent no valid nonce'
              : undefined;
    if (mismatch !== undefined) throw new Ig3dcError('input', `handshake failed: ${mismatch}`);
    const peerNonce = new Uint8Array(Buffer.from(theirs.nonce!, 'hex'));
    const sid = p === 0 ? sessionId(opts.circuitHash, nonce, peerNonce) : sessionId(opts.circuitHash, peerNonce, nonce);
    const s01 = sessionSeed(pairKey(opts.keys, 'p0-p1'), 'p0-p1', sid, opts.circuitHash);
    const dealerPair = p === 0 ? 'p0-dealer' : 'p1-dealer';
    const sd = sessionSeed(pairKey(opts.keys, dealerPair), dealerPair, sid, opts.circuitHash);

    let feed: CorrectionFeed | undefined;
    let ticket: string;
    if (p === 0) {
      ticket = dealerTicket(pairKey(opts.keys, 'p0-dealer'), sid, opts.circuitHash);
      await peer.sendJson(T_TICKET, { ticket });
    } else {
      const t = await peer.receiveJson<{ ticket: string }>(T_TICKET, 'dealer ticket');
      opts.onReceive?.('peer', T_TICKET, Buffer.from(JSON.stringify(t)));
      ticket = t.ticket as string;
    }
    if (talksToDealer) {
      const dealerPairKey = pairKey(opts.keys, dealerPair);
      const dkey = { psk: tlsPsk(dealerPairKey, dealerPair), self: me, peer: 'dealer' };
      const window = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
      dealer = new Link(await connectTls(opts.dealer!, dkey, connectMs), 'the dealer', timeoutMs, Math.min(window, 8 * 1024 * 1024));
      await dealer.sendJson(T_HELLO, { protocol: PROTOCOL_VERSION, circuitHash: opts.circuitHash, sessionId: sid, ticket, ...(opts.segment !== undefined ? { segment: opts.segment } : {}) });
      const dh = await dealer.receiveJson<{ protocol: string; circuitHash: string }>(T_HELLO, 'hello');
      opts.onReceive?.('dealer', T_HELLO, Buffer.from(JSON.stringify(dh)));
      if (dh.protocol !== PROTOCOL_VERSION || dh.circuitHash !== opts.circuitHash) throw new Ig3dcError('input', 'handshake failed: the dealer speaks another protocol or loaded another circuit');
      feed = new CorrectionFeed(c, correctionOrder(c, plan, p), dealer.reader, window);
    }

    // Rounds.
    const rounds = plan.steps.filter((st): st is Extract<Step, { kind: 'round' }> => st.kind === 'round');
    const transcript = p === 1 ? newTranscript() : undefined;
    let done = 0;
    const total = rounds.length;
    const program = partyProgram({
      circuit: c,
      party: p,
      plan,
      tensors: opts.tensors,
      s01,
      sd,
      ...(opts.shared !== undefined ? { shared: opts.shared } : {}),
      ...(feed !== undefined
        ? {
            correction: (ins) => {
              const w = feed.take(ins);
              const bytes = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
              opts.onReceive?.('dealer', T_CORRECTION, bytes);
              transcript?.update(bytes);
              return w;
            },
          }
        : {}),
      ...(opts.onRound ? { onRound: (_k: number, st: Extract<Step, { kind: 'round' }>) => opts.onRound!(++done, total, st) } : {}),
    });
    const { result, stats } = await driveParty(
      program,
      {
        send: (msg, round) => peer.send(T_ROUND, round, msg),
        receive: async (round) => {
          const st = rounds[round - 1];
          if (st === undefined) throw new Error(`no round ${round} in the plan`);
          const bytes = 8 * roundWords(c, st.comms, p === 0 ? 1 : 0);
          const m = (await peer.reader.next(T_ROUND, round, bytes, roundLabel(st))).payload;
          opts.onReceive?.('peer', T_ROUND, m);
          return m;
        },
      },
      { party: p, ...(transcript !== undefined ? { transcript } : {}), ...(feed !== undefined ? { beforeStretch: (k: number) => feed.ready(k) } : {}) },
    );
    if (feed !== undefined && !feed.complete) throw netError('the run ended before every correction of the dealer was used');
    const byRound: MeasuredRound[] = measuredRounds(c, s, rounds, p === 0 ? [stats.sentPerRound, stats.receivedPerRound] : [stats.receivedPerRound, stats.sentPerRound]);
    const b0 = byRound.reduce((a, r) => a + r.bytesP0, 0);
    const b1 = byRound.reduce((a, r) => a + r.bytesP1, 0);
    await closeSession(peer, dealer);
    return {
      outputs: result.outputs,
      handoffs: result.handoffs,
      cost: {
        rounds: byRound.filter((r) => r.phase === 'online').length,
        preprocessingRounds: byRound.filter((r) => r.phase === 'pre').length,
        bytesPerParty: [b0, b1],
        bytesTotal: b0 + b1,
        dealerBytes: feed?.bytes ?? 0,
        dealerBytesPerParty: p === 0 ? [feed?.bytes ?? 0, 0] : [0, feed?.bytes ?? 0],
        byRound,
      },
      transcriptHash: transcript?.digest('hex') ?? '',
      sessionId: sid,
      ...(feed !== undefined ? { corrections: { windowBytes: feed.windowBytes, peakQueuedBytes: feed.peakQueuedBytes } } : {}),
    };
  } catch (e) {
    return failLinks([peer, dealer], e);
  }
}
