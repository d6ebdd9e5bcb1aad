// Function-secret-sharing comparisons (Boyle et al., Eurocrypt 2021): the dealer samples an
// input mask r and gives each party a DCF key; online the parties open x + r (one round, one
// ring word each) and each evaluates its key locally on the opened value.
//
//   fss_key  (dealer) -> r (a random arithmetic mask), key (the correction words), own (the party's part of its key)
//   fss_eval (local)  (x + r, r, key, own) -> shares of [x < 0] (mode ltz, scale 0) or ReLU(x) (mode relu)
//
// The open is x - r (the leakage rule's form), i.e. x + rho with rho = -r; below, r stands for
// rho, the mask as the comparison sees it.
//
// Sign on m bits (x known to satisfy -2^(m-1) <= x < 2^(m-1)): with X = x + r, and ' the low
// m-1 bits, MSB_m(x) = X_{m-1} ^ r_{m-1} ^ [X' < r'] (the borrow of X' - r'). The DCF on m-1
// bits with alpha = r' gives shares of c = [X' < r'] times its payload beta; with
// beta = (1 - 2 r_{m-1}) and a share of the constant r_{m-1}, the parties hold shares of
// e = r_{m-1} ^ c, so [x < 0] = X_{m-1} ? 1 - e : e locally. ReLU(x) = d (X - r) with
// d = 1 - [x < 0] needs shares of d and of d*r: a second payload word beta_1 = (1 - 2 r_{m-1}) r
// and constant r_{m-1} r give shares of e*r, so ReLU comes out of the same round with no product.
// On m = 64 bits the result is exact for every ring element.
//
// A key may ignore its input's `drop` = s lowest bits (a spline's, fss-spline.ts): the DCF then
// runs on the m-1-s bits X' >> s against alpha = r' >> s, s levels fewer (and s levels' fewer
// correction words). Its c differs from [X' < r'] only where X' >> s = r' >> s and X' < r', i.e.
// where (x - k) mod 2^(m-1) lies in [2^(m-1) - 2^s, 2^(m-1)): for |x - k| < 2^(m-1) - 2^s, only
// for x in [k - 2^s, k), which the result then reads as x >= k.
//
// Key of party b per element: its root seed (2 words, drawn from the seed it shares with the
// dealer: free), its share of the constants (g words: P0 draws its own, P1's is sent), and the
// correction words, the same for both parties and sent to both (dcfCorrectionRows(m-1, g)).
// They are two registers: `key`, the correction words exactly as they arrive from the dealer
// (P1's words are its constant shares then the correction words: `key` is a view of them), and
// `own`, the root seeds then the constant shares (2 + g words per element), so a party's key is
// never copied word by word when it arrives.

import { typeError } from '../../op.ts';
import { numel } from '../../types.ts';
import { dcfCorrectionRows, dcfEvalChunks, dcfGenChunks } from '../../ring/dcf.ts';
import * as K from '../../ring/kernels.ts';
import { allocLent, allocRing, recycle } from '../../ring/pool.ts';
import { prgRing } from '../../ring/stream.ts';
import { A, BYTES_PER_ELEMENT, checkShape, int, ints, P, reg, type CircuitOpDef, type DealerGate, type Ring } from '../gate.ts';
import type { CAttrs, Instruction, RegType } from '../types.ts';

export const FSS_MODES = ['ltz', 'relu'] as const;
export type FssMode = (typeof FSS_MODES)[number];

/** Payload words: ltz needs e, relu e and e*r. */
const payloadOf = (mode: FssMode): number => (mode === 'ltz' ? 1 : 2);

function modeOf(op: string, a: CAttrs): FssMode {
  const m = a['mode'] as string;
  if (!(FSS_MODES as readonly string[]).includes(m)) typeError(`${op}: mode must be one of ${FSS_MODES.join(', ')}, got '${m}'`);
  return m as FssMode;
}

function bitsOf(op: string, a: CAttrs): number {
  const m = int(a, 'bits');
  if (!Number.isInteger(m) || m < 2 || m > 64) typeError(`${op}: bits must be in 2..64, got ${m}`);
  return m;
}

/** Key words per element of an m-bit comparison with g payload words: root seed, constant shares, correction words. */
export function fssKeyWords(bits: number, mode: FssMode, drop = 0): number {
  return fssOwnWords(mode) + fssCorrectionWords(bits, mode, drop);
}

/** The DCF's depth: the m - 1 low bits of the sign formula, less the `drop` lowest bits it ignores. */
const dcfBits = (bits: number, drop: number): number => bits - 1 - drop;

/** Correction words per element (the `key` register's rows). */
export const fssCorrectionWords = (bits: number, mode: FssMode, drop = 0): number => dcfCorrectionRows(dcfBits(bits, drop), payloadOf(mode));

