// Element-wise arithmetic: Add, Sub, Mul, Div, Neg, Pow, Max, Min, Clip, Where, Identity,
// Cast, comparisons and logic on secret 0/1 values. Public operands stay local; secret x
// secret products use the multiplication protocol.

import { floatAttr, stringAttr } from '../../../ir/op.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import type { Node } from '../../../ir/node.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { isFloatType, type ElemType } from '../../../ir/types.ts';
import { isPublic, secretValue, type LowerContext, type LValue } from './context.ts';
import { addPublic, expandTo, mulPublic, rsubPublic, scalarTensor, subPublic, tensorOf } from './local.ts';
import type { LoweringTable } from './lowering.ts';

/** x + y for any two values of which at least one is not public. */
export function addValues(ctx: LowerContext, x: LValue, y: LValue): Reg {
  if (isPublic(y)) return addPublic(ctx, ctx.share(x), y.value);
  if (isPublic(x)) return addPublic(ctx, ctx.share(y), x.value);
  return ctx.b.withProtocol('local', () => ctx.b.add(ctx.share(x), ctx.share(y)));
}

export function subValues(ctx: LowerContext, x: LValue, y: LValue): Reg {
  if (isPublic(y)) return subPublic(ctx, ctx.share(x), y.value);
  if (isPublic(x)) return rsubPublic(ctx, x.value, ctx.share(y));
  return ctx.b.withProtocol('local', () => ctx.b.sub(ctx.share(x), ctx.share(y)));
}

/** Secret x secret product (the protocol broadcasts, masking each operand at its own shape). */
export function mulShares(ctx: LowerContext, x: Reg, y: Reg): Reg {
  return ctx.p.mul(x, y);
}

export function mulValues(ctx: LowerContext, x: LValue, y: LValue): Reg {
  if (isPublic(y)) return mulPublic(ctx, ctx.share(x), y.value);
  if (isPublic(x)) return mulPublic(ctx, ctx.share(y), x.value);
  return mulShares(ctx, ctx.share(x), ctx.share(y));
}

function reciprocalTensor(t: Tensor): Tensor {
  const d = t.toFloat64();
  return tensorOf(t.shape, (i) => 1 / d[i]!);
}

function divValues(ctx: LowerContext, x: LValue, y: LValue): Reg {
  if (isPublic(y)) return mulPublic(ctx, ctx.share(x), reciprocalTensor(y.value));
  const inv = ctx.p.reciprocal(ctx.share(y));
  return mulValues(ctx, x, secretValue(inv));
}

/** x^e for a public scalar exponent e (the common ones: 2, 0.5, -0.5, -1, small integers). */
function powValue(ctx: LowerContext, x: Reg, y: LValue): Reg {
  if (!isPublic(y) || y.value.size !== 1) throw ctx.error('unsupported', 'Pow with a secret or non-scalar exponent has no MPC protocol');
  const e = y.value.toFloat64()[0]!;
  switch (e) {
    case 1:
      return x;
    case 2:
      return ctx.p.square(x);
    case 0.5:
      return ctx.p.sqrt(x);
    case -0.5:
      return ctx.p.invSqrt(x);
    case -1:
      return ctx.p.reciprocal(x);
  }
  if (Number.isInteger(e) && e >= 3 && e <= 64) {
    // square and multiply: log2(e) rounds deep, the partial products in parallel
    let result: Reg | undefined;
    let base = x;
    let k = e;
    while (k > 0) {
      if (k & 1) result = result === undefined ? base : ctx.p.mul(result, base);
      k >>= 1;
      if (k > 0) base = ctx.p.square(base);
    }
    return result!;
  }
  throw ctx.error('unsupported', `Pow with exponent ${e} has no MPC protocol (supported: 0.5, -0.5, -1, 1, 2, 3..64)`);
}

function one(): Tensor {
  return scalarTensor(1);
}

/** max(x, y) = x + relu(y - x); min(x, y) = x - relu(x - y). */
function maxMin(ctx: LowerContext, x: LValue, y: LValue, isMax: boolean): LValue {
  if (isMax) return secretValue(addValues(ctx, x, secretValue(ctx.p.relu(subValues(ctx, y, x)))));
  return secretValue(subValues(ctx, x, secretValue(ctx.p.relu(subValues(ctx, x, y)))));
}

function variadic(fn: (ctx: LowerContext, a: LValue, b: LValue) => LValue) {
  return (ctx: LowerContext, _node: Node, inputs: readonly LValue[]): LValue => {
    let acc = inputs[0]!;
    for (const v of inputs.slice(1)) acc = fn(ctx, acc, v);
    if (isPublic(acc) || acc.kind !== 'secret') return secretValue(ctx.share(acc));
    return acc;
  };
}

/** A comparison result bit (0/1 fixed point): lt(x, y) = ltz(x - y). */
function lessThan(ctx: LowerContext, x: LValue, y: LValue): Reg {
  return ctx.p.ltz(subValues(ctx, x, y));
}

function notBit(ctx: LowerContext, x: Reg): Reg {
  return rsubPublic(ctx, one(), x);
}

const isFloat = (e: ElemType): boolean => isFloatType(e);

