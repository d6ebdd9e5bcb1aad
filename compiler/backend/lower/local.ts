// Public x secret arithmetic: local to each party (no communication). A public factor that
// holds small integers is embedded at scale 0, so the product needs no truncation and is
// exact; any other factor is embedded at scale f and the product truncated back.

import type { Reg } from '../../../ir/circuit/types.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { broadcastShapes, numel, shapesEqual, type Shape } from '../../../ir/types.ts';
import { isSmallIntTensor, type LowerContext } from './context.ts';
import { powerOfTwoShift, shiftDown } from '../protocols/arith.ts';

export function mulPublic(ctx: LowerContext, x: Reg, t: Tensor): Reg {
  const b = ctx.b;
  return b.withProtocol('mul-public', () => {
    if (isSmallIntTensor(t)) return b.mulPub(x, ctx.constReg(t, 0));
    // A positive power of two 2^-n (e.g. attention's 1/sqrt(64)): x truncated by n bits, not x 2^(s-n) by s.
    const n = ctx.config.shiftPowersOfTwo && t.size === 1 && t.at(0) > 0 ? powerOfTwoShift(t.at(0)) : undefined;
    if (n !== undefined && n <= x.scale) return shiftDown(b, x, n);
    const s = publicScale(ctx.f, t);
    return b.trunc(b.mulPub(x, ctx.constReg(t, s)), s);
  });
}

/**
 * Fractional bits for a public factor: f, plus as many as keep about f significant bits of
 * a factor below 1 (so 1/768 or 0.125 lose nothing), at most f + 8 more.
 */
export function publicScale(f: number, t: Tensor): number {
  const d = t.toFloat64();
  let mag = 0;
  for (let i = 0; i < d.length; i++) mag = Math.max(mag, Math.abs(d[i]!));
  if (!(mag > 0) || mag >= 1) return f;
  return f + Math.min(f + 8, Math.ceil(-Math.log2(mag)));
}

export function addPublic(ctx: LowerContext, x: Reg, t: Tensor): Reg {
  return ctx.b.withProtocol('add-public', () => ctx.b.addPub(x, ctx.constReg(t)));
}

export function subPublic(ctx: LowerContext, x: Reg, t: Tensor): Reg {
  return ctx.b.withProtocol('add-public', () => ctx.b.subPub(x, ctx.constReg(t)));
}

/** t - x. */
export function rsubPublic(ctx: LowerContext, t: Tensor, x: Reg): Reg {
  return ctx.b.withProtocol('add-public', () => ctx.b.rsubPub(ctx.constReg(t), x));
}

/** x @ t (side 'right') or t @ x (side 'left'), both of rank >= 2 with broadcast batch dims. */
export function matmulPublic(ctx: LowerContext, x: Reg, t: Tensor, side: 'left' | 'right'): Reg {
  const b = ctx.b;
  return b.withProtocol('matmul-public', () => {
    const s = isSmallIntTensor(t) ? 0 : ctx.f;
    const p = ctx.constReg(t, s);
    const z = side === 'right' ? b.matmulPub(x, p) : b.matmulPub(p, x);
    return s === 0 ? z : b.trunc(z, s);
  });
}

/** x broadcast to `shape` (no instruction when it already has it). */
export function expandTo(ctx: LowerContext, x: Reg, shape: Shape): Reg {
  if (shapesEqual(x.shape, shape)) return x;
  return ctx.b.expand(x, shape);
}

export function reshapeTo(ctx: LowerContext, x: Reg, shape: Shape): Reg {
  if (shapesEqual(x.shape, shape)) return x;
  return ctx.b.reshape(x, shape);
}

/** The broadcast shape of two shapes (callers have type-checked IR, so it exists). */
export function broadcast2(a: Shape, b: Shape): Shape {
  const s = broadcastShapes(a, b);
  if (s === undefined) throw new Error(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
  return s;
}

/** A float64 tensor of `shape` with f(i) at flat index i. */
export function tensorOf(shape: Shape, f: (i: number) => number): Tensor {
  const n = numel(shape);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = f(i);
  return new Tensor('f64', shape, d);
}

export function scalarTensor(v: number): Tensor {
  return new Tensor('f64', [], Float64Array.of(v));
}
