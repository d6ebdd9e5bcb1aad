// FSS comparison widths from range analysis (compiler/backend/fss-bits.ts, secure-range.ts):
// the m-bit gates equal their plaintext function for every x within 2^(m-1) (random m, the
// edges of the range, masks at the extremes of their low m bits); a spline restricted to a
// proven range on the bits it needs equals the full table on 64 bits there; the secure
// LayerNorm stays within the bound range analysis gives its output (rows at the Cauchy-Schwarz
// extreme and near-constant rows included); a Linear's rule bounds its evaluator; and the fss
// preset runs each comparison of bert-tiny on fewer than 64 bits, reported per op.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { comparisonBits } from '../compiler/backend/fss-bits.ts';
import * as P from '../compiler/backend/protocols/index.ts';
import * as S from '../compiler/backend/protocols/spline.ts';
import { costJson, formatCostTable, fssWidthRows } from '../compiler/backend/report/index.ts';
import { CLAMPED_ROW, layerNormBound, linearBound } from '../compiler/backend/secure-range.ts';
import { loadModel } from '../compiler/load.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { CircuitBuilder } from '../ir/circuit/index.ts';
import { fssEvalShares, type FssMode } from '../ir/circuit/gates/fss.ts';
import { splineMode, splineShares, type SplineTable } from '../ir/circuit/gates/fss-spline.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit } from '../runtime/index.ts';
import { gateKeys, opened, M64, rand64 } from './fss-helpers.ts';

const signed = (v: bigint): bigint => BigInt.asIntN(64, v);

/** Both parties' keys for masks rho: the key words each party assembles. */
function gate(mode: FssMode, bits: number, xs: readonly bigint[], rhos: readonly bigint[]): bigint[] {
  const [k0, k1] = gateKeys(mode, bits, BigUint64Array.from(rhos));
  const { X, r0, r1 } = opened(xs, rhos);
  const y0 = fssEvalShares(mode, bits, 0, X, r0, ...k0);
  const y1 = fssEvalShares(mode, bits, 1, X, r1, ...k1);
  return xs.map((_, i) => (y0[i]! + y1[i]!) & M64);
}

function spline(t: SplineTable, bits: number, xs: readonly bigint[], rhos: readonly bigint[]): bigint[][] {
  const mode = splineMode(t);
  const [k0, k1] = gateKeys(mode, bits, BigUint64Array.from(rhos));
  const { X, r0, r1 } = opened(xs, rhos);
  const n = xs.length;
  const y0 = splineShares(t, mode, bits, 0, X, r0, ...k0);
  const y1 = splineShares(t, mode, bits, 1, X, r1, ...k1);
  return t.shifts.map((_, q) => xs.map((_, i) => signed(y0[q * n + i]! + y1[q * n + i]!)));
}

/** Masks whose low m bits sit at the extremes (0, 1, 2^(m-1) - 1, 2^(m-1), 2^m - 1), high bits random. */
function edgeMasks(m: number): bigint[] {
  const low = (1n << BigInt(m)) - 1n;
  const half = 1n << BigInt(m - 1);
  return [0n, 1n, half - 1n, half, low, M64].map((v) => ((rand64() & ~low) | (v & low)) & M64);
}

