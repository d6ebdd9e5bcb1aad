// Cross products: X @ T where one party holds each operand alone, in the clear (registers of
// kind own1 and own0): the client's one-hot token ids X [.., k] and the server's embedding
// table T [k, n] (protocols/embedding.ts). A Beaver matmul would share both, open both masks to
// both parties and have each party and the dealer multiply; here each operand's mask is known to
// its holder only, so each masked operand crosses once, in one direction:
//
//   cross_mask (dealer): A [.., k] to P1 and B [k, n] to P0, each drawn from the seed that
//     party shares with the dealer (no bytes); cross_triple (dealer): shares of C = A @ B, P0's
//     from its seed, P1's the dealer's correction A @ B - C0 (|C| words).
//   send: P1 sends E = X - A to P0 alone (online); P0 sends F = T - B to P1 alone (it depends on
//     no client input: preprocessing).
//   cross_combine (local): P0's share z0 = E @ B + C0, P1's share z1 = X @ F + C1.
//
//   z0 + z1 = (X - A) B + X (T - B) + A B = X T.
//
// P0 sees E, uniform because A is; P1 sees F and C1, uniform because B and C0 are (neither
// seed is known to the party that sees the masked value). P0 and the dealer each compute one
// dense product; P1 none: X is one-hot, so X @ F is a sum of rows of F, computed as such.
//
// A linear layer Y = X W (protocols/linear.ts) is the same cross product with X shared
// (X = X0 + X1) and W the server's weight: the product X0 W is P0's alone, and only P1's share
// X1 crosses. `send` then sends P1's share of X minus A, and the masks, the triple and F = W - B
// are as above; the combine is arranged so that P1's part depends on no client input:
//
//   cross_combine_shared (local): P0's share z0 = (X0 + E) @ W + C0, P1's z1 = A @ F + C1.
//
//   z0 + z1 = (X0 + X1 - A) W + A (W - B) + A B = X W.
//
// Online that is one message, |X| words P1 -> P0, and one dense product on P0; P1's A @ F and the
// dealer's A @ B need only preprocessing material. A Beaver matmul opens both masks both ways
// (X's online) and has each party multiply twice besides the dealer.

import { typeError } from '../../op.ts';
import * as K from '../../ring/kernels.ts';
import { allocRing, recycle } from '../../ring/pool.ts';
import { prgRing } from '../../ring/stream.ts';
import { numel, shapesEqual, type Shape } from '../../types.ts';
import type { CAttrs, RegKind, RegType } from '../types.ts';
import { A, BYTES_PER_ELEMENT, checkShape, int, ints, outputSize, reg, type CircuitOpDef, type CommGate, type DealerGate, type LocalEnv, type Ring } from '../gate.ts';

const OWN: readonly RegKind[] = ['own0', 'own1'];
/** What `send` may send: a value its sender holds alone, or the sender's share of a shared value. */
const OWN_OR_SHARE: readonly RegKind[] = ['own0', 'own1', 'ashr'];
const OWN0: readonly RegKind[] = ['own0'];
const OWN1: readonly RegKind[] = ['own1'];

/** The party that holds a register of kind own0 / own1. */
export function holder(t: RegType): 0 | 1 | undefined {
  return t.kind === 'own0' ? 0 : t.kind === 'own1' ? 1 : undefined;
}

/** What the party that does not hold a value keeps of it. */
const nothing = (): Ring => new BigUint64Array(0);

function dims(a: CAttrs): { lead: readonly number[]; k: number; n: number; sa: number; sb: number } {
  const lead = ints(a, 'lead');
  const [k, n] = [int(a, 'k'), int(a, 'n')];
  checkShape('cross_mask', [...lead, k, n]);
  const s = ints(a, 'scales');
  if (s.length !== 2 || s.some((v) => !Number.isInteger(v) || v < 0)) typeError('cross_mask: scales must be two non-negative integers');
  return { lead, k, n, sa: s[0]!, sb: s[1]! };
}

// The masks: A to P1, B to P0, each from its own seed (no bytes).
const maskDealer: DealerGate = {
  // A (P1's) masks X, B (P0's) masks T: both uniform, each known to one party only.
  masks: [0, 1],
  own: (ins, regs, party, seed) => [prgRing(seed, ins.outputs[1 - party]!, outputSize(ins, regs, 1 - party))],
  send: () => [undefined, undefined],
  bytes: () => [0, 0],
  assemble: (_ins, _regs, party, own) => (party === 0 ? [nothing(), own[0]!] : [own[0]!, nothing()]),
};

