// Long-term key material of the three roles, and what is derived from it per session.
//
// There is one 256-bit key per pair of roles: P0-P1, P0-dealer, P1-dealer. Each role's key
// file holds exactly the two keys of the pairs it belongs to, so no process ever holds a key
// from which another party's masks derive (P1 never holds the P0-dealer key, P0 never the
// P1-dealer key, the dealer never the P0-P1 key). From a pair's key come, by HKDF-SHA256 with
// distinct labels: the TLS pre-shared key of that pair's channel, and per session (a session
// id from both parties' fresh nonces, bound to the circuit's hash) the 128-bit PRG seed of
// the pair (prg.ts). P0 also authorizes the session to the dealer with an HMAC under a key
// derived from the P0-dealer key (P1 carries it; it cannot forge or read it).

import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { PartySeeds } from './prg.ts';

export type Role = 'party0' | 'party1' | 'dealer';
export type Pair = 'p0-p1' | 'p0-dealer' | 'p1-dealer';

export const KEY_FORMAT = 'ig3dc-key/1';
/** Key bytes keygen writes (256 bits). */
export const KEY_BYTES = 32;
/** The least a key file may hold (128 bits). */
export const MIN_KEY_BYTES = 16;

/** The pairs each role belongs to. */
export const ROLE_PAIRS: Readonly<Record<Role, readonly [Pair, Pair]>> = {
  party0: ['p0-p1', 'p0-dealer'],
  party1: ['p0-p1', 'p1-dealer'],
  dealer: ['p0-dealer', 'p1-dealer'],
};

export interface RoleKeys {
  readonly role: Role;
  readonly keys: ReadonlyMap<Pair, Uint8Array>;
}

/** The key of `pair`, which this role must hold. */
export function pairKey(k: RoleKeys, pair: Pair): Uint8Array {
  const v = k.keys.get(pair);
  if (v === undefined) throw new Ig3dcError('usage', `the ${k.role} key file holds no ${pair} key: this role is not part of that pair`);
  return v;
}

/** Why a secret is unusable (too short or visibly not random), or undefined when it looks fine. */
export function weakSecret(b: Uint8Array): string | undefined {
  if (b.length < MIN_KEY_BYTES) return `${b.length * 8} bits, at least ${MIN_KEY_BYTES * 8} are required`;
  // Uniform 16+ byte strings have almost all bytes distinct; a low count means a pattern
  // (zeros, a repeated byte, a short phrase repeated), not key material.
  const distinct = new Set(b).size;
  if (distinct < Math.min(b.length / 2, 12)) return `only ${distinct} distinct byte values in ${b.length} bytes: not from a random source`;
  for (let period = 1; period <= b.length / 2; period++) {
    let repeats = true;
    for (let i = 0; i + period < b.length && repeats; i++) repeats = b[i] === b[i + period];
    if (repeats) return `a pattern of ${period} bytes repeated: not from a random source`;
  }
  return undefined;
}

function keyFileError(file: string, detail: string): Ig3dcError {
  return new Ig3dcError('input', detail, { file });
}

/** Parses a key file's text (the role is checked by the caller; the key bytes never appear in an error). */
export function parseKeyFile(text: string, file: string): RoleKeys {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw keyFileError(file, `not a key file: expected JSON of format ${KEY_FORMAT} (write one with \`ig3dc keygen\`)`);
  }
  const d = doc as { format?: unknown; role?: unknown; keys?: unknown };
  if (typeof d !== 'object' || d === null || d.format !== KEY_FORMAT) throw keyFileError(file, `not a key file: expected "format": "${KEY_FORMAT}"`);
  if (d.role !== 'party0' && d.role !== 'party1' && d.role !== 'dealer') throw keyFileError(file, 'the key file\'s "role" must be party0, party1 or dealer');
  const role = d.role;
  if (typeof d.keys !== 'object' || d.keys === null) throw keyFileError(file, 'the key file has no "keys" object');
  const raw = d.keys as Record<string, unknown>;
  const keys = new Map<Pair, Uint8Array>();
  for (const pair of ROLE_PAIRS[role]) {
    const hex = raw[pair];
    if (typeof hex !== 'string' || !/^[0-9a-f]*$/i.test(hex) || hex.length % 2 !== 0) throw keyFileError(file, `the ${pair} key must be a string of hex digits`);
    const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
    const weak = weakSecret(bytes);
    if (weak !== undefined) throw keyFileError(file, `the ${pair} key is refused: ${weak}`);
    keys.set(pair, bytes);
  }
  for (const name of Object.keys(raw)) {
    if (!ROLE_PAIRS[role].includes(name as Pair)) throw keyFileError(file, `a ${role} key file must not hold a '${name.slice(0, 40)}' key (only ${ROLE_PAIRS[role].join(' and ')})`);
  }
  const [a, b] = ROLE_PAIRS[role].map((p) => keys.get(p)!);
  if (a!.length === b!.length && timingSafeEqual(a!, b!)) throw keyFileError(file, 'the two keys are equal: every pair needs its own key');
  return { role, keys };
}

