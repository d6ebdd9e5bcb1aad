// Two processes over TCP: one party per process, framed and length-checked messages.
//
// Frame = 16-byte header + payload. Header: magic "IG3F", type (u8: 1 hello, 2 round,
// 3 error), 3 zero bytes, round (u32 LE, 1-based over both phases; 0 for hello/error),
// payload length (u32 LE). A round frame must carry exactly the round number and byte count
// the circuit's schedule says the peer sends, or the run stops with a clear error before the
// payload is even read. The handshake (hello) checks the protocol version, that both load the
// same circuit (content hash), that they are parties 0 and 1, and that they use the same seed.
//
// Correlated randomness (trusted-dealer setting): both processes read the same seed. Party 0
// derives only its own material (the P0-P1 seed and the P0-dealer seed); party 1's process
// also hosts the dealer: it derives P1's material and computes the correction words the dealer
// would send to P1 (counted as dealer bytes, never sent between the parties). In a deployment
// the dealer is a third machine holding the dealer seeds and P1 receives only the corrections.

import { createHash } from 'node:crypto';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { verifyCircuit } from '../ir/circuit/verify.ts';
import { Dealer } from './dealer.ts';
import { driveParty, newTranscript } from './drive.ts';
import type { MeasuredCost } from './interpreter.ts';
import { checkPartyInputs, partyProgram, roundWords } from './party.ts';
import { planParty, type Step } from './plan.ts';
import { deriveSeeds } from './prg.ts';
import type { MeasuredRound } from './transport.ts';

export const PROTOCOL_VERSION = 'ig3dc-2pc/1';
const MAGIC = 0x46334749; // "IG3F" little-endian
const HEADER = 16;
const T_HELLO = 1;
const T_ROUND = 2;
const T_ERROR = 3;
const MAX_HELLO = 64 * 1024;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface TcpPartyOptions {
  readonly circuit: Circuit;
  /** Content hash of the circuit (the circuit file's hash); both sides must agree. */
  readonly circuitHash: string;
  readonly party: 0 | 1;
  /** Exactly one of listen / connect. */
  readonly listen?: HostPort;
  readonly connect?: HostPort;
  /** This party's tensors: weights (P0) or model inputs (P1). */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** The master seed both parties read (see the header comment). */
  readonly seed: Uint8Array;
  /** Time-out for connecting and for each message from the peer (default 60 s). */
  readonly timeoutMs?: number;
  /** Called with the bound port once listening (port 0 asks the OS for one). */
  readonly onListening?: (port: number) => void;
  readonly onRound?: (done: number, total: number, round: Extract<Step, { kind: 'round' }>) => void;
}

export interface TcpPartyResult {
  /** Declared outputs (party 1 only). */
  readonly outputs: Map<string, Tensor>;
  /** Both directions as this party measured them; dealerBytes is measured by party 1 (0 on party 0). */
  readonly cost: MeasuredCost;
  /** Party 1: sha256 of the transcript, as runCircuit computes it ('' on party 0). */
  readonly transcriptHash: string;
}

function netError(detail: string): Ig3dcError {
  return new Ig3dcError('io', detail);
}

function frame(type: number, round: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(round, 8);
  h.writeUInt32LE(payload.byteLength, 12);
  return Buffer.concat([h, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]);
}

interface Frame {
  readonly type: number;
  readonly round: number;
  readonly payload: Uint8Array;
}

