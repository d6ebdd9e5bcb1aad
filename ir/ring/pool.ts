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

/** Bytes handed out by allocRing: fresh allocations and reuses (for profiling). */
export const hist = new Map<number, number>();
export const poolStats = { fresh: 0, reused: 0 };

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

/** Returns an array to the pool (ignored unless it came from allocRing and is no longer used anywhere). */
export function recycle(a: Ring): void {
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
}