describe('m-bit comparisons within their proven range', () => {
  it('ltz and relu equal [x < 0] and max(x, 0) for every |x| < 2^(m-1), m random in 2..64; edges and extreme masks (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.array(fc.bigInt({ min: 0n, max: M64 }), { minLength: 1, maxLength: 12 }), (m, rs) => {
        const half = 1n << BigInt(m - 1);
        const xs = [0n, 1n, -1n, half - 1n, -half, -half + 1n, ...rs.map((r) => (r % (2n * half)) - half)].map((v) => v & M64);
        const masks = edgeMasks(m);
        const rhos = xs.map((_, i) => (i < masks.length * 2 ? masks[i % masks.length]! : rand64()));
        const lt = gate('ltz', m, xs, rhos);
        const re = gate('relu', m, xs, rhos);
        xs.forEach((x, i) => {
          expect(lt[i], `m=${m} x=${signed(x)} rho=${rhos[i]}`).toBe(signed(x) < 0n ? 1n : 0n);
          expect(re[i], `m=${m} x=${signed(x)} rho=${rhos[i]}`).toBe(signed(x) < 0n ? 0n : x);
        });
      }),
      { numRuns: 40 },
    );
  });

  it("fssBits: 'auto' is the fss preset's default and can be named; a number stays a number; crypten and best keep 64", () => {
    expect(P.protocolConfig('fss').fssBits).toBe('auto');
    expect(P.protocolConfig('fss,fssBits=auto').fssBits).toBe('auto');
    expect(P.protocolConfig('fss,fssBits=33').fssBits).toBe(33);
    expect(P.protocolConfig('best').fssBits).toBe(64);
    expect(P.protocolConfig('crypten').fssBits).toBe(64);
    expect(() => P.protocolConfig('fss,fssBits=automatic')).toThrow(/fssBits needs 'auto' or an integer in 2\.\.64, got 'automatic'/);
  });

  it('the width a bound needs: the bound in ring units with its margin, plus the sign bit', () => {
    expect(comparisonBits(-2.25, 99.75, 16)).toBe(24);
    expect(comparisonBits(0, 0, 16)).toBe(14); // 1/16 + 2 ulp
    expect(comparisonBits(-(2 ** 20), 1, 16)).toBe(38);
    expect(comparisonBits(-(2 ** 50), 0, 16)).toBe(64);
  });
});

describe('splines restricted to a proven range', () => {
  const f = 16;
  const tables: [string, SplineTable][] = [
    ['gelu', S.geluTable('erf', f)],
    ['exp', S.expTable(f)],
    ['reciprocal', S.reciprocalTable(f)],
    ['rsqrt', S.rsqrtTable(f, -7, 8, Math.sqrt(64))],
  ];
  const ranges: [number, number][] = [
    [-3, 2.5],
    [-40, 0],
    [0.01, 9],
    [-1000, 1000],
    [100, 300],
  ];

  it.each(tables)('%s: the restricted table on the bits its range needs equals the full table on 64 bits (x at the range ends, the breakpoints inside, 0; extreme masks)', (_, t) => {
    for (const [lo, hi] of ranges) {
      const L = Math.floor(lo * 2 ** f);
      const H = Math.ceil(hi * 2 ** f);
      const r = S.restrictSpline(t, L, H);
      expect(r.knots.length).toBeGreaterThan(0);
      expect(r.knots.length).toBeLessThanOrEqual(t.knots.length);
      const bits = comparisonBits(lo - r.knots[r.knots.length - 1]! / 2 ** f, hi - r.knots[0]! / 2 ** f, f);
      expect(bits).toBeLessThan(64);
      const inside = t.knots.filter((k) => k > L && k <= H);
      const pts = [L, H, L + 1, H - 1, 0, ...inside.slice(0, 40), ...inside.slice(0, 40).map((k) => k - 1)].filter((v) => v >= L && v <= H);
      const xs = [...new Set(pts)].map((v) => BigInt(v) & M64);
      const masks = edgeMasks(bits);
      const rhos = xs.map((_, i) => (i < masks.length ? masks[i]! : rand64()));
      const full = spline(t, 64, xs, rhos);
      const got = spline(r, bits, xs, rhos);
      for (let q = 0; q < t.shifts.length; q++) {
        got[q]!.forEach((v, i) => {
          const d = v - full[q]![i]!;
          // the same function: equal, up to the one ulp each evaluation's truncation may differ by
          expect(d >= -1n && d <= 1n, `[${lo}, ${hi}] output ${q} x=${signed(xs[i]!)}: ${v} vs ${full[q]![i]}`).toBe(true);
        });
      }
    }
  });
});