/** Reads frames off a socket, checking each header against what is expected next. */
class FrameReader {
  #chunks: Buffer[] = [];
  #have = 0;
  #want: { type: number; round: number; bytes: number; resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #failed: Error | undefined;
  #header: { type: number; round: number; length: number } | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#have += d.length;
      this.#pump();
    });
    socket.on('close', () => this.#fail(netError(this.#closedMessage())));
    socket.on('error', (e) => this.#fail(netError(`connection error: ${e.message}`)));
  }

  #closedMessage(): string {
    const w = this.#want;
    if (w === undefined) return 'the peer closed the connection';
    return w.type === T_ROUND ? `the peer closed the connection during round ${w.round} (expected ${w.bytes} bytes)` : 'the peer closed the connection during the handshake';
  }

  #fail(e: Error): void {
    if (this.#failed === undefined) this.#failed = e;
    const w = this.#want;
    if (w !== undefined) {
      this.#want = undefined;
      clearTimeout(w.timer);
      w.reject(this.#failed);
    }
  }

  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#have -= n;
    return out;
  }

  #pump(): void {
    const w = this.#want;
    if (w === undefined) return;
    if (this.#header === undefined) {
      if (this.#have < HEADER) return;
      const h = this.#take(HEADER);
      const magic = h.readUInt32LE(0);
      const type = h.readUInt8(4);
      const round = h.readUInt32LE(8);
      const length = h.readUInt32LE(12);
      if (magic !== MAGIC) return this.#malformed('a frame without the IG3F magic (not an ig3dc peer?)');
      if (type === T_ERROR) {
        if (length > MAX_HELLO) return this.#malformed(`an error frame of ${length} bytes`);
      } else if (type !== w.type) {
        return this.#malformed(`a frame of type ${type} where type ${w.type} was expected`);
      } else if (type === T_ROUND && (round !== w.round || length !== w.bytes)) {
        return this.#malformed(`round ${round} with ${length} bytes where round ${w.round} with ${w.bytes} bytes was expected`);
      } else if (type === T_HELLO && length > MAX_HELLO) {
        return this.#malformed(`a hello of ${length} bytes`);
      }
      this.#header = { type, round, length };
    }
    const hd = this.#header;
    if (this.#have < hd.length) return;
    this.#header = undefined;
    // Copy into a fresh, 8-byte aligned buffer (ring words are read in place).
    const payload = new Uint8Array(hd.length);
    payload.set(this.#take(hd.length));
    if (hd.type === T_ERROR) {
      this.#fail(netError(`the peer stopped: ${Buffer.from(payload).toString('utf8')}`));
      return;
    }
    this.#want = undefined;
    clearTimeout(w.timer);
    w.resolve({ type: hd.type, round: hd.round, payload });
  }

  #malformed(what: string): void {
    const e = new Ig3dcError('decode', `malformed frame from the peer: ${what}`);
    this.socket.destroy();
    this.#fail(e);
  }

  next(type: number, round: number, bytes: number, what: string): Promise<Frame> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#want = undefined;
        reject(netError(`timed out after ${this.timeoutMs / 1000} s waiting for the peer's ${what}`));
      }, this.timeoutMs);
      this.#want = { type, round, bytes, resolve, reject, timer };
      this.#pump();
    });
  }
}