/** The party's own key words per element: root seed (2), constant shares (g) (the `own` register's rows). */
export const fssOwnWords = (mode: FssMode): number => 2 + payloadOf(mode);

/** Dealer bytes per element to [P0, P1]: the correction words to both, P1's constant shares to P1. */
export function fssKeyBytesPerElement(bits: number, mode: FssMode, drop = 0): [number, number] {
  const g = payloadOf(mode);
  const cw = dcfCorrectionRows(dcfBits(bits, drop), g) * BYTES_PER_ELEMENT;
  return [cw, cw + g * BYTES_PER_ELEMENT];
}

interface KeyLayout {
  readonly n: number;
  readonly bits: number;
  readonly drop: number;
  readonly mode: FssMode;
  readonly g: number;
}

function layout(ins: Instruction, regs: readonly RegType[]): KeyLayout {
  const mode = ins.attrs['mode'] as FssMode;
  return { n: numel(regs[ins.outputs[0]!]!.shape), bits: ins.attrs['bits'] as number, drop: dropOf(ins.attrs), mode, g: payloadOf(mode) };
}

/** The low input bits a key's comparisons ignore (0 unless a spline allows it; fss-spline.ts). */
const dropOf = (a: CAttrs): number => (a['drop'] as number | undefined) ?? 0;

function checkDrop(op: string, bits: number, drop: number): void {
  if (!Number.isInteger(drop) || drop < 0 || dcfBits(bits, drop) < 1) typeError(`${op}: drop must be in 0..${bits - 2} for a ${bits}-bit comparison, got ${drop}`);
}

/** Party's seed-derived parts: its share of r, its root seeds (16 bytes per element), and (P0) its constant shares. */
const rShare = (ins: Instruction, l: KeyLayout, seed: Uint8Array): Ring => prgRing(seed, ins.outputs[0]!, l.n);
const rootSeeds = (ins: Instruction, l: KeyLayout, seed: Uint8Array): Ring => prgRing(seed, ins.outputs[1]!, 2 * l.n, 0);
const constShares = (ins: Instruction, l: KeyLayout, seed: Uint8Array): Ring => prgRing(seed, ins.outputs[1]!, l.g * l.n, 1);

const asBytes = (r: Ring): Uint8Array => new Uint8Array(r.buffer, r.byteOffset, r.byteLength);

const keyGate: DealerGate = {
  masks: [0],
  own(ins, regs, party, seed) {
    const l = layout(ins, regs);
    return party === 0 ? [rShare(ins, l, seed), rootSeeds(ins, l, seed), constShares(ins, l, seed)] : [rShare(ins, l, seed), rootSeeds(ins, l, seed)];
  },
  send(ins, regs, seeds) {
    const l = layout(ins, regs);
    const r0 = rShare(ins, l, seeds.s0d);
    const r1 = rShare(ins, l, seeds.s1d);
    const rho = K.ringNeg(K.ringAdd(r0, r1, r0));
    const seeds0 = rootSeeds(ins, l, seeds.s0d);
    const seeds1 = rootSeeds(ins, l, seeds.s1d);
    const p0Consts = constShares(ins, l, seeds.s0d);
    const words = fssKeys(l.mode, l.bits, rho, [asBytes(seeds0), asBytes(seeds1)], p0Consts, l.drop);
    // The seed-derived temporaries come back every layer: to the pool (the words hold none of them).
    for (const t of [r0, r1, rho, seeds0, seeds1, p0Consts]) recycle(t);
    return words;
  },
  bytes(ins, regs) {
    const l = layout(ins, regs);
    const [b0, b1] = fssKeyBytesPerElement(l.bits, l.mode, l.drop);
    return [b0 * l.n, b1 * l.n];
  },
  assemble(ins, regs, party, own, received) {
    // key = the correction words as received (P1: after its constant shares); mine = root seeds (2n words, element-major) | constant shares (g rows).
    const l = layout(ins, regs);
    const mine = allocRing((2 + l.g) * l.n);
    mine.set(own[1]!, 0);
    mine.set(party === 0 ? own[2]! : received!.subarray(0, l.g * l.n), 2 * l.n);
    return [own[0]!, party === 0 ? received! : received!.subarray(l.g * l.n), mine];
  },
};

/** The key registers of an m-bit comparison of `shape` (ignoring `drop` low bits): the correction words and the party's own words. */
export function checkKey(op: string, key: RegType, own: RegType, shape: readonly number[], bits: number, mode: FssMode, drop = 0): void {
  checkDrop(op, bits, drop);
  const fits = (r: RegType, rows: number): boolean => r.shape[0] === rows && numel(r.shape) === rows * numel(shape);
  if (!fits(key, fssCorrectionWords(bits, mode, drop)) || !fits(own, fssOwnWords(mode))) {
    typeError(`${op}: keys [${key.shape.join(',')}] and [${own.shape.join(',')}] do not fit a ${bits}-bit ${mode} comparison${drop > 0 ? ` ignoring ${drop} low bits` : ''} of [${shape.join(',')}]`);
  }
}

