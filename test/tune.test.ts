// `ig3dc tune`: the serial search (Algorithm 1) on synthetic costs, where the best answer is
// known by brute force; and on spam-bert with a small dev subset: a feasible choice within the
// budget, an annotation file that reproduces it (cost through the compile path, accuracy
// through an independent onnxruntime loop), backtracking, --json, and bad input.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { haveOrt, ort, type OrtTensor } from './optional-ort.ts';
import { compileModel } from '../compiler/backend/compile.ts';
import { estimateLatency, findProfile } from '../compiler/backend/report/index.ts';
import { tuneCommand } from '../compiler/cli/commands/tune.ts';
import { exportOnnx } from '../compiler/export/index.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { AccuracyMeter, accuracyBackend, readDevSet, type SearchPoint, type SearchStage, serialSearch, tune, type TuneOptions, type TuneResult } from '../compiler/tune/index.ts';
import type { PointCost } from '../compiler/tune/index.ts';
import type { Graph } from '../ir/graph.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { IMPORTANCE_RESOURCE, readImportanceFile } from '../passes/ig3d/index.ts';
import { caughtAsync, FIXTURES, haveFixtures } from './ig3d-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ig3dc-tune-'));
const MODEL = join(FIXTURES, 'spam-bert.onnx');
const DEV = join(FIXTURES, 'spam-dev.json');
const IG = join(FIXTURES, 'importance.json');

// --- the search on synthetic points ------------------------------------------------------

interface Fake extends SearchPoint {
  readonly loss: number;
}

const fake = (key: string, speedup: number, loss: number): Fake => ({ key, speedup, loss, label: key });

function stage(name: string, budget: number, moves: (from: Fake) => Fake[]): SearchStage<Fake> {
  return { name, budget, moves: (from) => Promise.resolve(moves(from)) };
}

function oracle(calls: string[] = []) {
  return (p: Fake, budget: number): Promise<boolean> => {
    calls.push(p.key);
    return Promise.resolve(p.loss <= budget);
  };
}

describe('serial search', () => {
  const start = fake('base', 1, 0);

  it('takes the fastest move within the budget and measures nothing slower than it', async () => {
    const calls: string[] = [];
    const s1 = stage('s1', 1, () => [fake('a', 1.5, 0.5), fake('b', 2, 3), fake('c', 1.8, 0.9), fake('d', 1.2, 0)]);
    const r = await serialSearch(start, [s1], oracle(calls));
    expect(r.points[1]!.key).toBe('c');
    expect(calls).toEqual(['b', 'c']);
    expect(r.trace).toEqual([{ stage: 's1', event: 'chosen', from: 'base', point: 'c', speedup: 1.8, rejected: 1 }]);
  });

  it('a stage with no faster move leaves the choice as it is', async () => {
    const r = await serialSearch(start, [stage('s1', 1, () => [fake('slow', 0.9, 0)])], oracle());
    expect(r.points[1]!.key).toBe('base');
    expect(r.trace[0]!.event).toBe('no-gain');
  });

  it('backtracks: relaxes the previous stage when a stage has no feasible point', async () => {
    // pruning a lot (p2) leaves no room for the operator stage; pruning less (p1) does
    const s1 = stage('structure', 1, () => [fake('p2', 1.6, 0.9), fake('p1', 1.3, 0.2)]);
    const s2 = stage('operator', 2, (from) => [fake(`${from.key}+poly`, from.speedup * 1.5, from.loss + 1.5)]);
    const r = await serialSearch(start, [s1, s2], oracle());
    expect(r.trace.map((e) => e.event)).toEqual(['chosen', 'infeasible', 'backtrack', 'chosen']);
    expect(r.points.map((p) => p.key)).toEqual(['base', 'p1', 'p1+poly']);
    expect(r.points[2]!.loss).toBeLessThanOrEqual(2);
  });

  it('keeps the previous choice when relaxing it does not pay', async () => {
    const s1 = stage('structure', 1, () => [fake('p2', 3, 0.9), fake('p1', 1.1, 0)]);
    const s2 = stage('operator', 2, (from) => [fake(`${from.key}+poly`, from.speedup * 1.5, from.loss + 1.5)]);
    const r = await serialSearch(start, [s1, s2], oracle());
    // p1+poly is feasible (1.65x) but slower than p2 alone (3x)
    expect(r.points.map((p) => p.key)).toEqual(['base', 'p2', 'p2']);
    expect(r.trace.filter((e) => e.event === 'backtrack').every((e) => e.event === 'backtrack' && !e.success)).toBe(true);
    expect(r.trace.at(-1)).toMatchObject({ stage: 'operator', event: 'skipped' });
  });

  it('a single stage finds the brute-force optimum; every stage stays within its budget', async () => {
    const move = fc.record({ speedup: fc.double({ min: 0.5, max: 4, noNaN: true }), loss: fc.double({ min: 0, max: 3, noNaN: true }) });
    await fc.assert(
      fc.asyncProperty(fc.array(move, { maxLength: 8 }), fc.array(move, { maxLength: 5 }), fc.double({ min: 0.1, max: 3, noNaN: true }), async (m1, m2, eps) => {
        const s1 = stage('s1', eps / 2, () => m1.map((m, i) => fake(`a${i}`, m.speedup, m.loss)));
        const s2 = stage('s2', eps, (from) => m2.map((m, i) => fake(`${from.key}b${i}`, from.speedup * m.speedup, from.loss + m.loss)));
        const one = await serialSearch(start, [s1], oracle());
        const feasible = m1.filter((m) => m.loss <= eps / 2 && m.speedup > 1 + 1e-12);
        const best = feasible.length === 0 ? 1 : Math.max(...feasible.map((m) => m.speedup));
        expect(one.points[1]!.speedup).toBe(best);
        const two = await serialSearch(start, [s1, s2], oracle());
        expect(two.points[1]!.loss).toBeLessThanOrEqual(eps / 2);
        expect(two.points[2]!.loss).toBeLessThanOrEqual(eps);
        expect(two.points[2]!.speedup).toBeGreaterThanOrEqual(two.points[1]!.speedup);
      }),
      { numRuns: 200 },
    );
  });
});

