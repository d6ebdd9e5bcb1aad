// Authenticated channels between the roles: TLS 1.2 with a pre-shared key per pair
// (ECDHE-PSK-CHACHA20-POLY1305: mutual authentication by the pair's key, forward secrecy by
// the ephemeral key exchange, an AEAD for every record), carrying length-checked frames.
//
// Frame = 16-byte header + payload. Header: magic "IG3F", type (u8), 3 zero bytes, a sequence
// number (u32 LE: the round for round frames, the dealer instruction's place in P1's order
// for corrections, 0 otherwise), payload length (u32 LE). A frame must carry exactly the type,
// sequence number and byte count the circuit says comes next, or the run stops with a clear
// error before the payload is read.
//
// A listener accepts the first connection that completes the TLS handshake with the right key
// and identity; connections that fail it (another key, not TLS, idle until the handshake
// time-out) are dropped without blocking the real peer. Once connected, the port is closed.

import { connect as tlsConnect, createServer, type TLSSocket } from 'node:tls';
import { Ig3dcError } from '../ir/diagnostics.ts';

export const MAGIC = 0x46334749; // "IG3F" little-endian
const HEADER = 16;
export const T_HELLO = 1;
export const T_ROUND = 2;
export const T_ERROR = 3;
export const T_TICKET = 4;
export const T_CORRECTION = 5;
/**
 * "I have read everything and send nothing more": each side of a session says it, and closes only
 * once it has read the other side's. Without it, a side whose last message the peer has read and
 * closed on may see the close before its own write's completion, and fail a run that succeeded.
 */
export const T_DONE = 6;
export const MAX_HELLO = 64 * 1024;

const TLS_OPTIONS = { ciphers: 'ECDHE-PSK-CHACHA20-POLY1305', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function netError(detail: string): Ig3dcError {
  return new Ig3dcError('io', detail);
}

export function frame(type: number, seq: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(payload.byteLength, 12);
  return Buffer.concat([h, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)]);
}

