// Splines by interval containment in one round (Boyle, Gilboa, Ishai, Kolobov et al.,
// "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure Computation", Eurocrypt 2021,
// the spline gate; SIGMA, PETS 2024, builds GELU, exp, reciprocal and rsqrt the same way).
//
//   fss_spline (local) (X = x + rho, r, key, own) -> [O, ...shape]: O piecewise-linear functions of x
//
// The dealer's material is an ordinary fss_key (fss.ts): an input mask and one DCF key with
// alpha = the mask's low bits. Online the parties open X = x + rho once (one ring word each,
// the open of an FSS comparison) and evaluate the one key at the m public points X - k_p, one
// per breakpoint k_p: the sign formula of fss.ts turns each into shares of d_p = [x >= k_p]
// (and, for a relu key, of d_p rho), because X - k_p is (x - k_p) + rho under the same mask.
// A DCF key stays pseudorandom to its holder whatever points it is evaluated at, so one key per
// element serves all breakpoints (key bytes of one comparison, m evaluations of it locally).
//
// Function o on piece p (piece 0: x < k_1; piece p: k_p <= x < k_(p+1); piece m: x >= k_m) is
// (a_(o,p) + s_(o,p) x) / 2^(t_o), with a at scale f_x + t_o and s at scale t_o. Telescoping
// over the pieces, every product of a secret bit with x is local because x = X - rho with X
// public:
//
//   T_o = a_(o,0) + s_(o,0) x + sum_p (a_(o,p) - a_(o,p-1)) d_p + (s_(o,p) - s_(o,p-1)) (X d_p - d_p rho)
//
// exactly in Z_2^64 (the intermediate terms may wrap; the sum is the function's value). Then
// y_o = T_o / 2^(t_o): P0 floors its share, P1 rounds its share up, so the result is within one
// ulp, and exactly 0 where T_o is 0 (a zero piece stays an exact zero). As every local
// truncation of a product in the circuit, it is wrong with probability at most
// 2^(b+1-64) for a |T_o| of b bits (about 2^-27 for a value below 16 at t_o = f = 16).
// Piecewise-constant functions (every s zero) use t_o = 0 (no truncation: exact) and the
// smaller ltz key; any slope needs the relu key's d_p rho.
//
// Comparisons on `bits` bits are exact when every |x - k_p| < 2^(bits-1); at 64 bits, for
// every x whose distance to the breakpoints fits the ring.
//
// `drop` s > 0 (a continuous table's choice, protocols/spline.ts): the key ignores x's s lowest
// bits, s tree levels fewer per breakpoint; then for x in [k_p - 2^s, k_p) the piece starting
// at k_p may be taken (fss.ts), exact again with |x - k_p| < 2^(bits-1) - 2^s. Breakpoints must
// lie more than 2^s apart, so that at most one comparison is read early at any x and the result
// is always one of two adjacent pieces' lines. The table's builder allows a drop only where the
// next piece's line is within its tolerance there.

import { typeError } from '../../op.ts';
import { checkKey, fssSignSums, type FssMode } from './fss.ts';
import { A, int, ints, P, reg, type CircuitOpDef, type Ring } from '../gate.ts';
import type { CAttrs } from '../types.ts';
import * as K from '../../ring/kernels.ts';

/** The coefficient tables of a spline gate, checked: m breakpoints, O outputs of m + 1 pieces. */
export interface SplineTable {
  readonly knots: readonly number[];
  readonly shifts: readonly number[];
  /** O x (m + 1), output-major: intercepts at scale f_x + shift. */
  readonly a: readonly number[];
  /** O x (m + 1): slopes at scale shift. */
  readonly s: readonly number[];
  /** The low input bits its comparisons may ignore (see the header; default 0). */
  readonly drop?: number;
}

/** The key mode a table needs: relu (d rho) when any slope is nonzero. */
export const splineMode = (t: Pick<SplineTable, 's'>): FssMode => (t.s.some((v) => v !== 0) ? 'relu' : 'ltz');

function tableOf(a: CAttrs): SplineTable {
  const knots = ints(a, 'knots');
  const shifts = ints(a, 'shifts');
  const av = ints(a, 'a');
  const sv = ints(a, 's');
  const m = knots.length;
  if (m < 1) typeError('fss_spline: needs at least one breakpoint');
  for (let i = 1; i < m; i++) if (!(knots[i]! > knots[i - 1]!)) typeError(`fss_spline: breakpoints must increase strictly (${knots[i - 1]} then ${knots[i]})`);
  if (shifts.length < 1 || shifts.some((t) => t < 0 || t > 62)) typeError('fss_spline: shifts must be one value in 0..62 per output');
  const o = shifts.length;
  if (av.length !== o * (m + 1) || sv.length !== o * (m + 1)) typeError(`fss_spline: ${o} outputs over ${m + 1} pieces need ${o * (m + 1)} intercepts and slopes, got ${av.length} and ${sv.length}`);
  return { knots, shifts, a: av, s: sv };
}