// --- spam-bert ---------------------------------------------------------------------------

const ROWS = 64;
const costCache = new Map<string, PointCost>();

function options(extra: Partial<TuneOptions> = {}): TuneOptions {
  return { importance: [IG], data: DEV, maxAccLoss: 2.3, examples: ROWS, granularity: 'layer', costCache, ...extra };
}

/** Accuracy of a pipeline on the first rows of the dev set, run in onnxruntime directly. */
async function independentAccuracy(pipeline: string, importanceFile: string, rows: number): Promise<number> {
  const raised = runPipeline(loadOnnxFile(MODEL, { batch: rows, seq: 128 }).graph, parsePipeline('raise-bert,canonicalize')).graph;
  const g: Graph = pipeline === '' ? raised : runPipeline(raised, parsePipeline(pipeline), { resources: new Map([[IMPORTANCE_RESOURCE, readImportanceFile(importanceFile)]]) }).graph;
  const session = await ort.InferenceSession.create(exportOnnx(g));
  const dev = readDevSet(DEV, rows);
  const wide = (a: Int32Array): OrtTensor => new ort.Tensor('int64', BigInt64Array.from(a, (x) => BigInt(x)), [rows, 128]);
  const out = await session.run({ input_ids: wide(dev.inputIds), attention_mask: wide(dev.attentionMask), token_type_ids: wide(dev.tokenTypeIds) });
  const logits = out['logits']!.data as Float32Array;
  let correct = 0;
  for (let r = 0; r < rows; r++) if ((logits[2 * r + 1]! > logits[2 * r]! ? 1 : 0) === dev.labels[r]) correct++;
  await session.release();
  return (100 * correct) / rows;
}

/** Rounds, bytes and LAN latency of a pipeline, compiled the way `ig3dc compile` does. */
function compiledCost(pipeline: string, importanceFile: string): { rounds: number; bytesTotal: number; lan: number } {
  const c = compileModel(loadOnnxFile(MODEL, { batch: 1, seq: 128 }).graph, { passes: pipeline, resources: new Map([[IMPORTANCE_RESOURCE, importanceFile]]) });
  return { rounds: c.cost.rounds, bytesTotal: c.cost.bytesTotal, lan: estimateLatency(c.cost, findProfile('lan')!).seconds };
}

