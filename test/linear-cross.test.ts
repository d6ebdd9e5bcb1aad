// Linear layers by a server weight as a cross product (protocols/linear.ts,
// ir/circuit/gates/cross.ts: send of P1's share, cross_combine_shared): the product of shared
// activations and the server's held weight, truncated back as every product. Its values are the
// plaintext product's within a truncation ulp; its bytes per round are the ones the protocol
// says (derived below from the operands' sizes, against the Beaver matmul's); measured == static
// in process, in worker threads and over TLS with a separate dealer; the leakage checker accepts
// P1's share sent under P1's fresh mask and rejects a reused or non-dealer mask; best and fss pick
// it for server weights, crypten and `linear=beaver` do not, and neither public weights nor
// products of two secret values use it; bert-tiny and spam-bert stay within 2e-3 of plaintext.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import * as P from '../compiler/backend/protocols/index.ts';
import { loadModel } from '../compiler/load.ts';
import { build } from '../ir/build.ts';
import { CircuitBuilder, checkLeakage, circuitCost, costSummary, decodeCircuit, encodeCircuit, findLeaks, parseCircuit, printCircuit, type Circuit } from '../ir/circuit/index.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode } from '../ir/node.ts';
import type { Reg } from '../ir/circuit/types.ts';
import { Tensor } from '../ir/tensor.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { runCircuit, runCircuitWorkers } from '../runtime/index.ts';
import { threeRoles, value } from './deploy-helpers.ts';

const seed = new Uint8Array(16).fill(5);
const ULP = 2 ** -16;

/** Entries that are multiples of 1/4 (exact at f = 16, so the ring product is exact before truncation), signed, some large. */
function values(shape: number[], salt: number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from('f64', shape, Array.from({ length: n }, (_, i) => (((i * 7919 + salt * 104729) % 61) - 30) / 4 + (i % 13 === 0 ? 200 : 0)));
}

/** x [..lead, k] @ w [k, n] in float64 (exact here: small multiples of 1/16). */
function product(x: Tensor, w: Tensor): number[] {
  const [k, n] = w.shape as [number, number];
  const xs = x.toFloat64();
  const ws = w.toFloat64();
  const m = xs.length / k;
  const out: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += xs[i * k + t]! * ws[t * n + j]!;
    out.push(s);
  }
  return out;
}

const maxErr = (a: ArrayLike<number>, b: ArrayLike<number>): number => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));

/** y = x @ w (+ an output), x a shared client input [..lead, k], w the server's held weight [k, n]. */
function linearCircuit(lead: number[], k: number, n: number, exactTruncation = false): Circuit {
  const b = new CircuitBuilder({ name: 'linear', exactTruncation });
  const x = b.input('x', 1, [...lead, k]);
  const w = b.input('w', 0, [k, n], { held: true });
  b.output(P.linearCross(b, x, w), 'y');
  return b.build();
}

/** The same product as a Beaver matmul of the shared x by the shared w (the `beaver` method). */
function beaverCircuit(lead: number[], k: number, n: number): Circuit {
  const b = new CircuitBuilder({ name: 'linear-beaver' });
  const x = b.input('x', 1, [...lead, k]);
  const w = b.input('w', 0, [k, n]);
  b.output(P.matmul(b, x, w), 'y');
  return b.build();
}

function io(lead: number[], k: number, n: number): { inputs: Map<string, Tensor>; weights: Map<string, Tensor>; seed: Uint8Array } {
  return { inputs: new Map([['x', values([...lead, k], 1)]]), weights: new Map([['w', values([k, n], 2)]]), seed };
}

