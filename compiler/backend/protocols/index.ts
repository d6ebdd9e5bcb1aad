// The protocol library: every nonlinear op of the IR as a protocol over shares, emitted
// through a CircuitBuilder. Functions take share registers (scale f unless noted) and return
// registers; the ProtocolConfig (last argument, default CRYPTEN) picks the variants.

export * from './config.ts';
export { addConst, matmul, matmulPublic, mul, mulConst, mulPublic, rescale, rsubConst, square, sum, toFixed } from './arith.ts';
export { a2bWord, andMany, b2aBit, eqz, ge, gt, lt, ltz, relu, where } from './compare.ts';
export { erf, exp, gelu, invSqrt, invSqrtBuckets, powCrypten, powerTree, reciprocal, sigmoid, sqrt, tanh, type GeluOptions, type ReciprocalOptions } from './nonlinear.ts';
export { argmax, looseMaxSlack, max } from './max.ts';
export { polySoftmax, softmax, softmaxParts, SOFTMAX_MAX_DROP, twoQuad, type PolySoftmaxOptions } from './softmax.ts';
export { layerNorm } from './layernorm.ts';
export { compactBitonic, compactShift, shiftBits, shiftRows } from './compaction.ts';
export { embeddingCross, embeddingOneHot } from './embedding.ts';
export { linearCross } from './linear.ts';
