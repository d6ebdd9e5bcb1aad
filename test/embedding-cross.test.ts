// The cross-product embedding lookup (ir/circuit/gates/cross.ts, protocols/embedding.ts): the
// client's held one-hot times the server's held table. The rows come out bit-exact in ring
// units; the measured bytes and rounds are the static ones in process, in worker threads and
// over TLS with a separate dealer; the leakage checker accepts its sends only as a value minus a
// fresh dealer mask the sender holds; a model compiled with `best` uses it and stays within the
// plaintext bounds.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { build } from '../ir/build.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode } from '../ir/node.ts';
import * as P from '../compiler/backend/protocols/index.ts';
import { loadModel } from '../compiler/load.ts';
import { evaluate } from '../ir/evaluate.ts';
import { CircuitBuilder, checkLeakage, circuitCost, costSummary, decodeCircuit, encodeCircuit, findLeaks, parseCircuit, printCircuit, type Circuit } from '../ir/circuit/index.ts';
import { encodeFixedArray } from '../ir/circuit/fixed.ts';
import { Tensor } from '../ir/tensor.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { runCircuit, runCircuitWorkers } from '../runtime/index.ts';
import { threeRoles, value } from './deploy-helpers.ts';

const V = 37;
const D = 5;

/** A table with integer, fractional, negative and large entries (every value exact at f = 16). */
function table(v = V, d = D): Tensor {
  return Tensor.from('f64', [v, d], Array.from({ length: v * d }, (_, i) => ((i * 7919) % 2001) - 1000 + ((i % 4) * 0.25) + (i % 11 === 0 ? 30000 : 0)));
}

function lookupCircuit(idShape: number[], v = V, d = D): Circuit {
  const b = new CircuitBuilder({ name: 'lookup' });
  const x = b.input('ids', 1, idShape, { encoding: 'onehot', classes: v, held: true });
  const t = b.input('table', 0, [v, d], { held: true });
  b.output(P.embeddingCross(b, x, t), 'rows');
  return b.build();
}

/** The expected rows in ring units (the table's fixed-point words, gathered). */
function expectedWords(ids: readonly number[], t: Tensor, d = D): bigint[] {
  const words = encodeFixedArray(t.toFloat64(), 16);
  return ids.flatMap((id) => Array.from(words.subarray(id * d, (id + 1) * d)));
}

const ringWords = (t: Tensor): bigint[] => Array.from(encodeFixedArray(t.toFloat64(), 16));

const seed = new Uint8Array(16).fill(9);

