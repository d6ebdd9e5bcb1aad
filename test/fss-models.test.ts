// The fss protocol family on the fixture models: secure inference (two parties and the
// dealer in process) against the plaintext evaluator within 2e-3 on the logits, measured ==
// static cost, rounds == critical path, no leaks; the IG-3D variants the same; and the
// user errors of the family (an unknown option value, a bit width range analysis cannot
// prove, a malformed --compare-protocols).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findLeaks } from '../ir/circuit/leakage.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { Tensor } from '../ir/tensor.ts';
import { costSummary } from '../ir/circuit/cost.ts';
import { runCircuit } from '../runtime/index.ts';
import { compileModel, type Compiled } from '../compiler/backend/compile.ts';
import { familyRows, formatFamilies } from '../compiler/backend/report/index.ts';
import { familySpecs } from '../compiler/cli/commands/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { maxAbsDiff } from './raise-helpers.ts';

const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const have = (m: string): boolean => existsSync(join(FIX, `${m}.onnx`)) && existsSync(join(FIX, `${m}.cases.json`));

/** Runs the compiled circuit on a case and checks it against the evaluator and the static cost; returns the logits error. */
function secureRun(r: Compiled, inputs: ReadonlyMap<string, Tensor>): number {
  expect(findLeaks(r.circuit)).toEqual([]);
  const run = runCircuit(r.circuit, { inputs: new Map(inputs), weights: r.weights, seed: new Uint8Array(16).fill(5) });
  const { byRound: _m, ...measured } = run.cost;
  expect(measured).toEqual(costSummary(r.cost));
  const plain = evaluate(r.graph, inputs).get('logits')!;
  return maxAbsDiff(run.outputs.get('logits')!, new Tensor('f64', plain.shape, plain.toFloat64()));
}

/** The first sequence of a case, its first `seq` tokens (the keys of 64-bit comparisons are large: short runs keep the suite quick). */
function firstTokens(inputs: ReadonlyMap<string, Tensor>, seq: number): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of inputs) out.set(name, Tensor.from(t.dtype, [1, seq], Array.from({ length: seq }, (_, i) => t.bigAt(i))));
  return out;
}

const SEQ = 8;

describe.each(['bert-tiny', 'bert-mini', 'spam-bert'].filter(have))('%s with --protocols fss', (model) => {
  const cases = readCasesFile(join(FIX, `${model}.cases.json`));
  const c0 = { inputs: firstTokens(cases[0]!.inputs, SEQ) };
  const graph = loadModel(join(FIX, `${model}.onnx`), { batch: 1, seq: SEQ });

  it('secure inference matches the evaluator within 2e-3; measured == static; fewer rounds than best', () => {
    const r = compileModel(graph, { protocols: 'fss' });
    expect(r.protocols.name).toBe('fss');
    expect(r.circuit.instructions.some((i) => i.op === 'fss_key')).toBe(true);
    expect(secureRun(r, c0.inputs)).toBeLessThan(2e-3);
    const best = compileModel(graph, { protocols: 'best' });
    expect(r.cost.rounds).toBeLessThan(best.cost.rounds);
    expect(r.cost.onlineBytes).toBeLessThan(best.cost.onlineBytes);
  }, 600_000);

  it.skipIf(!existsSync(join(FIX, 'importance.json')) || model !== 'spam-bert')('IG-3D variants (pruned heads, PolySoftmax, GELU mix) under fss: same checks', () => {
    const resources = new Map([['importance', join(FIX, 'importance.json')]]);
    for (const passes of ['prune-heads{ratio=0.5}', 'prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5},gelu-mix']) {
      const r = compileModel(graph, { protocols: 'fss', passes, resources });
      expect(secureRun(r, c0.inputs), passes).toBeLessThan(2e-3);
    }
  }, 600_000);
});

describe('fss: user errors and the family table', () => {
  it('an unknown option value, a bad bit width, a width range analysis cannot prove', () => {
    expect(() => compileModel(loadModel(join(FIX, 'bert-tiny.onnx'), { batch: 1, seq: 8 }), { protocols: 'fss,compare=fast' })).toThrow(/compare must be one of a2b, fss, got 'fast'/);
    expect(() => compileModel(loadModel(join(FIX, 'bert-tiny.onnx'), { batch: 1, seq: 8 }), { protocols: 'fss,fssBits=1' })).toThrow(/fssBits needs 'auto' or an integer in 2\.\.64/);
    expect(() => compileModel(loadModel(join(FIX, 'bert-tiny.onnx'), { batch: 1, seq: 8 }), { protocols: 'fss,fssWidth=3' })).toThrow(/unknown protocol option 'fssWidth'/);
    let err: unknown;
    try {
      compileModel(loadModel(join(FIX, 'bert-tiny.onnx'), { batch: 1, seq: 8 }), { protocols: 'fss,fssBits=24' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Ig3dcError);
    expect((err as Ig3dcError).message).toMatch(/fssBits=24: cannot prove a 24-bit comparison safe/);
    expect((err as Ig3dcError).place.node).toBeTruthy();
  });

  it('--compare-protocols: presets with overrides, and a clear error for an empty name', () => {
    expect(familySpecs('crypten,best,fss')).toEqual(['crypten', 'best', 'fss']);
    expect(familySpecs('best,maxMethod=log-reduction,fss')).toEqual(['best,maxMethod=log-reduction', 'fss']);
    expect(() => familySpecs('best,,fss')).toThrow(/--compare-protocols needs preset names/);
  });

  it.skipIf(!have('bert-tiny'))('the family table: one row per preset, dealer bytes to both parties only under fss', () => {
    const g = loadModel(join(FIX, 'bert-tiny.onnx'), { batch: 1, seq: 8 });
    const runs = ['crypten', 'best', 'fss'].map((p) => compileModel(g, { protocols: p }));
    const rows = familyRows(runs);
    expect(rows.map((r) => r.protocols)).toEqual(['crypten', 'best', 'fss']);
    expect(rows[0]!.dealerBytesPerParty[0]).toBe(0);
    expect(rows[1]!.dealerBytesPerParty[0]).toBe(0);
    expect(rows[2]!.dealerBytesPerParty[0]).toBeGreaterThan(0);
    expect(rows.map((r) => r.rounds)).toEqual(runs.map((r) => r.cost.rounds));
    expect(formatFamilies(runs)).toMatch(/fss/);
  });
});
