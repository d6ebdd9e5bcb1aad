// One party's side of a circuit run, as a generator: it does its local work and, at each
// round, yields the message it sends and resumes with the message it receives. The same
// program runs in-process (two generators driven in lockstep), in worker threads
// (MessagePort) and in two processes (TCP), so every mode computes and sends the same bytes.

import { Ig3dcError } from '../ir/diagnostics.ts';
import { Tensor } from '../ir/tensor.ts';
import { numel, type Shape } from '../ir/types.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { decodeFixedArray, encodeFixedArray } from '../ir/circuit/fixed.ts';
import { circuitOp, findCircuitOp } from '../ir/circuit/ops.ts';
import type { Instruction, RegType } from '../ir/circuit/types.ts';
import { dealerShares } from './dealer.ts';
import * as K from './kernels.ts';
import type { Fusion, PartyPlan, Step } from './plan.ts';
import { prgRing } from './prg.ts';
import type { TensorSource } from './tensor-requests.ts';
import { adopt, allocRing, holdView, recycle } from './pool.ts';

type Ring = BigUint64Array;

export interface PartyContext {
  readonly circuit: Circuit;
  readonly party: 0 | 1;
  readonly plan: PartyPlan;
  /** This party's own tensors: the weights (P0) or the model inputs (P1), each asked for once, when its input instruction runs. */
  readonly tensors: TensorSource;
  /** Seed shared by P0 and P1 (input sharing). */
  readonly s01: Uint8Array;
  /** Seed shared by this party and the dealer. */
  readonly sd: Uint8Array;
  /**
   * The dealer's words to this party for a dealer instruction (given its own seed-derived
   * values of it), asked only for ops whose dealer sends this party words: Beaver corrections
   * go to P1, FSS keys to both.
   */
  readonly correction?: (ins: Instruction, own: readonly Ring[]) => Ring;
  /** This party's own shares of the circuit's `shared_input`s (what a previous segment handed off), by name. */
  readonly shared?: ReadonlyMap<string, Shares>;
  /** Called with every register this party defines (for capturing shares). */
  readonly onDefine?: (reg: number, value: Ring) => void;
  /**
   * Whether this party owns the message it receives once a round is done (in-process and
   * worker links: the peer's buffer was handed over or transferred to it), so its array can be
   * reused. The sent message is given up (the peer reuses it, or it was transferred). Not for
   * sockets, which may still hold a sent buffer.
   */
  readonly recycleMessages?: boolean;
  /** Called after each round with the step index. */
  readonly onRound?: (step: number, round: Extract<Step, { kind: 'round' }>) => void;
}

export interface PartyResult {
  /** Declared outputs this party learned: P1 every one, P0 only those revealed to both (`reveal`). */
  readonly outputs: Map<string, Tensor>;
  /** This party's shares of the registers the circuit hands off to the next segment, by name. */
  readonly handoffs: Map<string, Shares>;
}

/** One party's share of a value that stays secret between segments. */
export interface Shares {
  readonly shape: Shape;
  /** Fractional bits of the fixed-point value. */
  readonly scale: number;
  readonly data: Ring;
}

/** Checks that this party holds a share of every `shared_input` of the circuit, of the shape and scale it expects. */
export function checkSharedInputs(c: Circuit, party: 0 | 1, shared: ReadonlyMap<string, Shares> | undefined): void {
  for (const ins of c.instructions) if (ins.op === 'shared_input') sharedInput(ins, party, shared);
}

function sharedInput(ins: Instruction, party: 0 | 1, shared: ReadonlyMap<string, Shares> | undefined): Ring {
  const name = ins.attrs['name'] as string;
  const s = shared?.get(name);
  const where = `circuit shared input '${name}' (party ${party})`;
  if (s === undefined) inputError(`${where}: no share given; a segment starts from the shares the previous one handed off${shared === undefined || shared.size === 0 ? '' : ` (given: ${[...shared.keys()].join(', ')})`}`, name);
  const shape = ins.attrs['shape'] as readonly number[];
  if (s.shape.length !== shape.length || s.shape.some((d, i) => d !== shape[i])) {
    inputError(`${where}: the share has shape [${s.shape.join(',')}], the circuit expects [${shape.join(',')}]`, name);
  }
  const scale = ins.attrs['scale'] as number;
  if (s.scale !== scale) inputError(`${where}: the share is at scale ${s.scale}, the circuit expects ${scale}`, name);
  if (s.data.length !== numel(shape)) inputError(`${where}: the share has ${s.data.length} elements, its shape [${shape.join(',')}] needs ${numel(shape)}`, name);
  return s.data;
}