describe.skipIf(!haveFixtures)('tune on spam-bert', () => {
  let result: TuneResult;
  beforeAll(async () => {
    result = await tune(MODEL, options({ ablation: true, compareImportance: [join(FIXTURES, 'importance-entropy.json')] }));
  }, 600_000);

  it('finds a feasible point within the budget, each stage within its own', () => {
    const base = result.baseline;
    expect(result.rows).toBe(ROWS);
    expect(base.accuracy).toBeCloseTo(100 * (base.correct / ROWS), 10);
    expect(result.chosen.accuracyLoss).toBeLessThanOrEqual(2.3 + 1e-9);
    result.stages.forEach((s, k) => expect(s.accuracyLoss).toBeLessThanOrEqual(result.budgets[k]! + 1e-9));
    expect(result.budgets).toEqual([2.3 / 3, (2 * 2.3) / 3, 2.3]);
    // the stages only take moves that are faster
    const speedups = [1, ...result.stages.map((s) => s.speedup.lan)];
    for (let k = 1; k < speedups.length; k++) expect(speedups[k]!).toBeGreaterThanOrEqual(speedups[k - 1]! - 1e-12);
    expect(result.chosen.speedup.lan).toBeGreaterThan(1);
    expect(result.chosen.latencySeconds.lan).toBeCloseTo(base.latencySeconds.lan / result.chosen.speedup.lan, 12);
  });

  it('the ablation has the four steps of Table 7 and one Table 6 row per importance file', () => {
    expect(result.ablation!.map((a) => a.step)).toEqual(['baseline', '+ structural pruning', '+ operator approximation', '+ activation replacement']);
    expect(result.ablation![3]!.rounds).toBe(result.chosen.rounds);
    expect(result.ablation![0]!.accuracy).toBe(result.baseline.accuracy);
    expect(result.importanceMethods!.map((m) => m.method)).toEqual(['integrated-gradients', 'attention-entropy']);
    for (const m of result.importanceMethods!) {
      // 40% of 16 heads is 6.4: 6 pruned (10 kept >= min-keep 0.3 * 16)
      expect(m.prunedHeads).toHaveLength(6);
      expect(m.accuracyRetention).toBeCloseTo((100 * m.accuracy) / result.baseline.accuracy, 10);
    }
  });

  it.skipIf(!haveOrt)('the annotation file reproduces the choice: cost through compile, accuracy in onnxruntime', async () => {
    const file = join(dir, 'chosen.txt');
    writeFileSync(file, result.annotationText);
    const c = result.chosen;
    const cost = compiledCost(c.pipeline, file);
    expect(cost.rounds).toBe(c.rounds);
    expect(cost.bytesTotal).toBe(c.bytesTotal);
    expect(cost.lan).toBeCloseTo(c.latencySeconds.lan, 12);
    expect(await independentAccuracy(c.pipeline, file, ROWS)).toBe(c.accuracy);
    // the threshold form, from the original scores, makes the same choice
    const fromScores = compiledCost(c.thresholdPipeline, IG);
    expect(fromScores.rounds).toBe(c.rounds);
    expect(fromScores.bytesTotal).toBe(c.bytesTotal);
    // and the baseline is what it says
    expect(compiledCost('', IG).rounds).toBe(result.baseline.rounds);
    expect(await independentAccuracy('', IG, ROWS)).toBe(result.baseline.accuracy);
  });

  it('backtracks when a stage has no feasible point from the previous stage\'s choice', async () => {
    // degree 3 without a clamp gives negative attention weights (q(z) < 0 below z = -1.6); with
    // a budget of no extra wrong row on 32 rows, the fastest operator choice (a clamped
    // PolySoftmax) leaves no room for the activation stage, and the search relaxes it
    const eps = 1;
    const r = await tune(MODEL, options({ maxAccLoss: eps, degree: 3, examples: 32 }));
    const events = r.trace.map((e) => `${e.stage}:${e.event}`);
    const i = events.findIndex((e) => e.endsWith(':infeasible'));
    expect(i).toBeGreaterThanOrEqual(0);
    const stage = r.trace[i]!.stage;
    const k = (['structure', 'operator', 'activation'] as string[]).indexOf(stage);
    expect(k).toBeGreaterThan(0);
    expect(events[i + 1]).toBe(`${stage}:backtrack`);
    // the choice being relaxed is the previous stage's first choice
    const previous = r.trace.find((e) => e.event === 'chosen' && e.stage === r.stages[k - 1]!.stage);
    const tries = r.trace.filter((e) => e.event === 'backtrack');
    for (const e of tries) if (e.event === 'backtrack' && previous?.event === 'chosen') expect(e.previous).toBe(previous.point);
    const success = tries.find((e) => e.event === 'backtrack' && e.success);
    if (success?.event === 'backtrack' && previous?.event === 'chosen') {
      // the relaxed choice replaced the first one: slower alone, faster with the next stage
      expect(r.stages[k - 1]!.label).toBe(success.relaxed);
      expect(r.stages[k - 1]!.speedup.lan).toBeLessThan(previous.speedup);
      expect(r.stages[k]!.speedup.lan).toBeGreaterThan(previous.speedup);
    } else {
      expect(r.stages[k]!.label).toBe(r.stages[k - 1]!.label);
    }
    expect(r.chosen.accuracyLoss).toBeLessThanOrEqual(eps + 1e-9);
    r.stages.forEach((s, j) => expect(s.accuracyLoss).toBeLessThanOrEqual(r.budgets[j]! + 1e-9));
  }, 600_000);

  it('--json prints one object with the documented fields, and -o writes the annotation', async () => {
    const out = join(dir, 'json.txt');
    const chunks: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      chunks.push(String(s));
      return true;
    });
    try {
      await tuneCommand(MODEL, { importance: IG, data: DEV, maxAccLoss: '2.3', examples: '16', granularity: 'layer', json: true, ablation: true, output: out });
    } finally {
      spy.mockRestore();
    }
    const json = JSON.parse(chunks.join('')) as Record<string, any>;
    for (const k of ['baseline', 'chosen']) {
      expect(typeof json[k].accuracy).toBe('number');
      expect(Number.isInteger(json[k].rounds)).toBe(true);
      expect(Number.isInteger(json[k].bytesTotal)).toBe(true);
      expect(json[k].latencySeconds.lan).toBeGreaterThan(0);
      expect(json[k].latencySeconds.wan).toBeGreaterThan(json[k].latencySeconds.lan);
    }
    expect(json['chosen'].thresholds).toHaveProperty('prune');
    expect(json['chosen'].thresholds).toHaveProperty('softmax');
    expect(json['chosen'].thresholds).toHaveProperty('activation');
    expect(typeof json['chosen'].pipeline).toBe('string');
    expect(json['ablation']).toHaveLength(4);
    for (const a of json['ablation']) for (const k of ['step', 'accuracy', 'rounds', 'bytesTotal', 'latencySeconds']) expect(a).toHaveProperty(k);
    expect(json['importanceMethods']).toEqual([expect.objectContaining({ method: 'integrated-gradients', accuracyRetention: expect.any(Number) })]);
    expect(json['annotationFile']).toBe(out);
    const written = readImportanceFile(out);
    expect(written.headPins.filter((p) => p.kind === 'prune').map((p) => `L${p.layer}H${p.head}`)).toEqual(json['chosen'].decisions.prunedHeads);
  }, 600_000);

  it('the plaintext evaluator counts the same rows right as onnxruntime', async () => {
    const rows = 4;
    const dev = readDevSet(DEV, rows);
    const g = runPipeline(loadOnnxFile(MODEL, { batch: rows, seq: 128 }).graph, parsePipeline('raise-bert,canonicalize,softmax-to-poly{ratio=1,shift=false}'), {
      resources: new Map([[IMPORTANCE_RESOURCE, IG]]),
    }).graph;
    const names = g.inputs.map((i) => i.name!);
    const viaOrt = await new AccuracyMeter(await accuracyBackend(), dev, rows, names).measure('k', () => g, Infinity);
    const viaEval = await new AccuracyMeter(await accuracyBackend(true), dev, rows, names).measure('k', () => g, Infinity);
    expect(viaEval).toEqual(viaOrt);
    expect(viaOrt.seen).toBe(rows);
  });
});

