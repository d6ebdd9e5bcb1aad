// Reverse-mode rules of the element-wise ops: broadcasting arithmetic (the gradient of a
// broadcast operand is summed over the axes it was broadcast along), unary functions,
// Where, Clip, Cast and the activations.

import type { Tensor } from '../tensor.ts';
import { isFloatType } from '../types.ts';
import { floatData } from '../ops/broadcast.ts';
import { erf } from '../ops/erf.ts';
import { floatAttr, stringAttr } from '../op.ts';
import { reduceProductToShape, reduceToShape, sourceIndex, type Vjp, type VjpArgs } from './vjp.ts';

type Local = (x: number, y: number, z: number) => number;

/** A binary rule from the two partial derivatives d(out)/da and d(out)/db at (a, b, out). */
function binary(da: Local | undefined, db: Local | undefined): Vjp {
  return ({ inputs, output, grad, needs }) => {
    const [a, b] = inputs as [Tensor, Tensor];
    const A = floatData(a);
    const B = floatData(b);
    const Y = floatData(output);
    const ia = sourceIndex(a.shape, output.shape);
    const ib = sourceIndex(b.shape, output.shape);
    const av = (k: number): number => A[ia === undefined ? k : ia[k]!]!;
    const bv = (k: number): number => B[ib === undefined ? k : ib[k]!]!;
    const floatIn = (t: Tensor): boolean => isFloatType(t.dtype);
    const ga =
      needs[0] && floatIn(a)
        ? da === undefined
          ? reduceToShape(grad, output.shape, a.shape)
          : reduceProductToShape(grad, output.shape, a.shape, (k) => da(av(k), bv(k), Y[k]!))
        : undefined;
    const gb =
      needs[1] && floatIn(b)
        ? db === undefined
          ? reduceToShape(grad, output.shape, b.shape)
          : reduceProductToShape(grad, output.shape, b.shape, (k) => db(av(k), bv(k), Y[k]!))
        : undefined;
    return [ga === grad ? grad.slice() : ga, gb === grad ? grad.slice() : gb];
  };
}

const one = undefined;

export const addVjp: Vjp = binary(one, one);
export const subVjp: Vjp = binary(one, () => -1);
export const mulVjp: Vjp = binary((_a, b) => b, (a) => a);
export const divVjp: Vjp = binary((_a, b) => 1 / b, (_a, b, y) => -y / b);
export const powVjp: Vjp = binary(
  (a, b) => (b === 0 ? 0 : b * Math.pow(a, b - 1)),
  (a, _b, y) => (a > 0 ? y * Math.log(a) : 0),
);

/** Max / Min of 1 or more inputs: the gradient goes to the first input that holds the result. */
const selectVjp: Vjp = ({ inputs, output, grad, needs }) => {
  const Y = floatData(output);
  const taken = new Uint8Array(grad.length);
  return inputs.map((t, i) => {
    const X = floatData(t);
    const idx = sourceIndex(t.shape, output.shape);
    const local = new Float64Array(grad.length);
    for (let k = 0; k < grad.length; k++) {
      if (taken[k] === 0 && X[idx === undefined ? k : idx[k]!] === Y[k]) {
        taken[k] = 1;
        local[k] = 1;
      }
    }
    return needs[i] ? reduceProductToShape(grad, output.shape, t.shape, (k) => local[k]!) : undefined;
  });
};
export const maxVjp = selectVjp;
export const minVjp = selectVjp;

/** A unary rule from d(out)/dx at (x, out). */
export function unary(d: (x: number, y: number) => number): Vjp {
  return ({ inputs, output, grad, needs }) => {
    if (!needs[0]) return [undefined];
    const X = floatData(inputs[0]!);
    const Y = floatData(output);
    const g = new Float64Array(grad.length);
    for (let k = 0; k < g.length; k++) g[k] = grad[k]! * d(X[k]!, Y[k]!);
    return [g];
  };
}

export const identityVjp: Vjp = ({ grad, needs, inputs }) => [needs[0] && isFloatType(inputs[0]!.dtype) ? grad.slice() : undefined];

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** d/dx 0.5 x (1 + erf(x / sqrt 2)) = Phi(x) + x phi(x). */
export function geluErfDerivative(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/** d/dx 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). */
export function geluTanhDerivative(x: number): number {
  const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

const reluDerivative = (x: number): number => (x > 0 ? 1 : 0);

export const UNARY_VJPS: Readonly<Record<string, Vjp>> = {
  Neg: unary(() => -1),
  Abs: unary((x) => (x > 0 ? 1 : x < 0 ? -1 : 0)),
  Sqrt: unary((_x, y) => 0.5 / y),
  Exp: unary((_x, y) => y),
  Log: unary((x) => 1 / x),
  Erf: unary((x) => TWO_OVER_SQRT_PI * Math.exp(-x * x)),
  Tanh: unary((_x, y) => 1 - y * y),
  Sigmoid: unary((_x, y) => y * (1 - y)),
  Reciprocal: unary((_x, y) => -y * y),
  Floor: unary(() => 0),
  Ceil: unary(() => 0),
  Relu: unary(reluDerivative),
  Identity: identityVjp,
};

export const clipVjp: Vjp = (a: VjpArgs) => {
  const lo = floatAttr(a.node.attrs, 'min');
  const hi = floatAttr(a.node.attrs, 'max');
  return unary((x) => (x >= lo && x <= hi ? 1 : 0))(a);
};

/** Cast between float types passes the gradient on; any cast from or to integers stops it. */
export const castVjp: Vjp = ({ inputs, output, grad, needs }) => [
  needs[0] && isFloatType(inputs[0]!.dtype) && isFloatType(output.dtype) ? grad.slice() : undefined,
];

/** Where(cond, x, y): the gradient goes to x where cond holds, to y elsewhere (no gradient to cond). */
export const whereVjp: Vjp = ({ inputs, output, grad, needs }) => {
  const [c, x, y] = inputs as [Tensor, Tensor, Tensor];
  const ic = sourceIndex(c.shape, output.shape);
  const C = c.data;
  const on = (k: number): boolean => {
    const v = C[ic === undefined ? k : ic[k]!]!;
    return v !== 0 && v !== 0n;
  };
  return [
    undefined,
    needs[1] && isFloatType(x.dtype) ? reduceProductToShape(grad, output.shape, x.shape, (k) => (on(k) ? 1 : 0)) : undefined,
    needs[2] && isFloatType(y.dtype) ? reduceProductToShape(grad, output.shape, y.shape, (k) => (on(k) ? 0 : 1)) : undefined,
  ];
};

/**
 * The erf form reuses the forward value: Phi(x) = y / x, so the derivative needs one exp
 * and no erf (the erf series is the costly part of GELU); near 0, Phi(x) ~ 1/2.
 */
const geluErfFromOutput = (x: number, y: number): number =>
  (Math.abs(x) > 1e-4 ? y / x : 0.5 + x * INV_SQRT_2PI) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);

export const geluVjp: Vjp = (a) => (stringAttr(a.node.attrs, 'approximate') === 'tanh' ? unary(geluTanhDerivative)(a) : unary(geluErfFromOutput)(a));

export const geluMixVjp: Vjp = (a) => {
  const l = floatAttr(a.node.attrs, 'lambda');
  return unary((x) => l * geluErfDerivative(x) + (1 - l) * reluDerivative(x))(a);
};
