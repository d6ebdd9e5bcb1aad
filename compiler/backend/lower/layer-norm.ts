// LayerNorm (transformer level, over the last axis) and ONNX LayerNormalization (over the
// axes from `axis` on, flattened into one).

import { floatAttr, intAttr } from '../../../ir/op.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { normalizeAxis, numel } from '../../../ir/types.ts';
import { secretValue, type LowerContext, type LValue } from './context.ts';
import { reshapeTo } from './local.ts';
import type { LoweringTable } from './lowering.ts';

function ones(n: number, v: number): Tensor {
  return new Tensor('f64', [n], new Float64Array(n).fill(v));
}

/** A [D] parameter: public as a constant (so it multiplies locally), else as shares; a missing beta is zeros. */
function param(ctx: LowerContext, v: LValue | undefined, d: number, fill: number): Reg {
  if (v === undefined) return ctx.constReg(ones(d, fill));
  if (v.kind === 'public') return ctx.constReg(new Tensor(v.value.dtype, [d], v.value.data));
  return reshapeTo(ctx, ctx.share(v), [d]);
}

function layerNorm(ctx: LowerContext, x: LValue, gamma: LValue, beta: LValue | undefined, eps: number, axis: number, outShape: readonly number[]): Reg {
  const xs = ctx.share(x);
  const lead = xs.shape.slice(0, axis);
  const d = numel(xs.shape.slice(axis));
  const flat = ctx.b.withProtocol('local', () => reshapeTo(ctx, xs, [...lead, d]));
  const y = ctx.p.layerNorm(flat, param(ctx, gamma, d, 1), param(ctx, beta, d, 0), eps);
  return ctx.b.withProtocol('local', () => reshapeTo(ctx, y, outShape));
}

export const LAYER_NORM_LOWERINGS: LoweringTable = {
  LayerNorm: {
    opKind: 'layernorm',
    lower: (ctx, node, [x, g, b]) => secretValue(layerNorm(ctx, x!, g!, b, floatAttr(node.attrs, 'epsilon'), node.type.shape.length - 1, node.type.shape)),
  },
  LayerNormalization: {
    opKind: 'layernorm',
    lower: (ctx, node, [x, g, b]) => {
      const axis = normalizeAxis(intAttr(node.attrs, 'axis'), node.type.shape.length)!;
      return secretValue(layerNorm(ctx, x!, g!, b, floatAttr(node.attrs, 'epsilon'), axis, node.type.shape));
    },
  },
};
