// Recycled ring buffers. Large typed arrays live outside the JS heap and are freed only by
// garbage collection, so allocating one per instruction makes the collector the hot spot.
// Kernels take their outputs from here; the party program returns a register's array when
// the last register holding it dies. Only arrays handed out here are ever taken back, so
// constants, received messages and PRG output are never reused by mistake.

type Ring = BigUint64Array;

/** Bytes kept in the free lists at most (beyond that, released arrays go to the collector). */
const MAX_POOLED_BYTES = 384 * 1024 * 1024;
/** Arrays below this many elements are cheap to allocate: not pooled. */
const MIN_POOLED = 256;

const free = new Map<number, Ring[]>();
const issued = new WeakSet<Ring>();
let pooledBytes = 0;

/** An array of n ring elements with arbitrary contents (every caller overwrites all of it). */
export function allocRing(n: number): Ring {
  if (n >= MIN_POOLED) {
    const list = free.get(n);
    const a = list?.pop();
    if (a !== undefined) {
      pooledBytes -= a.byteLength;
      return a;
    }
    const fresh = new BigUint64Array(n);
    issued.add(fresh);
    return fresh;
  }
  return new BigUint64Array(n);
}

/** An array of n zeros. */
export function allocZeros(n: number): Ring {
  const a = allocRing(n);
  a.fill(0n);
  return a;
}

/** Lets the pool take back an array made elsewhere (its caller holds the only reference to its buffer). */
export function adopt(a: Ring): Ring {
  if (a.length >= MIN_POOLED && a.byteOffset === 0 && a.buffer.byteLength === a.byteLength) issued.add(a);
  return a;
}

/** Returns an array to the pool (ignored unless it came from allocRing and is no longer used anywhere). */
export function recycle(a: Ring): void {
  if (!issued.has(a) || a.byteLength === 0 || pooledBytes + a.byteLength > MAX_POOLED_BYTES) return;
  let list = free.get(a.length);
  if (list === undefined) free.set(a.length, (list = []));
  list.push(a);
  pooledBytes += a.byteLength;
}

/** Drops every pooled array (between runs, so a finished run's memory can be collected). */
export function drainPool(): void {
  free.clear();
  pooledBytes = 0;
}
