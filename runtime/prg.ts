// Seeded pseudo-random streams: AES-128-CTR keyed by a 16-byte seed, one stream per
// (register id, slot). Seeds shared by two parties let both derive the same values
// without communication: P0-P1 (input sharing), P0-dealer and P1-dealer (correlated
// randomness).

import { createCipheriv, createHash, randomBytes } from 'node:crypto';

export interface PartySeeds {
  /** Shared by P0 and P1. */
  readonly s01: Uint8Array;
  /** Shared by P0 and the dealer. */
  readonly s0d: Uint8Array;
  /** Shared by P1 and the dealer. */
  readonly s1d: Uint8Array;
}

function derive(master: Uint8Array, label: string): Uint8Array {
  return createHash('sha256').update(master).update(`ig3dc/${label}`).digest().subarray(0, 16);
}

/** The three pairwise seeds derived from a master seed (a fresh random one when absent). */
export function deriveSeeds(master: Uint8Array = randomBytes(16)): PartySeeds {
  return { s01: derive(master, 'p0-p1'), s0d: derive(master, 'p0-dealer'), s1d: derive(master, 'p1-dealer') };
}

/** Zero bytes to encrypt (AES-CTR of zeros is the key stream); grown on demand, never written. */
let zeros = Buffer.alloc(1 << 16);

/** n pseudo-random ring elements from stream (seed, id, slot). */
export function prgRing(seed: Uint8Array, id: number, n: number, slot = 0): BigUint64Array {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(id >>> 0, 0);
  iv.writeUInt32BE(slot >>> 0, 4);
  const cipher = createCipheriv('aes-128-ctr', seed, iv);
  const len = n * 8;
  if (zeros.length < len) zeros = Buffer.alloc(Math.max(len, 2 * zeros.length));
  const bytes = cipher.update(zeros.subarray(0, len));
  // Large outputs own their (aligned) memory: view it; small ones may sit in a pool: copy.
  if (bytes.byteOffset % 8 === 0 && bytes.byteLength === len && bytes.buffer.byteLength === len) return new BigUint64Array(bytes.buffer, 0, n);
  const out = new BigUint64Array(n);
  new Uint8Array(out.buffer).set(bytes.subarray(0, len));
  return out;
}

/** n pseudo-random bits (0 or 1 per element) from stream (seed, id, slot). */
export function prgBits(seed: Uint8Array, id: number, n: number, slot = 0): BigUint64Array {
  const r = prgRing(seed, id, n, slot);
  for (let i = 0; i < n; i++) r[i] = r[i]! & 1n;
  return r;
}
