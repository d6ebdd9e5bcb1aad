// The three roles of a deployment (P0, P1, the dealer) in one test process, each with its own
// sockets on 127.0.0.1, plus the small circuit and the keys they use.

import type { TLSSocket } from 'node:tls';
import { Tensor } from '../ir/tensor.ts';
import { connectTls, listenTls } from '../runtime/channel.ts';
import { dealerSendsP0 } from '../runtime/dealer-stream.ts';
import { CircuitBuilder, beaverMatmul, beaverMul, beaverSquare, decodeCircuitFile, encodeCircuit, type Circuit } from '../ir/circuit/index.ts';
import {
  generateKeys,
  parseKeyFile,
  runDealerTcp,
  runPartyTcp,
  type DealerResult,
  type Pair,
  type Role,
  type RoleKeys,
  type TcpPartyOptions,
  type TcpPartyResult,
  tlsPsk,
} from '../runtime/index.ts';

const t64 = (shape: number[], xs: readonly number[]): Tensor => Tensor.from('f64', shape, xs);

/** A small model-like circuit: matmul with a weight (preprocessing), square, mul, data movement, outputs. */
export function smallCircuit(): Circuit {
  const b = new CircuitBuilder({ name: 'modes' });
  const x = b.input('x', 1, [3, 4]);
  const w = b.input('w', 0, [4, 5]);
  const y = beaverMatmul(b, x, w);
  const y2 = beaverSquare(b, y);
  const z = beaverMul(b, y2, b.expand(b.reduceSum(y, [1], true), [3, 5]));
  b.output(z, 'z');
  b.output(b.transpose(y, [1, 0]), 'yT');
  return b.build();
}
export const smallInputs = new Map([['x', t64([3, 4], Array.from({ length: 12 }, (_, i) => Math.sin(i) * 0.8))]]);
export const smallWeights = new Map([['w', t64([4, 5], Array.from({ length: 20 }, (_, i) => Math.cos(i * 1.3) * 0.5))]]);

export function hashOf(c: Circuit): string {
  return decodeCircuitFile(encodeCircuit(c)).header.hash;
}

export type KeySet = Record<Role, RoleKeys>;

/** Fresh key files for the three roles, parsed. */
export function freshKeys(): KeySet {
  const files = generateKeys();
  return {
    party0: parseKeyFile(files.party0, 'party0.key'),
    party1: parseKeyFile(files.party1, 'party1.key'),
    dealer: parseKeyFile(files.dealer, 'dealer.key'),
  };
}

/** The three pair keys (only a test, holding every role's file, can have them all). */
export function allPairKeys(k: KeySet): Record<Pair, Uint8Array> {
  return { 'p0-p1': k.party0.keys.get('p0-p1')!, 'p0-dealer': k.party0.keys.get('p0-dealer')!, 'p1-dealer': k.party1.keys.get('p1-dealer')! };
}

export interface ThreeRoleOptions {
  readonly keys?: KeySet;
  /** Per-role overrides (a wrong key, another circuit hash, ...). */
  readonly p0?: Partial<TcpPartyOptions>;
  readonly p1?: Partial<TcpPartyOptions>;
  readonly dealer?: { readonly keys?: RoleKeys; readonly circuitHash?: string; readonly circuit?: Circuit };
  readonly timeoutMs?: number;
  readonly inputs?: ReadonlyMap<string, Tensor>;
  readonly weights?: ReadonlyMap<string, Tensor>;
  /** Give P0 the dealer's address (default: when the circuit's dealer sends P0 words, i.e. it has FSS gates). */
  readonly p0Dealer?: boolean;
}

export interface ThreeRoleRun {
  readonly p0: PromiseSettledResult<TcpPartyResult>;
  readonly p1: PromiseSettledResult<TcpPartyResult>;
  readonly dealer: PromiseSettledResult<DealerResult>;
}

/** Runs P0 (listening), the dealer (listening) and P1 (connecting to both; P0 too when the dealer sends it words) on loopback. */
export async function threeRoles(c: Circuit, o: ThreeRoleOptions = {}): Promise<ThreeRoleRun> {
  const keys = o.keys ?? freshKeys();
  const timeoutMs = o.timeoutMs ?? 10_000;
  const hash = hashOf(c);
  let p0Port!: (n: number) => void;
  let dPort!: (n: number) => void;
  let p0Fail!: (e: unknown) => void;
  let dFail!: (e: unknown) => void;
  const p0At = new Promise<number>((r, f) => ((p0Port = r), (p0Fail = f)));
  const dAt = new Promise<number>((r, f) => ((dPort = r), (dFail = f)));
  const p0Dealer = o.p0Dealer ?? dealerSendsP0(c);
  const p0 = (p0Dealer ? dAt : Promise.resolve(undefined)).then((d) =>
    runPartyTcp({
      circuit: c,
      circuitHash: hash,
      party: 0,
      listen: { host: '127.0.0.1', port: 0 },
      ...(d !== undefined ? { dealer: { host: '127.0.0.1', port: d } } : {}),
      tensors: o.weights ?? smallWeights,
      keys: keys.party0,
      timeoutMs,
      ...o.p0,
      onListening: (n) => {
        o.p0?.onListening?.(n);
        p0Port(n);
      },
    }),
  );
  const dealer = runDealerTcp({
    circuit: o.dealer?.circuit ?? c,
    circuitHash: o.dealer?.circuitHash ?? hash,
    listen: { host: '127.0.0.1', port: 0 },
    keys: o.dealer?.keys ?? keys.dealer,
    timeoutMs,
    onListening: dPort,
  });
  // A role that fails before listening must not leave P1 waiting for its port.
  p0.catch(p0Fail);
  dealer.catch(dFail);
  const p1 = Promise.all([p0At, dAt]).then(([a, d]) =>
    runPartyTcp({
      circuit: c,
      circuitHash: hash,
      party: 1,
      connect: { host: '127.0.0.1', port: a },
      dealer: { host: '127.0.0.1', port: d },
      tensors: o.inputs ?? smallInputs,
      keys: keys.party1,
      timeoutMs,
      ...o.p1,
    }),
  );
  const [r0, r1, rd] = await Promise.allSettled([p0, p1, dealer]);
  return { p0: r0!, p1: r1 as PromiseSettledResult<TcpPartyResult>, dealer: rd as PromiseSettledResult<DealerResult> };
}

export function reason(r: PromiseSettledResult<unknown>): string {
  return r.status === 'rejected' ? String(r.reason) : 'fulfilled';
}

export function value<T>(r: PromiseSettledResult<T>): T {
  if (r.status !== 'fulfilled') throw new Error(`expected success, got: ${String(r.reason)}`);
  return r.value;
}

/** A connected TLS-PSK socket pair on loopback: [listening end, connecting end]. */
export async function tlsPair(pair: Pair = 'p0-p1', timeoutMs = 5000): Promise<[TLSSocket, TLSSocket]> {
  const psk = tlsPsk(new Uint8Array(32).map((_, i) => (i * 37 + 11) & 255), pair);
  let port!: (n: number) => void;
  const at = new Promise<number>((r) => (port = r));
  const server = listenTls({ host: '127.0.0.1', port: 0 }, { psk, self: 'listener', peer: 'connector' }, timeoutMs, port);
  const client = await connectTls({ host: '127.0.0.1', port: await at }, { psk, self: 'connector', peer: 'listener' }, timeoutMs);
  return [await server, client];
}
