// Local arithmetic: on shares (each party on its own; a public operand is applied by P0
// alone where it must count once) and on public values (both parties compute the same).

import { typeError } from '../../op.ts';
import * as K from '../../ring/kernels.ts';
import { A, ANY, inputShape, inputValue, int, outputShape, P, reg, sameScale, type CircuitOpDef, type KindSet, type LocalEnv, type Ring } from '../gate.ts';
import { broadcastOrFail, matmulShape } from '../shape-rules.ts';
import type { RegKind } from '../types.ts';

const x = inputValue;
const shapeOf = inputShape;
const outShape = outputShape;

/** The element-wise op of the two inputs, with broadcast. */
export const binary =
  (op: K.BinaryOp) =>
  (e: LocalEnv): Ring[] => [K.ringBinary(x(e, 0), shapeOf(e, 0), x(e, 1), shapeOf(e, 1), op)];

/** P0 combines its share with the public value; P1 keeps its share (broadcast to the result's shape). */
export const p0Only =
  (op: K.BinaryOp) =>
  (e: LocalEnv): Ring[] => (e.party === 0 ? binary(op)(e) : [K.expandTo(x(e, 0), shapeOf(e, 0), outShape(e))]);

/**
 * Element-wise binary op with broadcast. `same`: add-like, the scales must be equal;
 * `sum`: a ring product, the scales add.
 */
export function binaryGate(
  name: string,
  summary: string,
  inputs: readonly KindSet[],
  out: RegKind,
  scale: 'same' | 'sum' | 'first',
  evaluate: (e: LocalEnv) => Ring[],
): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs,
    attrs: {},
    infer([a, b]) {
      const s = scale === 'same' ? sameScale(name, a!, b!) : scale === 'sum' ? a!.scale + b!.scale : a!.scale;
      return [reg(out, broadcastOrFail(name, a!.shape, b!.shape), s)];
    },
    evaluate,
  };
}

function negGate(name: string, summary: string, kinds: KindSet): CircuitOpDef {
  return { name, summary, cls: 'local', inputs: [kinds], attrs: {}, infer: ([a]) => [reg(a!.kind, a!.shape, a!.scale)], evaluate: (e) => [K.ringNeg(x(e, 0))] };
}

function truncGate(name: string, summary: string, kinds: KindSet, evaluate: (e: LocalEnv, bits: number) => Ring): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs: [kinds],
    attrs: { bits: { kind: 'int' } },
    infer([a], at) {
      const bits = int(at, 'bits');
      if (bits < 1 || bits > 63) typeError(`${name}: bits must be in 1..63, got ${bits}`);
      if (bits > a!.scale) typeError(`${name} by ${bits} bits of a value at scale @${a!.scale} would leave a negative scale`);
      return [reg(a!.kind, a!.shape, a!.scale - bits)];
    },
    evaluate: (e) => [evaluate(e, int(e.ins.attrs, 'bits'))],
  };
}

export const ARITH_GATES: readonly CircuitOpDef[] = [
  // x / 2^bits exactly: the same ring words read at a finer scale (no truncation, no error). A
  // product whose operand was computed 2^bits times larger, for precision, is brought back by
  // the product's own truncation (protocols/spline.ts, cubic pieces).
  {
    name: 'div_pow2',
    summary: 'x / 2^bits exactly: the same ring words at scale + bits (shares or public)',
    cls: 'local',
    inputs: [ANY],
    attrs: { bits: { kind: 'int' } },
    infer([a], at) {
      const bits = int(at, 'bits');
      if (!Number.isInteger(bits) || bits < 1 || bits > 62) typeError(`div_pow2: bits must be in 1..62, got ${bits}`);
      return [reg(a!.kind, a!.shape, a!.scale + bits)];
    },
    evaluate: (e) => [x(e, 0)],
  },
  // ── on shares
  binaryGate('add', 'x + y (shares)', [A, A], 'ashr', 'same', binary('add')),
  binaryGate('sub', 'x - y (shares)', [A, A], 'ashr', 'same', binary('sub')),
  negGate('neg', '-x', A),
  binaryGate('add_pub', 'x + p (only P0 adds p)', [A, P], 'ashr', 'same', p0Only('add')),
  binaryGate('sub_pub', 'x - p (only P0 subtracts p)', [A, P], 'ashr', 'same', p0Only('sub')),
  // p - x: P0 computes p - x0, P1 computes -x1.
  binaryGate('rsub_pub', 'p - x (inputs x, p)', [A, P], 'ashr', 'same', (e) =>
    e.party === 0 ? [K.ringBinary(x(e, 1), shapeOf(e, 1), x(e, 0), shapeOf(e, 0), 'sub')] : [K.ringNeg(K.expandTo(x(e, 0), shapeOf(e, 0), outShape(e)))],
  ),
  binaryGate('mul_pub', 'x * p element-wise ring product, no truncation (scales add)', [A, P], 'ashr', 'sum', binary('mul')),
  {
    name: 'matmul_pub',
    summary: 'x @ p (side=right) or p @ x (side=left); inputs are always (x, p); scales add',
    cls: 'local',
    inputs: [A, P],
    attrs: { side: { kind: 'string', default: 'right' } },
    infer([a, p], at) {
      const side = at['side'];
      if (side !== 'right' && side !== 'left') typeError(`matmul_pub: side must be 'right' or 'left', got '${String(side)}'`);
      const shape = side === 'right' ? matmulShape('matmul_pub', a!.shape, p!.shape) : matmulShape('matmul_pub', p!.shape, a!.shape);
      return [reg('ashr', shape, a!.scale + p!.scale)];
    },
    evaluate: (e) =>
      e.ins.attrs['side'] === 'right' ? [K.ringBatchedMatmul(x(e, 0), shapeOf(e, 0), x(e, 1), shapeOf(e, 1))] : [K.ringBatchedMatmul(x(e, 1), shapeOf(e, 1), x(e, 0), shapeOf(e, 0))],
  },
  truncGate('trunc', 'local truncation of a share (P0: x0 >> bits; P1: -((-x1) >> bits)), arithmetic shifts', A, (e, bits) =>
    e.party === 0 ? K.ringSar(x(e, 0), bits) : K.ringNegSarNeg(x(e, 0), bits),
  ),
  // ── on public values (combining opened values)
  binaryGate('add_pp', 'p + q (public)', [P, P], 'pub', 'same', binary('add')),
  binaryGate('sub_pp', 'p - q (public)', [P, P], 'pub', 'same', binary('sub')),
  negGate('neg_pp', '-p (public)', P),
  binaryGate('mul_pp', 'p * q element-wise (public; scales add)', [P, P], 'pub', 'sum', binary('mul')),
  {
    name: 'matmul_pp',
    summary: 'p @ q (public; scales add)',
    cls: 'local',
    inputs: [P, P],
    attrs: {},
    infer([p, q]) {
      return [reg('pub', matmulShape('matmul_pp', p!.shape, q!.shape), p!.scale + q!.scale)];
    },
    evaluate: (e) => [K.ringBatchedMatmul(x(e, 0), shapeOf(e, 0), x(e, 1), shapeOf(e, 1))],
  },
  truncGate('trunc_pp', 'arithmetic shift right of a public value', P, (e, bits) => K.ringSar(x(e, 0), bits)),
];
