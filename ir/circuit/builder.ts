// CircuitBuilder: how the backend's protocol library emits circuit instructions.
//
// Every emit checks kinds, shapes and scales at once against the op table, so a protocol bug
// is reported where it is made (with the provenance of the IR node being lowered), and stamps
// the current provenance (set with withProvenance) on the instruction.

import { Ig3dcError } from '../diagnostics.ts';
import type { Tensor } from '../tensor.ts';
import { isFloatType, numel, type Shape } from '../types.ts';
import { DEFAULT_FRACTIONAL_BITS, inputsOf, type Circuit, type CircuitOutput } from './circuit.ts';
import { encodeFixedArray, encodeIntArray } from './fixed.ts';
import { completeCircuitAttrs, findCircuitOp, inferInstruction } from './ops.ts';
import { NO_PROVENANCE, type CAttrs, type InputEncoding, type Instruction, type Party, type Provenance, type Reg, type RegType } from './types.ts';
import { verifyCircuit } from './verify.ts';

export interface BuilderOptions {
  readonly name?: string;
  /** Fractional bits (default 16). */
  readonly f?: number;
  /** `trunc` opens a masked value and never wraps (gates/truncation.ts), instead of shifting each share locally. */
  readonly exactTruncation?: boolean;
}

export interface InputOptions {
  readonly encoding?: InputEncoding;
  /** Number of classes of a onehot encoding (appended as the last axis). */
  readonly classes?: number;
  /** Kept by its owner alone, unshared (an own0 / own1 register: the operand of a cross product). */
  readonly held?: boolean;
}

/** Dealer instructions: correlated randomness (no P0-P1 communication). */
export interface DealerOps {
  /** (a, b, c = a*b); scales default to (f, f), c at their sum. */
  beaver(shape: Shape, scales?: readonly [number, number]): [Reg, Reg, Reg];
  /** (r, r*r); r at scale (default f), r*r at twice that. */
  beaverSquare(shape: Shape, scale?: number): [Reg, Reg];
  /** (A [..batch,m,k], B [..batch,k,n], C = A@B). */
  beaverMatmul(m: number, k: number, n: number, batch?: Shape, scales?: readonly [number, number]): [Reg, Reg, Reg];
  /** (a, b, c = a AND b) on 64-bit XOR-shared words. */
  beaverAnd(shape: Shape): [Reg, Reg, Reg];
  /** (r_a, r_b): one random bit, arithmetically and XOR-shared. */
  randBit(shape: Shape): [Reg, Reg];
  /** (r, key): an FSS comparison's input mask (at `scale`) and the parties' DCF keys, ignoring `drop` low bits (gates/fss.ts). */
  fssKey(shape: Shape, scale: number, bits: number, mode: 'ltz' | 'relu', drop?: number): [Reg, Reg, Reg];
  /** (m', m >> bits, msb(m)) with m = m' + 2^62 - 1: exact truncation's mask and its parts (gates/truncation.ts). */
  truncPair(shape: Shape, scale: number, bits: number): [Reg, Reg, Reg];
  /** (A [..lead,k] held by P1, B [k,n] held by P0): a cross product's masks (gates/cross.ts). */
  crossMask(lead: Shape, k: number, n: number, scales: readonly [number, number]): [Reg, Reg];
  /** C = A@B shared, for a cross product's masks A and B (gates/cross.ts). */
  crossTriple(a: Reg, b: Reg): Reg;
}

export class CircuitBuilder {
  readonly name: string;
  readonly f: number;
  readonly dealer: DealerOps;
  #exactTruncation: boolean;
  #registers: RegType[] = [];
  #instructions: Instruction[] = [];
  #outputs: CircuitOutput[] = [];
  /** Per register: 1 when it depends on a client (party 1) input. */
  #client: number[] = [];
  #prov: Provenance = NO_PROVENANCE;
  /**
   * Per register: a proven bound on its value (reals, [lo, hi]) where the lowering knows one
   * (range analysis, or a protocol that knows its result's range); movement and add/sub/neg
   * carry it to their results. FSS comparisons read it to choose their bit width.
   */
  #bounds: (readonly [number, number] | undefined)[] = [];

