// Element-wise unary ops, table-driven: one row per op with the element types it accepts
// and its kernels (float64; narrow integers as numbers; 64-bit integers as bigints).

import type { OpDef } from '../op.ts';
import { typeError } from '../op.ts';
import { Tensor, allocComputeStorage, type BigStorage } from '../tensor.ts';
import { isFloatType, isIntType, type ValueType } from '../types.ts';
import { asComputed, bigData, isBigElem, unaryFloat } from './broadcast.ts';
import { isSignedElem } from './check.ts';
import { erf } from './erf.ts';

type Accepts = 'float' | 'signed' | 'numeric';

interface UnaryRow {
  readonly name: string;
  readonly summary: string;
  readonly accepts: Accepts;
  readonly float: (x: number) => number;
  readonly small?: (x: number) => number;
  readonly big?: (x: bigint) => bigint;
}

function accepted(accepts: Accepts, t: ValueType): boolean {
  switch (accepts) {
    case 'float':
      return isFloatType(t.elem);
    case 'signed':
      return isSignedElem(t.elem);
    case 'numeric':
      return isFloatType(t.elem) || isIntType(t.elem);
  }
}

const ACCEPTS_TEXT: Record<Accepts, string> = {
  float: 'a float input',
  signed: 'a float or signed integer input',
  numeric: 'a numeric input',
};

function unaryOp(row: UnaryRow): OpDef {
  return {
    name: row.name,
    summary: row.summary,
    arity: [1, 1],
    attrs: {},
    infer([x]) {
      if (!accepted(row.accepts, x!)) typeError(`${row.name} needs ${ACCEPTS_TEXT[row.accepts]}, got ${x!.elem}`);
      return { elem: x!.elem, shape: x!.shape };
    },
    evaluate([x], _attrs, out) {
      if (isFloatType(out.elem)) return unaryFloat(x!, out.elem, row.float);
      const n = x!.size;
      if (isBigElem(out.elem)) {
        const f = row.big!;
        const src = bigData(x!);
        const data = allocComputeStorage(out.elem, n) as BigStorage;
        for (let i = 0; i < n; i++) data[i] = f(src[i]!);
        return new Tensor(out.elem, out.shape, data);
      }
      const f = row.small!;
      const src = x!.data as unknown as { [i: number]: number };
      const data = allocComputeStorage(out.elem, n) as Int32Array;
      for (let i = 0; i < n; i++) data[i] = f(src[i]!);
      return new Tensor(out.elem, out.shape, data);
    },
  };
}

const ROWS: readonly UnaryRow[] = [
  { name: 'Neg', summary: '-x, element-wise', accepts: 'signed', float: (x) => -x, small: (x) => -x, big: (x) => -x },
  {
    name: 'Abs',
    summary: '|x|, element-wise',
    accepts: 'numeric',
    float: Math.abs,
    small: Math.abs,
    big: (x) => (x < 0n ? -x : x),
  },
  { name: 'Sqrt', summary: 'square root, element-wise', accepts: 'float', float: Math.sqrt },
  { name: 'Exp', summary: 'e^x, element-wise', accepts: 'float', float: Math.exp },
  { name: 'Log', summary: 'natural logarithm, element-wise', accepts: 'float', float: Math.log },
  { name: 'Erf', summary: 'error function, element-wise', accepts: 'float', float: erf },
  { name: 'Tanh', summary: 'hyperbolic tangent, element-wise', accepts: 'float', float: Math.tanh },
  { name: 'Sigmoid', summary: '1 / (1 + e^-x), element-wise', accepts: 'float', float: sigmoid },
  { name: 'Reciprocal', summary: '1 / x, element-wise', accepts: 'float', float: (x) => 1 / x },
  { name: 'Floor', summary: 'round down, element-wise', accepts: 'float', float: Math.floor },
  { name: 'Ceil', summary: 'round up, element-wise', accepts: 'float', float: Math.ceil },
];

/** Sigmoid without overflow for large negative x. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const UNARY_OPS: readonly OpDef[] = ROWS.map(unaryOp);

export const Identity: OpDef = {
  name: 'Identity',
  summary: 'the input unchanged (any element type)',
  arity: [1, 1],
  attrs: {},
  infer: ([x]) => ({ elem: x!.elem, shape: x!.shape }),
  evaluate: ([x]) => asComputed(x!),
};
