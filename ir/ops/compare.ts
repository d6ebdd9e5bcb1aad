// Comparisons and boolean logic with broadcasting: Equal, Less, Greater, LessOrEqual,
// GreaterOrEqual (same-typed operands -> bool) and And, Or, Xor, Not (bool -> bool).
//
// Elements are compared in their own domain (numbers, or bigints for 64-bit integers), so
// int64 comparisons are exact.

import type { OpDef } from '../op.ts';
import { Tensor } from '../tensor.ts';
import type { ValueType } from '../types.ts';
import { binaryPredicate, broadcastAll } from './broadcast.ts';
import { requireBool, requireNumeric, requireSameElem } from './check.ts';

type Pred = (x: number | bigint, y: number | bigint) => boolean;

function comparison(name: string, summary: string, allowBool: boolean, pred: Pred): OpDef {
  return {
    name,
    summary,
    arity: [2, 2],
    attrs: {},
    infer(types: readonly ValueType[]) {
      if (!allowBool) for (const t of types) requireNumeric(name, t);
      requireSameElem(name, types);
      return { elem: 'bool', shape: broadcastAll(name, types.map((t) => t.shape)) };
    },
    evaluate: ([a, b], _attrs, out) => binaryPredicate(a!, b!, out.shape, pred),
  };
}

export const Equal = comparison('Equal', 'a == b -> bool, with broadcasting', true, (x, y) => x === y);
export const Less = comparison('Less', 'a < b -> bool, with broadcasting', false, (x, y) => x < y);
export const Greater = comparison('Greater', 'a > b -> bool, with broadcasting', false, (x, y) => x > y);
export const LessOrEqual = comparison('LessOrEqual', 'a <= b -> bool, with broadcasting', false, (x, y) => x <= y);
export const GreaterOrEqual = comparison('GreaterOrEqual', 'a >= b -> bool, with broadcasting', false, (x, y) => x >= y);

function logic(name: string, summary: string, pred: Pred): OpDef {
  return {
    name,
    summary,
    arity: [2, 2],
    attrs: {},
    infer(types: readonly ValueType[]) {
      for (const t of types) requireBool(name, t);
      return { elem: 'bool', shape: broadcastAll(name, types.map((t) => t.shape)) };
    },
    evaluate: ([a, b], _attrs, out) => binaryPredicate(a!, b!, out.shape, pred),
  };
}

export const And = logic('And', 'logical and of bools, with broadcasting', (x, y) => x !== 0 && y !== 0);
export const Or = logic('Or', 'logical or of bools, with broadcasting', (x, y) => x !== 0 || y !== 0);
export const Xor = logic('Xor', 'logical xor of bools, with broadcasting', (x, y) => (x !== 0) !== (y !== 0));

export const Not: OpDef = {
  name: 'Not',
  summary: 'logical not of a bool tensor',
  arity: [1, 1],
  attrs: {},
  infer([x]) {
    requireBool('Not', x!);
    return { elem: 'bool', shape: x!.shape };
  },
  evaluate([x]) {
    const src = x!.data as Uint8Array;
    const out = new Uint8Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i] === 0 ? 1 : 0;
    return new Tensor('bool', x!.shape, out);
  },
};