describe('cross-product embedding lookup', () => {
  const cases: [string, number[], number[]][] = [
    ['first and last id, repeated ids', [1, 6], [0, V - 1, 3, 3, 0, V - 1]],
    ['batch of 3', [3, 4], Array.from({ length: 12 }, (_, i) => (i * 13) % V)],
    ['one token', [1, 1], [V - 1]],
  ];
  for (const [name, shape, ids] of cases) {
    it(`rows equal the table's rows bit-exactly (${name}); measured cost == static`, () => {
      const c = lookupCircuit(shape);
      checkLeakage(c);
      const t = table();
      const r = runCircuit(c, { inputs: new Map([['ids', Tensor.from('f64', shape, ids)]]), weights: new Map([['table', t]]), seed });
      const rows = r.outputs.get('rows')!;
      expect(rows.shape).toEqual([...shape, D]);
      expect(ringWords(rows)).toEqual(expectedWords(ids, t));
      const { byRound: _, ...measured } = r.cost;
      expect(measured).toEqual(costSummary(circuitCost(c)));
    });
  }

  it('costs: T - B one way in preprocessing, X - A one way online, |C| words from the dealer; only the server and the dealer multiply densely', () => {
    const [n, v, d] = [8, 300, 16];
    const c = lookupCircuit([1, n], v, d);
    const k = circuitCost(c);
    // Online: the send, then the output (P0's share of the rows to the client).
    expect(k.rounds).toBe(2);
    expect(k.byRound.filter((r) => r.phase === 'online').map((r) => [r.bytesP0, r.bytesP1])).toEqual([
      [0, 8 * n * v],
      [8 * n * d, 0],
    ]);
    expect(k.preprocessingRounds).toBe(1);
    expect(k.preprocessingBytes).toBe(8 * v * d);
    expect(k.bytesPerParty).toEqual([8 * v * d + 8 * n * d, 8 * n * v]);
    expect(k.dealerBytesPerParty).toEqual([0, 8 * n * d]);
    const ids = Array.from({ length: n }, (_, i) => (i * 31) % v);
    const r = runCircuit(c, { inputs: new Map([['ids', Tensor.from('f64', [1, n], ids)]]), weights: new Map([['table', table(v, d)]]), seed });
    // The server's E @ B and the dealer's A @ B; the client only adds rows.
    expect(r.ringMacs).toBe(2 * n * v * d);
    expect(ringWords(r.outputs.get('rows')!)).toEqual(expectedWords(ids, table(v, d), d));
  });

  it('prints as text that parses back to the same circuit (own0 / own1 registers, held inputs)', () => {
    const c = lookupCircuit([2, 3]);
    const text = printCircuit(c);
    expect(text).toMatch(/own1\[2,3,37\]@0 = input \{party=1, name="ids", encoding="onehot", shape=\[2,3\], classes=37, held=true\}/);
    expect(printCircuit(parseCircuit(text))).toBe(text);
  });

  it('a circuit file read back runs the same; worker threads give the in-process transcript', async () => {
    const shape = [2, 3];
    const ids = [0, V - 1, 5, 5, 17, 1];
    const c = decodeCircuit(encodeCircuit(lookupCircuit(shape)));
    const opts = { inputs: new Map([['ids', Tensor.from('f64', shape, ids)]]), weights: new Map([['table', table()]]), seed };
    const a = runCircuit(c, opts);
    const w = await runCircuitWorkers(c, opts);
    expect(ringWords(w.outputs.get('rows')!)).toEqual(expectedWords(ids, table()));
    expect(w.transcriptHash).toBe(a.transcriptHash);
    expect(w.cost).toEqual(a.cost);
  }, 60_000);

  it('over TLS with a separate dealer process: the rows, and the static cost measured', async () => {
    const shape = [1, 4];
    const ids = [V - 1, 0, 2, 0];
    const c = lookupCircuit(shape);
    const run = await threeRoles(c, { inputs: new Map([['ids', Tensor.from('f64', shape, ids)]]), weights: new Map([['table', table()]]) });
    const r1 = value(run.p1);
    expect(ringWords(r1.outputs.get('rows')!)).toEqual(expectedWords(ids, table()));
    expect(value(run.p0).outputs.size).toBe(0);
    const { byRound: _, ...measured } = r1.cost;
    expect(measured).toEqual(costSummary(circuitCost(c)));
    expect(value(run.dealer).bytes).toBe(circuitCost(c).dealerBytes);
  }, 60_000);
});

describe('leakage rule for one-directional sends', () => {
  it('accepts the protocol', () => {
    expect(findLeaks(lookupCircuit([1, 3]))).toEqual([]);
  });

  it('rejects a send whose mask is not a dealer mask (the table sent as T - T)', () => {
    const b = new CircuitBuilder();
    const x = b.input('ids', 1, [2], { encoding: 'onehot', classes: V, held: true });
    const t = b.input('table', 0, [V, D], { held: true });
    const [a, mask] = b.dealer.crossMask([2], V, D, [0, 16]);
    const t2 = b.input('table2', 0, [V, D], { held: true });
    const f = b.send(t, t2);
    const e = b.send(x, a);
    b.output(b.crossCombine(x, f, e, t2, b.dealer.crossTriple(a, mask)), 'rows');
    const leaks = findLeaks(b.build());
    expect(leaks.map((l) => l.message)).toEqual([expect.stringMatching(/is not a random dealer mask/)]);
  });

  it('rejects a mask used twice (two sends of the one-hot under one A)', () => {
    const b = new CircuitBuilder();
    const x = b.input('ids', 1, [2], { encoding: 'onehot', classes: V, held: true });
    const t = b.input('table', 0, [V, D], { held: true });
    const [a, mask] = b.dealer.crossMask([2], V, D, [0, 16]);
    const f = b.send(t, mask);
    const e = b.send(x, a);
    b.send(x, a);
    b.output(b.crossCombine(x, f, e, mask, b.dealer.crossTriple(a, mask)), 'rows');
    expect(findLeaks(b.build()).map((l) => l.message)).toEqual([expect.stringMatching(/used by more than one open/)]);
  });

  it('refuses to build a send of one party\'s value under a mask the other party holds', () => {
    const b = new CircuitBuilder();
    const t = b.input('table', 0, [V, D], { held: true });
    const [a] = b.dealer.crossMask([V], D, 1, [16, 0]); // P1's A [V, D]: the receiver's own mask
    expect(() => b.send(t, a)).toThrow(/held by one party/);
  });
});

