// Static costs of the protocol library against CrypTen's measured per-op table
// (shared/CRYPTEN-COSTS.md): unmerged rounds (communication instructions) and bytes on the
// wire, for the table's shapes. Circuits are built, not run.
//
// The expected numbers are CrypTen's per-element byte counts from its algorithms (each open
// of n ring elements is 16n bytes on the wire): mul 32, square 16, ltz 32 + 6*64 + 16 = 432,
// and so on; they reproduce the table's rounded MB figures.

import { describe, expect, it } from 'vitest';
import { CircuitBuilder, checkLeakage, circuitCost, type CircuitCost, type Reg } from '../ir/circuit/index.ts';
import * as P from '../compiler/backend/protocols/index.ts';

interface Measured {
  readonly unmerged: number;
  readonly merged: number;
  readonly bytes: number;
  readonly preUnmerged: number;
  readonly preBytes: number;
  readonly cost: CircuitCost;
}

/** Builds fn over a client input x of `shape` and returns its static cost. */
function costOf(shape: number[], fn: (b: CircuitBuilder, x: Reg) => unknown): Measured {
  const b = new CircuitBuilder();
  fn(b, b.input('x', 1, shape));
  const c = b.build();
  checkLeakage(c);
  const k = circuitCost(c);
  return { unmerged: k.unmergedRounds, merged: k.rounds, bytes: k.onlineBytes, preUnmerged: k.preprocessingUnmergedRounds, preBytes: k.preprocessingBytes, cost: k };
}

const numel = (s: number[]): number => s.reduce((p, d) => p * d, 1);
const FFN = [128, 3072];
const N = numel(FFN);
const C = P.CRYPTEN;

/** Table rows: [name, shape, build, CrypTen rounds, CrypTen bytes]. */
const ROWS: [string, number[], (b: CircuitBuilder, x: Reg) => unknown, number, number][] = [
  ['mul (private x private)', FFN, (b, x) => P.mul(b, x, b.input('y', 1, FFN)), 1, 32 * N],
  ['square', FFN, (b, x) => P.square(b, x), 1, 16 * N],
  ['matmul both private 768x768', [128, 768], (b, x) => P.matmul(b, x, b.input('w', 1, [768, 768])), 1, 16 * (128 * 768 + 768 * 768)],
  ['matmul both private 768x3072', [128, 768], (b, x) => P.matmul(b, x, b.input('w', 1, [768, 3072])), 1, 16 * (128 * 768 + 768 * 3072)],
  ['matmul public weight', [128, 768], (b, x) => P.matmulPublic(b, x, b.constant(0.01, 16, [768, 768])), 0, 0],
  ['ltz', FFN, (b, x) => P.ltz(b, x, C), 8, 432 * N],
  ['ReLU', FFN, (b, x) => P.relu(b, x, C), 9, 464 * N],
  ['exp', FFN, (b, x) => P.exp(b, x, C), 8, 128 * N],
  ['reciprocal all_pos', FFN, (b, x) => P.reciprocal(b, x, { allPos: true }, C), 28, 608 * N],
  ['reciprocal default (sign)', FFN, (b, x) => P.reciprocal(b, x, {}, C), 38, 1104 * N],
  ['inv_sqrt', FFN, (b, x) => P.invSqrt(b, x, C), 17, 368 * N],
  ['sqrt', FFN, (b, x) => P.sqrt(b, x, C), 18, 400 * N],
  ['erf', FFN, (b, x) => P.erf(b, x, C), 34, 752 * N],
  ['GELU erf form', FFN, (b, x) => P.gelu(b, x, { form: 'erf' }, C), 35, 784 * N],
  ['GELU tanh form', FFN, (b, x) => P.gelu(b, x, { form: 'tanh' }, C), 26, 832 * N],
  ['sigmoid', FFN, (b, x) => P.sigmoid(b, x, C), 23, 752 * N],
  ['tanh', FFN, (b, x) => P.tanh(b, x, C), 23, 752 * N],
  ['tanh (pooler)', [1, 768], (b, x) => P.tanh(b, x, C), 23, 752 * 768],
  // LayerNorm [128,768]: square 16|x|, inv_sqrt 368 per row, (x-mean)*r 16(|x|+rows), *gamma 16(|x|+768).
  ['LayerNorm private gamma/beta', [128, 768], (b, x) => P.layerNorm(b, x, b.input('g', 1, [768]), b.input('be', 1, [768]), 1e-12, C), 20, 16 * 98304 + 368 * 128 + 16 * (98304 + 128) + 16 * (98304 + 768)],
  ['LayerNorm public gamma/beta', [128, 768], (b, x) => P.layerNorm(b, x, b.constant(1, 16, [768]), b.constant(0, 16, [768]), 1e-12, C), 19, 16 * 98304 + 368 * 128 + 16 * (98304 + 128)],
];

