// The circuit instruction set as data: one CircuitOpDef per op (input kinds, attributes,
// class, and a kind/shape/scale rule), in the manner of ir/op.ts.
//
// Classes: `source` (input, const), `local` (each party works on its own share), `dealer`
// (correlated randomness, no P0-P1 traffic), `comm` (open, open_b, output: the only
// communication between the parties).

import { attrMatches, describeKind, typeError, type AttrSpec } from '../op.ts';
import { numel, type Shape } from '../types.ts';
import {
  broadcastOrFail,
  concatShape,
  gatherShape,
  matmulShape,
  reduceShape,
  resolveSlice,
  sameShape,
  transposeShape,
} from './shape-rules.ts';
import { INPUT_ENCODINGS, type CAttrs, type CAttrValue, type RegKind, type RegType } from './types.ts';

export type OpClass = 'source' | 'local' | 'dealer' | 'comm';

/** Allowed kinds of one input. */
export type KindSet = readonly RegKind[];

export interface CircuitOpDef {
  readonly name: string;
  readonly summary: string;
  readonly cls: OpClass;
  /** Kinds of the inputs, position by position; `variadic` repeats the single entry (at least one input). */
  readonly inputs: readonly KindSet[];
  readonly variadic?: boolean;
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  /** Result types (kinds, shapes, scales), or a typeError saying what was expected. `f` is the circuit's fractional bits. */
  infer(inputs: readonly RegType[], attrs: CAttrs, f: number): RegType[];
}

const ANY: KindSet = ['pub', 'ashr', 'bshr'];
const A: KindSet = ['ashr'];
const P: KindSet = ['pub'];
const B: KindSet = ['bshr'];

const ints = (a: CAttrs, k: string): readonly number[] => a[k] as readonly number[];
const int = (a: CAttrs, k: string): number => a[k] as number;

function reg(kind: RegKind, shape: Shape, scale: number): RegType {
  return { kind, shape: [...shape], scale };
}

function sameScale(op: string, a: RegType, b: RegType): number {
  if (a.scale !== b.scale) typeError(`${op} needs equal scales, got @${a.scale} and @${b.scale}`);
  return a.scale;
}

function checkShape(op: string, shape: readonly number[]): void {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) typeError(`${op}: bad shape [${shape.join(',')}]`);
}

/**
 * Element-wise binary op with broadcast. `same`: add-like, the scales must be equal;
 * `sum`: a ring product, the scales add.
 */
function binaryLocal(name: string, summary: string, inputs: readonly KindSet[], out: RegKind, scale: 'same' | 'sum'): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs,
    attrs: {},
    infer([x, y]) {
      return [reg(out, broadcastOrFail(name, x!.shape, y!.shape), scale === 'same' ? sameScale(name, x!, y!) : x!.scale + y!.scale)];
    },
  };
}

const addLike = (name: string, summary: string, inputs: readonly KindSet[], out: RegKind): CircuitOpDef => binaryLocal(name, summary, inputs, out, 'same');
const mulLike = (name: string, summary: string, inputs: readonly KindSet[], out: RegKind): CircuitOpDef => binaryLocal(name, summary, inputs, out, 'sum');

function unaryLocal(name: string, summary: string, kinds: KindSet): CircuitOpDef {
  return { name, summary, cls: 'local', inputs: [kinds], attrs: {}, infer: ([x]) => [reg(x!.kind, x!.shape, x!.scale)] };
}

function truncLike(name: string, summary: string, kinds: KindSet): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs: [kinds],
    attrs: { bits: { kind: 'int' } },
    infer([x], a) {
      const bits = int(a, 'bits');
      if (bits < 1 || bits > 63) typeError(`${name}: bits must be in 1..63, got ${bits}`);
      if (bits > x!.scale) typeError(`${name} by ${bits} bits of a value at scale @${x!.scale} would leave a negative scale`);
      return [reg(x!.kind, x!.shape, x!.scale - bits)];
    },
  };
}

