// The buffer pool lives with the ring (ir/ring); the runtime's modules import it from here too.
export * from '../ir/ring/pool.ts';