describe('linear layer as a cross product', () => {
  const shapes: [string, number[], number, number][] = [
    ['rows [1, 4]', [1, 4], 6, 3],
    ['batch and sequence [2, 3, 5]', [2, 3], 5, 7],
    ['one row', [1], 9, 2],
  ];
  for (const [name, lead, k, n] of shapes) {
    for (const exact of [false, true]) {
      it(`x @ w within one truncation ulp of the plaintext product (${name}, ${exact ? 'exact' : 'local'} truncation); measured == static`, () => {
        const c = linearCircuit(lead, k, n, exact);
        checkLeakage(c);
        const o = io(lead, k, n);
        const r = runCircuit(c, o);
        const y = r.outputs.get('y')!;
        expect(y.shape).toEqual([...lead, n]);
        expect(maxErr(y.toFloat64(), product(o.inputs.get('x')!, o.weights.get('w')!))).toBeLessThanOrEqual(ULP);
        const { byRound: _, ...measured } = r.cost;
        expect(measured).toEqual(costSummary(circuitCost(c)));
      });
    }
  }

  it('bytes per round: P1 sends its share minus A alone online, P0 sends W - B alone in preprocessing, the dealer |Y| words to P1; half a Beaver matmul\'s', () => {
    const [lead, k, n] = [[2, 3], 16, 8];
    const m = 6;
    const cross = circuitCost(linearCircuit(lead, k, n));
    const beaver = circuitCost(beaverCircuit(lead, k, n));
    const online = (c: typeof cross): number[][] => c.byRound.filter((r) => r.phase === 'online').map((r) => [r.bytesP0, r.bytesP1]);
    const pre = (c: typeof cross): number[][] => c.byRound.filter((r) => r.phase === 'pre').map((r) => [r.bytesP0, r.bytesP1]);
    // Online: the send (P1 -> P0, |X| words), then the output (P0's share of Y to the client).
    expect(online(cross)).toEqual([
      [0, 8 * m * k],
      [8 * m * n, 0],
    ]);
    // The Beaver matmul opens X - A both ways in the same first round.
    expect(online(beaver)).toEqual([
      [8 * m * k, 8 * m * k],
      [8 * m * n, 0],
    ]);
    expect(pre(cross)).toEqual([[8 * k * n, 0]]);
    expect(pre(beaver)).toEqual([[8 * k * n, 8 * k * n]]);
    expect(cross.rounds).toBe(beaver.rounds);
    // The dealer: masks from the seeds, P1's share of C = A@B as a correction (as the Beaver triple's).
    expect(cross.dealerBytesPerParty).toEqual([0, 8 * m * n]);
    expect(beaver.dealerBytesPerParty).toEqual([0, 8 * m * n]);
  });

  it('dense products: the server\'s (X0 + E)@W, the client\'s A@F and the dealer\'s A@B (a Beaver matmul: five)', () => {
    const [lead, k, n] = [[2, 3], 16, 8];
    const m = 6;
    const o = io(lead, k, n);
    expect(runCircuit(linearCircuit(lead, k, n), o).ringMacs).toBe(3 * m * k * n);
    expect(runCircuit(beaverCircuit(lead, k, n), o).ringMacs).toBe(5 * m * k * n);
  });

  it('prints as text that parses back to the same circuit', () => {
    const text = printCircuit(linearCircuit([2, 3], 4, 5));
    expect(text).toMatch(/own0\[2,3,4\]@16 = send %\d+, %\d+/);
    expect(text).toMatch(/ashr\[2,3,5\]@32 = cross_combine_shared /);
    expect(printCircuit(parseCircuit(text))).toBe(text);
  });

  it('a circuit file read back runs the same; worker threads give the in-process transcript and cost', async () => {
    const [lead, k, n] = [[2, 3], 5, 4];
    const c = decodeCircuit(encodeCircuit(linearCircuit(lead, k, n)));
    const o = io(lead, k, n);
    const a = runCircuit(c, o);
    const w = await runCircuitWorkers(c, o);
    expect(Array.from(w.outputs.get('y')!.toFloat64())).toEqual(Array.from(a.outputs.get('y')!.toFloat64()));
    expect(w.transcriptHash).toBe(a.transcriptHash);
    expect(w.cost).toEqual(a.cost);
  }, 60_000);

  it('over TLS with a separate dealer process: the product, and the static cost measured', async () => {
    const [lead, k, n] = [[1, 4], 6, 3];
    const c = linearCircuit(lead, k, n);
    const o = io(lead, k, n);
    const run = await threeRoles(c, { inputs: o.inputs, weights: o.weights });
    const r1 = value(run.p1);
    expect(maxErr(r1.outputs.get('y')!.toFloat64(), product(o.inputs.get('x')!, o.weights.get('w')!))).toBeLessThanOrEqual(ULP);
    expect(value(run.p0).outputs.size).toBe(0);
    const { byRound: _, ...measured } = r1.cost;
    expect(measured).toEqual(costSummary(circuitCost(c)));
    expect(value(run.dealer).bytes).toBe(circuitCost(c).dealerBytes);
  }, 60_000);
});