// Shares of C = A @ B for the masks its inputs name (the dealer draws A and B again from their
// registers' streams, so the inputs must be one cross_mask's outputs for C to be their product;
// C1 is uniform to P1 whatever they are, as C0 is): P0's share from its seed, P1's the correction. A separate instruction, so a party makes it at its first use (the combine),
// not with the masks: where P1 stands in for the dealer, its product then runs beside P0's.
const tripleDealer: DealerGate = {
  masks: [],
  own: (ins, regs, party, seed) => (party === 0 ? [prgRing(seed, ins.outputs[0]!, outputSize(ins, regs, 0))] : []),
  send(ins, regs, seeds) {
    const [ra, rb] = [regs[ins.inputs[0]!]!, regs[ins.inputs[1]!]!];
    const [k, n] = [rb.shape[0]!, rb.shape[1]!];
    const m = numel(ra.shape) / Math.max(1, k);
    const a = prgRing(seeds.s1d, ins.inputs[0]!, numel(ra.shape));
    const b = prgRing(seeds.s0d, ins.inputs[1]!, numel(rb.shape));
    const c = K.ringMatmul(a, b, m, k, n);
    const c0 = prgRing(seeds.s0d, ins.outputs[0]!, outputSize(ins, regs, 0));
    K.ringSub(c, c0, c);
    for (const t of [a, b, c0]) recycle(t);
    return [undefined, c];
  },
  bytes: (ins, regs) => [0, outputSize(ins, regs, 0) * BYTES_PER_ELEMENT],
  assemble: (_ins, _regs, party, own, received) => (party === 0 ? [own[0]!] : [received!]),
};

/** The sender of a `send`: the holder of its mask (and of its value, or of a share of it). */
function sender(ins: { readonly inputs: readonly number[] }, regs: readonly RegType[]): 0 | 1 {
  return holder(regs[ins.inputs[1]!]!)!;
}

const sendGate: CommGate = {
  bytes(ins, regs) {
    const b = numel(regs[ins.inputs[0]!]!.shape) * BYTES_PER_ELEMENT;
    return sender(ins, regs) === 0 ? [b, 0] : [0, b];
  },
  sends: () => false,
  sendsMasked: true,
  message(ins, regs, party, get) {
    if (party !== sender(ins, regs)) return undefined;
    return K.ringSub(get(ins.inputs[0]!), get(ins.inputs[1]!));
  },
  deliver(ins, regs, party, theirs) {
    if (party === sender(ins, regs)) return [nothing()];
    const out = allocRing(theirs!.length);
    out.set(theirs!);
    return [out];
  },
};

/** P1's X @ F for a sparse X (a one-hot): the rows of F its nonzero elements pick, scaled by them, added to `acc` [m, n]. */
function sparseRowsInto(acc: Ring, x: Ring, f: Ring, m: number, k: number, n: number): void {
  // Words as 32-bit halves: a zero test without making a bigint per element.
  const halves = new Uint32Array(x.buffer, x.byteOffset, 2 * x.length);
  for (let i = 0; i < m; i++) {
    const row = acc.subarray(i * n, (i + 1) * n);
    for (let j = 0; j < k; j++) {
      const at = 2 * (i * k + j);
      if (halves[at] === 0 && halves[at + 1] === 0) continue;
      const v = x[i * k + j]!;
      const picked = f.subarray(j * n, (j + 1) * n);
      if (v === 1n) K.ringAdd(row, picked, row);
      else {
        const scaled = K.ringBinary(picked, [n], BigUint64Array.of(v), [], 'mul');
        K.ringAdd(row, scaled, row);
        recycle(scaled);
      }
    }
  }
}

function combine(e: LocalEnv): Ring[] {
  const [x, f, masked, b, c] = e.ins.inputs.map((r) => e.get(r));
  const sx = e.regs[e.ins.inputs[0]!]!.shape;
  const k = sx[sx.length - 1]!;
  const m = numel(sx) / Math.max(1, k);
  const n = e.regs[e.ins.inputs[1]!]!.shape[1]!;
  if (e.party === 0) {
    // z0 = E @ B + C0
    const z = K.ringMatmul(masked!, b!, m, k, n);
    return [K.ringAdd(z, c!, z)];
  }
  // z1 = X @ F + C1
  const z = allocRing(m * n);
  z.set(c!);
  sparseRowsInto(z, x!, f!, m, k, n);
  return [z];
}

/** The shapes of a cross product X [..lead, k] @ W [k, n]: rows m = |lead|, k and n. */
function productDims(x: Shape, w: Shape): { m: number; k: number; n: number } {
  const k = x[x.length - 1]!;
  return { m: numel(x) / Math.max(1, k), k, n: w[1]! };
}

// z0 = (X0 + E) @ W + C0 at P0; z1 = A @ F + C1 at P1 (inputs X, E, W, A, F, C).
function combineShared(e: LocalEnv): Ring[] {
  const [x, masked, w, a, f, c] = e.ins.inputs.map((r) => e.get(r));
  const { m, k, n } = productDims(e.regs[e.ins.inputs[0]!]!.shape, e.regs[e.ins.inputs[2]!]!.shape);
  if (e.party === 0) {
    const opened = K.ringAdd(x!, masked!);
    const z = K.ringMatmul(opened, w!, m, k, n);
    recycle(opened);
    return [K.ringAdd(z, c!, z)];
  }
  const z = K.ringMatmul(a!, f!, m, k, n);
  return [K.ringAdd(z, c!, z)];
}