export interface Frame {
  readonly type: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

/**
 * Reads frames off a socket, checking each header against what is expected next. Unread
 * bytes are capped: past `maxBuffered` the socket is paused, so a sender that runs ahead is
 * held back by TCP flow control instead of filling this process's memory.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #have = 0;
  #want: { type: number; seq: number; bytes: number; resolve: (f: Frame) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #failed: Error | undefined;
  #header: { type: number; seq: number; length: number } | undefined;
  #paused = false;
  #closed = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly timeoutMs: number,
    /** Who is at the other end, for messages ("the peer", "the dealer"). */
    private readonly peer: string,
    private readonly maxBuffered = 8 * 1024 * 1024,
  ) {
    socket.on('data', (d: Buffer) => {
      this.#chunks.push(d);
      this.#have += d.length;
      this.#pump();
      this.#flow();
    });
    // A peer that closes after sending (the dealer, once done) leaves frames buffered here: they are still served.
    socket.on('close', () => {
      this.#closed = true;
      this.#pump();
      if (this.#want !== undefined) this.#fail(netError(this.#closedMessage()));
    });
    socket.on('error', (e) => this.#fail(netError(peerGone(e) ? this.#closedMessage() : `connection to ${this.peer} failed: ${e.message}`)));
  }

  #closedMessage(): string {
    const w = this.#want;
    if (w === undefined) return `${this.peer} closed the connection`;
    if (w.type === T_ROUND) return `${this.peer} closed the connection during round ${w.seq} (expected ${w.bytes} bytes)`;
    if (w.type === T_CORRECTION) return `${this.peer} closed the connection before correction ${w.seq} (expected ${w.bytes} bytes)`;
    if (w.type === T_DONE) return `${this.peer} closed the connection without ending the session (its last message may not have arrived whole)`;
    return `${this.peer} closed the connection during the handshake`;
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

  /**
   * Pauses the socket while more than maxBuffered bytes wait unread, unless the frame being
   * waited for is still incomplete (a frame larger than the cap must still arrive whole).
   */
  #flow(): void {
    const w = this.#want;
    const needMore = w !== undefined && (this.#header === undefined ? this.#have < HEADER : this.#have < this.#header.length);
    const pause = this.#have > this.maxBuffered && !needMore;
    if (pause && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    } else if (!pause && this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
  }

  #pump(): void {
    const w = this.#want;
    if (w === undefined) return;
    if (this.#header === undefined) {
      if (this.#have < HEADER) return;
      const h = this.#take(HEADER);
      const magic = h.readUInt32LE(0);
      const type = h.readUInt8(4);
      const seq = h.readUInt32LE(8);
      const length = h.readUInt32LE(12);
      if (magic !== MAGIC) return this.#malformed('a frame without the IG3F magic (not an ig3dc peer?)');
      if (type === T_ERROR) {
        if (length > MAX_HELLO) return this.#malformed(`an error frame of ${length} bytes`);
      } else if (type !== w.type) {
        return this.#malformed(`a frame of type ${type} where type ${w.type} was expected`);
      } else if ((type === T_ROUND || type === T_CORRECTION) && (seq !== w.seq || length !== w.bytes)) {
        return this.#malformed(`${type === T_ROUND ? 'round' : 'correction'} ${seq} with ${length} bytes where ${w.seq} with ${w.bytes} bytes was expected`);
      } else if ((type === T_HELLO || type === T_TICKET) && length > MAX_HELLO) {
        return this.#malformed(`a handshake frame of ${length} bytes`);
      } else if (type === T_DONE && length !== 0) {
        return this.#malformed(`an end-of-session frame of ${length} bytes`);
      }
      this.#header = { type, seq, length };
    }
    const hd = this.#header;
    if (this.#have < hd.length) return;
    this.#header = undefined;
    // Copy into a fresh, 8-byte aligned buffer (ring words are read in place).
    const payload = new Uint8Array(hd.length);
    payload.set(this.#take(hd.length));
    if (hd.type === T_ERROR) {
      // The peer's reason, bounded and printable only (it is shown to the user).
      const why = Buffer.from(payload).toString('utf8').slice(0, 300).replace(/[^\x20-\x7e]/g, '?');
      this.#fail(netError(`${this.peer} stopped: ${why}`));
      return;
    }
    this.#want = undefined;
    clearTimeout(w.timer);
    w.resolve({ type: hd.type, seq: hd.seq, payload });
  }

  #malformed(what: string): void {
    const e = new Ig3dcError('decode', `malformed frame from ${this.peer}: ${what}`);
    this.socket.destroy();
    this.#fail(e);
  }

  /** The next frame, which must be of `type` (`timeoutMs` 0: wait as long as the connection lives). */
  next(type: number, seq: number, bytes: number, what: string, timeoutMs = this.timeoutMs): Promise<Frame> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (timeoutMs === 0) return;
        this.#want = undefined;
        this.#failed ??= netError(`timed out after ${this.timeoutMs / 1000} s waiting for ${this.peer}'s ${what}`);
        this.socket.destroy();
        reject(this.#failed);
      }, timeoutMs === 0 ? 2 ** 31 - 1 : timeoutMs);
      this.#want = { type, seq, bytes, resolve, reject, timer };
      this.#pump();
      if (this.#closed && this.#want !== undefined) this.#fail(netError(this.#closedMessage()));
      else this.#flow();
    });
  }
}

/** A socket error that means the other end went away (killed, or closed on us). */
function peerGone(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED' || code === 'ERR_STREAM_DESTROYED';
}

/** Writes a buffer and waits until the socket has taken it (and, when its buffer is full, until it drains, within the time-out). */
export function writeFrame(socket: TLSSocket, buf: Buffer, timeoutMs: number, peer: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(netError(`${peer} closed the connection`));
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      if (e === undefined) resolve();
      else reject(e);
    };
    const onDrain = (): void => settle();
    const onClose = (): void => settle(netError(`${peer} closed the connection`));
    const ok = socket.write(buf, (e) => {
      if (e) settle(netError(peerGone(e) ? `${peer} closed the connection` : `cannot send to ${peer}: ${e.message}`));
      else if (ok) settle();
    });
    if (ok) return;
    // Flow control: the peer is not reading; wait for it (or its going away), but not forever.
    timer = setTimeout(() => {
      socket.destroy();
      settle(netError(`timed out after ${timeoutMs / 1000} s: ${peer} stopped reading`));
    }, timeoutMs);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

export interface ChannelKey {
  /** The pair's TLS pre-shared key. */
  readonly psk: Buffer;
  /** This end's PSK identity (its role) and the identity the other end must present. */
  readonly self: string;
  readonly peer: string;
}

/** Listens on host:port for the first peer that authenticates with `key`; closes the port once it has one (or on time-out). */
export async function listenTls(
  at: HostPort,
  key: ChannelKey,
  timeoutMs: number,
  onListening?: (port: number) => void,
  onRefused?: (why: string) => void,
): Promise<TLSSocket> {
  return (await listenTlsPeers(at, key.self, [{ psk: key.psk, peer: key.peer }], timeoutMs, onListening, onRefused)).get(key.peer)!;
}