const ring = (v: number): bigint => BigInt.asUintN(64, BigInt(v));

/** Party `party`'s shares of the O outputs ([O, n], output-major) from X, its mask share r_b and its key (ignoring `drop` low bits of x). */
export function splineShares(t: SplineTable, mode: FssMode, bits: number, party: 0 | 1, xh: Ring, rb: Ring, cw: Ring, own: Ring, drop = 0): Ring {
  const n = xh.length;
  const m = t.knots.length;
  const o = t.shifts.length;
  // Per output: the steps (a_p - a_(p-1)) d_p + (s_p - s_(p-1)) (X d_p - d_p rho) summed over the
  // breakpoints inside the DCF evaluation (d_p at the point X - k_p), then the first piece's line.
  const step = (c: readonly number[]): Ring => {
    const out = new BigUint64Array(o * m);
    for (let q = 0; q < o; q++) for (let p = 0; p < m; p++) out[q * m + p] = ring(c[q * (m + 1) + p + 1]! - c[q * (m + 1) + p]!);
    return out;
  };
  const first = (c: readonly number[]): Ring => BigUint64Array.from({ length: o }, (_, q) => ring(c[q * (m + 1)]!));
  const knots = BigUint64Array.from(t.knots, ring);
  let acc = fssSignSums(mode, bits, party, xh, rb, cw, own, knots, step(t.a), mode === 'relu' ? step(t.s) : undefined, drop);
  // This party's share of x = X - rho: P0 holds X + r_0, P1 r_1.
  if (t.s.some((v, i) => v !== 0 && i % (m + 1) === 0)) acc = K.ringAdd(acc, K.ringMatmul(first(t.s), party === 0 ? K.ringAdd(xh, rb) : rb, o, 1, n));
  if (party === 0) acc = K.ringBinary(acc, [o, n], first(t.a), [o, 1], 'add');
  for (let q = 0; q < o; q++) {
    const sh = t.shifts[q]!;
    if (sh === 0) continue;
    const row = acc.subarray(q * n, (q + 1) * n);
    // P0 floors its share, P1 rounds its share up: within one ulp, and an exact 0 stays 0.
    row.set(party === 0 ? K.ringSar(row, sh) : K.ringNegSarNeg(row, sh));
  }
  return acc;
}

export const FSS_SPLINE_GATES: readonly CircuitOpDef[] = [
  {
    name: 'fss_spline',
    summary: 'piecewise-linear functions of x from one opened x + r and one DCF key evaluated at every breakpoint; inputs (x + r, r, key, own), output [O, ...shape] (see fss-spline.ts)',
    cls: 'local',
    inputs: [P, A, ['key'], ['key']],
    attrs: { bits: { kind: 'int' }, mode: { kind: 'string' }, knots: { kind: 'ints' }, shifts: { kind: 'ints' }, a: { kind: 'ints' }, s: { kind: 'ints' }, drop: { kind: 'int', default: 0 } },
    infer([xh, r, key, own], a) {
      const t = tableOf(a);
      const bits = int(a, 'bits');
      const mode = a['mode'] as string;
      if (mode !== 'ltz' && mode !== 'relu') typeError(`fss_spline: mode must be ltz or relu, got '${mode}'`);
      if (mode !== splineMode(t)) typeError(`fss_spline: a table ${splineMode(t) === 'relu' ? 'with' : 'without'} slopes needs a ${splineMode(t)} key, got ${mode}`);
      if (!Number.isInteger(bits) || bits < 2 || bits > 64) typeError(`fss_spline: bits must be in 2..64, got ${bits}`);
      if (xh!.shape.length !== r!.shape.length || xh!.shape.some((d, i) => d !== r!.shape[i])) typeError('fss_spline: the opened value and the mask must have one shape');
      const drop = int(a, 'drop');
      checkKey('fss_spline', key!, own!, xh!.shape, bits, mode, drop);
      for (let i = 1; drop > 0 && i < t.knots.length; i++) {
        if (t.knots[i]! - t.knots[i - 1]! <= 2 ** drop) typeError(`fss_spline: ignoring ${drop} low bits needs breakpoints more than 2^${drop} apart (${t.knots[i - 1]} and ${t.knots[i]})`);
      }
      return [reg('ashr', [t.shifts.length, ...xh!.shape], xh!.scale)];
    },
    evaluate(env) {
      const { ins, party } = env;
      const t = tableOf(ins.attrs);
      return [splineShares(t, ins.attrs['mode'] as FssMode, ins.attrs['bits'] as number, party, env.get(ins.inputs[0]!), env.get(ins.inputs[1]!), env.get(ins.inputs[2]!), env.get(ins.inputs[3]!), ins.attrs['drop'] as number)];
    },
  },
];
