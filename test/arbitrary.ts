// fast-check arbitraries of random small well-typed graphs, for property tests of the text
// form and of passes.
//
// A graph is generated from a "tape" of random naturals (fc.array(fc.nat())): a
// deterministic interpreter reads choices from it, so fast-check's shrinking of the tape
// (shorter, smaller numbers) shrinks the graph towards fewer and simpler nodes. Every op node
// is made with build(): a candidate the op's type rule rejects is skipped, so the graphs are
// well-typed by construction and the generator follows the op table as ops are added.

import fc from 'fast-check';
import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Graph, type GraphMeta, type GraphOutput } from '../ir/graph.ts';
import { constNode, inputNode, type Attrs, type ConstData, type Loc, type Node } from '../ir/node.ts';
import { findOp } from '../ir/op.ts';
import { Tensor, allocStorage } from '../ir/tensor.ts';
import { ELEM_TYPES, isFloatType, numel, type ElemType, type Shape, type ValueType, type Visibility } from '../ir/types.ts';

export interface GraphArbOptions {
  /** Most op nodes tried per graph (default 10). */
  maxSteps?: number;
  /** Most graph inputs (default 3; at least one). */
  maxInputs?: number;
  /**
   * `any` (default): constants of every data form, elided ones included. `concrete`: every
   * constant has its data, so the evaluator can run the graph.
   */
  constData?: 'any' | 'concrete';
  /** Element types of inputs and free constants (default: every element type). */
  elems?: readonly ElemType[];
  /** Only these ops (default: every op in GENERATED_OPS that is registered). */
  ops?: readonly string[];
  /** Names with quotes, spaces, unicode, keywords... (default true). */
  oddNames?: boolean;
  /** Shapes may have zero-size dims (default true). */
  emptyDims?: boolean;
}