export const FSS_GATES: readonly CircuitOpDef[] = [
  {
    name: 'fss_key',
    summary: 'DCF comparison keys: an input mask r (random) and each party\'s key; the dealer sends both parties words (see fss.ts)',
    cls: 'dealer',
    inputs: [],
    attrs: { shape: { kind: 'ints' }, scale: { kind: 'int' }, bits: { kind: 'int' }, mode: { kind: 'string' }, drop: { kind: 'int', default: 0 } },
    infer(_, a) {
      const shape = ints(a, 'shape');
      checkShape('fss_key', shape);
      const mode = modeOf('fss_key', a);
      const bits = bitsOf('fss_key', a);
      const drop = dropOf(a);
      checkDrop('fss_key', bits, drop);
      if (int(a, 'scale') < 0) typeError('fss_key: scale must be >= 0');
      return [reg('ashr', shape, int(a, 'scale')), reg('key', [fssCorrectionWords(bits, mode, drop), ...shape], 0), reg('key', [fssOwnWords(mode), ...shape], 0)];
    },
    dealer: keyGate,
  },
  {
    name: 'fss_eval',
    summary: 'a party evaluates its DCF key at the opened x + r: shares of [x < 0] (ltz, scale 0) or ReLU(x) (relu); inputs (x + r, r, key, own)',
    cls: 'local',
    inputs: [P, A, ['key'], ['key']],
    attrs: { bits: { kind: 'int' }, mode: { kind: 'string' } },
    infer([xh, r, key, own], a) {
      const mode = modeOf('fss_eval', a);
      const bits = bitsOf('fss_eval', a);
      if (xh!.shape.length !== r!.shape.length || xh!.shape.some((d, i) => d !== r!.shape[i])) typeError('fss_eval: the opened value and the mask must have one shape');
      checkKey('fss_eval', key!, own!, xh!.shape, bits, mode);
      return [reg('ashr', xh!.shape, mode === 'ltz' ? 0 : xh!.scale)];
    },
    evaluate(env) {
      const { ins, party } = env;
      return [fssEvalShares(ins.attrs['mode'] as FssMode, ins.attrs['bits'] as number, party, env.get(ins.inputs[0]!), env.get(ins.inputs[1]!), env.get(ins.inputs[2]!), env.get(ins.inputs[3]!))];
    },
  },
];

/**
 * The dealer's words for comparisons with input masks `rho` (the opened value is x + rho):
 * [to P0: the correction words, to P1: its constant shares then the correction words].
 * `roots`: the parties' root seeds (16 bytes per element); `p0Consts`: P0's constant shares;
 * `drop`: the low bits the comparisons ignore (the DCF's point is alpha >> drop). Each party's
 * words are a lent array of its own (pool.ts allocLent): P0's must not carry P1's constant
 * shares, and a lent buffer comes back for the next layer's keys, where fresh memory would cost
 * ~15 us of page faults per 4 KiB (one thread running both parties: 70 s for BERT-base with
 * fss, 48 s with its keys' buffers recycled).
 *
 * The DCF's inputs (alpha, beta) and P1's constant shares are made chunk by chunk in the
 * kernels' memory (fssKeyPrep, dcf-wasm.ts), next to the key generation that uses them.
 */
export function fssKeys(mode: FssMode, bits: number, rho: Ring, roots: readonly [Uint8Array, Uint8Array], p0Consts: Ring, drop = 0): [Ring, Ring] {
  const n = rho.length;
  const g = payloadOf(mode);
  const top = bits - 1;
  const d = { count: n, bits: dcfBits(bits, drop), payload: g };
  // P1's words: its constant shares, then the correction words; P0's: the correction words, written with P1's chunk by chunk.
  const p1 = allocLent(g * n + dcfCorrectionRows(d.bits, g) * n);
  const cw = p1.subarray(g * n);
  const p0 = allocLent(cw.length);
  let RHO = 0, P0C = 0, P1C = 0;
  const low = (1n << BigInt(top)) - 1n;
  dcfGenChunks(d, roots, cw, {
    reserve(take, elements) {
      RHO = take(8 * elements);
      P0C = take(8 * g * elements);
      P1C = take(8 * g * elements);
    },
    chunk({ W, b64 }, e0, c, al, be) {
      b64.set(rho.subarray(e0, e0 + c), RHO / 8);
      for (let j = 0; j < g; j++) b64.set(p0Consts.subarray(j * n + e0, j * n + e0 + c), P0C / 8 + j * c);
      W[`fssKeyPrep${g}`]!(RHO, P0C, al, be, P1C, c, top, drop, low, 8 * c);
      // P1's constant shares: the constants minus P0's seed-drawn shares.
      for (let j = 0; j < g; j++) p1.set(b64.subarray(P1C / 8 + j * c, P1C / 8 + (j + 1) * c), j * n + e0);
    },
  }, p0);
  return [p0, p1];
}