function sameShape(op: string, what: string, a: Shape, b: Shape): void {
  if (!shapesEqual(a, b)) typeError(`${op}: ${what}: [${a.join(',')}] and [${b.join(',')}] differ`);
}


/** The shares of X [..,k] @ M [k,n] (M named `name`) a combine gives, with C's shape and scale checked. */
function productShares(op: string, x: RegType, m: RegType, name: string, c: RegType): RegType {
  if (x.shape.length < 1 || m.shape.length !== 2 || m.shape[0] !== x.shape[x.shape.length - 1]) {
    typeError(`${op}: X [..,k] @ ${name} [k,n] needs matching inner dimensions, got [${x.shape.join(',')}] and [${m.shape.join(',')}]`);
  }
  const out = [...x.shape.slice(0, -1), m.shape[1]!];
  sameShape(op, 'C and the product', c.shape, out);
  if (c.scale !== x.scale + m.scale) typeError(`${op}: C must be at scale @${x.scale + m.scale}, got @${c.scale}`);
  return reg('ashr', out, c.scale);
}

export const CROSS_GATES: readonly CircuitOpDef[] = [
  {
    name: 'cross_mask',
    summary: "a cross product's masks: A [..lead,k] held by P1, B [k,n] held by P0, each from its own seed (no bytes)",
    cls: 'dealer',
    inputs: [],
    attrs: { lead: { kind: 'ints' }, k: { kind: 'int' }, n: { kind: 'int' }, scales: { kind: 'ints' } },
    infer(_, a) {
      const { lead, k, n, sa, sb } = dims(a);
      return [reg('own1', [...lead, k], sa), reg('own0', [k, n], sb)];
    },
    dealer: maskDealer,
  },
  {
    name: 'cross_triple',
    summary: "shares of C = A@B for cross_mask's A and B (its inputs name their streams); dealer sends |C| words to P1",
    cls: 'dealer',
    inputs: [OWN1, OWN0],
    attrs: {},
    infer([a, b]) {
      if (b!.shape.length !== 2 || a!.shape.length < 1 || a!.shape[a!.shape.length - 1] !== b!.shape[0]) {
        typeError(`cross_triple: A [..,k] @ B [k,n] needs matching inner dimensions, got [${a!.shape.join(',')}] and [${b!.shape.join(',')}]`);
      }
      return [reg('ashr', [...a!.shape.slice(0, -1), b!.shape[1]!], a!.scale + b!.scale)];
    },
    dealer: tripleDealer,
  },
  {
    name: 'send',
    summary: "the holder of a fresh dealer mask sends value - mask to the other party alone, the value being one it holds alone or its share of a shared one (8 bytes per element, one direction)",
    cls: 'comm',
    inputs: [OWN_OR_SHARE, OWN],
    attrs: {},
    infer([x, mask]) {
      if (x!.kind !== 'ashr' && x!.kind !== mask!.kind) typeError(`send: the value (${x!.kind}) and its mask (${mask!.kind}) must be held by one party`);
      sameShape('send', 'the value and its mask must have one shape', x!.shape, mask!.shape);
      if (x!.scale !== mask!.scale) typeError(`send needs equal scales, got @${x!.scale} and @${mask!.scale}`);
      return [reg(mask!.kind === 'own0' ? 'own1' : 'own0', x!.shape, x!.scale)];
    },
    comm: sendGate,
  },
  {
    name: 'cross_combine',
    summary: "a cross product's shares from (X, F = T - B) at P1 and (E = X - A, B) at P0 and C: z0 = E@B + C0, z1 = X@F + C1 (P1's a sum of F's rows)",
    cls: 'local',
    inputs: [OWN1, OWN1, OWN0, OWN0, A],
    attrs: {},
    infer([x, f, e, b, c]) {
      const op = 'cross_combine';
      sameShape(op, 'X and E = X - A', x!.shape, e!.shape);
      sameShape(op, 'F = T - B and B', f!.shape, b!.shape);
      if (x!.scale !== e!.scale || f!.scale !== b!.scale) typeError(`${op}: X and E, F and B must have equal scales`);
      return [productShares(op, x!, f!, 'F', c!)];
    },
    evaluate: combine,
  },
  {
    name: 'cross_combine_shared',
    summary: "a linear layer's cross product from (X0, E = X1 - A, W) at P0, (A, F = W - B) at P1 and C: z0 = (X0 + E)@W + C0, z1 = A@F + C1",
    cls: 'local',
    inputs: [A, OWN0, OWN0, OWN1, OWN1, A],
    attrs: {},
    infer([x, e, w, a, f, c]) {
      const op = 'cross_combine_shared';
      sameShape(op, 'X and E = X1 - A', x!.shape, e!.shape);
      sameShape(op, 'X and A', x!.shape, a!.shape);
      sameShape(op, 'W and F = W - B', w!.shape, f!.shape);
      if (x!.scale !== e!.scale || x!.scale !== a!.scale || w!.scale !== f!.scale) typeError(`${op}: X, E and A, and W and F, must have equal scales`);
      return [productShares(op, x!, w!, 'W', c!)];
    },
    evaluate: combineShared,
  },
];
