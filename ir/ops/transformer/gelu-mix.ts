// GeluMix {lambda}: lambda * Gelu(x) + (1 - lambda) * Relu(x), the activation mixing of
// IG-3D (lambda 1 is BERT's exact Gelu, lambda 0 the MPC-cheap Relu).

import type { OpDef } from '../../op.ts';
import { floatAttr } from '../../op.ts';
import { unaryFloat } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { geluErf } from './gelu.ts';

export const GeluMix: OpDef = {
  name: 'GeluMix',
  summary: 'lambda * Gelu(x) + (1 - lambda) * Relu(x), element-wise',
  arity: [1, 1],
  attrs: { lambda: { kind: 'float', doc: 'weight of the exact (erf) Gelu' } },
  infer([x]) {
    requireFloat('GeluMix', x!);
    return { elem: x!.elem, shape: x!.shape };
  },
  evaluate([x], attrs, out) {
    const l = floatAttr(attrs, 'lambda');
    const r = 1 - l;
    return unaryFloat(x!, out.elem, (v) => l * geluErf(v) + r * (v > 0 ? v : 0));
  },
};
