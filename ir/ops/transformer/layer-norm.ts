// LayerNorm {epsilon}: BERT's layer normalization over the last axis with the biased
// variance: (x - mean) / sqrt(var + eps) * gamma + beta; gamma and beta are [D].

import type { OpDef } from '../../op.ts';
import { floatAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData, fmtShape } from '../broadcast.ts';
import { layerNormRows } from '../layer-norm.ts';
import { requireSameFloat } from './check.ts';

export const LayerNorm: OpDef = {
  name: 'LayerNorm',
  summary: '(x - mean) / sqrt(var + eps) * gamma + beta over the last axis',
  arity: [3, 3],
  attrs: { epsilon: { kind: 'float', default: 1e-12, doc: 'added to the variance' } },
  infer([x, gamma, beta], attrs) {
    const elem = requireSameFloat('LayerNorm', [['x', x], ['gamma', gamma], ['beta', beta]]);
    if (x!.shape.length === 0) typeError('LayerNorm: x must have rank >= 1, got a scalar');
    const D = x!.shape[x!.shape.length - 1]!;
    for (const [what, t] of [['gamma', gamma!], ['beta', beta!]] as const) {
      if (t.shape.length !== 1 || t.shape[0] !== D) {
        typeError(`LayerNorm: ${what} must be [${D}] (the last axis of x ${fmtShape(x!.shape)}), got ${fmtShape(t.shape)}`);
      }
    }
    if (!(floatAttr(attrs, 'epsilon') >= 0)) typeError(`LayerNorm: epsilon must be >= 0, got ${floatAttr(attrs, 'epsilon')}`);
    return { elem, shape: x!.shape };
  },
  evaluate([x, gamma, beta], attrs, out) {
    const D = x!.shape[x!.shape.length - 1]!;
    const X = floatData(x!);
    const Y = new Float64Array(X.length);
    const rows = D === 0 ? 0 : X.length / D;
    layerNormRows(X, Y, rows, D, floatAttr(attrs, 'epsilon'), floatData(gamma!), undefined, floatData(beta!), undefined);
    return new Tensor(out.elem, out.shape, Y);
  },
};