// --- bad input -----------------------------------------------------------------------------

/** Writes a tensor bundle with input_ids and attention_mask [n, seq] and labels [n]. */
function bundle(name: string, n: number, seq: number, edit: (ids: Int32Array, labels: Int32Array) => void = () => {}): string {
  const ids = new Int32Array(n * seq).fill(5);
  const mask = new Int32Array(n * seq).fill(1);
  const labels = new Int32Array(n);
  edit(ids, labels);
  const bin = Buffer.concat([Buffer.from(ids.buffer), Buffer.from(mask.buffer), Buffer.from(labels.buffer)]);
  writeFileSync(join(dir, `${name}.bin`), bin);
  const index = {
    format: 'ig3dc-tensor-bundle/1',
    bin: `${name}.bin`,
    tensors: {
      input_ids: { dtype: 'int32', shape: [n, seq], offset: 0, nbytes: n * seq * 4 },
      attention_mask: { dtype: 'int32', shape: [n, seq], offset: n * seq * 4, nbytes: n * seq * 4 },
      labels: { dtype: 'int32', shape: [n], offset: 2 * n * seq * 4, nbytes: n * 4 },
    },
  };
  const p = join(dir, `${name}.json`);
  writeFileSync(p, JSON.stringify(index));
  return p;
}

