// V8's garbage collector, tuned for the runtime's allocation pattern.
//
// A run allocates tens of gigabytes of short-lived ArrayBuffers outside the JavaScript heap:
// every node:crypto AES call returns a fresh buffer (the PRG streams, the FSS trees), and
// ring arrays come and go per instruction. V8 counts them as external memory; each 64 MB of
// it starts incremental marking, and while marking runs, every further allocation past the
// limit takes a marking step of 5-10 ms. The live heap is small (about 12 MB per party), so
// one atomic mark-compact costs about a millisecond: without incremental marking, BERT-base
// took about a third less CPU time under either protocol family (bench/runtime-profile.ts).

import { setFlagsFromString } from 'node:v8';

let tuned = false;

/** Turns off incremental marking for the whole process (every thread's heap); idempotent. */
export function tuneGarbageCollector(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--no-incremental-marking');
}