/**
 * Party `party`'s shares of O sums over P points per key, the sign formula fused into the DCF's
 * last level (no array of points, bits or products exists): for key e (n keys), with X_e the
 * opened value, d_p = [X_e - offsets[p] - rho_e >= 0] and (relu keys) d_p rho_e,
 *
 *   acc[o, e] = sum_p ca[o, p] d_p + cs[o, p] (X_e d_p - d_p rho_e)
 *
 * (cs only for relu keys). ca and cs are O x P, output-major; the result is [O, n].
 * `rb`: the party's share of the open's mask r = -rho; `cw`: the key's correction words;
 * `own`: root seeds | constant shares.
 */
export function fssSignSums(mode: FssMode, bits: number, party: 0 | 1, xh: Ring, rb: Ring, cw: Ring, own: Ring, offsets: Ring, ca: Ring, cs: Ring | undefined, drop = 0): Ring {
  const g = payloadOf(mode);
  const n = xh.length;
  const P = offsets.length;
  const O = ca.length / P;
  if (rb.length !== n || !Number.isInteger(O) || (g === 2) !== (cs !== undefined) || (cs !== undefined && cs.length !== ca.length)) {
    throw new Error(`fssSignSums: ${n} keys, ${rb.length} mask shares, ${ca.length} / ${cs?.length} coefficients for ${P} points`);
  }
  // Every word is written below (each chunk's O rows).
  const out = allocRing(O * n);
  const root = new Uint8Array(own.buffer, own.byteOffset, 16 * n);
  let XK = 0, CK = 0, RK = 0, OF = 0, CA = 0, CS = 0, ACC = 0, ready = false;
  dcfEvalChunks({ count: n, bits: dcfBits(bits, drop), payload: g }, party, root, cw, { base: xh, offsets, drop }, {
    reserve(take, _lanes, keys) {
      XK = take(8 * keys);
      CK = take(8 * g * keys);
      RK = take(8 * keys);
      OF = take(8 * P);
      CA = take(8 * O * P);
      CS = take(8 * O * P);
      ACC = take(8 * O * keys);
    },
    chunk({ W, b64, y }, e0, kc) {
      if (!ready) {
        b64.set(offsets, OF / 8);
        b64.set(ca, CA / 8);
        if (cs !== undefined) b64.set(cs, CS / 8);
        ready = true;
      }
      b64.set(xh.subarray(e0, e0 + kc), XK / 8);
      for (let j = 0; j < g; j++) b64.set(own.subarray((2 + j) * n + e0, (2 + j) * n + e0 + kc), CK / 8 + j * kc);
      b64.set(rb.subarray(e0, e0 + kc), RK / 8);
      b64.fill(0n, ACC / 8, ACC / 8 + O * kc);
      W[`signAcc${g}`]!(y, XK, CK, RK, OF, CA, CS, ACC, kc, P, O, bits - 1, party === 0 ? 1 : 0);
      for (let o = 0; o < O; o++) out.set(b64.subarray(ACC / 8 + o * kc, ACC / 8 + (o + 1) * kc), o * n + e0);
    },
  });
  return out;
}

const ONE = BigUint64Array.of(1n);
const MINUS_ONE = BigUint64Array.of((1n << 64n) - 1n);
const ZERO = BigUint64Array.of(0n);

/**
 * Party `party`'s result from the opened X = x + rho, its share of the open's mask r = -rho,
 * and its key (correction words `cw`; `own`: root seeds | constant shares): its share of
 * [x < 0] (ltz) or of ReLU(x) (relu).
 */
export function fssEvalShares(mode: FssMode, bits: number, party: 0 | 1, xh: Ring, rb: Ring, cw: Ring, own: Ring): Ring {
  // ReLU(x) = d (X - rho) = X d - d rho.
  if (mode === 'relu') return fssSignSums(mode, bits, party, xh, rb, cw, own, ZERO, ZERO, ONE);
  // [x < 0] = 1 - d: P0 adds the 1.
  const y = fssSignSums(mode, bits, party, xh, rb, cw, own, ZERO, MINUS_ONE, undefined);
  if (party === 0) {
    const w = new Uint32Array(y.buffer, y.byteOffset, 2 * y.length);
    for (let e = 0; e < y.length; e++) {
      const lo = (w[2 * e]! + 1) >>> 0;
      w[2 * e] = lo;
      if (lo === 0) w[2 * e + 1] = (w[2 * e + 1]! + 1) >>> 0;
    }
  }
  return y;
}
