// The circuit IR: ops on shares, their builder, verifier, schedule, cost, leakage check and
// text and file formats. Used by the compiler's backend (writes) and the runtime (reads).

export * from './types.ts';
export * from './ops.ts';
export * from './circuit.ts';
export * from './builder.ts';
export * from './verify.ts';
export * from './schedule.ts';
export * from './cost.ts';
export * from './leakage.ts';
export * from './text.ts';
export * from './file.ts';
export * from './fixed.ts';
export * from './beaver.ts';