/** Reads and checks a key file: present, readable by its owner only, of the expected role. */
export function readKeyFile(file: string, expected: Role): RoleKeys {
  if (!existsSync(file)) throw new Ig3dcError('io', `no key file here (write the three with \`ig3dc keygen --out DIR\`)`, { file });
  const mode = statSync(file).mode;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new Ig3dcError('input', `the key file is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 on it`, { file });
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read the key file: ${(e as NodeJS.ErrnoException).code ?? 'unknown error'}`, { file });
  }
  const k = parseKeyFile(text, file);
  if (k.role !== expected) throw keyFileError(file, `this is the ${k.role} key file, but this process runs as ${expected}`);
  return k;
}

export const KEY_FILE_NAMES: Readonly<Record<Role, string>> = { party0: 'party0.key', party1: 'party1.key', dealer: 'dealer.key' };

/** Fresh keys for the three pairs (OS CSPRNG), as the three roles' key files. */
export function generateKeys(): Record<Role, string> {
  const fresh: Record<Pair, string> = {
    'p0-p1': randomBytes(KEY_BYTES).toString('hex'),
    'p0-dealer': randomBytes(KEY_BYTES).toString('hex'),
    'p1-dealer': randomBytes(KEY_BYTES).toString('hex'),
  };
  const file = (role: Role): string =>
    `${JSON.stringify({ format: KEY_FORMAT, role, keys: Object.fromEntries(ROLE_PAIRS[role].map((p) => [p, fresh[p]])) }, null, 2)}\n`;
  return { party0: file('party0'), party1: file('party1'), dealer: file('dealer') };
}

/** Writes the three key files into `dir` with mode 0600, refusing to overwrite any. */
export function writeKeyFiles(dir: string): string[] {
  const files = generateKeys();
  const paths = (Object.keys(files) as Role[]).map((r) => join(dir, KEY_FILE_NAMES[r]));
  for (const p of paths) if (existsSync(p)) throw new Ig3dcError('io', 'a key file is already here: refusing to overwrite it (remove it first)', { file: p });
  (Object.keys(files) as Role[]).forEach((r, i) => {
    // 'wx' (O_EXCL): never write into a file someone else created meanwhile.
    writeFileSync(paths[i]!, files[r], { mode: 0o600, flag: 'wx' });
  });
  return paths;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

function hkdf(key: Uint8Array, salt: Uint8Array, info: string, bytes: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', key, salt, enc(info), bytes));
}

/** The TLS pre-shared key of a pair's channel. */
export function tlsPsk(key: Uint8Array, pair: Pair): Buffer {
  return Buffer.from(hkdf(key, new Uint8Array(0), `ig3dc/tls-psk/${pair}`, 32));
}

/** The session id: both parties' fresh nonces and the agreed circuit. */
export function sessionId(circuitHash: string, nonce0: Uint8Array, nonce1: Uint8Array): string {
  return createHash('sha256').update('ig3dc/session').update(circuitHash).update(nonce0).update(nonce1).digest('hex');
}

/** The PRG seed of `pair` in a session (a different session or circuit gives unrelated seeds). */
export function sessionSeed(key: Uint8Array, pair: Pair, sid: string, circuitHash: string): Uint8Array {
  return hkdf(key, Buffer.from(sid, 'hex'), `ig3dc/seed/${pair}/${circuitHash}`, 16);
}

/** The seeds a role holds in a session (the other party's pair is absent). */
export function roleSeeds(k: RoleKeys, sid: string, circuitHash: string): Partial<Record<Pair, Uint8Array>> {
  const out: Partial<Record<Pair, Uint8Array>> = {};
  for (const pair of ROLE_PAIRS[k.role]) out[pair] = sessionSeed(pairKey(k, pair), pair, sid, circuitHash);
  return out;
}

/** All three seeds of a session, from all three keys: for simulating the roles in one process (tests, `run`). */
export function simulatedSessionSeeds(keys: Readonly<Record<Pair, Uint8Array>>, sid: string, circuitHash: string): PartySeeds {
  return {
    s01: sessionSeed(keys['p0-p1'], 'p0-p1', sid, circuitHash),
    s0d: sessionSeed(keys['p0-dealer'], 'p0-dealer', sid, circuitHash),
    s1d: sessionSeed(keys['p1-dealer'], 'p1-dealer', sid, circuitHash),
  };
}

/** P0's authorization of a session to the dealer (P1 forwards it). */
export function dealerTicket(k0d: Uint8Array, sid: string, circuitHash: string): string {
  const mac = hkdf(k0d, new Uint8Array(0), 'ig3dc/dealer-ticket', 32);
  return createHmac('sha256', mac).update(sid).update('/').update(circuitHash).digest('hex');
}

export function ticketValid(k0d: Uint8Array, sid: string, circuitHash: string, ticket: unknown): boolean {
  if (typeof ticket !== 'string' || !/^[0-9a-f]{64}$/.test(ticket)) return false;
  return timingSafeEqual(Buffer.from(dealerTicket(k0d, sid, circuitHash), 'hex'), Buffer.from(ticket, 'hex'));
}

/** A fresh 128-bit nonce. */
export function freshNonce(): Uint8Array {
  return new Uint8Array(randomBytes(16));
}