  constructor(opts: BuilderOptions = {}) {
    this.name = opts.name ?? 'circuit';
    this.f = opts.f ?? DEFAULT_FRACTIONAL_BITS;
    this.#exactTruncation = opts.exactTruncation ?? false;
    const f = this.f;
    this.dealer = {
      beaver: (shape, scales = [f, f]) => this.#three('beaver', { shape: [...shape], scales: [...scales] }),
      beaverSquare: (shape, scale = f) => this.#two('beaver_square', { shape: [...shape], scale }),
      beaverMatmul: (m, k, n, batch = [], scales = [f, f]) =>
        this.#three('beaver_matmul', { m, k, n, batch: [...batch], scales: [...scales] }),
      beaverAnd: (shape) => this.#three('beaver_and', { shape: [...shape] }),
      randBit: (shape) => this.#two('rand_bit', { shape: [...shape] }),
      fssKey: (shape, scale, bits, mode, drop = 0) => this.#three('fss_key', { shape: [...shape], scale, bits, mode, drop }),
      truncPair: (shape, scale, bits) => this.#three('trunc_pair', { shape: [...shape], scale, bits }),
      crossMask: (lead, k, n, scales) => this.#two('cross_mask', { lead: [...lead], k, n, scales: [...scales] }),
      crossTriple: (a, b) => this.#one('cross_triple', [a, b]),
    };
  }

  /** The provenance stamped on instructions emitted now. */
  get provenance(): Provenance {
    return this.#prov;
  }

  /** True when the register depends on a client input (so opening it is online, not preprocessing). */
  dependsOnClient(r: Reg): boolean {
    return this.#client[r.id] === 1;
  }

  /** Records a proven bound [lo, hi] (reals) on r's value, intersected with one already known; returns r. */
  bound(r: Reg, lo: number, hi: number): Reg {
    const old = this.#bounds[r.id];
    const b: [number, number] = old === undefined ? [lo, hi] : [Math.max(lo, old[0]), Math.min(hi, old[1])];
    if (Number.isFinite(b[0]) && Number.isFinite(b[1]) && b[0] <= b[1]) this.#bounds[r.id] = b;
    return r;
  }

  /** The proven bound on r's value (reals), if any. */
  boundOf(r: Reg): readonly [number, number] | undefined {
    return this.#bounds[r.id];
  }