export const ELEMENTWISE_LOWERINGS: LoweringTable = {
  Add: { lower: (ctx, _n, [x, y]) => secretValue(addValues(ctx, x!, y!)) },
  Sub: { lower: (ctx, _n, [x, y]) => secretValue(subValues(ctx, x!, y!)) },
  Mul: { lower: (ctx, _n, [x, y]) => secretValue(mulValues(ctx, x!, y!)) },
  Div: {
    lower: (ctx, node, [x, y]) => {
      if (!isFloat(node.type.elem)) throw ctx.error('unsupported', 'integer Div (rounding toward zero) of secret values has no MPC protocol');
      return secretValue(divValues(ctx, x!, y!));
    },
  },
  Neg: { lower: (ctx, _n, [x]) => secretValue(ctx.b.withProtocol('local', () => ctx.b.neg(ctx.share(x!)))) },
  Identity: { lower: (ctx, _n, [x]) => secretValue(ctx.share(x!)) },
  Cast: {
    lower: (ctx, node, [x]) => {
      const to = stringAttr(node.attrs, 'to');
      const from = node.inputs[0]!.type.elem;
      // int -> float and float -> float keep the value; anything that rounds or tests does not
      if (isFloat(to as ElemType) || from === to || (!isFloat(from) && to !== 'bool' && to !== 'ring64')) return secretValue(ctx.share(x!));
      throw ctx.error('unsupported', `Cast from ${from} to ${to} of a secret value (rounding or a test) has no MPC protocol`);
    },
  },
  Pow: { lower: (ctx, _n, [x, y]) => secretValue(powValue(ctx, ctx.share(x!), y!)) },
  Sqrt: { lower: (ctx, _n, [x]) => secretValue(ctx.p.sqrt(ctx.share(x!))) },
  Exp: { lower: (ctx, _n, [x]) => secretValue(ctx.p.exp(ctx.share(x!))) },
  Reciprocal: { lower: (ctx, _n, [x]) => secretValue(ctx.p.reciprocal(ctx.share(x!))) },
  Abs: {
    lower: (ctx, _n, [x]) => {
      // |x| = 2 relu(x) - x
      const s = ctx.share(x!);
      const r = ctx.p.relu(s);
      return secretValue(ctx.b.withProtocol('local', () => ctx.b.sub(ctx.b.add(r, r), s)));
    },
  },
  Max: { lower: variadic((ctx, a, b) => maxMin(ctx, a, b, true)) },
  Min: { lower: variadic((ctx, a, b) => maxMin(ctx, a, b, false)) },
  Clip: {
    lower: (ctx, node, [x]) => {
      const lo = floatAttr(node.attrs, 'min');
      const hi = floatAttr(node.attrs, 'max');
      let v = ctx.share(x!);
      // lo + relu(v - lo), then hi - relu(hi - v)
      if (lo !== -Infinity) v = addPublic(ctx, ctx.p.relu(subPublic(ctx, v, scalarTensor(lo))), scalarTensor(lo));
      if (hi !== Infinity) v = rsubPublic(ctx, scalarTensor(hi), ctx.p.relu(rsubPublic(ctx, scalarTensor(hi), v)));
      return secretValue(v);
    },
  },
  Where: {
    lower: (ctx, node, [c, x, y]) => {
      const shape = node.type.shape;
      if (isPublic(c!)) {
        // c*x + (1-c)*y with a public 0/1 condition: local
        const cd = c.value;
        const notC = tensorOf(cd.shape, (i) => (cd.at(i) !== 0 ? 0 : 1));
        const cc = tensorOf(cd.shape, (i) => (cd.at(i) !== 0 ? 1 : 0));
        const a = mulValues(ctx, x!, { kind: 'public', value: cc });
        const b = mulValues(ctx, y!, { kind: 'public', value: notC });
        return secretValue(ctx.b.withProtocol('local', () => ctx.b.add(expandTo(ctx, a, shape), expandTo(ctx, b, shape))));
      }
      const cs = expandTo(ctx, ctx.share(c!), shape);
      return secretValue(ctx.p.where(cs, expandTo(ctx, ctx.share(x!), shape), expandTo(ctx, ctx.share(y!), shape)));
    },
  },
  Less: { lower: (ctx, _n, [x, y]) => secretValue(lessThan(ctx, x!, y!)) },
  Greater: { lower: (ctx, _n, [x, y]) => secretValue(lessThan(ctx, y!, x!)) },
  GreaterOrEqual: { lower: (ctx, _n, [x, y]) => secretValue(notBit(ctx, lessThan(ctx, x!, y!))) },
  LessOrEqual: { lower: (ctx, _n, [x, y]) => secretValue(notBit(ctx, lessThan(ctx, y!, x!))) },
  Not: { lower: (ctx, _n, [x]) => secretValue(notBit(ctx, ctx.share(x!))) },
  And: { lower: (ctx, _n, [x, y]) => secretValue(mulValues(ctx, x!, y!)) },
  Or: {
    lower: (ctx, _n, [x, y]) => {
      // a + b - ab
      const ab = mulValues(ctx, x!, y!);
      return secretValue(subValues(ctx, secretValue(addValues(ctx, x!, y!)), secretValue(ab)));
    },
  },
  Xor: {
    lower: (ctx, _n, [x, y]) => {
      // a + b - 2ab
      const ab = mulValues(ctx, x!, y!);
      const sum = addValues(ctx, x!, y!);
      return secretValue(ctx.b.withProtocol('local', () => ctx.b.sub(sum, ctx.b.add(ab, ab))));
    },
  },
};