describe('leakage rule: a share sent under the sender\'s fresh mask', () => {
  /** The protocol spelled out, with hooks to break it. */
  function spelled(edit: { maskOf?: (b: CircuitBuilder) => Reg; sendTwice?: boolean } = {}): Circuit {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 4]);
    const w = b.input('w', 0, [4, 3], { held: true });
    const [a, mask] = b.dealer.crossMask([2], 4, 3, [16, 16]);
    const f = b.send(w, mask);
    const used = edit.maskOf?.(b) ?? a;
    const e = b.send(x, used);
    if (edit.sendTwice === true) b.send(b.add(x, x), used);
    b.output(b.trunc(b.crossCombineShared(x, e, w, a, f, b.dealer.crossTriple(a, mask))), 'y');
    return b.build();
  }

  it('accepts the protocol', () => {
    expect(findLeaks(spelled())).toEqual([]);
    expect(findLeaks(linearCircuit([3], 4, 2))).toEqual([]);
  });

  it('rejects P1\'s share sent twice under one mask', () => {
    expect(findLeaks(spelled({ sendTwice: true })).map((l) => l.message)).toEqual([expect.stringMatching(/used by more than one open/)]);
  });

  it('rejects P1\'s share sent under a value P1 holds that is not a dealer mask', () => {
    const leaks = findLeaks(spelled({ maskOf: (b) => b.input('other', 1, [2, 4], { held: true }) }));
    expect(leaks.map((l) => l.message)).toEqual([expect.stringMatching(/is not a random dealer mask/)]);
  });

  it('refuses to build a share sent under a shared value, or under a mask of another shape', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 4]);
    const [a] = b.dealer.crossMask([2], 4, 3, [16, 16]);
    expect(() => b.send(x, x)).toThrow(/input 1 must be own0 or own1, got ashr/);
    const [, bMask] = b.dealer.crossMask([4], 2, 3, [16, 16]); // B [2, 3]
    expect(() => b.send(x, bMask)).toThrow(/one shape/);
    expect(b.send(x, a).kind).toBe('own0');
  });
});