/** Binary (XOR-share) element-wise op of two inputs with broadcast. */
function bitwise(name: string, summary: string, inputs: readonly KindSet[], out: RegKind): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs,
    attrs: {},
    infer([x, y]) {
      return [reg(out, broadcastOrFail(name, x!.shape, y!.shape), x!.scale)];
    },
  };
}

function shiftLike(name: string, summary: string): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs: [['bshr', 'pub']],
    attrs: { bits: { kind: 'int' } },
    infer([x], a) {
      const bits = int(a, 'bits');
      if (bits < 0 || bits > 63) typeError(`${name}: bits must be in 0..63, got ${bits}`);
      return [reg(x!.kind, x!.shape, x!.scale)];
    },
  };
}

function scalesAttr(op: string, a: CAttrs, f: number): [number, number] {
  const s = ints(a, 'scales');
  if (s.length === 0) return [f, f];
  if (s.length !== 2 || s.some((v) => v < 0)) typeError(`${op}: scales must be two non-negative integers`);
  return [s[0]!, s[1]!];
}

const DEFS: CircuitOpDef[] = [
  // ── sources
  {
    name: 'input',
    summary: "a party's private input, shared without communication (P0: server weights, P1: client inputs)",
    cls: 'source',
    inputs: [],
    attrs: {
      party: { kind: 'int' },
      name: { kind: 'string' },
      encoding: { kind: 'string', default: 'fixed' },
      shape: { kind: 'ints' },
      classes: { kind: 'int', default: 0 },
    },
    infer(_, a, f) {
      const party = int(a, 'party');
      const enc = a['encoding'] as string;
      const shape = ints(a, 'shape');
      checkShape('input', shape);
      if (party !== 0 && party !== 1) typeError(`input: party must be 0 or 1, got ${party}`);
      if (!(INPUT_ENCODINGS as readonly string[]).includes(enc)) {
        typeError(`input: encoding must be one of ${INPUT_ENCODINGS.join(', ')}, got '${enc}'`);
      }
      if (enc === 'onehot') {
        const classes = int(a, 'classes');
        if (classes < 1) typeError('input: a onehot encoding needs classes >= 1');
        return [reg('ashr', [...shape, classes], f)];
      }
      return [reg('ashr', shape, enc === 'int' ? 0 : f)];
    },
  },
  {
    name: 'const',
    summary: 'a public constant embedded in the circuit (ring elements at the given scale)',
    cls: 'source',
    inputs: [],
    attrs: { shape: { kind: 'ints' }, scale: { kind: 'int' } },
    infer(_, a) {
      checkShape('const', ints(a, 'shape'));
      if (int(a, 'scale') < 0) typeError('const: scale must be >= 0');
      return [reg('pub', ints(a, 'shape'), int(a, 'scale'))];
    },
  },
  // ── local arithmetic on shares
  addLike('add', 'x + y (shares)', [A, A], 'ashr'),
  addLike('sub', 'x - y (shares)', [A, A], 'ashr'),
  unaryLocal('neg', '-x', A),
  addLike('add_pub', 'x + p (only P0 adds p)', [A, P], 'ashr'),
  addLike('sub_pub', 'x - p (only P0 subtracts p)', [A, P], 'ashr'),
  addLike('rsub_pub', 'p - x (inputs x, p)', [A, P], 'ashr'),
  mulLike('mul_pub', 'x * p element-wise ring product, no truncation (scales add)', [A, P], 'ashr'),
  {
    name: 'matmul_pub',
    summary: 'x @ p (side=right) or p @ x (side=left); inputs are always (x, p); scales add',
    cls: 'local',
    inputs: [A, P],
    attrs: { side: { kind: 'string', default: 'right' } },
    infer([x, p], a) {
      const side = a['side'];
      if (side !== 'right' && side !== 'left') typeError(`matmul_pub: side must be 'right' or 'left', got '${String(side)}'`);
      const shape = side === 'right' ? matmulShape('matmul_pub', x!.shape, p!.shape) : matmulShape('matmul_pub', p!.shape, x!.shape);
      return [reg('ashr', shape, x!.scale + p!.scale)];
    },
  },
  truncLike('trunc', 'local truncation of a share (P0: x0 >> bits; P1: -((-x1) >> bits)), arithmetic shifts', A),
  // ── public arithmetic (combining opened values)
  addLike('add_pp', 'p + q (public)', [P, P], 'pub'),
  addLike('sub_pp', 'p - q (public)', [P, P], 'pub'),
  unaryLocal('neg_pp', '-p (public)', P),
  mulLike('mul_pp', 'p * q element-wise (public; scales add)', [P, P], 'pub'),
  {
    name: 'matmul_pp',
    summary: 'p @ q (public; scales add)',
    cls: 'local',
    inputs: [P, P],
    attrs: {},
    infer([p, q]) {
      return [reg('pub', matmulShape('matmul_pp', p!.shape, q!.shape), p!.scale + q!.scale)];
    },
  },
  truncLike('trunc_pp', 'arithmetic shift right of a public value', P),
  // ── data movement (any kind)
  {
    name: 'reshape',
    summary: 'same elements, new shape',
    cls: 'local',
    inputs: [ANY],
    attrs: { shape: { kind: 'ints' } },
    infer([x], a) {
      const shape = ints(a, 'shape');
      checkShape('reshape', shape);
      if (numel(shape) !== numel(x!.shape)) typeError(`reshape: [${x!.shape.join(',')}] cannot become [${shape.join(',')}]`);
      return [reg(x!.kind, shape, x!.scale)];
    },
  },
  {
    name: 'transpose',
    summary: 'permute axes (empty perm reverses them)',
    cls: 'local',
    inputs: [ANY],
    attrs: { perm: { kind: 'ints', default: [] } },
    infer([x], a) {
      return [reg(x!.kind, transposeShape('transpose', x!.shape, ints(a, 'perm')), x!.scale)];
    },
  },
  {
    name: 'slice',
    summary: 'ONNX-style slice with positive steps',
    cls: 'local',
    inputs: [ANY],
    attrs: { starts: { kind: 'ints' }, ends: { kind: 'ints' }, axes: { kind: 'ints', default: [] }, steps: { kind: 'ints', default: [] } },
    infer([x], a) {
      const r = resolveSlice('slice', x!.shape, ints(a, 'starts'), ints(a, 'ends'), ints(a, 'axes'), ints(a, 'steps'));
      return [reg(x!.kind, r.shape, x!.scale)];
    },
  },
  {
    name: 'concat',
    summary: 'concatenate along an axis (same kind and scale)',
    cls: 'local',
    inputs: [ANY],
    variadic: true,
    attrs: { axis: { kind: 'int' } },
    infer(xs, a) {
      const first = xs[0]!;
      for (const x of xs) {
        if (x.kind !== first.kind) typeError(`concat: inputs of kinds ${first.kind} and ${x.kind}`);
        sameScale('concat', first, x);
      }
      return [reg(first.kind, concatShape('concat', xs.map((x) => x.shape), int(a, 'axis')), first.scale)];
    },
  },
  {
    name: 'expand',
    summary: 'numpy broadcast to a shape',
    cls: 'local',
    inputs: [ANY],
    attrs: { shape: { kind: 'ints' } },
    infer([x], a) {
      checkShape('expand', ints(a, 'shape'));
      return [reg(x!.kind, broadcastOrFail('expand', x!.shape, ints(a, 'shape')), x!.scale)];
    },
  },
  {
    name: 'gather',
    summary: 'take entries along an axis at public integer indices (inputs: data, indices)',
    cls: 'local',
    inputs: [ANY, P],
    attrs: { axis: { kind: 'int', default: 0 } },
    infer([x, idx], a) {
      if (idx!.scale !== 0) typeError(`gather: indices must be integers (@0), got @${idx!.scale}`);
      return [reg(x!.kind, gatherShape('gather', x!.shape, idx!.shape, int(a, 'axis')), x!.scale)];
    },
  },
  {
    name: 'reduce_sum',
    summary: 'sum over axes (all when empty)',
    cls: 'local',
    inputs: [['ashr', 'pub']],
    attrs: { axes: { kind: 'ints', default: [] }, keepdims: { kind: 'bool', default: true } },
    infer([x], a) {
      return [reg(x!.kind, reduceShape('reduce_sum', x!.shape, ints(a, 'axes'), a['keepdims'] as boolean), x!.scale)];
    },
  },
  // ── binary shares
  bitwise('xor', 'x ^ y (XOR shares)', [B, B], 'bshr'),
  bitwise('and_pub', 'x & p', [B, P], 'bshr'),
  bitwise('xor_pub', 'x ^ p (only P0 applies p)', [B, P], 'bshr'),
  bitwise('and_pp', 'p & q (public)', [P, P], 'pub'),
  bitwise('xor_pp', 'p ^ q (public)', [P, P], 'pub'),
  shiftLike('shl', 'shift left per 64-bit word'),
  shiftLike('shr', 'logical shift right per 64-bit word'),
  {
    name: 'a2b_own',
    summary: "party p's arithmetic share as a binary sharing (p's word = its share, the other's = 0)",
    cls: 'local',
    inputs: [A],
    attrs: { party: { kind: 'int' } },
    infer([x], a) {
      const p = int(a, 'party');
      if (p !== 0 && p !== 1) typeError(`a2b_own: party must be 0 or 1, got ${p}`);
      return [reg('bshr', x!.shape, x!.scale)];
    },
  },
  // ── dealer
  {
    name: 'beaver',
    summary: 'Beaver triple (a, b, c = a*b), element-wise; dealer sends n correction words',
    cls: 'dealer',
    inputs: [],
    attrs: { shape: { kind: 'ints' }, scales: { kind: 'ints', default: [] } },
    infer(_, a, f) {
      const shape = ints(a, 'shape');
      checkShape('beaver', shape);
      const [sa, sb] = scalesAttr('beaver', a, f);
      return [reg('ashr', shape, sa), reg('ashr', shape, sb), reg('ashr', shape, sa + sb)];
    },
  },
  {
    name: 'beaver_square',
    summary: 'square pair (r, r*r); dealer sends n correction words',
    cls: 'dealer',
    inputs: [],
    attrs: { shape: { kind: 'ints' }, scale: { kind: 'int', default: -1 } },
    infer(_, a, f) {
      const shape = ints(a, 'shape');
      checkShape('beaver_square', shape);
      const s = int(a, 'scale') < 0 ? f : int(a, 'scale');
      return [reg('ashr', shape, s), reg('ashr', shape, 2 * s)];
    },
  },
  {
    name: 'beaver_matmul',
    summary: 'matrix triple (A [..,m,k], B [..,k,n], C = A@B); dealer sends |C| correction words',
    cls: 'dealer',
    inputs: [],
    attrs: {
      m: { kind: 'int' },
      k: { kind: 'int' },
      n: { kind: 'int' },
      batch: { kind: 'ints', default: [] },
      scales: { kind: 'ints', default: [] },
    },
    infer(_, a, f) {
      const [m, k, n] = [int(a, 'm'), int(a, 'k'), int(a, 'n')];
      const batch = ints(a, 'batch');
      checkShape('beaver_matmul', [...batch, m, k, n]);
      const [sa, sb] = scalesAttr('beaver_matmul', a, f);
      return [reg('ashr', [...batch, m, k], sa), reg('ashr', [...batch, k, n], sb), reg('ashr', [...batch, m, n], sa + sb)];
    },
  },
  {
    name: 'beaver_and',
    summary: 'binary triple (a, b, c = a AND b) on 64-bit words; dealer sends n correction words',
    cls: 'dealer',
    inputs: [],
    attrs: { shape: { kind: 'ints' } },
    infer(_, a) {
      const shape = ints(a, 'shape');
      checkShape('beaver_and', shape);
      return [reg('bshr', shape, 0), reg('bshr', shape, 0), reg('bshr', shape, 0)];
    },
  },
  {
    name: 'rand_bit',
    summary: 'a random bit shared both ways (r_a ashr, r_b bshr); dealer sends n correction words (the arithmetic one)',
    cls: 'dealer',
    inputs: [],
    attrs: { shape: { kind: 'ints' } },
    infer(_, a) {
      const shape = ints(a, 'shape');
      checkShape('rand_bit', shape);
      return [reg('ashr', shape, 0), reg('bshr', shape, 0)];
    },
  },
  // ── communication
  {
    name: 'open',
    summary: 'reveal arithmetic shares to both parties (each party sends 8 bytes per element)',
    cls: 'comm',
    inputs: [A],
    variadic: true,
    attrs: {},
    infer: (xs) => xs.map((x) => reg('pub', x.shape, x.scale)),
  },
  {
    name: 'open_b',
    summary: 'reveal XOR shares to both parties (each party sends 8 bytes per element)',
    cls: 'comm',
    inputs: [B],
    variadic: true,
    attrs: {},
    infer: (xs) => xs.map((x) => reg('pub', x.shape, x.scale)),
  },
  {
    name: 'output',
    summary: 'reveal a declared output to the client only (P0 sends its share: 8 bytes per element)',
    cls: 'comm',
    inputs: [A],
    attrs: { name: { kind: 'string' } },
    infer: () => [],
  },
];