describe.skipIf(!haveFixtures)('tune: bad input', () => {
  it('an annotation for another model shape', async () => {
    const other = join(dir, 'other-shape.json');
    writeFileSync(other, JSON.stringify({ model: 'bert-tiny.onnx', scores: [[1, 2], [3, 4]] }));
    const e = await caughtAsync(tune(MODEL, options({ importance: [other] })));
    expect(e.kind).toBe('input');
    expect(e.place.file).toBe(other);
    expect(e.message).toMatch(/2 layers x 2 heads/);
    expect(e.message).toMatch(/4 layers x 4 heads/);
    // also as a Table 6 file only
    const e2 = await caughtAsync(tune(MODEL, options({ compareImportance: [other] })));
    expect(e2.place.file).toBe(other);
  });

  it('an accuracy budget or a threshold out of range', async () => {
    for (const eps of [0, -1, 150, Number.NaN]) {
      const e = await caughtAsync(tune(MODEL, options({ maxAccLoss: eps })));
      expect(e.kind).toBe('usage');
      expect(e.message).toMatch(/--max-acc-loss/);
      expect(e.message).toContain(String(eps));
    }
    expect((await caughtAsync(tune(MODEL, options({ minKeep: 1.5 })))).message).toMatch(/--min-keep.*\[0, 1\].*1\.5/);
    expect((await caughtAsync(tune(MODEL, options({ granularity: 'row' })))).message).toMatch(/--granularity.*head or layer.*row/);
    expect((await caughtAsync(tune(MODEL, options({ degree: 1 })))).message).toMatch(/--degree/);
    expect((await caughtAsync(tune(MODEL, options({ examples: 5000 })))).message).toMatch(/--examples.*1 to 1000.*5000/);
    expect((await caughtAsync(tuneCommand(MODEL, { importance: IG, data: DEV, maxAccLoss: 'lots' }))).message).toMatch(/--max-acc-loss.*'lots'/);
  });

  it('a dev set whose sequence length does not fit the model', async () => {
    const e = await caughtAsync(tune(MODEL, options({ data: bundle('long', 2, 130), examples: undefined })));
    expect(e.kind).toBe('input');
    expect(e.message).toMatch(/'input_ids'/);
    expect(e.message).toMatch(/130/);
    expect(e.message).toMatch(/at most 128/);
  });

  it('a dev set whose token ids or labels do not fit the model', async () => {
    const ids = await caughtAsync(tune(MODEL, options({ data: bundle('vocab', 2, 8, (i) => (i[11] = 4004)), examples: undefined })));
    expect(ids.message).toMatch(/'input_ids' holds 4004 at \[1, 3\]/);
    expect(ids.message).toMatch(/0\.\.4003/);
    const labels = await caughtAsync(tune(MODEL, options({ data: bundle('labels', 2, 8, (_i, l) => (l[1] = 2)), examples: undefined })));
    expect(labels.message).toMatch(/'labels' holds 2 at \[1\]/);
    expect(labels.message).toMatch(/0\.\.1/);
  });

  it('a dev set without labels', async () => {
    const p = join(dir, 'nolabels.json');
    writeFileSync(p, JSON.stringify({ format: 'ig3dc-tensor-bundle/1', bin: 'long.bin', tensors: { input_ids: { dtype: 'int32', shape: [2, 130], offset: 0, nbytes: 2 * 130 * 4 } } }));
    bundle('long', 2, 130);
    const e = await caughtAsync(tune(MODEL, options({ data: p, examples: undefined })));
    expect(e.message).toMatch(/no tensor 'attention_mask'|no tensor 'labels'/);
  });
});
