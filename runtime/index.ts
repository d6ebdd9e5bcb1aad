// The circuit runtime: everything a circuit file needs to run (no compiler imports).

export * from './interpreter.ts';
export * from './truncation-probe.ts';
export { runCircuitWorkers } from './workers.ts';
export { runPartyTcp, PROTOCOL_VERSION, DEFAULT_TIMEOUT_MS, type TcpPartyOptions, type TcpPartyResult, type HostPort } from './tcp.ts';
export { runDealerTcp, type DealerOptions, type DealerResult } from './dealer-server.ts';
export { MALLOC_TUNABLES, MALLOC_TUNING_VAR, mallocSetting, tunedEnv } from './malloc-tuning.ts';
export * from './keys.ts';
export { ringStats, ringMatmul, ringBinary, ringNeg, ringSar, ringNegSarNeg, ringShl, ringShr, reduceSum, transpose } from './kernels.ts';
export { ringKernelModule } from '../ir/ring/ring-wasm.ts';
export { deriveSeeds, type PartySeeds } from './prg.ts';
export type { MeasuredRound } from './transport.ts';
export type { Step } from './plan.ts';