describe('protocol costs equal CrypTen (unmerged rounds, bytes)', () => {
  for (const [name, shape, fn, rounds, bytes] of ROWS) {
    it(`${name} ${JSON.stringify(shape)}: ${rounds} rounds, ${bytes} bytes`, () => {
      const m = costOf(shape, fn);
      expect(m.unmerged).toBe(rounds);
      expect(m.bytes).toBe(bytes);
      expect(m.preUnmerged).toBe(0);
    });
  }

  it('matmul with a server weight: the weight mask opens in preprocessing, online only 16mk', () => {
    const m = costOf([128, 768], (b, x) => P.matmul(b, x, b.input('w', 0, [768, 768])));
    expect(m.unmerged).toBe(1);
    expect(m.bytes).toBe(16 * 128 * 768);
    expect(m.preUnmerged).toBe(1);
    expect(m.preBytes).toBe(16 * 768 * 768);
  });

  it('mul with broadcasting opens each operand at its own shape: 16(|x| + |y|)', () => {
    const m = costOf([12, 128, 128], (b, x) => P.mul(b, x, b.input('k', 1, [12, 128, 1])));
    expect(m.unmerged).toBe(1);
    expect(m.bytes).toBe(16 * (12 * 128 * 128 + 12 * 128));
  });

  // max / softmax over rows of 128 (CrypTen, log_reduction), per row:
  //   4 halving steps, (ge 432 + where 64) * (64 + 32 + 16 + 8)   = 59520
  //   pairwise over 8 survivors: ge 432*56 + product tree 32*6*8 = 25728
  //   weighted_index(8): rand 16 bits 16*16 + rand*total 32 + gt 432*8 = 3744; max product 32*8 = 256
  //   one-hot argmax: eqz 208*128 + weighted_index(128) 16*16 + 32 + 432*128 = 82208
  // = 171456 = 1339.5 per element; rounds 40 + 8 + 3 + (1 + 1 + 8) + 1 + 7 + (1 + 1 + 8) = 79.
  // Deviation: the random numbers of the two tie-breaks depend on no input, so their
  // binary-to-arithmetic opens, and the r - a half of the product r * total, run in the
  // preprocessing phase (4 communications in 2 preprocessing rounds). Online: 79 - 2 = 77
  // communications; the bytes online + preprocessing are exactly CrypTen's.
  const expectMaxComms = (m: Measured, crypten: number): void => {
    expect(m.unmerged).toBe(crypten - 2);
    expect(m.preUnmerged).toBe(4);
    expect(m.cost.preprocessingRounds).toBe(2);
  };
  const rows = 12 * 128;
  const maxRow = 171456;
  const maxPre = 2 * (16 * 16 + 16);
  it('max over the last dim [12,128,128]: 79 rounds in CrypTen = 77 online here (+ 2 preprocessing), 1339.5 B/elem in total', () => {
    const m = costOf([12, 128, 128], (b, x) => P.max(b, x, -1, C));
    expectMaxComms(m, 79);
    expect(m.bytes + m.preBytes).toBe(maxRow * rows);
    expect(m.preBytes).toBe(maxPre * rows);
  });

  it('argmax over the last dim [12,128,128]: 79 communications, 1339.5 B/elem in total', () => {
    const m = costOf([12, 128, 128], (b, x) => P.argmax(b, x, -1, C));
    expectMaxComms(m, 79);
    expect(m.bytes + m.preBytes).toBe(maxRow * rows);
  });

  // softmax: max + exp 128/elem + reciprocal 608 per row + e * inv 16(|e| + rows).
  const softRow = (n: number): number => maxRow + 128 * n + 608 + 16 * (n + 1);
  for (const heads of [12, 2]) {
    it(`softmax dim -1 [${heads},128,128]: 116 communications, 1488.4 B/elem`, () => {
      const m = costOf([heads, 128, 128], (b, x) => P.softmax(b, x, -1, undefined, C));
      expectMaxComms(m, 116);
      expect(m.bytes + m.preBytes).toBe(softRow(128) * heads * 128);
    });
  }

  it('softmax with a keep mask: one more product, 16(|e| + |keep|) bytes', () => {
    const plain = costOf([1, 2, 128, 128], (b, x) => P.softmax(b, x, -1, undefined, C));
    const masked = costOf([1, 2, 128, 128], (b, x) => P.softmax(b, x, -1, b.input('keep', 1, [1, 1, 1, 128], { encoding: 'keepmask' }), C));
    expect(masked.unmerged).toBe(plain.unmerged + 1);
    expect(masked.bytes - plain.bytes).toBe(16 * (2 * 128 * 128 + 128));
  });

  it('PolySoftmax with the max shift [12,128,128]: 109 communications, 1376.4 B/elem', () => {
    const m = costOf([12, 128, 128], (b, x) => P.polySoftmax(b, x, -1, { degree: 2, shift: true }, undefined, C));
    expectMaxComms(m, 109);
    // max + square 16/elem + reciprocal 608 per row + q * inv 16(|q| + rows)
    expect(m.bytes + m.preBytes).toBe((maxRow + 16 * 128 + 608 + 16 * 129) * rows);
  });
});