async function openSocket(opts: TcpPartyOptions, timeoutMs: number): Promise<{ socket: Socket; server?: Server }> {
  if ((opts.listen === undefined) === (opts.connect === undefined)) throw new Ig3dcError('usage', 'give exactly one of --listen HOST:PORT and --connect HOST:PORT');
  if (opts.listen !== undefined) {
    const { host, port } = opts.listen;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(netError(`cannot listen on ${host}:${port}: ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    opts.onListening?.(typeof addr === 'object' && addr !== null ? addr.port : port);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => reject(netError(`timed out after ${timeoutMs / 1000} s waiting for the peer to connect to ${host}:${port}`)), timeoutMs);
      server.once('connection', (s) => {
        clearTimeout(timer);
        resolve(s);
      });
    }).finally(() => server.close());
    return { socket, server };
  }
  const { host, port } = opts.connect!;
  const deadline = Date.now() + timeoutMs;
  // The peer may not be listening yet: retry until the time-out.
  for (;;) {
    try {
      return {
        socket: await new Promise<Socket>((resolve, reject) => {
          const s = netConnect({ host, port });
          s.once('connect', () => {
            s.removeAllListeners('error');
            resolve(s);
          });
          s.once('error', reject);
        }),
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ECONNREFUSED' && code !== 'ENOENT') || Date.now() > deadline) {
        throw netError(`cannot connect to ${host}:${port}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A fingerprint of the P0-P1 seed, so the handshake catches parties started with different seeds. */
function seedCheck(s01: Uint8Array): string {
  return createHash('sha256').update('ig3dc/seed-check').update(s01).digest('hex').slice(0, 16);
}

/** Runs one party of a circuit over TCP. */
export async function runPartyTcp(opts: TcpPartyOptions): Promise<TcpPartyResult> {
  const c = opts.circuit;
  const p = opts.party;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  verifyCircuit(c);
  checkPartyInputs(c, p, opts.tensors);
  const s = schedule(c);
  const seeds = deriveSeeds(opts.seed);
  const { socket } = await openSocket(opts, timeoutMs);
  socket.setNoDelay(true);
  const reader = new FrameReader(socket, timeoutMs);
  const write = (buf: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      if (socket.destroyed) return reject(netError('the connection is closed'));
      socket.write(buf, (e) => (e ? reject(netError(`cannot send to the peer: ${e.message}`)) : resolve()));
    });
  const stop = async (why: string): Promise<void> => {
    try {
      if (!socket.destroyed) await write(frame(T_ERROR, 0, Buffer.from(why, 'utf8')));
    } catch {
      // The peer may be gone already; the local error is what matters.
    }
  };
  try {
    // Handshake.
    const hello = { protocol: PROTOCOL_VERSION, party: p, circuitHash: opts.circuitHash, seedCheck: seedCheck(seeds.s01) };
    await write(frame(T_HELLO, 0, Buffer.from(JSON.stringify(hello), 'utf8')));
    const h = await reader.next(T_HELLO, 0, 0, 'hello');
    let peer: Partial<typeof hello>;
    try {
      peer = JSON.parse(Buffer.from(h.payload).toString('utf8')) as Partial<typeof hello>;
    } catch {
      throw new Ig3dcError('decode', 'malformed frame from the peer: the hello is not JSON');
    }
    const mismatch =
      peer.protocol !== PROTOCOL_VERSION
        ? `protocol version mismatch: this side speaks ${PROTOCOL_VERSION}, the peer ${String(peer.protocol)}`
        : peer.party !== 1 - p
          ? `both sides are party ${p}: start one with --party 0 and the other with --party 1`
          : peer.circuitHash !== opts.circuitHash
            ? `the peer loaded a different circuit (hash ${String(peer.circuitHash).slice(0, 12)}..., this side ${opts.circuitHash.slice(0, 12)}...)`
            : peer.seedCheck !== hello.seedCheck
              ? 'the peer uses a different seed: both parties must read the same seed'
              : undefined;
    if (mismatch !== undefined) {
      await stop(mismatch);
      throw new Ig3dcError('input', `handshake failed: ${mismatch}`);
    }

    // Rounds.
    const plan = planParty(c, p, new Set(), s);
    const rounds = plan.steps.filter((st): st is Extract<Step, { kind: 'round' }> => st.kind === 'round');
    const dealer = p === 1 ? new Dealer(seeds.s0d, seeds.s1d) : undefined;
    const transcript = p === 1 ? newTranscript() : undefined;
    let done = 0;
    const total = rounds.length;
    const program = partyProgram({
      circuit: c,
      party: p,
      plan,
      tensors: opts.tensors,
      s01: seeds.s01,
      sd: p === 0 ? seeds.s0d : seeds.s1d,
      ...(dealer !== undefined
        ? {
            correction: (ins, own) => {
              const w = dealer.correction(ins, c.registers, own);
              transcript!.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
              return w;
            },
          }
        : {}),
      ...(opts.onRound ? { onRound: (_k: number, st: Extract<Step, { kind: 'round' }>) => opts.onRound!(++done, total, st) } : {}),
    });
    const { result, stats } = await driveParty(
      program,
      {
        send: (msg, round) => write(frame(T_ROUND, round, msg)),
        receive: async (round) => {
          const st = rounds[round - 1];
          if (st === undefined) throw new Error(`no round ${round} in the plan`);
          const bytes = 8 * roundWords(c, st.comms, p === 0 ? 1 : 0);
          return (await reader.next(T_ROUND, round, bytes, `${st.phase === 'pre' ? 'preprocessing' : 'online'} round ${st.round} message`)).payload;
        },
      },
      { party: p, ...(transcript !== undefined ? { transcript } : {}) },
    );
    const byRound: MeasuredRound[] = stats.sentPerRound.map((mine, i) => {
      const st = rounds[i]!;
      const theirs = stats.receivedPerRound[i]!;
      return { phase: st.phase, round: st.round, bytesP0: p === 0 ? mine : theirs, bytesP1: p === 1 ? mine : theirs };
    });
    const b0 = byRound.reduce((a, r) => a + r.bytesP0, 0);
    const b1 = byRound.reduce((a, r) => a + r.bytesP1, 0);
    socket.end();
    return {
      outputs: result.outputs,
      cost: {
        rounds: byRound.filter((r) => r.phase === 'online').length,
        preprocessingRounds: byRound.filter((r) => r.phase === 'pre').length,
        bytesPerParty: [b0, b1],
        bytesTotal: b0 + b1,
        dealerBytes: dealer?.bytes ?? 0,
        byRound,
      },
      transcriptHash: transcript?.digest('hex') ?? '',
    };
  } catch (e) {
    if (e instanceof Ig3dcError && e.kind !== 'io') await stop(e.detail);
    else if (!(e instanceof Ig3dcError)) await stop(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    socket.destroy();
    throw e;
  }
}
