// Seeded pseudo-random ring streams: AES-128-CTR keyed by a 16-byte seed, one stream per
// (register id, slot). Two holders of a seed derive the same values without communication.

import { createCipheriv } from 'node:crypto';
import { allocRing } from './pool.ts';

/** Zero bytes to encrypt (AES-CTR of zeros is the key stream); never written. */
const CHUNK_BYTES = 256 * 1024;
const zeros = Buffer.alloc(CHUNK_BYTES);

/**
 * n pseudo-random ring elements from stream (seed, id, slot). The key stream is made in
 * 256 KiB pieces copied into a recycled array: one large `update` would hand back a fresh
 * buffer whose first touch (page faults) costs more than the encryption.
 */
export function prgRing(seed: Uint8Array, id: number, n: number, slot = 0): BigUint64Array {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(id >>> 0, 0);
  iv.writeUInt32BE(slot >>> 0, 4);
  const cipher = createCipheriv('aes-128-ctr', seed, iv);
  const out = allocRing(n);
  const bytes = new Uint8Array(out.buffer, out.byteOffset, n * 8);
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
    const len = Math.min(CHUNK_BYTES, bytes.length - at);
    bytes.set(cipher.update(len === CHUNK_BYTES ? zeros : zeros.subarray(0, len)), at);
  }
  return out;
}

/** n pseudo-random bits (0 or 1 per element) from stream (seed, id, slot). */
export function prgBits(seed: Uint8Array, id: number, n: number, slot = 0): BigUint64Array {
  const r = prgRing(seed, id, n, slot);
  // The low bit of each word, through 32-bit halves (little-endian): no BigInt per element.
  const w = new Uint32Array(r.buffer, r.byteOffset, 2 * n);
  for (let i = 0; i < 2 * n; i += 2) {
    w[i] = w[i]! & 1;
    w[i + 1] = 0;
  }
  return r;
}