/** Reads choices from the tape; an exhausted tape answers 0 (the simplest choice). */
export class Tape {
  #i = 0;
  readonly #xs: readonly number[] | (() => number);
  /** From recorded choices, or from a generator function. */
  constructor(xs: readonly number[] | (() => number)) {
    this.#xs = xs;
  }
  next(): number {
    const xs = this.#xs;
    if (typeof xs === 'function') return xs();
    return this.#i < xs.length ? xs[this.#i++]! : 0;
  }
  /** 0 .. n-1. */
  int(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }
  /** lo .. hi inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  /** True with probability about p. */
  chance(p: number): boolean {
    return this.int(1000) < p * 1000;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  u32(): number {
    return (this.next() ^ (this.next() << 16)) >>> 0;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
}

// ---------------------------------------------------------------------------------------
// Names

const ODD_VALUE_NAMES = ['onnx::Reshape_0', 'input.1', '0', '7', 'a b', '"q"', 'ünï', '%', '', '\n', 'graph', 'x-y', '12abc', '$1'];
const PLAIN_VALUE_NAMES = ['x', 'input_ids', 'attention_mask', 'token_type_ids', 'mask', 'y'];
const ODD_LOC_NAMES = [
  'a"b\\c',
  'tab\there',
  'line\nbreak',
  '名前',
  '😀 emoji',
  '\u2028',
  '',
  ' ',
  'loc(layer = 3)',
  '#not a comment',
  '// nor this',
  '\u0000nul',
];
const PLAIN_LOC_NAMES = [
  '/bert/embeddings/word_embeddings/Gather',
  '/bert/encoder/layer.0/attention/self/MatMul',
  'bert.encoder.layer.1.attention.self.query.weight',
  'onnx::MatMul_123',
];
const ODD_OUTPUT_NAMES = ['graph', 'input', 'inf', 'true', '1abc', 'a.b', 'out 2', 'ü', '"', ''];
const PLAIN_OUTPUT_NAMES = ['logits', 'y', 'last_hidden_state', 'pooler_output'];
const GRAPH_NAMES = ['g', 'bert_tiny', 'bert-tiny', 'graph', 'x y', ''];

// ---------------------------------------------------------------------------------------
// Constants

const F32_SPECIALS = [0, -0, 1, -1, 0.1, 1 / 3, 8, 1e-45, 1.1754943508222875e-38, 3.4028234663852886e38, NaN, Infinity, -Infinity, -3.4e38, 65504];
const F64_SPECIALS = [0, -0, 1, -1, 0.1, 1 / 3, 5e-324, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity, 2 ** 53 + 2, -1e300];

function randomElement(tape: Tape, elem: ElemType): number | bigint {
  const special = tape.chance(0.4);
  switch (elem) {
    case 'f32': {
      if (special) return tape.pick(F32_SPECIALS);
      const v = new Float32Array(new Uint32Array([tape.u32()]).buffer)[0]!;
      return tape.chance(0.5) ? v : Math.fround((tape.int(2001) - 1000) / tape.range(1, 64));
    }
    case 'f64': {
      if (special) return tape.pick(F64_SPECIALS);
      if (tape.chance(0.5)) return (tape.int(2001) - 1000) / tape.range(1, 64);
      return new Float64Array(new BigUint64Array([tape.u64()]).buffer)[0]!;
    }
    case 'bool':
      return tape.int(2);
    case 'i8':
      return special ? tape.pick([-128, 127, 0, -1]) : tape.int(256) - 128;
    case 'u8':
      return special ? tape.pick([0, 255]) : tape.int(256);
    case 'i32':
      return special ? tape.pick([-(2 ** 31), 2 ** 31 - 1, 0, -1]) : tape.u32() | 0;
    case 'u32':
      return special ? tape.pick([0, 2 ** 32 - 1]) : tape.u32();
    case 'i64':
      return special ? tape.pick([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]) : BigInt.asIntN(64, tape.u64());
    case 'u64':
    case 'ring64':
      return special ? tape.pick([0n, 2n ** 64n - 1n, 2n ** 63n]) : tape.u64();
  }
}

/** A tape of pseudo-random numbers from one seed (mulberry32), so tensor data costs one tape entry. */
function seededTape(seed: number): Tape {
  let a = seed >>> 0;
  return new Tape(() => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 0x7fffffff;
  });
}

function randomTensor(outer: Tape, elem: ElemType, shape: Shape, splat: boolean): Tensor {
  const tape = seededTape(outer.next());
  const n = numel(shape);
  const data = allocStorage(elem, n);
  const first = randomElement(tape, elem);
  for (let i = 0; i < n; i++) (data as { [k: number]: number | bigint })[i] = splat ? first : randomElement(tape, elem);
  return new Tensor(elem, shape, data);
}

// ---------------------------------------------------------------------------------------
// Generation context

class Gen {
  readonly tape: Tape;
  readonly opts: Required<GraphArbOptions>;
  readonly pool: Node[] = [];

  constructor(tape: Tape, opts: Required<GraphArbOptions>) {
    this.tape = tape;
    this.opts = opts;
  }

  loc(): Loc {
    const t = this.tape;
    const loc: { name?: string; layer?: number } = {};
    if (t.chance(0.6)) loc.name = this.opts.oddNames && t.chance(0.3) ? t.pick(ODD_LOC_NAMES) : t.pick(PLAIN_LOC_NAMES);
    if (t.chance(0.3)) loc.layer = t.int(24);
    return loc;
  }

  dim(): number {
    if (this.opts.emptyDims && this.tape.chance(0.03)) return 0;
    return this.tape.range(1, 4);
  }

  shape(maxRank = 3): number[] {
    const rank = this.tape.int(maxRank + 1);
    return Array.from({ length: rank }, () => this.dim());
  }

  elem(): ElemType {
    return this.tape.pick(this.opts.elems);
  }

  /** A new constant of the given type; its data form is random. */
  constant(elem: ElemType, shape: Shape, vis?: Visibility): Node {
    const t = this.tape;
    const visibility = vis ?? (t.chance(0.5) ? 'server' : 'public');
    const form = t.int(10);
    let data: ConstData;
    if (form === 9 && this.opts.constData === 'any') data = { kind: 'elided' };
    else data = randomTensor(t, elem, shape, form === 7 || form === 8);
    const node = constNode(data, { elem, shape: [...shape], vis: visibility }, this.loc());
    this.pool.push(node);
    return node;
  }

  /** A free-standing constant with a random type and data form (big, scalar, empty...). */
  freeConstant(): Node {
    const t = this.tape;
    const elem = this.elem();
    const kind = t.int(6);
    const shape = kind === 0 ? [] : kind === 1 ? [t.range(17, 40)] : kind === 2 ? [t.range(3, 6), t.range(4, 8)] : this.shape();
    return this.constant(elem, shape);
  }

