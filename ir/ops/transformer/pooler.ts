// Pooler: BERT's pooler, tanh(x[:, 0, :] @ W + b) on the first ([CLS]) token.

import type { OpDef } from '../../op.ts';
import { typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData, fmtShape } from '../broadcast.ts';
import { matmulFloatInto } from '../matmul.ts';
import { requireRank, requireSameFloat } from './check.ts';

export const Pooler: OpDef = {
  name: 'Pooler',
  summary: 'tanh(x[:, 0, :] @ W + b): [B, S, D] -> [B, N]',
  arity: [3, 3],
  attrs: {},
  infer([x, w, b]) {
    const elem = requireSameFloat('Pooler', [['x', x], ['W', w], ['b', b]]);
    requireRank('Pooler', x!, 3, 'x', '[B, S, D]');
    requireRank('Pooler', w!, 2, 'W', '[D, N]');
    const [B, S, D] = x!.shape as [number, number, number];
    const [WD, N] = w!.shape as [number, number];
    if (S === 0) typeError(`Pooler: x ${fmtShape(x!.shape)} has no first token`);
    if (WD !== D) typeError(`Pooler: x ${fmtShape(x!.shape)} has ${D} features but W ${fmtShape(w!.shape)} expects ${WD}`);
    if (b!.shape.length !== 1 || b!.shape[0] !== N) typeError(`Pooler: b must be [${N}] (the columns of W ${fmtShape(w!.shape)}), got ${fmtShape(b!.shape)}`);
    return { elem, shape: [B, N] };
  },
  evaluate([x, w, b], _attrs, out) {
    const [B, S, D] = x!.shape as [number, number, number];
    const N = w!.shape[1]!;
    const X = floatData(x!);
    const W = floatData(w!);
    const Bias = floatData(b!);
    const Y = new Float64Array(B * N);
    for (let i = 0; i < B; i++) {
      Y.set(Bias, i * N);
      matmulFloatInto(X, i * S * D, W, 0, Y, i * N, 1, D, N);
    }
    for (let k = 0; k < Y.length; k++) Y[k] = Math.tanh(Y[k]!);
    return new Tensor(out.elem, out.shape, Y);
  },
};