function inputError(detail: string, name: string): never {
  throw new Ig3dcError('input', detail, { node: name });
}

/** Checks that every input this party owns is present with the circuit's shape and a usable type. */
export function checkPartyInputs(c: Circuit, party: 0 | 1, tensors: ReadonlyMap<string, Tensor>): void {
  for (const ins of c.instructions) {
    if (ins.op === 'input' && ins.attrs['party'] === party) encodeInput(ins, tensors.get(ins.attrs['name'] as string), c.f, true);
  }
}

/** Whether every element of float data encodes at f fractional bits (the range test of encodeFixedArray, without encoding). */
function fixedEncodable(xs: Float32Array | Float64Array, f: number): boolean {
  const s = 2 ** f;
  const lim = 2 ** 63;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]! * s;
    if (!(v >= -lim && v < lim)) return false;
  }
  return true;
}

/**
 * The ring value a party supplies for an input instruction. With `checkOnly`, a float tensor
 * in fixed point is only checked (an empty array comes back when it encodes): weights are
 * large, and they are encoded where they are used.
 */
export function encodeInput(ins: Instruction, t: Tensor | undefined, f: number, checkOnly = false): Ring {
  const name = ins.attrs['name'] as string;
  const party = ins.attrs['party'] as number;
  if (t === undefined) inputError(`missing ${party === 0 ? 'weight' : 'input'} '${name}'`, name);
  const shape = ins.attrs['shape'] as readonly number[];
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    inputError(`'${name}' has shape [${t.shape.join(',')}], the circuit expects [${shape.join(',')}]`, name);
  }
  const enc = ins.attrs['encoding'];
  // A held one-hot is the exact indicator (scale 0, gates/source.ts); shared encodings are at f.
  const one = 1n << BigInt(ins.attrs['held'] === true && enc === 'onehot' ? 0 : f);
  if (enc !== 'fixed' && t.dtype === 'bool') inputError(`'${name}' is bool, the circuit expects integers (encoding '${String(enc)}')`, name);
  switch (enc) {
    case 'fixed': {
      if (checkOnly && (t.data instanceof Float64Array || t.data instanceof Float32Array) && fixedEncodable(t.data, f)) return new BigUint64Array(0);
      try {
        // Float data as it is (the same numbers toFloat64 would give, without the copy).
        return encodeFixedArray(t.data instanceof Float32Array || t.data instanceof Float64Array ? t.data : t.toFloat64(), f, allocRing(t.size) as BigUint64Array<ArrayBuffer>);
      } catch (e) {
        inputError(`'${name}': ${(e as Error).message}`, name);
      }
    }
    case 'int': {
      const out = new BigUint64Array(t.size);
      for (let i = 0; i < t.size; i++) {
        const v = t.data[i]!;
        if (typeof v === 'number' && !Number.isInteger(v)) inputError(`'${name}' element ${i} is ${v}, not an integer`, name);
        out[i] = t.bigAt(i);
      }
      return out;
    }
    case 'onehot': {
      const classes = ins.attrs['classes'] as number;
      const out = new BigUint64Array(t.size * classes);
      for (let i = 0; i < t.size; i++) {
        const id = t.at(i);
        if (!Number.isInteger(id) || id < 0 || id >= classes) inputError(`'${name}' element ${i} is ${id}, outside 0..${classes - 1}`, name);
        out[i * classes + id] = one;
      }
      return out;
    }
    case 'keepmask': {
      const out = new BigUint64Array(t.size);
      for (let i = 0; i < t.size; i++) {
        const v = t.at(i);
        if (v !== 0 && v !== 1) inputError(`'${name}' element ${i} is ${v}: a mask holds 0 (padding) or 1 (attend)`, name);
        if (v !== 0) out[i] = one;
      }
      return out;
    }
    default:
      inputError(`unknown encoding '${String(enc)}'`, name);
  }
}

/** One party's local instruction on its own registers (the op's own evaluation, gates/). */
export function runLocal(ins: Instruction, p: 0 | 1, regs: readonly RegType[], get: (r: number) => Ring): Ring[] {
  const evaluate = findCircuitOp(ins.op)?.evaluate;
  if (evaluate === undefined) throw new Error(`runLocal: '${ins.op}' is not a local op`);
  return evaluate({ ins, party: p, regs, get });
}