  /** A constant's bound: its least and greatest element (reals). */
  #constBound(r: Reg, data: BigUint64Array): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = Number(BigInt.asIntN(64, data[i]!));
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.#bounds[r.id] = [lo / 2 ** r.scale, hi / 2 ** r.scale];
  }

  /** A result's bound from its inputs' (movement ops keep it; add, sub and neg by interval arithmetic). */
  #carryBound(op: string, inputs: readonly Reg[], out: Reg): void {
    const bs = inputs.map((r) => this.#bounds[r.id]);
    let b: readonly [number, number] | undefined;
    switch (op) {
      case 'reshape':
      case 'transpose':
      case 'slice':
      case 'expand':
        b = bs[0];
        break;
      case 'concat':
        if (bs.every((x) => x !== undefined)) b = [Math.min(...bs.map((x) => x![0])), Math.max(...bs.map((x) => x![1]))];
        break;
      case 'add':
        if (bs[0] !== undefined && bs[1] !== undefined) b = [bs[0][0] + bs[1][0], bs[0][1] + bs[1][1]];
        break;
      case 'sub':
        if (bs[0] !== undefined && bs[1] !== undefined) b = [bs[0][0] - bs[1][1], bs[0][1] - bs[1][0]];
        break;
      case 'neg':
        if (bs[0] !== undefined) b = [-bs[0][1], -bs[0][0]];
        break;
      case 'add_pub':
        if (bs[0] !== undefined && bs[1] !== undefined) b = [bs[0][0] + bs[1][0], bs[0][1] + bs[1][1]];
        break;
      case 'sub_pub':
        if (bs[0] !== undefined && bs[1] !== undefined) b = [bs[0][0] - bs[1][1], bs[0][1] - bs[1][0]];
        break;
      case 'rsub_pub':
        if (bs[0] !== undefined && bs[1] !== undefined) b = [bs[1][0] - bs[0][1], bs[1][1] - bs[0][0]];
        break;
      case 'mul_pub':
        if (bs[0] !== undefined && bs[1] !== undefined) {
          const ps = [bs[0][0] * bs[1][0], bs[0][0] * bs[1][1], bs[0][1] * bs[1][0], bs[0][1] * bs[1][1]];
          b = [Math.min(...ps), Math.max(...ps)];
        }
        break;
      case 'trunc':
        // the same real value, within one ulp of the new scale
        if (bs[0] !== undefined) b = [bs[0][0] - 2 ** -out.scale, bs[0][1] + 2 ** -out.scale];
        break;
      case 'reduce_sum':
        if (bs[0] !== undefined) {
          const x = inputs[0]!;
          const n = numel(x.shape) / Math.max(1, numel(out.shape));
          b = [Math.min(bs[0][0] * n, bs[0][0]), Math.max(bs[0][1] * n, bs[0][1])];
        }
        break;
    }
    if (b !== undefined && Number.isFinite(b[0]) && Number.isFinite(b[1])) this.#bounds[out.id] = b;
  }

  /** Runs `fn` with provenance fields overridden (nested calls merge; restored afterwards). */
  withProvenance<T>(p: Partial<Provenance>, fn: () => T): T {
    const saved = this.#prov;
    this.#prov = { ...saved, ...p };
    try {
      return fn();
    } finally {
      this.#prov = saved;
    }
  }

  /** Whether `trunc` emits exact truncation (else local). */
  get exactTruncation(): boolean {
    return this.#exactTruncation;
  }

  /** Runs fn with `trunc` exact (or local) whatever the builder's default, e.g. for the products whose values are large enough that a local truncation would wrap too often. */
  withExactTruncation<T>(exact: boolean, fn: () => T): T {
    const saved = this.#exactTruncation;
    this.#exactTruncation = exact;
    try {
      return fn();
    } finally {
      this.#exactTruncation = saved;
    }
  }

  /** Like withProvenance for the protocol name only, and only if none is set (outer protocols win). */
  withProtocol<T>(protocol: string, fn: () => T): T {
    return this.#prov.protocol === '' ? this.withProvenance({ protocol }, fn) : fn();
  }

  /** The generic emitter: checks the instruction and returns the registers it defines. */
  emit(op: string, inputs: readonly Reg[], attrs: CAttrs = {}, data?: BigUint64Array): Reg[] {
    const def = findCircuitOp(op);
    if (def === undefined) throw new Ig3dcError('verify', `unknown circuit op '${op}'`, this.#place());
    let full: CAttrs;
    let types: RegType[];
    try {
      full = completeCircuitAttrs(def, attrs);
      types = inferInstruction(def, inputs, full, this.f);
    } catch (e) {
      if (e instanceof Ig3dcError) throw new Ig3dcError('verify', e.detail, this.#place());
      throw e;
    }
    const client = (op === 'input' && full['party'] === 1) || op === 'shared_input' || inputs.some((r) => this.#client[r.id] === 1) ? 1 : 0;
    const outs: Reg[] = types.map((t) => {
      const id = this.#registers.length;
      this.#registers.push(t);
      this.#client.push(client);
      return { id, ...t };
    });
    const ins: Instruction = {
      op,
      inputs: inputs.map((r) => r.id),
      outputs: outs.map((r) => r.id),
      attrs: full,
      prov: this.#prov,
      ...(data === undefined ? {} : { data }),
    };
    this.#instructions.push(ins);
    if (outs.length === 1 && inputs.length > 0) this.#carryBound(op, inputs, outs[0]!);
    if (op === 'const' && data !== undefined && data.length > 0 && data.length <= 1 << 16) this.#constBound(outs[0]!, data);
    return outs;
  }

  #place(): { node?: string } {
    return this.#prov.irNode === '' ? {} : { node: this.#prov.irNode };
  }

  #one(op: string, inputs: readonly Reg[], attrs: CAttrs = {}): Reg {
    return this.emit(op, inputs, attrs)[0]!;
  }
  #two(op: string, attrs: CAttrs): [Reg, Reg] {
    const r = this.emit(op, [], attrs);
    return [r[0]!, r[1]!];
  }
  #three(op: string, attrs: CAttrs): [Reg, Reg, Reg] {
    const r = this.emit(op, [], attrs);
    return [r[0]!, r[1]!, r[2]!];
  }

  // ── sources
  /** A party's input: party 0 = server (weights), party 1 = client. */
  input(name: string, party: Party, shape: Shape, opts: InputOptions = {}): Reg {
    return this.#one('input', [], {
      party,
      name,
      encoding: opts.encoding ?? 'fixed',
      shape: [...shape],
      classes: opts.classes ?? 0,
      held: opts.held ?? false,
    });
  }

  /**
   * A public constant at `scale` fractional bits (default f): a number (scalar, or filled
   * into `shape`), a list of numbers, or a tensor (floats are rounded, integers exact).
   */
  constant(value: Tensor | number | readonly number[], scale: number = this.f, shape?: Shape): Reg {
    let data: BigUint64Array;
    let s: readonly number[];
    const enc = (xs: ArrayLike<number>): BigUint64Array => {
      try {
        return encodeFixedArray(xs, scale);
      } catch (e) {
        throw new Ig3dcError('verify', `constant: ${(e as Error).message}`, this.#place());
      }
    };
    if (typeof value === 'number') {
      s = shape ?? [];
      data = enc(new Float64Array(numel(s)).fill(value));
    } else if (Array.isArray(value)) {
      const list = value as readonly number[];
      s = shape ?? [list.length];
      data = enc(list);
    } else {
      const t = value as Tensor;
      s = shape ?? t.shape;
      data = isFloatType(t.dtype) ? enc(t.toFloat64()) : encodeIntArray(t.data, scale);
    }
    if (numel(s) !== data.length) throw new Ig3dcError('verify', `constant has ${data.length} elements, shape [${s.join(',')}] needs ${numel(s)}`, this.#place());
    return this.emit('const', [], { shape: [...s], scale }, data)[0]!;
  }

  /** A constant from ring elements as they are (already encoded at `scale`). */
  constantRing(data: BigUint64Array, shape: Shape, scale: number): Reg {
    return this.emit('const', [], { shape: [...shape], scale }, data)[0]!;
  }

  // ── local arithmetic on shares
  add(x: Reg, y: Reg): Reg {
    return this.#one('add', [x, y]);
  }
  sub(x: Reg, y: Reg): Reg {
    return this.#one('sub', [x, y]);
  }
  neg(x: Reg): Reg {
    return this.#one('neg', [x]);
  }
  addPub(x: Reg, p: Reg): Reg {
    return this.#one('add_pub', [x, p]);
  }
  subPub(x: Reg, p: Reg): Reg {
    return this.#one('sub_pub', [x, p]);
  }
  /** p - x. */
  rsubPub(p: Reg, x: Reg): Reg {
    return this.#one('rsub_pub', [x, p]);
  }
  mulPub(x: Reg, p: Reg): Reg {
    return this.#one('mul_pub', [x, p]);
  }
  /** A share times a public matrix; the side is read off the argument order (share @ pub or pub @ share). */
  matmulPub(a: Reg, b: Reg): Reg {
    if (a.kind === 'pub' && b.kind === 'ashr') return this.#one('matmul_pub', [b, a], { side: 'left' });
    return this.#one('matmul_pub', [a, b], { side: 'right' });
  }
  trunc(x: Reg, bits: number = this.f): Reg {
    if (!this.#exactTruncation) return this.#one('trunc', [x], { bits });
    return this.truncExact(x, bits);
  }
  /** Exact truncation whatever the builder's choice (one round; never wraps for |x| < 2^62 ring units). */
  truncExact(x: Reg, bits: number = this.f): Reg {
    const [mask, high, top] = this.dealer.truncPair(x.shape, x.scale, bits);
    const [c] = this.open([this.sub(x, mask)]);
    const y = this.#one('trunc_exact', [c!, high, top], { bits });
    this.#carryBound('trunc', [x], y); // x's bound, as local truncation carries it
    return y;
  }

  // ── public arithmetic
  addPP(p: Reg, q: Reg): Reg {
    return this.#one('add_pp', [p, q]);
  }
  subPP(p: Reg, q: Reg): Reg {
    return this.#one('sub_pp', [p, q]);
  }
  negPP(p: Reg): Reg {
    return this.#one('neg_pp', [p]);
  }
  mulPP(p: Reg, q: Reg): Reg {
    return this.#one('mul_pp', [p, q]);
  }
  matmulPP(p: Reg, q: Reg): Reg {
    return this.#one('matmul_pp', [p, q]);
  }
  truncPP(p: Reg, bits: number = this.f): Reg {
    return this.#one('trunc_pp', [p], { bits });
  }

  // ── data movement (any kind)
  reshape(x: Reg, shape: Shape): Reg {
    return this.#one('reshape', [x], { shape: [...shape] });
  }
  transpose(x: Reg, perm: readonly number[] = []): Reg {
    return this.#one('transpose', [x], { perm: [...perm] });
  }
  slice(x: Reg, starts: readonly number[], ends: readonly number[], axes: readonly number[] = [], steps: readonly number[] = []): Reg {
    return this.#one('slice', [x], { starts: [...starts], ends: [...ends], axes: [...axes], steps: [...steps] });
  }
  concat(xs: readonly Reg[], axis: number): Reg {
    return this.#one('concat', xs, { axis });
  }
  expand(x: Reg, shape: Shape): Reg {
    return this.#one('expand', [x], { shape: [...shape] });
  }
  gather(x: Reg, indices: Reg, axis = 0): Reg {
    return this.#one('gather', [x, indices], { axis });
  }
  reduceSum(x: Reg, axes: readonly number[] = [], keepdims = true): Reg {
    return this.#one('reduce_sum', [x], { axes: [...axes], keepdims });
  }

  // ── binary shares
  xor(x: Reg, y: Reg): Reg {
    return this.#one('xor', [x, y]);
  }
  andPub(x: Reg, p: Reg): Reg {
    return this.#one('and_pub', [x, p]);
  }
  xorPub(x: Reg, p: Reg): Reg {
    return this.#one('xor_pub', [x, p]);
  }
  andPP(p: Reg, q: Reg): Reg {
    return this.#one('and_pp', [p, q]);
  }
  xorPP(p: Reg, q: Reg): Reg {
    return this.#one('xor_pp', [p, q]);
  }
  /** x / 2^bits exactly (the same ring words at scale + bits). */
  divPow2(x: Reg, bits: number): Reg {
    return this.#one('div_pow2', [x], { bits });
  }
  shl(x: Reg, bits: number): Reg {
    return this.#one('shl', [x], { bits });
  }
  shr(x: Reg, bits: number): Reg {
    return this.#one('shr', [x], { bits });
  }
  a2bOwn(x: Reg, party: Party): Reg {
    return this.#one('a2b_own', [x], { party });
  }

  // ── communication
  /** Opens arithmetic shares (one protocol step; the schedule merges steps of one round). */
  open(xs: readonly Reg[]): Reg[] {
    return this.emit('open', xs);
  }
  openB(xs: readonly Reg[]): Reg[] {
    return this.emit('open_b', xs);
  }
  /** The holder of a dealer mask sends x - mask (x its own value, or its share of a shared x) to the other party alone (gates/cross.ts). */
  send(x: Reg, mask: Reg): Reg {
    return this.#one('send', [x, mask]);
  }
  /** A cross product's shares from X and F = T - B (P1's), E = X - A and B (P0's) and C (gates/cross.ts). */
  crossCombine(x: Reg, f: Reg, e: Reg, bMask: Reg, c: Reg): Reg {
    return this.#one('cross_combine', [x, f, e, bMask, c]);
  }
  /** A linear layer's cross product from the shared X, E = X1 - A and W (P0's), A and F = W - B (P1's) and C (gates/cross.ts). */
  crossCombineShared(x: Reg, e: Reg, w: Reg, a: Reg, f: Reg, c: Reg): Reg {
    return this.#one('cross_combine_shared', [x, e, w, a, f, c]);
  }

  /** Reveals x to the client as the declared output `name`. */
  output(x: Reg, name: string): void {
    if (this.#outputs.some((o) => o.name === name)) throw new Ig3dcError('verify', `output '${name}' is declared twice`, this.#place());
    this.emit('output', [x], { name });
    this.#outputs.push({ name, reg: x.id });
  }

  /** Reveals x to both parties as the declared output `name` (a segment boundary's count). */
  reveal(x: Reg, name: string): void {
    if (this.#outputs.some((o) => o.name === name)) throw new Ig3dcError('verify', `output '${name}' is declared twice`, this.#place());
    this.emit('reveal', [x], { name });
    this.#outputs.push({ name, reg: x.id });
  }

  /** A value both parties hold shares of already (a previous segment's handoff `name`). */
  sharedInput(name: string, shape: Shape, scale: number = this.f): Reg {
    return this.#one('shared_input', [], { name, shape: [...shape], scale });
  }

  /** Leaves each party's share of x with it as `name`, for the next segment. */
  handoff(x: Reg, name: string): void {
    this.emit('handoff', [x], { name });
  }

  /** The circuit so far, verified. */
  build(): Circuit {
    const c: Circuit = {
      name: this.name,
      f: this.f,
      registers: [...this.#registers],
      instructions: [...this.#instructions],
      inputs: inputsOf(this.#instructions),
      outputs: [...this.#outputs],
    };
    verifyCircuit(c);
    return c;
  }
}