describe('range rules for the secure values', () => {
  it('the secure LayerNorm (fss preset) stays within its bound: rows at the Cauchy-Schwarz extreme, near-constant rows, random rows', () => {
    const d = 64;
    const rows: number[][] = [];
    const spike = (v: number): number[] => Array.from({ length: d }, (_, i) => (i === 0 ? v : 0));
    rows.push(spike(5), spike(-300), spike(0.01));
    // sums of squares around the spline's lowest bucket (a few ulp): its clamped range
    for (const k of [1, 1.5, 2, 2.3, 3]) rows.push(spike(k * 2 ** -8));
    rows.push(Array.from({ length: d }, (_, i) => 3 + (i === 7 ? 2 ** -16 : 0)));
    rows.push(Array.from({ length: d }, () => 2));
    rows.push(Array.from({ length: d }, (_, i) => (i < d / 2 ? 1 : -1)));
    for (let k = 0; k < 4; k++) rows.push(Array.from({ length: d }, () => (Math.random() - 0.5) * 10 ** (k - 1)));
    const gamma = Array.from({ length: d }, (_, i) => (i === 0 ? 2.5 : (Math.random() - 0.5) * 3));
    const beta = Array.from({ length: d }, () => (Math.random() - 0.5) * 0.4);
    const [lo, hi] = layerNormBound(d, Tensor.from('f64', [d], gamma), Tensor.from('f64', [d], beta), [0, 0], [0, 0], 16, 2 ** -5)!;
    const b = new CircuitBuilder({ name: 'ln' });
    const x = b.input('x', 1, [rows.length, d]);
    b.bound(x, -300, 300);
    const y = P.layerNorm(b, x, b.constant(gamma, 16, [d]), b.constant(beta, 16, [d]), 1e-12, P.FSS);
    b.output(y, 'y');
    const res = runCircuit(b.build(), { inputs: new Map([['x', Tensor.from('f64', [rows.length, d], rows.flat())]]), weights: new Map() });
    const out = res.outputs.get('y')!.toNumbers();
    for (const v of out) {
      expect(v).toBeGreaterThanOrEqual(lo);
      expect(v).toBeLessThanOrEqual(hi);
    }
    // every row's norm (without beta) within the rows' norm bound: max|gamma| CLAMPED_ROW sqrt(d)
    const gmax = Math.max(...gamma.map(Math.abs));
    for (let r = 0; r < rows.length; r++) {
      const n2 = out.slice(r * d, (r + 1) * d).reduce((a, v, i) => a + (v - beta[i]!) ** 2, 0);
      expect(Math.sqrt(n2), `row ${r}`).toBeLessThanOrEqual((gmax + 2 ** -17) * CLAMPED_ROW * Math.sqrt(d));
    }
    // the spike rows reach gamma * sqrt(d - 1), within 1.5x of the bound (the rule is not vacuous)
    expect(Math.abs(out[0]!)).toBeGreaterThan(0.95 * 2.5 * Math.sqrt(d - 1));
    expect(hi).toBeLessThan(2.1 * (2.5 * Math.sqrt(d - 1) + 0.2));
  });

  it("a Linear's bound holds its evaluator's values for inputs within the input bound (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: 0, max: 50, noNaN: true }), (K, N, lo0, span) => {
        const lo = lo0;
        const hi = lo0 + span;
        const w = Array.from({ length: K * N }, () => (Math.random() - 0.5) * 4);
        const bias = Array.from({ length: N }, () => Math.random() - 0.5);
        // with the rows' norm bound too (Cauchy-Schwarz per column): the box's corner
        const norm = Math.sqrt(K) * Math.max(Math.abs(lo), Math.abs(hi));
        const [a, c] = linearBound([lo, hi], Tensor.from('f64', [K, N], w), Tensor.from('f64', [N], bias), 16, norm);
        for (let t = 0; t < 20; t++) {
          // corners and random points of the input box
          const x = Array.from({ length: K }, () => (t < 2 ? (t === 0 ? lo : hi) : Math.random() < 0.5 ? lo : lo + Math.random() * span));
          for (let j = 0; j < N; j++) {
            let v = bias[j]!;
            for (let i = 0; i < K; i++) v += x[i]! * w[i * N + j]!;
            expect(v).toBeGreaterThanOrEqual(a);
            expect(v).toBeLessThanOrEqual(c);
          }
        }
      }),
      { numRuns: 50 },
    );
  });
});

const TINY = join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx');

