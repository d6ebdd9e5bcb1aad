// Exact truncation (protocol option truncation=exact): a shift right by k bits that never
// wraps, at the price of one open. Local truncation (arith.ts `trunc`) shifts each share on its
// own and is garbage with probability |x| / 2^64 per element (see runtime/truncation-probe.ts);
// over an inference of tens of millions of truncated elements that is about one failure in a
// thousand inferences. Here the parties open c = x - m' with a dealer mask m' (uniform, so c
// tells nothing) and finish locally from dealer shares of m's high bits and top bit:
//
//   m = m' + 2^62 - 1 (the dealer's offset), so c = z - m with z = x + 2^62 - 1, which lies in
//   [0, 2^63) for |x| < 2^62. Over the integers z = c + m - w 2^64, where w = [c + m >= 2^64] is
//   msb(c) OR msb(m): with z < 2^63, c + m lies below 2^63 exactly when both top bits are 0, and
//   otherwise at or above 2^64. So w = msb(c) + msb(m) (1 - msb(c)): linear in shares of msb(m)
//   once c is public. Then
//
//   floor(z / 2^k) = (c >> k) + (m >> k) - w 2^(64-k) + carry,   carry = [c mod 2^k + m mod 2^k >= 2^k].
//
//   The carry needs a comparison; the result takes 1 - carry in its place instead, and drops the
//   offset (floor(z / 2^k) = floor((x - 1) / 2^k) + 2^(62-k)). Over the uniform mask the carry is
//   0 with probability (z mod 2^k + 1) / 2^k, so the result is floor(x / 2^k) + 1 with probability
//   (x mod 2^k) / 2^k, else floor(x / 2^k): unbiased stochastic rounding, the same as local
//   truncation's, and never a wrap. (Without the -1 in the offset it would be biased by 2^-k ulp;
//   dropping the carry alone, by -1 ulp: 2.5e-3 on spam-bert's logits.)
//
// Dealer: m' = m0 + m1 from the parties' seeds; P0 draws its shares of m >> k and msb(m) from
// its seed too, and P1 receives its two (16 bytes per element). Online: 8 bytes per element
// and party, one round.

import { typeError } from '../../op.ts';
import * as K from '../../ring/kernels.ts';
import { recycle } from '../../ring/pool.ts';
import { prgRing } from '../../ring/stream.ts';
import type { CAttrs } from '../types.ts';
import { A, BYTES_PER_ELEMENT, checkShape, int, ints, outputSize, P, reg, type CircuitOpDef, type DealerGate, type LocalEnv, type Ring } from '../gate.ts';

/** The dealer's offset is 2^62 - 1: the opened value is x + 2^62 - 1 - m, so |x| < 2^62 never wraps. */
export const TRUNC_OFFSET_BITS = 62;
const OFFSET = 1n << BigInt(TRUNC_OFFSET_BITS);
const Uint64Of = (v: bigint): Ring => BigUint64Array.of(v);
const OFFSET_WORD = Uint64Of(OFFSET - 1n);

function bitsOf(op: string, a: CAttrs, scale: number): number {
  const bits = int(a, 'bits');
  if (!Number.isInteger(bits) || bits < 1 || bits > TRUNC_OFFSET_BITS) typeError(`${op}: bits must be in 1..${TRUNC_OFFSET_BITS}, got ${bits}`);
  if (bits > scale) typeError(`${op} by ${bits} bits of a value at scale @${scale} would leave a negative scale`);
  return bits;
}

