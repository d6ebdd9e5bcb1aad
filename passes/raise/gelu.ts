// GELU: the erf form torch exports for HF "gelu" and the tanh form of HF "gelu_new"
// (NewGELUActivation), each with the usual re-associations of the factor 0.5, become Gelu.

import { any, approx, either, op, scalar, type Pattern } from '../pattern.ts';
import { type Rule, rule } from '../rewrite.ts';
import { cap } from './predicates.ts';

const x = any('x');
const half = scalar(0.5);

/** 0.5 * x * phi, in the three orders exporters write it: (x*phi)*0.5, (x*0.5)*phi, x*(phi*0.5). */
function halfTimesXTimes(phi: Pattern): Pattern {
  return either(
    op('Mul', [op('Mul', [x, phi], { commutative: true }), half], { commutative: true }),
    op('Mul', [op('Mul', [x, half], { commutative: true }), phi], { commutative: true }),
    op('Mul', [x, op('Mul', [phi, half], { commutative: true })], { commutative: true }),
  );
}

// 1 + erf(x / sqrt 2), also with x * (1 / sqrt 2)
const xOverSqrt2 = either(op('Div', [x, approx(Math.SQRT2)]), op('Mul', [x, approx(Math.SQRT1_2)], { commutative: true }));
const onePlusErf = op('Add', [op('Erf', [xOverSqrt2]), scalar(1)], { commutative: true });

// 1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))
const cubic = op('Add', [x, op('Mul', [op('Pow', [x, scalar(3)]), approx(0.044715)], { commutative: true })], { commutative: true });
const onePlusTanh = op('Add', [op('Tanh', [op('Mul', [cubic, approx(Math.sqrt(2 / Math.PI))], { commutative: true })]), scalar(1)], {
  commutative: true,
});

export const GELU_RULES: readonly Rule[] = [
  // 0.5 * x * (1 + erf(x / sqrt 2)) -> Gelu(x)
  rule('ErfGeluToGelu', '0.5 * x * (1 + erf(x / sqrt 2)) -> Gelu(x)', halfTimesXTimes(onePlusErf), (c, ctx) =>
    ctx.build('Gelu', [cap(c, 'x')], { approximate: 'none' }),
  ),
  // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> Gelu{tanh}(x)
  rule(
    'TanhGeluToGelu',
    '0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) -> Gelu{approximate = "tanh"}(x)',
    halfTimesXTimes(onePlusTanh),
    (c, ctx) => ctx.build('Gelu', [cap(c, 'x')], { approximate: 'tanh' }),
  ),
];
