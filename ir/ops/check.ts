// Small predicates shared by type rules: each throws a type error saying what was expected.

import { typeError } from '../op.ts';
import { isFloatType, isIntType, normalizeAxis, type ElemType, type ValueType } from '../types.ts';
import { fmtShape } from './broadcast.ts';

export function requireFloat(op: string, t: ValueType, what = 'input'): void {
  if (!isFloatType(t.elem)) typeError(`${op} needs a float ${what}, got ${t.elem}`);
}

/** Numeric: float or integer, not bool. */
export function requireNumeric(op: string, t: ValueType, what = 'input'): void {
  if (!isFloatType(t.elem) && !isIntType(t.elem)) typeError(`${op} needs a numeric ${what}, got ${t.elem}`);
}

export function requireBool(op: string, t: ValueType, what = 'input'): void {
  if (t.elem !== 'bool') typeError(`${op} needs a bool ${what}, got ${t.elem}`);
}

/** All inputs share one element type; returns it. */
export function requireSameElem(op: string, types: readonly ValueType[]): ElemType {
  const e = types[0]!.elem;
  if (types.some((t) => t.elem !== e)) {
    typeError(`${op} needs operands of one element type, got ${types.map((t) => t.elem).join(' and ')}`);
  }
  return e;
}

/** A possibly negative axis normalized into [0, rank), or a type error. */
export function axisIn(op: string, axis: number, rank: number, shapeOf: readonly number[]): number {
  const a = normalizeAxis(axis, rank);
  if (a === undefined) typeError(`${op} axis ${axis} is out of range for rank ${rank} (shape ${fmtShape(shapeOf)})`);
  return a;
}

/** Element types that hold signed values. */
export function isSignedElem(t: ElemType): boolean {
  return t === 'f32' || t === 'f64' || t === 'i8' || t === 'i32' || t === 'i64';
}
