// Beaver triples and random bits from the dealer. Each party derives its own shares of a
// triple from the seed it shares with the dealer (no bytes); the dealer, who knows both seeds,
// computes the one share no seed gives (P1's c = a*b - c0) and sends it: one correction word
// per element of that share is the dealer's cost. rand_bit's bit is the XOR of the two
// seed-derived bits, so its binary sharing is free; the dealer sends P1's arithmetic share.

import { typeError } from '../../op.ts';
import * as K from '../../ring/kernels.ts';
import { recycle } from '../../ring/pool.ts';
import { prgBits, prgRing } from '../../ring/stream.ts';
import { BYTES_PER_ELEMENT, checkShape, int, ints, outputSize, reg, type CircuitOpDef, type DealerGate, type DealerSeeds, type Ring } from '../gate.ts';
import type { CAttrs, Instruction, RegType } from '../types.ts';

function scalesAttr(op: string, a: CAttrs, f: number): [number, number] {
  const s = ints(a, 'scales');
  if (s.length === 0) return [f, f];
  if (s.length !== 2 || s.some((v) => v < 0)) typeError(`${op}: scales must be two non-negative integers`);
  return [s[0]!, s[1]!];
}

/** P1's correction from the two parties' seed values of the outputs (r0(j), r1(j)). */
type Correction = (ins: Instruction, regs: readonly RegType[], r0: (j: number) => Ring, r1: (j: number) => Ring, seeds: DealerSeeds, p1Own?: readonly Ring[]) => Ring;

/**
 * A triple-like gate: `seeded(p)` lists the outputs party p derives from its seed (stream =
 * output register, as bits where `bits` says so); P1's output `slot` is the dealer's correction.
 */
function correctedGate(slot: number, masks: readonly number[], correction: Correction, bits: readonly number[] = []): DealerGate {
  const draw = (seed: Uint8Array, ins: Instruction, regs: readonly RegType[], j: number): Ring =>
    (bits.includes(j) ? prgBits : prgRing)(seed, ins.outputs[j]!, outputSize(ins, regs, j));
  const seededOutputs = (ins: Instruction, party: 0 | 1): number[] => ins.outputs.map((_, j) => j).filter((j) => party === 0 || j !== slot);
  return {
    masks,
    own: (ins, regs, party, seed) => seededOutputs(ins, party).map((j) => draw(seed, ins, regs, j)),
    send(ins, regs, seeds, p1Own) {
      // Every array made here goes back to the pool once used (P1's own values stay P1's).
      const temps: Ring[] = [];
      const temp = (a: Ring): Ring => (temps.push(a), a);
      const r0 = (j: number): Ring => temp(draw(seeds.s0d, ins, regs, j));
      const r1 = (j: number): Ring => p1Own?.[j] ?? temp(draw(seeds.s1d, ins, regs, j));
      const c = correction(ins, regs, r0, r1, seeds, p1Own);
      for (const t of temps) recycle(t);
      return [undefined, c];
    },
    bytes: (ins, regs) => [0, outputSize(ins, regs, slot) * BYTES_PER_ELEMENT],
    assemble(_ins, _regs, party, own, received) {
      if (party === 0) return [...own];
      const out = [...own];
      out.splice(slot, 0, received!);
      return out;
    },
  };
}

export const TRIPLE_GATES: readonly CircuitOpDef[] = [
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
    dealer: correctedGate(2, [0, 1], (_i, _r, r0, r1) => K.ringTriple('mul', r0(0), r1(0), r0(1), r1(1), r0(2))),
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
    dealer: correctedGate(1, [0], (_i, _r, r0, r1) => {
      const [a0, a1] = [r0(0), r1(0)];
      return K.ringTriple('mul', a0, a1, a0, a1, r0(1));
    }),
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
    dealer: correctedGate(2, [0, 1], (ins, regs, r0, r1) => {
      // P0's seed values are this function's own temporaries: A and B are summed into them (an
      // embedding table's B is 187 MB for BERT-base).
      const a0 = r0(0);
      const b0 = r0(1);
      const a = K.ringAdd(a0, r1(0), a0);
      const b = K.ringAdd(b0, r1(1), b0);
      const ab = K.ringBatchedMatmul(a, regs[ins.outputs[0]!]!.shape, b, regs[ins.outputs[1]!]!.shape);
      const c = K.ringSub(ab, r0(2));
      recycle(ab);
      return c;
    }),
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
    dealer: correctedGate(2, [0, 1], (_i, _r, r0, r1) => K.ringTriple('and', r0(0), r1(0), r0(1), r1(1), r0(2))),
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
    // P1's seed values are [bit share] (output 1), so r1(1) is its first own value.
    dealer: correctedGate(
      0,
      [0, 1],
      (ins, regs, r0, _r1, seeds, p1Own) => {
        const b0 = r0(1);
        const b1 = p1Own?.[0] ?? prgBits(seeds.s1d, ins.outputs[1]!, outputSize(ins, regs, 1));
        const bit = K.ringXor(b0, b1);
        if (b1 !== p1Own?.[0]) recycle(b1);
        const c = K.ringSub(bit, r0(0));
        recycle(bit);
        return c;
      },
      [1],
    ),
  },
];