describe.skipIf(!existsSync(TINY))('per-op widths under the fss preset (bert-tiny, seq 8)', () => {
  it('every comparison and spline on fewer than 64 bits, reported per op kind with its dealer bytes; fewer dealer bytes than fssBits=64', () => {
    const g = loadModel(TINY, { batch: 1, seq: 8 });
    const auto = compileModel(g, { protocols: 'fss' });
    const wide = compileModel(g, { protocols: 'fss,fssBits=64' });
    const keys = auto.circuit.instructions.filter((i) => i.op === 'fss_key');
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((i) => (i.attrs['bits'] as number) < 64)).toBe(true);
    expect(wide.circuit.instructions.filter((i) => i.op === 'fss_key').every((i) => i.attrs['bits'] === 64)).toBe(true);
    expect(auto.cost.dealerBytes).toBeLessThan(0.7 * wide.cost.dealerBytes);
    expect(auto.cost.rounds).toBe(wide.cost.rounds);
    expect(auto.cost.onlineBytes).toBe(wide.cost.onlineBytes);
    const rows = fssWidthRows(auto.circuit);
    expect(rows.map((r) => r.opKind).sort()).toEqual(['activation', 'layernorm', 'pooler', 'softmax']);
    expect(rows.reduce((a, r) => a + r.dealerBytes, 0)).toBeLessThanOrEqual(auto.cost.dealerBytes);
    expect(costJson(auto).fssWidths).toEqual(rows);
    expect(formatCostTable(auto)).toMatch(/FSS key widths[\s\S]*activation\s+gelu-erf-cubic\s+\d+\s+\d+/);
    // the widest width any comparison needs is accepted explicitly; one less is refused
    const widest = Math.max(...rows.map((r) => r.maxBits));
    expect(() => compileModel(g, { protocols: `fss,fssBits=${widest}` })).not.toThrow();
    expect(() => compileModel(g, { protocols: `fss,fssBits=${widest - 1}` })).toThrow(new RegExp(`fssBits=${widest - 1}: cannot prove a ${widest - 1}-bit comparison safe in the \\w+ \\(protocol [\\w-]+\\): range analysis bounds its input to \\[.*use fssBits=${widest} or more`));
  });
});

const VIT = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'vit-digits-p2-scaled-relu');

describe.skipIf(!existsSync(`${VIT}.onnx`))('per-op widths on a ViT whose attention weights are not a convex combination (scaled-relu)', () => {
  it('narrow keys after the first LayerNorm; secure logits within 2e-3 of the plaintext evaluator; measured == static', () => {
    const c = readCasesFile(`${VIT}.cases.json`)[0]!;
    const px = c.inputs.get('pixel_values')!;
    const one = new Map([['pixel_values', new Tensor(px.dtype, [1, ...px.shape.slice(1)], px.toFloat64().slice(0, px.size / px.shape[0]!))]]);
    const r = compileModel(loadOnnxFile(`${VIT}.onnx`, { batch: 1 }).graph, { protocols: 'fss' });
    const rows = fssWidthRows(r.circuit);
    // the attention's ReLU and GELU are bounded (the pixels are not, so LayerNorm's sum of squares is not)
    expect(rows.find((w) => w.opKind === 'softmax')!.maxBits).toBeLessThan(40);
    expect(rows.find((w) => w.opKind === 'activation')!.maxBits).toBeLessThan(40);
    const run = runCircuit(r.circuit, { inputs: one, weights: r.weights, seed: new Uint8Array(16).fill(5), transcript: false });
    expect(run.cost.rounds).toBe(r.cost.rounds);
    expect(run.cost.bytesTotal).toBe(r.cost.bytesTotal);
    expect(run.cost.dealerBytes).toBe(r.cost.dealerBytes);
    const secure = run.outputs.get('logits')!.toFloat64();
    const plain = evaluate(r.graph, one).get('logits')!.toFloat64();
    let err = 0;
    for (let i = 0; i < plain.length; i++) err = Math.max(err, Math.abs(secure[i]! - plain[i]!));
    expect(err).toBeLessThan(2e-3);
  }, 300_000);
});
