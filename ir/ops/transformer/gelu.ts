// Gelu {approximate}: x * Phi(x), exactly ("none", with erf) or with the tanh approximation.

import type { OpDef } from '../../op.ts';
import { stringAttr, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData } from '../broadcast.ts';
import { requireFloat } from '../check.ts';
import { erf } from '../erf.ts';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** 0.5 x (1 + erf(x / sqrt 2)). */
export function geluErf(x: number): number {
  return 0.5 * x * (1 + erf(x * SQRT1_2));
}

/** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

const FORMS = ['none', 'tanh'];

export const Gelu: OpDef = {
  name: 'Gelu',
  summary: 'x * Phi(x): exact with erf ("none") or the tanh approximation, element-wise',
  arity: [1, 1],
  attrs: { approximate: { kind: 'string', default: 'none', doc: '"none" (erf) or "tanh"' } },
  infer([x], attrs) {
    requireFloat('Gelu', x!);
    const a = stringAttr(attrs, 'approximate');
    if (!FORMS.includes(a)) typeError(`Gelu: approximate must be "none" or "tanh", got "${a}"`);
    return { elem: x!.elem, shape: x!.shape };
  },
  evaluate([x], attrs, out) {
    // one loop per form, so the call in it is monomorphic and inlined
    const X = floatData(x!);
    const n = X.length;
    const Y = new Float64Array(n);
    if (stringAttr(attrs, 'approximate') === 'tanh') for (let i = 0; i < n; i++) Y[i] = geluTanh(X[i]!);
    else for (let i = 0; i < n; i++) Y[i] = geluErf(X[i]!);
    return new Tensor(out.elem, out.shape, Y);
  },
};
