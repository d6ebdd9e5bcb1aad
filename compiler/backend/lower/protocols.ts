// The protocol calls lowering makes, bound to one builder and one protocol configuration.
// Every argument is a register of arithmetic shares at scale f (public operands never reach
// here: public x secret is local, see local.ts).

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import * as lib from '../protocols/index.ts';
import type { ProtocolConfig } from '../protocols/index.ts';

export interface PolySoftmaxOptions {
  readonly degree: number;
  readonly shift: boolean;
  readonly clip: number;
}

export interface Protocols {
  mul(x: Reg, y: Reg): Reg;
  square(x: Reg): Reg;
  /** [..., m, k] @ [..., k, n] with equal batch dimensions. */
  matmul(x: Reg, y: Reg): Reg;
  exp(x: Reg): Reg;
  reciprocal(x: Reg): Reg;
  invSqrt(x: Reg): Reg;
  sqrt(x: Reg): Reg;
  /** 1 where x < 0, else 0 (fixed point). */
  ltz(x: Reg): Reg;
  relu(x: Reg): Reg;
  /** c ? a : b for a secret 0/1 condition c (equal shapes). */
  where(c: Reg, a: Reg, bb: Reg): Reg;
  /** Max over one axis, keeping it as size 1. */
  max(x: Reg, axis: number): Reg;
  /** Softmax over `axis`; `keep` (0/1, broadcast to x) gives masked entries exactly zero weight. */
  softmax(x: Reg, axis: number, keep?: Reg): Reg;
  polySoftmax(x: Reg, axis: number, opts: PolySoftmaxOptions, keep?: Reg): Reg;
  erf(x: Reg): Reg;
  gelu(x: Reg, form: 'erf' | 'tanh'): Reg;
  sigmoid(x: Reg): Reg;
  tanh(x: Reg): Reg;
  /** Normalization over the last axis; gamma and beta are [D]. */
  layerNorm(x: Reg, gamma: Reg, beta: Reg, eps: number): Reg;
  /** onehot [n, V] @ table [V, D]. */
  embeddingOneHot(onehot: Reg, table: Reg): Reg;
  /** A held one-hot [..., V] (own1) @ a held table [V, D] (own0): the cross product. */
  embeddingCross(onehot: Reg, table: Reg): Reg;
  /** Shared x [..., k] @ a held server weight [k, n] (own0): the cross product. */
  linearCross(x: Reg, w: Reg): Reg;
}

export function bindProtocols(b: CircuitBuilder, config: ProtocolConfig): Protocols {
  return {
    mul: (x, y) => lib.mul(b, x, y),
    square: (x) => lib.square(b, x),
    matmul: (x, y) => lib.matmul(b, x, y),
    exp: (x) => lib.exp(b, x, config),
    reciprocal: (x) => lib.reciprocal(b, x, {}, config),
    invSqrt: (x) => lib.invSqrt(b, x, config),
    sqrt: (x) => lib.sqrt(b, x, config),
    // the bit comes at scale 0; values between ops are at scale f
    ltz: (x) => lib.toFixed(b, lib.ltz(b, x, config)),
    relu: (x) => lib.relu(b, x, config),
    where: (c, x, y) => lib.where(b, c, x, y, config),
    max: (x, axis) => lib.max(b, x, axis, config),
    softmax: (x, axis, keep) => lib.softmax(b, x, axis, keep, config),
    polySoftmax: (x, axis, o, keep) => lib.polySoftmax(b, x, axis, o, keep, config),
    erf: (x) => lib.erf(b, x, config),
    gelu: (x, form) => lib.gelu(b, x, { form }, config),
    sigmoid: (x) => lib.sigmoid(b, x, config),
    tanh: (x) => lib.tanh(b, x, config),
    layerNorm: (x, g, bb, eps) => lib.layerNorm(b, x, g, bb, eps, config),
    embeddingOneHot: (o, t) => lib.embeddingOneHot(b, o, t, config),
    embeddingCross: (o, t) => lib.embeddingCross(b, o, t),
    linearCross: (x, w) => lib.linearCross(b, x, w),
  };
}
