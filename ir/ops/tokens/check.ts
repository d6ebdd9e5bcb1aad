// Shared checks of the token-pruning ops: token masks and scores are [B, 1, 1, S], the
// layout of the attention keep mask, so they feed AttentionSoftmax unchanged.

import { typeError } from '../../op.ts';
import type { Tensor } from '../../tensor.ts';
import { isFloatType, type ValueType } from '../../types.ts';
import { fmtShape } from '../broadcast.ts';

/** Requires a float [B, 1, 1, S] token vector; returns [B, S]. */
export function requireTokenVector(op: string, t: ValueType, what: string): [number, number] {
  if (!isFloatType(t.elem)) typeError(`${op}: ${what} must be a float [B, 1, 1, S] tensor, got ${t.elem}`);
  const s = t.shape;
  if (s.length !== 4 || s[1] !== 1 || s[2] !== 1) typeError(`${op}: ${what} must be [B, 1, 1, S], got ${fmtShape(s)}`);
  return [s[0]!, s[3]!];
}

/** Requires two token vectors of one [B, 1, 1, S] shape. */
export function requireSameTokens(op: string, a: ValueType, aName: string, b: ValueType, bName: string): [number, number] {
  const [B, S] = requireTokenVector(op, a, aName);
  const [B2, S2] = requireTokenVector(op, b, bName);
  if (B !== B2 || S !== S2) typeError(`${op}: ${aName} ${fmtShape(a.shape)} and ${bName} ${fmtShape(b.shape)} must have one shape`);
  return [B, S];
}

/** A threshold attribute: a number in [0, 1]. */
export function requireUnitInterval(op: string, name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) typeError(`${op}: ${name} must be in [0, 1], got ${v}`);
}

/** 1 where a mask element is non-zero. */
export function flagsOf(t: Tensor): Uint8Array {
  const d = t.data;
  const out = new Uint8Array(t.size);
  for (let i = 0; i < out.length; i++) out[i] = d[i] !== 0 && d[i] !== 0n ? 1 : 0;
  return out;
}
