// The backend driver end to end: bert-tiny compiled, run by the two-party runtime and
// compared with the evaluator; the CLI command's files; and the user errors (mask
// overflow of an unraised model, unknown protocol options, ops without a protocol).

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCircuitFile } from '../ir/circuit/file.ts';
import { findLeaks } from '../ir/circuit/leakage.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { readCasesFile, readTensorBundle } from '../ir/tensor-json.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit } from '../runtime/index.ts';
import { compileModel, isRaised } from '../compiler/backend/compile.ts';
import { criticalPathRounds } from '../compiler/backend/report/index.ts';
import { compileCommand } from '../compiler/cli/commands/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { attentionBlock, graphOf, input, maxAbsDiff } from './raise-helpers.ts';

const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const EXAMPLES = join(import.meta.dirname, '..', 'examples');
const TINY = join(EXAMPLES, 'bert-tiny.onnx');

function coerce(inputs: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  return new Map(inputs);
}

describe('bert-tiny end to end', () => {
  const cases = readCasesFile(join(EXAMPLES, 'bert-tiny.cases.json'));
  const c0 = cases.find((c) => c.name === 'b1_s8')!;
  const graph = loadModel(TINY, { batch: 1, seq: 8 });

  for (const protocols of ['crypten', 'best'] as const) {
    it(`compiles, runs and matches the evaluator (${protocols})`, () => {
      const r = compileModel(graph, { protocols });
      expect(r.pipeline).toEqual(['raise-bert', 'fold-batch-norm', 'canonicalize']);
      expect(isRaised(r.graph)).toBe(true);
      expect(findLeaks(r.circuit)).toEqual([]);
      expect(r.cost.rounds).toBe(criticalPathRounds(r.circuit));
      const run = runCircuit(r.circuit, { inputs: coerce(c0.inputs), weights: r.weights, seed: new Uint8Array(16).fill(3) });
      const plain = evaluate(r.graph, c0.inputs).get('logits')!;
      const mpc = run.outputs.get('logits')!;
      // logits are ~6e-2; the protocols err by ~4e-4 here, GELU lowered as ReLU by ~5e-3
      expect(maxAbsDiff(mpc, new Tensor('f64', plain.shape, plain.toFloat64()))).toBeLessThan(2e-3);
      // the static cost is what the runtime measures
      expect(run.cost.rounds).toBe(r.cost.rounds);
      expect(run.cost.preprocessingRounds).toBe(r.cost.preprocessingRounds);
      expect(run.cost.bytesPerParty).toEqual(r.cost.bytesPerParty);
      expect(run.cost.bytesTotal).toBe(r.cost.bytesTotal);
      expect(run.cost.dealerBytes).toBe(r.cost.dealerBytes);
      // the inputs are encoded by the client: one-hot ids, keep mask
      const enc = Object.fromEntries(r.circuit.inputs.filter((i) => i.party === 1).map((i) => [i.name, i.encoding]));
      expect(enc).toEqual({ input_ids: 'onehot', token_type_ids: 'onehot', attention_mask: 'keepmask' });
      // every layer's instructions carry their layer
      expect(Object.keys(r.cost.byLayer).sort()).toEqual(['-', 'L0', 'L1']);
    });
  }

  it.skipIf(!existsSync(join(FIX, 'spam-bert.onnx')))('IG-3D passes: every head poly removes every exact softmax; pruning shrinks the cost', () => {
    const spam = loadModel(join(FIX, 'spam-bert.onnx'), { batch: 1, seq: 8 });
    const resources = new Map([['importance', join(FIX, 'importance.json')]]);
    const base = compileModel(spam);
    const poly = compileModel(spam, { passes: 'softmax-to-poly{ratio=1}', resources });
    const sm = poly.graph.nodes().filter((n) => n.op === 'AttentionSoftmax');
    expect(sm.length).toBe(4);
    expect(sm.every((n) => (n.attrs['methods'] as string[]).every((m) => m === 'poly'))).toBe(true);
    expect(poly.circuit.instructions.some((i) => i.prov.protocol === 'softmax')).toBe(false);
    expect(poly.cost.byOpKind['softmax']!.unmergedRounds).toBeLessThan(base.cost.byOpKind['softmax']!.unmergedRounds);
    const pruned = compileModel(spam, { passes: 'prune-heads{ratio=0.5}', resources });
    expect(pruned.cost.bytesTotal).toBeLessThan(base.cost.bytesTotal);
    expect(findLeaks(pruned.circuit)).toEqual([]);
  });

  it('per-layer bytes add up to the totals', () => {
    const r = compileModel(graph);
    const sum = (k: 'bytes' | 'preprocessingBytes' | 'dealerBytes' | 'unmergedRounds'): number => Object.values(r.cost.byLayer).reduce((a, e) => a + e[k], 0);
    expect(sum('bytes')).toBe(r.cost.onlineBytes);
    expect(sum('preprocessingBytes')).toBe(r.cost.preprocessingBytes);
    expect(sum('dealerBytes')).toBe(r.cost.dealerBytes);
    expect(sum('unmergedRounds')).toBe(r.cost.unmergedRounds);
  });
});