const TABLE = new Map<string, CircuitOpDef>(DEFS.map((d) => [d.name, d]));

export function findCircuitOp(name: string): CircuitOpDef | undefined {
  return TABLE.get(name);
}

export function allCircuitOps(): readonly CircuitOpDef[] {
  return DEFS;
}

export function isComm(op: string): boolean {
  return TABLE.get(op)?.cls === 'comm';
}

export function isDealer(op: string): boolean {
  return TABLE.get(op)?.cls === 'dealer';
}

/** Checks attributes against the spec and returns them with defaults filled in (typeError otherwise). */
export function completeCircuitAttrs(def: CircuitOpDef, attrs: CAttrs): CAttrs {
  const out: Record<string, CAttrValue> = {};
  for (const [key, value] of Object.entries(attrs)) {
    const spec = def.attrs[key];
    if (spec === undefined) typeError(`${def.name} has no attribute '${key}'`);
    if (!attrMatches(spec.kind, value)) typeError(`${def.name} attribute '${key}' must be ${describeKind(spec.kind)}, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  for (const [key, spec] of Object.entries(def.attrs)) {
    if (key in out) continue;
    if (spec.default === undefined) typeError(`${def.name} requires attribute '${key}' (${describeKind(spec.kind)})`);
    out[key] = spec.default;
  }
  return out;
}

/** Checks input arity and kinds, then applies the op's rule. Throws typeError on failure. */
export function inferInstruction(def: CircuitOpDef, inputs: readonly RegType[], attrs: CAttrs, f: number): RegType[] {
  if (def.variadic) {
    if (inputs.length < 1) typeError(`${def.name} needs at least one input`);
  } else if (inputs.length !== def.inputs.length) {
    typeError(`${def.name} takes ${def.inputs.length} input(s), got ${inputs.length}`);
  }
  inputs.forEach((t, i) => {
    const allowed = def.variadic ? def.inputs[0]! : def.inputs[i]!;
    if (!allowed.includes(t.kind)) typeError(`${def.name} input ${i} must be ${allowed.join(' or ')}, got ${t.kind}`);
  });
  return def.infer(inputs, attrs, f);
}