/** A fused Beaver combination (plan.ts): the same ring values as its instructions one by one. */
export function runFusion(fu: Fusion, regs: readonly RegType[], get: (r: number) => Ring): Ring {
  if (fu.kind !== 'matmul') return K.ringBeaverCombine(fu.kind, fu.withPublic, get(fu.c), get(fu.x1), get(fu.p1), get(fu.x2), get(fu.p2));
  const shape = (r: number): Shape => regs[r]!.shape;
  // c + p1@x1 + x2@p2 (+ p1@p2) = c + p1@(x1 [+ p2]) + x2@p2.
  const sum = fu.withPublic ? K.ringAdd(get(fu.x1), get(fu.p2)) : get(fu.x1);
  const m1 = K.ringBatchedMatmul(get(fu.p1), shape(fu.p1), sum, shape(fu.x1));
  if (sum !== get(fu.x1)) recycle(sum);
  const m2 = K.ringBatchedMatmul(get(fu.x2), shape(fu.x2), get(fu.p2), shape(fu.p2));
  // Summed into m1 (this function's own array): no temporaries beyond the two products.
  K.ringAdd(m1, get(fu.c), m1);
  K.ringAdd(m1, m2, m1);
  recycle(m2);
  return m1;
}

/** Elements party `from` sends in a round: each comm op's own byte count (the static cost's), which the message must fill exactly. */
export function roundWords(c: Circuit, comms: readonly number[], from: 0 | 1): number {
  let n = 0;
  for (const i of comms) {
    const ins = c.instructions[i]!;
    n += circuitOp(ins.op).comm!.bytes(ins, c.registers)[from] / 8;
  }
  return n;
}

/** A received message as aligned ring words. */
function words(msg: Uint8Array): Ring {
  if (msg.byteOffset % 8 === 0 && msg.byteLength % 8 === 0) return new BigUint64Array(msg.buffer, msg.byteOffset, msg.byteLength / 8);
  const copy = new Uint8Array(msg.byteLength - (msg.byteLength % 8));
  copy.set(msg.subarray(0, copy.length));
  return new BigUint64Array(copy.buffer);
}