/**
 * Listens on host:port for one connection from each of `peers`, each authenticated by its own
 * pre-shared key (the PSK identity picks the key; a second connection of a peer already here
 * is refused); closes the port once all are here (or on time-out). The sockets by peer identity.
 */
export async function listenTlsPeers(
  at: HostPort,
  self: string,
  peers: readonly { readonly psk: Buffer; readonly peer: string }[],
  timeoutMs: number,
  onListening?: (port: number) => void,
  onRefused?: (why: string) => void,
): Promise<Map<string, TLSSocket>> {
  const connected = new Map<string, TLSSocket>();
  // Which identity each connection authenticated as (the PSK callback sees it, the socket does not keep it).
  const identityOf = new WeakMap<TLSSocket, string>();
  const names = peers.map((p) => p.peer).join(' or ');
  const server = createServer({
    ...TLS_OPTIONS,
    handshakeTimeout: timeoutMs,
    pskIdentityHint: `ig3dc/${self}`,
    pskCallback: (socket, identity) => {
      const p = peers.find((x) => x.peer === identity);
      if (p === undefined || connected.has(identity)) return null;
      identityOf.set(socket, identity);
      return p.psk;
    },
  });
  let refused = 0;
  let lastReason = '';
  const refuse = (why: string): void => {
    refused++;
    lastReason = why;
    onRefused?.(`refused a connection that did not authenticate as ${names} (${why.slice(0, 80)})`);
  };
  server.on('tlsClientError', (e) => refuse((e as NodeJS.ErrnoException).code ?? e.message));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(netError(`cannot listen on ${at.host}:${at.port}: ${e.message}`)));
    server.listen(at.port, at.host, () => resolve());
  });
  const addr = server.address();
  onListening?.(typeof addr === 'object' && addr !== null ? addr.port : at.port);
  try {
    return await new Promise<Map<string, TLSSocket>>((resolve, reject) => {
      const timer = setTimeout(() => {
        const missing = peers.map((p) => p.peer).filter((p) => !connected.has(p));
        const why = `timed out after ${timeoutMs / 1000} s waiting for ${missing.join(' and ')} to connect to ${at.host}:${at.port}`;
        // The peers already here learn why (an error frame), then the connection closes.
        for (const s of connected.values()) s.end(frame(T_ERROR, 0, Buffer.from(why, 'utf8')));
        reject(netError(why + (refused > 0 ? ` (refused ${refused} connection(s) that did not authenticate, last: ${lastReason.slice(0, 80)})` : '')));
      }, timeoutMs);
      server.on('secureConnection', (s: TLSSocket) => {
        const id = identityOf.get(s);
        if (id === undefined || connected.has(id)) {
          // Two handshakes of one identity raced: the first one through wins.
          s.destroy();
          refuse(`a second connection as ${id ?? 'an unknown identity'}`);
          return;
        }
        connected.set(id, s);
        if (connected.size === peers.length) {
          clearTimeout(timer);
          resolve(connected);
        }
      });
    });
  } finally {
    server.close();
    // Connections still in their handshake are dropped with the port.
    server.removeAllListeners('secureConnection');
  }
}

/** Connects to host:port and authenticates with `key` (retrying while nobody listens, until the time-out). */
export async function connectTls(at: HostPort, key: ChannelKey, timeoutMs: number): Promise<TLSSocket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<TLSSocket>((resolve, reject) => {
        const s = tlsConnect({
          ...TLS_OPTIONS,
          host: at.host,
          port: at.port,
          checkServerIdentity: () => undefined, // the PSK authenticates the server
          pskCallback: () => ({ psk: key.psk, identity: key.self }),
        });
        const timer = setTimeout(() => {
          s.destroy();
          reject(netError(`timed out after ${timeoutMs / 1000} s in the TLS handshake with ${key.peer} at ${at.host}:${at.port}`));
        }, Math.max(1, deadline - Date.now()));
        s.once('secureConnect', () => {
          clearTimeout(timer);
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
    } catch (e) {
      if (e instanceof Ig3dcError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') {
        if (Date.now() > deadline) throw netError(`cannot connect to ${key.peer} at ${at.host}:${at.port}: nobody listens there (${code})`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      throw netError(
        `TLS handshake with ${key.peer} at ${at.host}:${at.port} failed: it does not hold the same key (wrong key file?) or is not an ig3dc ${key.peer} (${code ?? (e as Error).message})`,
      );
    }
  }
}
