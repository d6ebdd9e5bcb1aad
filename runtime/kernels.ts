// The ring kernels live with the ring (ir/ring); the runtime's modules import them from here too.
export * from '../ir/ring/kernels.ts';