/** The party program: yields each round's outgoing message, resumes with the peer's. */
export function* partyProgram(ctx: PartyContext): Generator<Uint8Array, PartyResult, Uint8Array> {
  const { circuit: c, party: p, plan } = ctx;
  const regs = c.registers;
  const state = new Map<number, Ring>();
  const outputs = new Map<string, Tensor>();
  const handoffs = new Map<string, Shares>();
  const get = (r: number): Ring => {
    const v = state.get(r);
    if (v === undefined) throw new Error(`register %${r} is not live on party ${p}`);
    return v;
  };
  // Registers can share one array (reshape, a P1 add_pub, ...): it goes back to the pool when the last one dies.
  const holders = new Map<Ring, number>();
  const define = (r: number, v: Ring): void => {
    if (state.has(r)) drop(r);
    state.set(r, v);
    const n = holders.get(v) ?? 0;
    if (n === 0) holdView(v);
    holders.set(v, n + 1);
    ctx.onDefine?.(r, v);
  };
  const drop = (r: number): void => {
    const v = state.get(r);
    if (v === undefined) return;
    state.delete(r);
    const n = holders.get(v)! - 1;
    if (n > 0) holders.set(v, n);
    else {
      holders.delete(v);
      recycle(v);
    }
  };

  const runStep = (i: number): void => {
    const ins = c.instructions[i]!;
    const cls = findCircuitOp(ins.op)!.cls;
    if (ins.op === 'input') {
      const owner = ins.attrs['party'] as 0 | 1;
      const r = ins.outputs[0]!;
      if (ins.attrs['held'] === true) {
        // Kept by its owner in the clear; the other party holds nothing of it.
        define(r, owner === p ? adopt(encodeInput(ins, ctx.tensors.get(ins.attrs['name'] as string), c.f)) : new BigUint64Array(0));
        return;
      }
      const other = prgRing(ctx.s01, r, numel(regs[r]!.shape)); // the non-owner's share, known to both
      if (owner === p) {
        // The encoded input is a fresh array of this party's: its share is written over it.
        const enc = encodeInput(ins, ctx.tensors.get(ins.attrs['name'] as string), c.f);
        define(r, adopt(K.ringSub(enc, other, enc)));
        recycle(other);
      } else define(r, other);
    } else if (ins.op === 'shared_input') {
      define(ins.outputs[0]!, sharedInput(ins, p, ctx.shared).slice());
    } else if (ins.op === 'handoff') {
      const r = ins.inputs[0]!;
      handoffs.set(ins.attrs['name'] as string, { shape: regs[r]!.shape, scale: regs[r]!.scale, data: get(r).slice() });
    } else if (ins.op === 'const') {
      define(ins.outputs[0]!, ins.data!);
    } else if (cls === 'dealer') {
      const receive = ctx.correction === undefined ? undefined : (own: readonly Ring[]): Ring => ctx.correction!(ins, own);
      dealerShares(ins, regs, p, ctx.sd, receive).forEach((v, j) => define(ins.outputs[j]!, v));
    } else {
      const fu = plan.fusions.get(i);
      if (fu !== undefined) define(ins.outputs[0]!, runFusion(fu, regs, get));
      else runLocal(ins, p, regs, get).forEach((v, j) => define(ins.outputs[j]!, v));
    }
  };

  const release = (k: number, list: readonly number[]): void => {
    for (const i of list) {
      const ins = c.instructions[i]!;
      for (const r of plan.fusions.get(i)?.leaves ?? ins.inputs) if (plan.lastUse[r]! <= k) drop(r);
      for (const r of ins.outputs) if (plan.lastUse[r]! <= k) drop(r);
    }
  };

  const steps = plan.steps;
  for (let k = 0; k < steps.length; k++) {
    const st = steps[k]!;
    if (st.kind === 'local') {
      runStep(st.ins);
      release(k, [st.ins]);
      continue;
    }
    // A round: one message out (this party's shares in instruction order), one in.
    const out = ctx.recycleMessages === true ? allocRing(roundWords(c, st.comms, p)) : new BigUint64Array(roundWords(c, st.comms, p));
    let at = 0;
    for (const i of st.comms) {
      const ins = c.instructions[i]!;
      const comm = circuitOp(ins.op).comm!;
      if (comm.message !== undefined) {
        const m = comm.message(ins, regs, p, get);
        if (m !== undefined) {
          out.set(m, at);
          at += m.length;
          recycle(m);
        }
        continue;
      }
      if (!comm.sends(p)) continue;
      for (const r of ins.inputs) {
        const v = get(r);
        out.set(v, at);
        at += v.length;
      }
    }
    // What was put in the message must be what the ops' byte counts (the static cost) say.
    if (at !== out.length) throw new Error(`party ${p} put ${at} words in ${st.phase} round ${st.round}, its ops count ${out.length}`);
    const received = yield new Uint8Array(out.buffer);
    const expect = roundWords(c, st.comms, p === 0 ? 1 : 0);
    if (received.byteLength !== expect * 8) {
      throw new Ig3dcError('decode', `malformed message in ${st.phase} round ${st.round}: ${received.byteLength} bytes, expected ${expect * 8}`);
    }
    const peer = words(received);
    at = 0;
    for (const i of st.comms) {
      const ins = c.instructions[i]!;
      const comm = circuitOp(ins.op).comm!;
      if (comm.deliver !== undefined) {
        const n = comm.bytes(ins, regs)[p === 0 ? 1 : 0] / 8;
        const theirs = n > 0 ? peer.subarray(at, at + n) : undefined;
        at += n;
        comm.deliver(ins, regs, p, theirs).forEach((v, j) => define(ins.outputs[j]!, v));
        continue;
      }
      if (comm.combine === undefined) {
        // A declared output: P0 sends, P1 decodes (a `reveal`: both send, both decode).
        const r = ins.inputs[0]!;
        const n = numel(regs[r]!.shape);
        if (p === 1 || ins.op === 'reveal') {
          const value = K.ringAdd(get(r), peer.subarray(at, at + n));
          at += n;
          const t = regs[r]!;
          outputs.set(ins.attrs['name'] as string, new Tensor('f64', t.shape, decodeFixedArray(value, t.scale)));
        }
        continue;
      }
      ins.inputs.forEach((r, j) => {
        const n = numel(regs[r]!.shape);
        const theirs = peer.subarray(at, at + n);
        at += n;
        define(ins.outputs[j]!, comm.combine!(get(r), theirs));
      });
    }
    release(k, st.comms);
    if (ctx.recycleMessages === true) {
      // Only the received message: the sent one now belongs to the peer (in-process) or was transferred.
      recycle(adopt(peer));
    }
    ctx.onRound?.(k, st);
  }
  return { outputs, handoffs };
}