describe('lowering: which lookups are cross products', () => {
  const ids = inputNode('input_ids', { elem: 'i64', shape: [2, 3], vis: 'client' }, { name: 'input_ids' });
  const t = table(V, D);
  const tableNode = constNode(new Tensor('f32', [V, D], Float32Array.from(t.toFloat64())), { elem: 'f32', shape: [V, D], vis: 'server' }, { name: 'word_embeddings.weight' });
  const idValues = Tensor.from('i64', [2, 3], [0n, BigInt(V - 1), 4n, 4n, 0n, 9n]);
  const opsOf = (c: Circuit): string[] => c.instructions.map((i) => i.op);

  for (const op of ['Embedding', 'Gather'] as const) {
    it(`${op} of a server table by client ids: best and fss use the cross product, crypten the Beaver matmul; rows exact`, () => {
      const g = new Graph('t', [ids], [{ name: 'y', node: build(op, [tableNode, ids], op === 'Gather' ? { axis: 0 } : {}, { name: '/emb' }) }]);
      for (const protocols of ['best', 'fss', 'crypten'] as const) {
        const c = compileModel(g, { raise: false, protocols });
        expect(opsOf(c.circuit).includes('cross_triple')).toBe(protocols !== 'crypten');
        expect(opsOf(c.circuit).includes('beaver_matmul')).toBe(protocols === 'crypten');
        checkLeakage(c.circuit);
        const r = runCircuit(c.circuit, { inputs: new Map([['input_ids', idValues]]), weights: c.weights, seed });
        const { byRound: _, ...measured } = r.cost;
        expect(measured).toEqual(costSummary(c.cost));
        const rows = ringWords(r.outputs.get('y')!);
        if (protocols === 'crypten') expect(Math.max(...rows.map((w, i) => Math.abs(Number(BigInt.asIntN(64, w - expectedWords([0, V - 1, 4, 4, 0, 9], t)[i]!)))))).toBeLessThanOrEqual(1);
        else expect(rows).toEqual(expectedWords([0, V - 1, 4, 4, 0, 9], t));
      }
    });
  }

  it('a table computed inside the circuit (secret) falls back to the Beaver matmul', () => {
    const bias = inputNode('bias', { elem: 'f32', shape: [V, D], vis: 'client' }, { name: 'bias' });
    const secretTable = build('Add', [tableNode, bias], {}, { name: '/table' });
    const g = new Graph('t', [ids, bias], [{ name: 'y', node: build('Embedding', [secretTable, ids], {}, { name: '/emb' }) }]);
    const c = compileModel(g, { raise: false, protocols: 'best' });
    expect(opsOf(c.circuit)).not.toContain('cross_triple');
    expect(opsOf(c.circuit)).toContain('beaver_matmul');
  });
});

const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveTiny = existsSync(join(FIX, 'bert-tiny.onnx')) && existsSync(join(FIX, 'bert-tiny.cases.json'));

describe.skipIf(!haveTiny)('bert-tiny with the cross-product embedding', () => {
  it('best uses it for the word embeddings and stays within 2e-3 of the plaintext logits; crypten keeps the Beaver matmul', () => {
    const c = readCasesFile(join(FIX, 'bert-tiny.cases.json'))[0]!;
    const ids = c.inputs.get('input_ids')!;
    const [batch, seq] = ids.shape as [number, number];
    const model = loadModel(join(FIX, 'bert-tiny.onnx'), { batch, seq });
    const best = compileModel(model, { protocols: 'best' });
    const crypten = compileModel(model, { protocols: 'crypten' });
    const ops = (x: Circuit): string[] => x.instructions.map((i) => i.op);
    expect(ops(best.circuit)).toContain('cross_triple');
    expect(ops(crypten.circuit)).not.toContain('cross_triple');
    checkLeakage(best.circuit);
    const run = runCircuit(best.circuit, { inputs: new Map(c.inputs), weights: best.weights, seed });
    const { byRound: _, ...measured } = run.cost;
    expect(measured).toEqual(costSummary(circuitCost(best.circuit)));
    const plain = evaluate(best.graph, c.inputs).get('logits')!.toFloat64();
    const mpc = run.outputs.get('logits')!.toFloat64();
    const err = Math.max(...Array.from(plain, (p, i) => Math.abs(p - mpc[i]!)));
    expect(err).toBeLessThan(2e-3);
  }, 120_000);
});
