// Recycled ring buffers. Large typed arrays live outside the JS heap and are freed only by
// garbage collection, so allocating one per instruction makes the collector the hot spot
// (and every fresh array costs its page faults on first touch). Kernels take their outputs
// from here; the party program returns a register's array when the last register holding it
// dies. Only arrays handed out here are ever taken back, so constants, received messages and
// PRG output are never reused by mistake. When the pool is full, the arrays released longest
// ago make room (the sizes a circuit needs change from layer to layer: a pool that refused
// new arrays would stay full of sizes nobody asks for any more).

type Ring = BigUint64Array;

/**
 * Bytes kept in the free lists at most (beyond that, the oldest released arrays go to the
 * collector), per thread. Enough for a BERT-base layer's working set (its 128x3072 activations,
 * 768x3072 weight masks and a GELU's 16 segments over 128x3072 come back every layer): with
 * 384 MB, 16.5 GB of its arrays were fresh (1.9 M page faults, a tenth of the time in the
 * collector). Since the dealer has a thread of its own, a party's pool no longer holds the
 * dealer's arrays too: at 1 GiB per party BERT-base with `best` peaked at 3.03 GB RSS in worker
 * mode, at 512 MiB at 2.49 GB and no slower (bench/runtime.ts --models base --protocols best).
 */
const MAX_POOLED_BYTES = 512 * 1024 * 1024;
let maxPooledBytes = MAX_POOLED_BYTES;
/** Arrays above this many bytes are rare (an embedding table's operands) and would push out many common ones: not pooled. */
const MAX_POOLED_ARRAY = 64 * 1024 * 1024;
/** Arrays below this many elements are cheap to allocate: not pooled. */
const MIN_POOLED = 256;

const free = new Map<number, Ring[]>();
/** Every pooled array, oldest release first. */
const order = new Set<Ring>();
const issued = new WeakSet<Ring>();
let pooledBytes = 0;

/** Fresh allocations by size in elements (allocRing; for profiling). */
export const hist = new Map<number, number>();
/** Bytes handed out by allocRing and allocLent, fresh and reused, and of the fresh ones allocLent's (for profiling and tests). */
export const poolStats = { fresh: 0, reused: 0, lentFresh: 0 };

/** An array of n ring elements with arbitrary contents (every caller overwrites all of it). */
export function allocRing(n: number): Ring {
  if (n >= MIN_POOLED) {
    const a = free.get(n)?.pop();
    if (a !== undefined) {
      order.delete(a);
      pooledBytes -= a.byteLength;
      poolStats.reused += a.byteLength;
      return a;
    }
    const fresh = new BigUint64Array(n);
    poolStats.fresh += fresh.byteLength;
    hist.set(n, (hist.get(n) ?? 0) + 1);
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

/** Keeps at most `bytes` in this thread's free lists from now on (a thread whose working set is smaller than a party's). */
export function limitPool(bytes: number): void {
  maxPooledBytes = bytes;
}

/**
 * Returns an array to the pool (ignored unless it came from allocRing and is no longer used
 * anywhere); a whole lent buffer of this thread's (allocLent), not lent out, goes back to the
 * lent pool for later words.
 */
export function recycle(a: Ring): void {
  if (releaseView(a)) return;
  if (isLendable(a)) {
    if (!borrowed.has(a.buffer as ArrayBuffer)) takeBack(a.buffer as ArrayBuffer);
    return;
  }
  if (!issued.has(a) || a.byteLength === 0 || a.byteLength > MAX_POOLED_ARRAY || a.byteLength > maxPooledBytes || order.has(a)) return;
  while (pooledBytes + a.byteLength > maxPooledBytes) {
    const old = order.values().next().value as Ring;
    order.delete(old);
    const list = free.get(old.length)!;
    // The oldest array of a size is the first of its list (lists are pushed and popped at the end).
    list.splice(list.indexOf(old), 1);
    if (list.length === 0) free.delete(old.length);
    pooledBytes -= old.byteLength;
  }
  let list = free.get(a.length);
  if (list === undefined) free.set(a.length, (list = []));
  list.push(a);
  order.add(a);
  pooledBytes += a.byteLength;
}

/** Drops every pooled array (between runs, so a finished run's memory can be collected). */
export function drainPool(): void {
  free.clear();
  order.clear();
  pooledBytes = 0;
  lentFree.clear();
  lentFreeBytes = 0;
}

// Lent words: a dealer's largest words (FSS keys, hundreds of MB a layer on BERT-base) leave its
// thread for a party's, too large for the pool above, so every layer's would be fresh memory:
// on the 2-core machine about 15 us of page faults per 4 KiB, a fifth of an fss run's CPU. A
// party hands such a buffer back, zeroed, once no register holds a view of it, and the
// dealer's thread makes the next layer's keys in it.

/** Bytes of lent buffers kept for reuse at most, per thread. */
const MAX_LENT_BYTES = 1536 * 1024 * 1024;
const lentFree = new Map<number, ArrayBuffer[]>();
let lentFreeBytes = 0;
/** Buffers allocLent handed out in this thread (its words may go elsewhere and come back). */
const lendable = new WeakSet<ArrayBuffer>();

/** An array of n ring elements with arbitrary contents, in a buffer of its own that may be lent to another thread and taken back. */
export function allocLent(n: number): Ring {
  const buf = lentFree.get(8 * n)?.pop();
  if (buf !== undefined) {
    lentFreeBytes -= buf.byteLength;
    poolStats.reused += buf.byteLength;
    return new BigUint64Array(buf);
  }
  const a = new BigUint64Array(n);
  poolStats.fresh += a.byteLength;
  poolStats.lentFresh += a.byteLength;
  lendable.add(a.buffer as ArrayBuffer);
  return a;
}

/** Whether `a` is a whole buffer from allocLent: its receiver may hand it back (borrow). */
export function isLendable(a: Ring): boolean {
  return lendable.has(a.buffer as ArrayBuffer) && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

/** A lent buffer handed back: kept for allocLent (dropped when the thread keeps enough). */
export function takeBack(buf: ArrayBuffer): void {
  if (buf.byteLength === 0 || lentFreeBytes + buf.byteLength > MAX_LENT_BYTES) return;
  lendable.add(buf);
  let list = lentFree.get(buf.byteLength);
  if (list === undefined) lentFree.set(buf.byteLength, (list = []));
  list.push(buf);
  lentFreeBytes += buf.byteLength;
}

/** Borrowed buffers: the views registers hold of each, and where it goes back. */
const borrowed = new WeakMap<ArrayBuffer, { readonly views: Set<Ring>; readonly home: (buf: ArrayBuffer) => void }>();

/** A buffer lent by another thread (a whole-buffer array): handed back through `home`, zeroed, once every view held (holdView) is recycled. */
export function borrow(a: Ring, home: (buf: ArrayBuffer) => void): void {
  borrowed.set(a.buffer as ArrayBuffer, { views: new Set(), home });
}

/** A register now holds `a`: if it is a view of a borrowed buffer, the buffer stays until `a` is recycled. */
export function holdView(a: Ring): void {
  borrowed.get(a.buffer as ArrayBuffer)?.views.add(a);
}

/** `a`, held before, is no longer: true if it was a view of a borrowed buffer (which goes home with its last view). */
function releaseView(a: Ring): boolean {
  const buf = a.buffer as ArrayBuffer;
  const b = borrowed.get(buf);
  if (b === undefined || !b.views.delete(a)) return false;
  if (b.views.size === 0) {
    borrowed.delete(buf);
    // Nothing of this party's goes back with it.
    new Uint8Array(buf).fill(0);
    b.home(buf);
  }
  return true;
}