const pairDealer: DealerGate = {
  masks: [0],
  own(ins, regs, party, seed) {
    const n = outputSize(ins, regs, 0);
    const mask = prgRing(seed, ins.outputs[0]!, n);
    if (party === 1) return [mask];
    return [mask, prgRing(seed, ins.outputs[1]!, n), prgRing(seed, ins.outputs[2]!, n)];
  },
  send(ins, regs, seeds, p1Own) {
    const n = outputSize(ins, regs, 0);
    const bits = int(ins.attrs, 'bits');
    const m0 = prgRing(seeds.s0d, ins.outputs[0]!, n);
    const m1 = p1Own?.[0] ?? prgRing(seeds.s1d, ins.outputs[0]!, n);
    const m = K.ringBinary(K.ringAdd(m0, m1, m0), [n], OFFSET_WORD, [], 'add');
    const out = new BigUint64Array(2 * n);
    const high = K.ringShr(m, bits);
    const high0 = prgRing(seeds.s0d, ins.outputs[1]!, n);
    K.ringSub(high, high0, out.subarray(0, n));
    const top = K.ringShr(m, 63);
    const top0 = prgRing(seeds.s0d, ins.outputs[2]!, n);
    K.ringSub(top, top0, out.subarray(n));
    for (const t of [m0, m, high, high0, top, top0, ...(p1Own === undefined ? [m1] : [])]) recycle(t);
    return [undefined, out];
  },
  bytes: (ins, regs) => [0, 2 * outputSize(ins, regs, 0) * BYTES_PER_ELEMENT],
  assemble(ins, regs, party, own, received) {
    if (party === 0) return [...own];
    const n = outputSize(ins, regs, 0);
    return [own[0]!, received!.subarray(0, n), received!.subarray(n, 2 * n)];
  },
};

/** A party's share of the truncation from the opened c and its shares of m >> k and msb(m). */
function finish(e: LocalEnv): Ring[] {
  const k = int(e.ins.attrs, 'bits');
  const c = e.get(e.ins.inputs[0]!);
  const high = e.get(e.ins.inputs[1]!);
  const top = e.get(e.ins.inputs[2]!);
  const n = c.length;
  const temps: Ring[] = [];
  const t = (a: Ring): Ring => (temps.push(a), a);
  const cTop = t(K.ringShr(c, 63));
  // this party's share of w = msb(c) + msb(m) (1 - msb(c)) = msb(c) + msb(m) - msb(m) msb(c); P0 holds the public part
  let w = t(K.ringSub(top, t(K.ringMul(top, cTop))));
  if (e.party === 0) w = K.ringAdd(w, cTop, w);
  let y = K.ringSub(high, t(K.ringShl(w, 64 - k)));
  if (e.party === 0) {
    K.ringAdd(y, t(K.ringShr(c, k)), y);
    const shifted = K.ringBinary(y, [n], Uint64Of((OFFSET >> BigInt(k)) - 1n), [], 'sub');
    recycle(y);
    y = shifted;
  }
  for (const a of temps) recycle(a);
  return [y];
}

export const TRUNCATION_GATES: readonly CircuitOpDef[] = [
  {
    name: 'trunc_pair',
    summary: 'exact-truncation material: a mask m\' (uniform), shares of m >> bits and of msb(m), m = m\' + 2^62 - 1; dealer sends 2n words to P1',
    cls: 'dealer',
    inputs: [],
    attrs: { shape: { kind: 'ints' }, scale: { kind: 'int' }, bits: { kind: 'int' } },
    infer(_, a) {
      const shape = ints(a, 'shape');
      checkShape('trunc_pair', shape);
      const scale = int(a, 'scale');
      const bits = bitsOf('trunc_pair', a, scale);
      return [reg('ashr', shape, scale), reg('ashr', shape, scale - bits), reg('ashr', shape, 0)];
    },
    dealer: pairDealer,
  },
  {
    name: 'trunc_exact',
    summary: "exact truncation's local step: from the opened c = x - m' and trunc_pair's shares of m >> bits and msb(m), shares of x >> bits (within one ulp below)",
    cls: 'local',
    inputs: [P, A, A],
    attrs: { bits: { kind: 'int' } },
    infer([c, high, top], a) {
      const bits = bitsOf('trunc_exact', a, c!.scale);
      for (const r of [high!, top!]) if (r.shape.length !== c!.shape.length || r.shape.some((d, i) => d !== c!.shape[i])) typeError('trunc_exact: the opened value and the pair must have one shape');
      if (high!.scale !== c!.scale - bits) typeError(`trunc_exact: the high bits must be at scale @${c!.scale - bits}, got @${high!.scale}`);
      return [reg('ashr', c!.shape, c!.scale - bits)];
    },
    evaluate: finish,
  },
];
