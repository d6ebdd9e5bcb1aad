// Fixed-point encoding between float64 and the ring Z_2^64 (two's complement), with f
// fractional bits: encode(x) = round(x * 2^f) mod 2^64, decode(r) = signed(r) / 2^f.
//
// The array paths avoid BigInt: a ring element is written and read as two 32-bit words
// (little-endian lo, hi) through a Uint32Array view. Both are exact: x * 2^f is a power-of-two
// scaling, the split into words uses only exact float operations, and the decode rounds
// once (hi * 2^32 + lo) before an exact division by 2^f.

const TWO32 = 4294967296;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function words(r: BigUint64Array): Uint32Array {
  if (!HOST_LITTLE_ENDIAN) throw new Error('fixed-point word access assumes a little-endian host');
  return new Uint32Array(r.buffer, r.byteOffset, r.length * 2);
}

/** Writes round(v) mod 2^64 for a finite float v into word pair i. */
function putRounded(w: Uint32Array, i: number, v: number): void {
  const n = Math.round(v);
  const hi = Math.floor(n / TWO32);
  w[2 * i] = n - hi * TWO32; // in [0, 2^32), exact
  // hi is an integer: a Uint32Array store takes it mod 2^32 (two's complement for a negative
  // hi), exactly and without the slow floating-point remainder.
  w[2 * i + 1] = hi;
}

const TWO63 = 2 ** 63;

/**
 * Encodes floats at f fractional bits. A value that is not finite or whose x * 2^f falls
 * outside the signed 64-bit range (so it would wrap) throws a RangeError naming the index.
 */
export function encodeFixedArray(xs: ArrayLike<number>, f: number, out = new BigUint64Array(xs.length)): BigUint64Array {
  const w = words(out);
  const s = 2 ** f;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    const v = x * s;
    if (!(v >= -TWO63 && v < TWO63)) {
      throw new RangeError(`cannot encode ${x} (element ${i}) as fixed point with ${f} fractional bits: ${Number.isFinite(x) ? 'out of range' : 'not finite'}`);
    }
    putRounded(w, i, v);
  }
  return out;
}

/** Decodes ring elements (two's complement) at f fractional bits. */
export function decodeFixedArray(r: BigUint64Array, f: number, out = new Float64Array(r.length)): Float64Array {
  const w = words(r);
  const s = 2 ** -f;
  for (let i = 0; i < r.length; i++) {
    out[i] = ((w[2 * i + 1]! | 0) * TWO32 + w[2 * i]!) * s;
  }
  return out;
}

export function encodeFixed(x: number, f: number): bigint {
  return encodeFixedArray([x], f)[0]!;
}

export function decodeFixed(r: bigint, f: number): number {
  return decodeFixedArray(BigUint64Array.of(BigInt.asUintN(64, r)), f)[0]!;
}

/** Integers (number or bigint) into the ring, scaled by 2^scale: v * 2^scale mod 2^64. */
export function encodeIntArray(xs: ArrayLike<number | bigint>, scale: number): BigUint64Array {
  const out = new BigUint64Array(xs.length);
  const sh = BigInt(scale);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    out[i] = (typeof v === 'bigint' ? v : BigInt(Math.trunc(v))) << sh;
  }
  return out;
}

/** The signed value of a ring element. */
export function ringToSigned(r: bigint): bigint {
  return BigInt.asIntN(64, r);
}