  /** An existing value matching `pred`, or undefined. */
  existing(pred: (n: Node) => boolean): Node | undefined {
    const candidates = this.pool.filter(pred);
    return candidates.length ? this.tape.pick(candidates) : undefined;
  }

  /** An existing value matching `pred` (usually), else a new constant of type `make()`. */
  value(pred: (n: Node) => boolean, make: () => { elem: ElemType; shape: Shape }): Node {
    const found = this.tape.chance(0.75) ? this.existing(pred) : undefined;
    if (found !== undefined) return found;
    const { elem, shape } = make();
    return this.constant(elem, shape);
  }

  floatValue(minRank = 0): Node {
    return this.value(
      (n) => isFloatType(n.type.elem) && n.type.shape.length >= minRank,
      () => ({ elem: this.tape.chance(0.8) ? 'f32' : 'f64', shape: this.atLeastRank(minRank) }),
    );
  }

  anyValue(minRank = 0): Node {
    return this.value(
      (n) => n.type.shape.length >= minRank,
      () => ({ elem: this.elem(), shape: this.atLeastRank(minRank) }),
    );
  }

  atLeastRank(minRank: number): number[] {
    const s = this.shape();
    while (s.length < minRank) s.push(this.dim());
    return s;
  }

  /** A shape that broadcasts with `shape`: a suffix of it with some dims set to 1, or extra leading dims. */
  broadcastPartner(shape: Shape): number[] {
    const t = this.tape;
    const drop = t.int(shape.length + 1);
    const out = shape.slice(drop).map((d) => (t.chance(0.3) ? 1 : d));
    if (drop === 0 && t.chance(0.2)) out.unshift(t.range(1, 3));
    return out;
  }

  /** A value of element type `elem` whose shape broadcasts with `shape`. */
  partner(elem: ElemType, shape: Shape): Node {
    const t = this.tape;
    if (t.chance(0.5)) {
      const found = this.existing((n) => n.type.elem === elem && broadcasts(n.type.shape, shape));
      if (found !== undefined) return found;
    }
    return this.constant(elem, this.broadcastPartner(shape));
  }

  axis(rank: number): number {
    if (rank === 0) return 0;
    const a = this.tape.int(rank);
    return this.tape.chance(0.3) ? a - rank : a;
  }

