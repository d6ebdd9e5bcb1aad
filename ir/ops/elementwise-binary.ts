// Arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow (binary) and Max, Min (variadic).
//
// Floats compute in float64. Integers wrap like ONNX: narrow types (<= 32 bits) compute as
// JS numbers whose low bits are exact and are stored into wrapping typed arrays; 64-bit
// types compute as bigints. Integer Div truncates toward zero (C semantics, as onnxruntime).

import type { OpDef } from '../op.ts';
import { evalError } from '../op.ts';
import { Tensor } from '../tensor.ts';
import { isFloatType, type ElemType, type Shape, type ValueType } from '../types.ts';
import {
  arithFloat,
  binaryBigInt,
  binaryFloat,
  binarySmallInt,
  broadcastAll,
  isBigElem,
  asComputed,
  type FloatArith,
} from './broadcast.ts';
import { convertStorage } from './cast.ts';
import { requireNumeric, requireSameElem } from './check.ts';

interface ArithKernels {
  readonly float: (x: number, y: number) => number;
  /** The same float operation, inlined by the float kernel (no per-element call). */
  readonly inline?: FloatArith;
  readonly small: (x: number, y: number) => number;
  readonly big: (x: bigint, y: bigint) => bigint;
}

function divSmall(x: number, y: number): number {
  if (y === 0) evalError('integer division by zero');
  return Math.trunc(x / y);
}

function divBig(x: bigint, y: bigint): bigint {
  if (y === 0n) evalError('integer division by zero');
  return x / y;
}

function maxFloat(x: number, y: number): number {
  return x !== x || x > y ? x : y; // NaN propagates, as numpy.maximum
}
function minFloat(x: number, y: number): number {
  return x !== x || x < y ? x : y;
}

/** Applies a kernel set to two same-typed operands, choosing the number domain by element type. */
function applyArith(k: ArithKernels, a: Tensor, b: Tensor, elem: ElemType, shape: Shape): Tensor {
  if (isFloatType(elem)) return k.inline !== undefined ? arithFloat(a, b, elem, shape, k.inline) : binaryFloat(a, b, elem, shape, k.float);
  if (isBigElem(elem)) return binaryBigInt(a, b, elem, shape, k.big);
  return binarySmallInt(a, b, elem, shape, k.small);
}

function inferSameTyped(op: string, types: readonly ValueType[]): { elem: ElemType; shape: number[] } {
  for (const t of types) requireNumeric(op, t);
  const elem = requireSameElem(op, types);
  return { elem, shape: broadcastAll(op, types.map((t) => t.shape)) };
}

function arith(name: string, summary: string, k: ArithKernels): OpDef {
  return {
    name,
    summary,
    arity: [2, 2],
    attrs: {},
    infer: (types) => inferSameTyped(name, types),
    evaluate: ([a, b], _attrs, out) => applyArith(k, a!, b!, out.elem, out.shape),
  };
}

export const Add = arith('Add', 'a + b, element-wise with broadcasting (integers wrap)', {
  float: (x, y) => x + y,
  inline: 'add',
  small: (x, y) => x + y,
  big: (x, y) => x + y,
});

export const Sub = arith('Sub', 'a - b, element-wise with broadcasting (integers wrap)', {
  float: (x, y) => x - y,
  inline: 'sub',
  small: (x, y) => x - y,
  big: (x, y) => x - y,
});

export const Mul = arith('Mul', 'a * b, element-wise with broadcasting (integers wrap)', {
  float: (x, y) => x * y,
  inline: 'mul',
  small: (x, y) => Math.imul(x, y),
  big: (x, y) => x * y,
});

export const Div = arith('Div', 'a / b, element-wise with broadcasting (integer division truncates)', {
  float: (x, y) => x / y,
  inline: 'div',
  small: divSmall,
  big: divBig,
});

/** x^e for integers of at most 32 bits, wrapping mod 2^32 (the result storage narrows further). */
function powSmall(x: number, e: number): number {
  if (e < 0) {
    if (x === 1) return 1;
    if (x === -1) return e % 2 === 0 ? 1 : -1;
    evalError(`Pow of integers with a negative exponent (${x} ** ${e})`);
  }
  let r = 1;
  let b = x | 0;
  while (e > 0) {
    if (e % 2 === 1) r = Math.imul(r, b);
    b = Math.imul(b, b);
    e = Math.floor(e / 2);
  }
  return r;
}

function powBig(x: bigint, e: bigint): bigint {
  if (e < 0n) {
    if (x === 1n) return 1n;
    if (x === -1n) return e % 2n === 0n ? 1n : -1n;
    evalError(`Pow of integers with a negative exponent (${x} ** ${e})`);
  }
  let r = 1n;
  let b = x;
  while (e > 0n) {
    if (e & 1n) r = BigInt.asUintN(64, r * b);
    b = BigInt.asUintN(64, b * b);
    e >>= 1n;
  }
  return r;
}

export const Pow: OpDef = {
  name: 'Pow',
  summary: 'a ** b with broadcasting; exponent type may differ, result has the base type',
  arity: [2, 2],
  attrs: {},
  infer([a, b]) {
    requireNumeric('Pow', a!, 'base');
    requireNumeric('Pow', b!, 'exponent');
    return { elem: a!.elem, shape: broadcastAll('Pow', [a!.shape, b!.shape]) };
  },
  evaluate([a, b], _attrs, out) {
    const elem = out.elem;
    if (isFloatType(elem)) return binaryFloat(a!, b!, elem, out.shape, Math.pow);
    if (isFloatType(b!.dtype)) {
      // integer base, float exponent: numpy computes in floating point and casts back
      const f = binaryFloat(a!, b!, 'f64', out.shape, Math.pow);
      return new Tensor(elem, out.shape, convertStorage(f.data, elem));
    }
    if (isBigElem(elem)) return binaryBigInt(a!, b!, elem, out.shape, powBig);
    if (isBigElem(b!.dtype)) {
      const e = new Tensor('f64', b!.shape, b!.toFloat64());
      return binarySmallInt(a!, e, elem, out.shape, powSmall);
    }
    return binarySmallInt(a!, b!, elem, out.shape, powSmall);
  },
};

function variadic(name: string, summary: string, k: ArithKernels): OpDef {
  return {
    name,
    summary,
    arity: [1, Infinity],
    attrs: {},
    infer: (types) => inferSameTyped(name, types),
    evaluate(inputs, _attrs, out) {
      if (inputs.length === 1) return asComputed(inputs[0]!);
      let acc = inputs[0]!;
      for (let i = 1; i < inputs.length; i++) {
        const shape = broadcastAll(name, [acc.shape, inputs[i]!.shape]);
        acc = applyArith(k, acc, inputs[i]!, out.elem, shape);
      }
      return acc;
    },
  };
}

export const Max = variadic('Max', 'element-wise maximum of 1 or more inputs, with broadcasting', {
  float: maxFloat,
  small: (x, y) => (x > y ? x : y),
  big: (x, y) => (x > y ? x : y),
});

export const Min = variadic('Min', 'element-wise minimum of 1 or more inputs, with broadcasting', {
  float: minFloat,
  small: (x, y) => (x < y ? x : y),
  big: (x, y) => (x < y ? x : y),
});