describe('lowering: which products are cross products', () => {
  const x = inputNode('x', { elem: 'f32', shape: [2, 3, 4], vis: 'client' }, { name: 'x' });
  const wt = values([4, 5], 3);
  const weight = (vis: 'server' | 'public') => constNode(new Tensor('f32', [4, 5], Float32Array.from(wt.toFloat64())), { elem: 'f32', shape: [4, 5], vis }, { name: `w.${vis}` });
  const bias = constNode(new Tensor('f32', [5], Float32Array.from([0.5, -1, 2, 0, 0.25])), { elem: 'f32', shape: [5], vis: 'server' }, { name: 'bias' });
  const xv = new Tensor('f32', [2, 3, 4], Float32Array.from(values([2, 3, 4], 4).toFloat64()));
  const ops = (c: Circuit): string[] => c.instructions.map((i) => i.op);
  const uses = (c: Circuit): boolean => ops(c).includes('cross_combine_shared');

  for (const op of ['Linear', 'MatMul'] as const) {
    it(`${op} by a server weight: best and fss use the cross product, crypten and best,linear=beaver the Beaver matmul; within an ulp of plaintext`, () => {
      const node = op === 'Linear' ? build('Linear', [x, weight('server'), bias], { role: 'query' }, { name: '/lin' }) : build('MatMul', [x, weight('server')], {}, { name: '/mm' });
      const g = new Graph('t', [x], [{ name: 'y', node }]);
      const plain = evaluate(g, new Map([['x', xv]])).get('y')!.toFloat64();
      for (const protocols of ['best', 'fss', 'crypten', 'best,linear=beaver', 'crypten,linear=cross'] as const) {
        const c = compileModel(g, { raise: false, protocols });
        const cross = protocols === 'best' || protocols === 'fss' || protocols === 'crypten,linear=cross';
        expect(uses(c.circuit)).toBe(cross);
        expect(ops(c.circuit).includes('beaver_matmul')).toBe(!cross);
        checkLeakage(c.circuit);
        const r = runCircuit(c.circuit, { inputs: new Map([['x', xv]]), weights: c.weights, seed });
        const { byRound: _, ...measured } = r.cost;
        expect(measured).toEqual(costSummary(c.cost));
        expect(maxErr(r.outputs.get('y')!.toFloat64(), plain)).toBeLessThanOrEqual(2 * ULP);
      }
    });
  }

  it('a public weight stays a local product; a product of two secret values stays a Beaver matmul', () => {
    const pub = new Graph('t', [x], [{ name: 'y', node: build('MatMul', [x, weight('public')], {}, { name: '/pub' }) }]);
    const cp = compileModel(pub, { raise: false, protocols: 'best' });
    expect(uses(cp.circuit)).toBe(false);
    expect(ops(cp.circuit)).toContain('matmul_pub');
    const y = inputNode('y', { elem: 'f32', shape: [2, 4, 5], vis: 'client' }, { name: 'y' });
    const sec = new Graph('t', [x, y], [{ name: 'z', node: build('MatMul', [x, y], {}, { name: '/secret' }) }]);
    const cs = compileModel(sec, { raise: false, protocols: 'best' });
    expect(uses(cs.circuit)).toBe(false);
    expect(ops(cs.circuit)).toContain('beaver_matmul');
  });

  it('the option: best and fss default to cross, crypten to beaver; other values are refused', () => {
    expect([P.BEST.linear, P.FSS.linear, P.CRYPTEN.linear]).toEqual(['cross', 'cross', 'beaver']);
    expect(P.protocolConfig('best,linear=beaver').linear).toBe('beaver');
    expect(() => P.protocolConfig('best,linear=shared')).toThrow(/linear must be one of beaver, cross, got 'shared'/);
  });
});

const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const have = (name: string): boolean => existsSync(join(FIX, `${name}.onnx`)) && existsSync(join(FIX, `${name}.cases.json`));

/** Compiles `name` at its first case's shape, runs `rows` cases under `protocols` and returns the largest logit error against plaintext. */
function secureError(name: string, protocols: string, rows: number, expectLinears: number | undefined): number {
  const cases = readCasesFile(join(FIX, `${name}.cases.json`));
  const ids = cases[0]!.inputs.get('input_ids')!;
  const [batch, seq] = ids.shape as [number, number];
  const model = loadModel(join(FIX, `${name}.onnx`), { batch, seq });
  const c = compileModel(model, { protocols });
  const linears = c.circuit.instructions.filter((i) => i.op === 'cross_combine_shared').length;
  if (expectLinears !== undefined) expect(linears).toBe(expectLinears);
  checkLeakage(c.circuit);
  let err = 0;
  for (const k of cases.filter((x) => x.inputs.get('input_ids')!.shape.every((d, i) => d === ids.shape[i])).slice(0, rows)) {
    const run = runCircuit(c.circuit, { inputs: new Map(k.inputs), weights: c.weights, seed });
    const { byRound: _, ...measured } = run.cost;
    expect(measured).toEqual(costSummary(c.cost));
    const plain = evaluate(c.graph, k.inputs).get('logits')!.toFloat64();
    err = Math.max(err, maxErr(run.outputs.get('logits')!.toFloat64(), plain));
  }
  return err;
}

describe.skipIf(!have('bert-tiny'))('bert-tiny with cross-product linear layers', () => {
  it('best: every linear layer (6 per encoder layer, pooler, classifier) is a cross product, logits within 2e-3 of plaintext; crypten has none', () => {
    expect(secureError('bert-tiny', 'best', 1, 2 * 6 + 2)).toBeLessThan(2e-3);
    expect(secureError('bert-tiny', 'crypten', 1, 0)).toBeLessThan(2e-3);
  }, 120_000);
});

describe.skipIf(!have('spam-bert'))('spam-bert with cross-product linear layers', () => {
  it('best: logits of a few cases within 2e-3 of plaintext, measured == static', () => {
    expect(secureError('spam-bert', 'best', 2, undefined)).toBeLessThan(2e-3);
  }, 180_000);
});