describe('user errors', () => {
  it('the unraised additive mask overflows fixed point: named, with the fix', () => {
    const x = input('x', [1, 4, 8]);
    const mask = input('attention_mask', [1, 4], 'i64');
    const g = graphOf([x, mask], attentionBlock(x, 2, mask));
    let err: unknown;
    try {
      compileModel(g, { raise: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Ig3dcError);
    expect((err as Error).message).toBe(
      "node '/bert/Mul': (mask construction): constant -3.4028235e+38 overflows 64-bit fixed point with 16 fractional bits; run raise-bert so the additive mask becomes a keep mask",
    );
    // raised, the same block compiles
    expect(() => compileModel(g)).not.toThrow();
  });

  it('a large constant that would overflow a product is refused', () => {
    const x = input('x', [4]);
    const g = graphOf([x], attentionBlockFree(x));
    expect(() => compileModel(g, { raise: false })).toThrow(/too large for 64-bit fixed point with 16 fractional bits/);
  });

  it('an unknown protocol preset or option lists the choices', () => {
    const g = loadModel(TINY, { batch: 1, seq: 4 });
    expect(() => compileModel(g, { protocols: 'fast' })).toThrow(/unknown protocol preset 'fast' \(known: crypten, best, fss\)/);
    expect(() => compileModel(g, { protocols: 'crypten,expIters=3' })).toThrow(/unknown protocol option 'expIters' \(known: .*expIterations/);
  });
});

// x * 2^31: representable, but its product with a value near 1 overflows before truncation
import { build } from '../ir/build.ts';
import { constNode } from '../ir/node.ts';
function attentionBlockFree(x: ReturnType<typeof input>): ReturnType<typeof input> {
  return build('Mul', [x, constNode(Tensor.from('f32', [], [2 ** 31]), { elem: 'f32', shape: [], vis: 'public' })], {}, { name: 'big' });
}

describe('compileCommand', () => {
  it('writes the circuit, the weights bundle, cost.json and the HTML report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig3dc-compile-'));
    const out = join(dir, 'tiny.circuit');
    const res = await compileCommand(TINY, { seq: 8, output: out, report: join(dir, 'cost.json'), reportHtml: join(dir, 'r.html'), compare: true, protocols: 'best' });
    expect(res.text).toMatch(/^model bert-tiny: 2 layers x 2 heads, hidden 128, intermediate 512, vocab 2000; .*batch 1, seq 8/);
    expect(res.text).toContain('critical-path bound');
    expect(res.text).toContain('baseline: raise-bert,fold-batch-norm,canonicalize [crypten]');
    const c = readCircuitFile(out);
    expect(c.instructions.length).toBe(res.optimized.circuit.instructions.length);
    const bundle = readTensorBundle(join(dir, 'tiny.weights.json'));
    expect([...bundle.tensors.keys()].sort()).toEqual([...res.optimized.weights.keys()].sort());
    // the circuit read back runs with the weights read back
    const case0 = readCasesFile(join(EXAMPLES, 'bert-tiny.cases.json')).find((x) => x.name === 'b1_s8')!;
    const run = runCircuit(c, { inputs: case0.inputs, weights: bundle.tensors });
    expect(run.cost.bytesTotal).toBe(res.optimized.cost.bytesTotal);
    const json = JSON.parse(readFileSync(join(dir, 'cost.json'), 'utf8')) as Record<string, unknown>;
    for (const k of ['rounds', 'criticalPathRounds', 'unmergedRounds', 'bytesPerParty', 'bytesTotal', 'onlineBytesTotal', 'preprocessingBytesTotal', 'dealerBytes', 'latencySeconds', 'perLayer', 'perOp', 'perRound', 'baseline']) {
      expect(json, k).toHaveProperty(k);
    }
    expect(json['rounds']).toBe(res.optimized.cost.rounds);
    expect(existsSync(join(dir, 'r.html'))).toBe(true);
  });

  it('an unknown protocol fails before loading the model', async () => {
    await expect(compileCommand('/nonexistent.onnx', { protocols: 'nope' })).rejects.toThrow(/unknown protocol preset 'nope'/);
  });
});