describe('merged rounds (schedule) are below the unmerged count where steps are independent', () => {
  it('erf: all odd powers in parallel; the deepest, x^15 by CrypTen pow, takes 6 rounds', () => {
    // CrypTen's pow rounds for x^3..x^17: 2,3,4,4,5,5,6,5 (sum 34, max 6).
    const m = costOf(FFN, (b, x) => P.erf(b, x, C));
    expect(m.unmerged).toBe(34);
    expect(m.merged).toBe(6);
  });

  it('erf-tree: x^2..x^17 from one product tree: ceil(log2 17) = 5 rounds, far fewer products', () => {
    const m = costOf(FFN, (b, x) => P.erf(b, x, { ...C, erfMethod: 'erf-tree' }));
    const crypten = costOf(FFN, (b, x) => P.erf(b, x, C));
    expect(m.merged).toBe(5);
    expect(m.unmerged).toBeLessThan(crypten.unmerged / 2);
    expect(m.bytes).toBeLessThan(crypten.bytes);
  });

  it('fused LayerNorm: the gamma product beside invSqrt saves a round after merging', () => {
    const build = (cfg: P.ProtocolConfig) => (b: CircuitBuilder, x: Reg) => P.layerNorm(b, x, b.input('g', 1, [768]), b.input('be', 1, [768]), 1e-12, cfg);
    const plain = costOf([128, 768], build(C));
    const fused = costOf([128, 768], build({ ...C, layerNorm: 'fused' }));
    expect(plain.merged).toBe(20);
    expect(fused.merged).toBe(19);
    expect(fused.bytes).toBe(plain.bytes);
    // best: the normalized inverse square root (accurate down to 2^-16) is shorter still
    expect(costOf([128, 768], build(P.BEST)).merged).toBeLessThan(fused.merged);
  });

  it('the best preset is cheaper than CrypTen for softmax and max', () => {
    const s = [2, 128, 128];
    const sc = costOf(s, (b, x) => P.softmax(b, x, -1, undefined, C));
    const sb = costOf(s, (b, x) => P.softmax(b, x, -1, undefined, P.BEST));
    expect(sb.merged).toBeLessThan(sc.merged);
    expect(sb.bytes + sb.preBytes).toBeLessThan(sc.bytes + sc.preBytes);
    // tree max: log2(128) = 7 levels of ge (8) + one-product where (1)
    expect(costOf(s, (b, x) => P.max(b, x, -1, P.BEST)).merged).toBe(7 * 9);
  });

  const MERGED: [string, number[], (b: CircuitBuilder, x: Reg) => unknown][] = [
    ['GELU erf', FFN, (b, x) => P.gelu(b, x, { form: 'erf' }, C)],
    ['GELU tanh', FFN, (b, x) => P.gelu(b, x, { form: 'tanh' }, C)],
    ['sigmoid', FFN, (b, x) => P.sigmoid(b, x, C)],
    ['max', [12, 128, 128], (b, x) => P.max(b, x, -1, C)],
    ['softmax', [12, 128, 128], (b, x) => P.softmax(b, x, -1, undefined, C)],
    ['PolySoftmax', [12, 128, 128], (b, x) => P.polySoftmax(b, x, -1, { degree: 2, shift: true }, undefined, C)],
    ['reciprocal goldschmidt', FFN, (b, x) => P.reciprocal(b, x, { allPos: true }, P.BEST)],
    ['GELU puma', FFN, (b, x) => P.gelu(b, x, { form: 'puma' }, C)],
  ];
  for (const [name, shape, fn] of MERGED) {
    it(`${name}: merged < unmerged, and merged = the critical path`, () => {
      const m = costOf(shape, fn);
      expect(m.merged).toBeLessThan(m.unmerged);
      expect(m.cost.byRound.filter((r) => r.phase === 'online').length).toBe(m.merged);
    });
  }
});

describe('protocol configuration', () => {
  it('presets by name, with overrides; unknown names and values are usage errors', () => {
    expect(P.protocolConfig('crypten').maxMethod).toBe('log-reduction');
    expect(P.protocolConfig('best').layerNorm).toBe('fused');
    expect(P.protocolConfig('crypten,maxMethod=tree,expIterations=9')).toMatchObject({ maxMethod: 'tree', expIterations: 9 });
    expect(() => P.protocolConfig('fast')).toThrow(/unknown protocol preset 'fast'/);
    expect(() => P.protocolConfig('crypten,foo=1')).toThrow(/unknown protocol option 'foo'/);
    expect(() => P.protocolConfig('crypten,maxMethod=quick')).toThrow(/maxMethod must be one of/);
  });

  it('variant names are stamped on the instructions', () => {
    const b = new CircuitBuilder();
    P.layerNorm(b, b.input('x', 1, [2, 4]), b.input('g', 1, [4]), b.input('be', 1, [4]), 1e-5, P.BEST);
    const c = b.build();
    expect(new Set(c.instructions.filter((i) => i.op === 'open').map((i) => i.prov.protocol))).toEqual(new Set(['layernorm-fused']));
  });
});
