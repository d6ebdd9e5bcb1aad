// Linear {role}: x @ W + b over the last axis of x, W stored [K, N] (ONNX MatMul layout).
// `role` says which projection of the encoder this is, for later passes and reports.

import type { OpDef } from '../../op.ts';
import { stringAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData, fmtShape } from '../broadcast.ts';
import { matmulFloatInto } from '../matmul.ts';
import { requireSameFloat } from './check.ts';

export const LINEAR_ROLES: readonly string[] = [
  '',
  'query',
  'key',
  'value',
  'attention-output',
  'ffn-in',
  'ffn-out',
  'pooler',
  'classifier',
  'patch-embedding',
];

export const Linear: OpDef = {
  name: 'Linear',
  summary: 'x @ W + b over the last axis (W is [K, N], b is [N] and optional)',
  arity: [2, 3],
  attrs: { role: { kind: 'string', default: '', doc: `one of ${LINEAR_ROLES.map((r) => `"${r}"`).join(', ')}` } },
  infer([x, w, b], attrs) {
    const role = stringAttr(attrs, 'role');
    if (!LINEAR_ROLES.includes(role)) {
      typeError(`Linear: unknown role "${role}" (expected one of ${LINEAR_ROLES.map((r) => `"${r}"`).join(', ')})`);
    }
    const elem = requireSameFloat('Linear', [['x', x], ['W', w], ['b', b]]);
    if (x!.shape.length === 0) typeError('Linear: x must have rank >= 1, got a scalar');
    if (w!.shape.length !== 2) typeError(`Linear: W must be [K, N] (rank 2), got ${fmtShape(w!.shape)}`);
    const K = x!.shape[x!.shape.length - 1]!;
    const [WK, N] = w!.shape as [number, number];
    if (WK !== K) typeError(`Linear: x ${fmtShape(x!.shape)} has ${K} features but W ${fmtShape(w!.shape)} expects ${WK}`);
    if (b !== undefined && (b.shape.length !== 1 || b.shape[0] !== N)) {
      typeError(`Linear: b must be [${N}] (the columns of W ${fmtShape(w!.shape)}), got ${fmtShape(b.shape)}`);
    }
    return { elem, shape: [...x!.shape.slice(0, -1), N] };
  },
  evaluate([x, w, b], _attrs, out) {
    const [K, N] = w!.shape as [number, number];
    // f32 operands are read directly (the kernel widens them exactly)
    const X = floatData(x!);
    const W = floatData(w!);
    const M = K === 0 ? out.shape.slice(0, -1).reduce((a, d) => a * d, 1) : X.length / K;
    const Y = new Float64Array(M * N);
    if (b !== undefined) {
      const B = floatData(b);
      for (let i = 0; i < M; i++) Y.set(B, i * N);
    }
    matmulFloatInto(X, 0, W, 0, Y, 0, M, K, N);
    return new Tensor(out.elem, out.shape, Y);
  },
};