  /** Builds and records a node, or returns undefined when the type rule rejects it. */
  tryBuild(op: string, inputs: readonly Node[], attrs: Attrs = {}): Node | undefined {
    try {
      const node = build(op, inputs, attrs, this.loc());
      this.pool.push(node);
      return node;
    } catch (e) {
      if (e instanceof Ig3dcError) return undefined;
      throw e;
    }
  }
}

function broadcasts(a: Shape, b: Shape): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

function permutation(tape: Tape, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = tape.int(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** A random shape with `n` elements. */
function factorShape(tape: Tape, n: number): number[] {
  if (n === 0) return tape.pick([[0], [2, 0], [0, 3]]);
  const dims: number[] = [];
  let rest = n;
  while (rest > 1 && dims.length < 3) {
    const divisors: number[] = [];
    for (let d = 2; d <= rest; d++) if (rest % d === 0) divisors.push(d);
    const d = tape.pick(divisors);
    dims.push(d);
    rest /= d;
  }
  if (rest > 1) dims.push(rest);
  if (tape.chance(0.3)) dims.splice(tape.int(dims.length + 1), 0, 1);
  return permutation(tape, dims.length).map((i) => dims[i]!);
}

type OpGen = (g: Gen, op: string) => Node | undefined;

const unaryFloat: OpGen = (g, op) => g.tryBuild(op, [g.floatValue()]);
const binaryArith: OpGen = (g, op) => {
  const a = g.value(
    (n) => n.type.elem !== 'bool',
    () => ({ elem: g.tape.pick(['f32', 'f64', 'i32', 'i64', 'u8'] as const), shape: g.shape() }),
  );
  return g.tryBuild(op, g.tape.chance(0.5) ? [a, g.partner(a.type.elem, a.type.shape)] : [g.partner(a.type.elem, a.type.shape), a]);
};
const binaryFloat: OpGen = (g, op) => {
  const a = g.floatValue();
  return g.tryBuild(op, [a, g.partner(a.type.elem, a.type.shape)]);
};
const compare: OpGen = (g, op) => {
  const a = g.value(
    (n) => n.type.elem !== 'bool',
    () => ({ elem: g.tape.pick(['f32', 'i64', 'i32'] as const), shape: g.shape() }),
  );
  return g.tryBuild(op, [a, g.partner(a.type.elem, a.type.shape)]);
};
const boolValue = (g: Gen): Node => g.value((n) => n.type.elem === 'bool', () => ({ elem: 'bool', shape: g.shape() }));
const logical: OpGen = (g, op) => {
  const a = boolValue(g);
  return g.tryBuild(op, [a, g.partner('bool', a.type.shape)]);
};

/** Op name -> how to make a random well-typed node of it. */
const GENERATORS: Record<string, OpGen> = {
  Relu: unaryFloat,
  Neg: unaryFloat,
  Abs: unaryFloat,
  Sqrt: unaryFloat,
  Exp: unaryFloat,
  Log: unaryFloat,
  Erf: unaryFloat,
  Tanh: unaryFloat,
  Sigmoid: unaryFloat,
  Reciprocal: unaryFloat,
  Floor: unaryFloat,
  Ceil: unaryFloat,
  Identity: (g, op) => g.tryBuild(op, [g.anyValue()]),
  Not: (g, op) => g.tryBuild(op, [boolValue(g)]),
  Add: binaryArith,
  Sub: binaryArith,
  Mul: binaryArith,
  Div: binaryFloat,
  Pow: binaryFloat,
  Equal: compare,
  Less: compare,
  Greater: compare,
  LessOrEqual: compare,
  GreaterOrEqual: compare,
  And: logical,
  Or: logical,
  Xor: logical,
  Max: (g, op) => {
    const a = g.floatValue();
    const rest = Array.from({ length: g.tape.int(3) }, () => g.partner(a.type.elem, a.type.shape));
    return g.tryBuild(op, [a, ...rest]);
  },
  Min: (g, op) => {
    const a = g.floatValue();
    const rest = Array.from({ length: g.tape.int(3) }, () => g.partner(a.type.elem, a.type.shape));
    return g.tryBuild(op, [a, ...rest]);
  },
  Where: (g, op) => {
    const x = g.anyValue();
    const y = g.partner(x.type.elem, x.type.shape);
    const cond = g.tape.chance(0.5) ? g.constant('bool', g.broadcastPartner(x.type.shape)) : g.partner('bool', x.type.shape);
    return g.tryBuild(op, [cond, x, y]);
  },
  Cast: (g, op) => g.tryBuild(op, [g.anyValue()], { to: g.tape.pick(ELEM_TYPES.filter((e) => e !== 'ring64')) }),
  Clip: (g, op) => {
    const t = g.tape;
    const attrs: Record<string, number> = {};
    if (t.chance(0.5)) attrs.min = t.pick([-1, 0, -0.5, -6, 1e-5]);
    if (t.chance(0.5)) attrs.max = t.pick([1, 6, 0.5, 3.5e38]);
    return g.tryBuild(op, [g.floatValue()], attrs);
  },
  MatMul: (g, op) => {
    const t = g.tape;
    const a = g.floatValue(1);
    const k = a.type.shape[a.type.shape.length - 1]!;
    const form = t.int(3);
    const shape = form === 0 ? [k] : form === 1 ? [k, t.range(1, 4)] : [...a.type.shape.slice(0, -2).map(() => 1), k, t.range(1, 4)];
    const b = g.value((n) => n.type.elem === a.type.elem && n.type.shape.length >= 1 && n.type.shape[0] === k && n.type.shape.length <= 2, () => ({ elem: a.type.elem, shape }));
    return g.tryBuild(op, [a, b]);
  },
  Gemm: (g, op) => {
    const t = g.tape;
    const transA = t.int(2);
    const transB = t.int(2);
    const [m, k, n] = [t.range(1, 4), t.range(1, 4), t.range(1, 4)];
    const elem = t.chance(0.8) ? 'f32' : 'f64';
    const a = g.value((x) => x.type.elem === elem && x.type.shape.length === 2, () => ({ elem, shape: transA ? [k, m] : [m, k] }));
    const [ra, ca] = a.type.shape as [number, number];
    const kk = transA ? ra : ca;
    const mm = transA ? ca : ra;
    const b = g.constant(elem, transB ? [n, kk] : [kk, n]);
    const inputs = [a, b];
    if (t.chance(0.6)) inputs.push(g.constant(elem, t.pick([[n], [mm, n], [], [1, n], [mm, 1]])));
    const attrs: Record<string, number> = { transA, transB };
    if (t.chance(0.3)) attrs.alpha = t.pick([0.5, 2, 1e-3]);
    if (t.chance(0.3)) attrs.beta = t.pick([0.5, 0, 3]);
    return g.tryBuild(op, inputs, attrs);
  },
  Reshape: (g, op) => {
    const x = g.anyValue();
    return g.tryBuild(op, [x], { shape: factorShape(g.tape, numel(x.type.shape)) });
  },
  Transpose: (g, op) => {
    const x = g.anyValue();
    return g.tryBuild(op, [x], g.tape.chance(0.3) ? {} : { perm: permutation(g.tape, x.type.shape.length) });
  },
  Softmax: (g, op) => {
    const x = g.floatValue(1);
    return g.tryBuild(op, [x], g.tape.chance(0.3) ? {} : { axis: g.axis(x.type.shape.length) });
  },
  LogSoftmax: (g, op) => {
    const x = g.floatValue(1);
    return g.tryBuild(op, [x], g.tape.chance(0.3) ? {} : { axis: g.axis(x.type.shape.length) });
  },
  Concat: (g, op) => {
    const x = g.anyValue(1);
    const rank = x.type.shape.length;
    const axis = g.axis(rank);
    const a = axis < 0 ? axis + rank : axis;
    const more = Array.from({ length: g.tape.int(3) }, () => {
      const shape = [...x.type.shape];
      shape[a] = g.tape.range(1, 3);
      return g.tape.chance(0.3) ? x : g.constant(x.type.elem, shape);
    });
    return g.tryBuild(op, [x, ...more], { axis });
  },
  Slice: (g, op) => {
    const t = g.tape;
    const x = g.anyValue(1);
    const rank = x.type.shape.length;
    const axes = permutation(t, rank).slice(0, t.range(1, rank));
    const starts: number[] = [];
    const ends: number[] = [];
    const steps: number[] = [];
    for (const a of axes) {
      const d = x.type.shape[a]!;
      const step = t.pick([1, 1, 2, -1]);
      if (step > 0) {
        const s = t.int(d + 1);
        starts.push(s);
        ends.push(t.range(s, d));
      } else {
        const s = d - 1 - t.int(Math.max(d, 1));
        starts.push(s);
        ends.push(t.range(-1, Math.max(s, -1)));
      }
      steps.push(step);
    }
    const attrs: Record<string, number[]> = { starts, ends };
    if (t.chance(0.7) || axes.some((a, i) => a !== i)) attrs.axes = axes;
    if (t.chance(0.5) || steps.some((s) => s !== 1)) attrs.steps = steps;
    return g.tryBuild(op, [x], attrs);
  },
  Gather: (g, op) => {
    const t = g.tape;
    const x = g.anyValue(1);
    const rank = x.type.shape.length;
    const axis = t.int(rank);
    const d = x.type.shape[axis]!;
    const ishape = g.shape(2);
    const ielem = t.chance(0.7) ? 'i64' : 'i32';
    const n = numel(ishape);
    const values = Array.from({ length: n }, () => (d === 0 ? 0 : t.int(2 * d) - d));
    const idx = constNode(
      Tensor.from(ielem, ishape, ielem === 'i64' ? values.map(BigInt) : values),
      { elem: ielem, shape: ishape, vis: t.chance(0.5) ? 'public' : 'client' },
      g.loc(),
    );
    g.pool.push(idx);
    return g.tryBuild(op, [x, idx], axis === 0 && t.chance(0.5) ? {} : { axis });
  },
  Expand: (g, op) => {
    const t = g.tape;
    const x = g.anyValue();
    const shape = x.type.shape.map((d) => (d === 1 ? t.range(1, 3) : t.chance(0.2) ? 1 : d));
    if (t.chance(0.3)) shape.unshift(t.range(1, 3));
    return g.tryBuild(op, [x], { shape });
  },
  Tile: (g, op) => {
    const x = g.anyValue();
    return g.tryBuild(op, [x], { repeats: x.type.shape.map(() => g.tape.range(g.opts.emptyDims && g.tape.chance(0.05) ? 0 : 1, 3)) });
  },
  Shape: (g, op) => {
    const t = g.tape;
    const x = g.anyValue();
    const rank = x.type.shape.length;
    const attrs: Record<string, number> = {};
    if (t.chance(0.3)) attrs.start = t.range(-rank, rank);
    if (t.chance(0.3)) attrs.end = t.range(-rank, rank);
    return g.tryBuild(op, [x], attrs);
  },
  Range: (g, op) => {
    const t = g.tape;
    const elem = t.pick(['i64', 'i32', 'f32'] as const);
    const start = t.range(-5, 5);
    const delta = t.pick([1, 2, -1, 3]);
    const limit = start + delta * t.range(0, 6);
    const size = Math.max(Math.ceil((limit - start) / delta), 0);
    const scalar = (v: number): Node => {
      const n = constNode(Tensor.scalar(elem, elem === 'i64' ? BigInt(v) : v), { elem, shape: [], vis: 'public' }, g.loc());
      g.pool.push(n);
      return n;
    };
    return g.tryBuild(op, [scalar(start), scalar(limit), scalar(delta)], { size });
  },
  LayerNormalization: (g, op) => {
    const t = g.tape;
    const x = g.floatValue(1);
    const rank = x.type.shape.length;
    const axis = g.axis(rank);
    const a = axis < 0 ? axis + rank : axis;
    const inner = x.type.shape.slice(a);
    const inputs = [x, g.constant(x.type.elem, inner)];
    if (t.chance(0.6)) inputs.push(g.constant(x.type.elem, inner));
    const attrs: Record<string, number> = {};
    if (t.chance(0.6)) attrs.axis = axis;
    if (t.chance(0.4)) attrs.epsilon = t.pick([1e-12, 1e-6, 0.001]);
    return g.tryBuild(op, inputs, attrs);
  },
};

function reduceGen(g: Gen, op: string): Node | undefined {
  const t = g.tape;
  const x = g.value(
    (n) => n.type.elem !== 'bool',
    () => ({ elem: t.pick(['f32', 'f64', 'i64'] as const), shape: g.atLeastRank(1) }),
  );
  const rank = x.type.shape.length;
  const axes = permutation(t, rank)
    .slice(0, t.int(rank + 1))
    .map((a) => (t.chance(0.2) ? a - rank : a));
  const attrs: Record<string, number | number[]> = { axes };
  if (t.chance(0.5)) attrs.keepdims = t.int(2);
  return g.tryBuild(op, [x], attrs);
}
for (const op of ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin']) GENERATORS[op] = reduceGen;

/** The ops the generator knows how to type (whether or not they are registered yet). */
export const GENERATED_OPS: readonly string[] = Object.keys(GENERATORS).sort();

/** The generated ops that are registered now. */
export function availableOps(only?: readonly string[]): string[] {
  return GENERATED_OPS.filter((op) => findOp(op) !== undefined && (only === undefined || only.includes(op)));
}

function defaults(options: GraphArbOptions): Required<GraphArbOptions> {
  return {
    maxSteps: options.maxSteps ?? 10,
    maxInputs: options.maxInputs ?? 3,
    constData: options.constData ?? 'any',
    elems: options.elems ?? ELEM_TYPES,
    ops: options.ops ?? availableOps(),
    oddNames: options.oddNames ?? true,
    emptyDims: options.emptyDims ?? true,
  };
}

/** The graph a tape describes (deterministic; exported so a failing tape can be replayed). */
export function graphFromTape(xs: readonly number[], options: GraphArbOptions = {}): Graph {
  const opts = defaults(options);
  const tape = new Tape(xs);
  const g = new Gen(tape, opts);
  const ops = opts.ops.filter((op) => findOp(op) !== undefined && GENERATORS[op] !== undefined);

  const inputs: Node[] = [];
  const usedNames = new Set<string>();
  const nInputs = tape.range(1, Math.max(1, opts.maxInputs));
  for (let i = 0; i < nInputs; i++) {
    let name = opts.oddNames && tape.chance(0.3) ? tape.pick(ODD_VALUE_NAMES) : tape.pick(PLAIN_VALUE_NAMES);
    while (usedNames.has(name)) name += '_';
    usedNames.add(name);
    const type: ValueType = { elem: g.elem(), shape: g.shape(), vis: tape.chance(0.8) ? 'client' : tape.pick(['server', 'public', 'shared'] as const) };
    // Float inputs are the common case and give the op generators something to use.
    const node = inputNode(name, i === 0 && tape.chance(0.7) ? { ...type, elem: 'f32' } : type, tape.chance(0.2) ? g.loc() : {});
    inputs.push(node);
    g.pool.push(node);
  }

  let last: Node | undefined;
  const steps = tape.range(1, Math.max(1, opts.maxSteps));
  for (let s = 0; s < steps; s++) {
    if (ops.length === 0 || tape.chance(0.15)) {
      last = g.freeConstant();
      continue;
    }
    const op = tape.pick(ops);
    last = GENERATORS[op]!(g, op) ?? last;
  }

  const outputs: GraphOutput[] = [];
  const outNames = new Set<string>();
  const addOutput = (node: Node): void => {
    let name = opts.oddNames && tape.chance(0.3) ? tape.pick(ODD_OUTPUT_NAMES) : tape.pick(PLAIN_OUTPUT_NAMES);
    while (outNames.has(name)) name += '_';
    outNames.add(name);
    outputs.push({ name, node });
  };
  // The values nothing uses become outputs (most recent first, a few at most), so little of
  // what was built is dead; sometimes another value is an output too.
  const used = new Set<Node>(g.pool.flatMap((n) => n.inputs));
  const sinks = g.pool.filter((n) => !used.has(n) && !inputs.includes(n)).reverse();
  for (const n of sinks.slice(0, 4)) addOutput(n);
  if (outputs.length === 0) addOutput(last ?? inputs[0]!);
  if (tape.chance(0.3)) addOutput(tape.pick(g.pool));

  const meta: { source?: string; producer?: string; opset?: number } = {};
  if (tape.chance(0.5)) meta.source = tape.pick(['bert-tiny.onnx', 'models/a b.onnx', 'x"y.onnx']);
  if (tape.chance(0.5)) meta.producer = tape.pick(['pytorch', 'tf2onnx 1.9']);
  if (tape.chance(0.5)) meta.opset = tape.range(11, 18);
  const name = opts.oddNames ? tape.pick(GRAPH_NAMES) : 'g';
  return new Graph(name, inputs, outputs, meta as GraphMeta);
}

/**
 * A tape of uniform naturals. Unbiased, because small numbers would make every `chance`
 * true; the length is drawn over its whole range, shrinking still goes towards short tapes
 * of zeros.
 */
export function tapeArb(maxLength: number): fc.Arbitrary<number[]> {
  return fc.array(fc.noBias(fc.nat()), { minLength: 1, maxLength, size: 'max' });
}

/** Random small well-typed graphs (see GraphArbOptions). */
export function arbGraph(options: GraphArbOptions = {}): fc.Arbitrary<Graph> {
  const maxLength = 60 * Math.max(1, options.maxSteps ?? 10) + 100;
  return tapeArb(maxLength).map((xs) => graphFromTape(xs, options));
}

/** A random graph and random tensors for its inputs. */
export function arbGraphWithInputs(options: GraphArbOptions = {}): fc.Arbitrary<{ graph: Graph; inputs: Map<string, Tensor> }> {
  return fc.tuple(arbGraph(options), tapeArb(400)).map(([graph, xs]) => ({ graph, inputs: inputsFromTape(graph, xs) }));
}

/** Random tensors for every graph input, read from a tape. */
export function inputsFromTape(graph: Graph, xs: readonly number[]): Map<string, Tensor> {
  const tape = new Tape(xs);
  const out = new Map<string, Tensor>();
  for (const i of graph.inputs) out.set(i.name!, randomTensor(tape, i.type.elem, i.type.shape, false));
  return out;
}
