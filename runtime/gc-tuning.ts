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
import { runInNewContext } from 'node:vm';

let tuned = false;

/** Turns off incremental marking for the whole process (every thread's heap); idempotent. */
export function tuneGarbageCollector(): void {
  if (tuned) return;
  tuned = true;
  // V8 takes flag changes after start-up at the caller's risk: a marking cycle under way in this
  // thread when the flag turns off may abort the process later ("unreachable code" in
  // ProcessMarkingWorklist, seen once in a BERT-base run, while the main thread posted the
  // circuit to the workers after compiling it). A full collection, synchronously before the
  // change, ends any such cycle; threads started afterwards begin with the flag off.
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  setFlagsFromString('--no-incremental-marking');
}
