// Token pruning (CipherPrune): the ops' meaning, the prune-tokens pass, and the segments a
// pruned model runs in. The meaning: pruning a set of tokens after layer l gives exactly the
// model that runs layers l+1.. on the kept tokens alone (same order); padding rows of a
// bucketed segment have no influence at all; the compaction is the stable partition.

import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate, foldOp } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import { Tensor } from '../ir/tensor.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { SegmentCache, cutGraph, runSegments, tokenPath, writeThresholdsJson } from '../passes/tokens/index.ts';
import { calibrateTokens } from '../compiler/tokens/calibrate.ts';
import { AccuracyMeter, accuracyBackend } from '../compiler/tune/accuracy.ts';
import type { DevSet } from '../compiler/tune/dev-set.ts';
import { caught, devInputs, FIXTURES, haveFixtures, maxAbsDiff, raisedSpamBert } from './ig3d-helpers.ts';

const TINY = join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx');
const SEQ = 16;

let tiny: Graph | undefined;
function raisedTiny(): Graph {
  tiny ??= runPipeline(loadOnnxFile(TINY, { batch: 1, seq: SEQ }).graph, parsePipeline('raise-bert')).graph;
  return tiny;
}

/** Deterministic pseudo-random numbers in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function tinyInputs(seed: number, real: number): Map<string, Tensor> {
  const r = uniform(seed);
  const ids = Array.from({ length: SEQ }, (_, j) => (j === 0 ? 101n : j < real ? BigInt(1 + Math.floor(r() * 1999)) : 0n));
  const mask = Array.from({ length: SEQ }, (_, j) => (j < real ? 1n : 0n));
  return new Map([
    ['input_ids', Tensor.from('i64', [1, SEQ], ids)],
    ['attention_mask', Tensor.from('i64', [1, SEQ], mask)],
    ['token_type_ids', Tensor.zeros('i64', [1, SEQ])],
  ]);
}

const vec = (values: readonly number[]): Tensor => Tensor.from('f32', [1, 1, 1, values.length], values);
const run = (g: Graph, pipeline: string): Graph => runPipeline(g, parsePipeline(pipeline)).graph;

describe('token pruning ops', () => {
  it('TokenImportance averages the attention a token receives over heads and kept query rows', () => {
    // B=1, H=2, S=3; token 2 is padding: its row and column do not count
    const probs = Tensor.from('f32', [1, 2, 3, 3], [0.5, 0.5, 0, 0.25, 0.75, 0, 9, 9, 9, 1, 0, 0, 0.5, 0.5, 0, 9, 9, 9]);
    const s = foldOp('TokenImportance', [probs, vec([1, 1, 0])]).toNumbers();
    expect(s[0]).toBeCloseTo((0.5 + 0.25 + 1 + 0.5) / 4, 12);
    expect(s[1]).toBeCloseTo((0.5 + 0.75 + 0 + 0.5) / 4, 12);
    expect(s[2]).toBe(0);
  });

  it('TokenKeep keeps [CLS] always, never padding, and tokens at or above theta', () => {
    const score = vec([0.01, 0.3, 0.1, 0.2, 0.9]);
    expect(foldOp('TokenKeep', [score, vec([1, 1, 1, 1, 0])], { theta: 0.2 }).toNumbers()).toEqual([1, 1, 0, 1, 0]);
    // ratio 0.5 of 4 kept tokens: ceil(2) survive, [CLS] and the best other one
    expect(foldOp('TokenKeep', [score, vec([1, 1, 1, 1, 0])], { ratio: 0.5 }).toNumbers()).toEqual([1, 1, 0, 0, 0]);
  });

  it('TokenReduce flags survivors below beta, never [CLS]', () => {
    const score = vec([0.01, 0.3, 0.1, 0.2]);
    expect(foldOp('TokenReduce', [score, vec([1, 1, 0, 1])], { beta: 0.25 }).toNumbers()).toEqual([0, 0, 0, 1]);
  });

  it('CompactTokens is the stable partition: survivors first in order, zeros after (any axis)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 3 }), (flags, D) => {
        const S = flags.length;
        const x = Tensor.from('f32', [1, S, D], Array.from({ length: S * D }, (_, i) => i + 1));
        const y = foldOp('CompactTokens', [x, vec(flags.map(Number))], { axis: 1 }).toNumbers();
        const kept = flags.flatMap((f, t) => (f ? [t] : []));
        const want = [...kept.flatMap((t) => Array.from({ length: D }, (_, d) => t * D + d + 1)), ...Array((S - kept.length) * D).fill(0)];
        expect(y).toEqual(want);
        // on a [B,1,1,S] mask (axis 3) the survivors' ones end up in front: a prefix of ones
        const m = foldOp('CompactTokens', [vec(flags.map(Number)), vec(flags.map(Number))], { axis: 3 }).toNumbers();
        expect(m).toEqual([...Array(kept.length).fill(1), ...Array(S - kept.length).fill(0)]);
      }),
      { numRuns: 200 },
    );
  });

  it('TokenSelect takes the reduced rows where the flag is set', () => {
    const full = Tensor.from('f32', [1, 3, 2], [1, 2, 3, 4, 5, 6]);
    const low = Tensor.from('f32', [1, 3, 2], [-1, -2, -3, -4, -5, -6]);
    expect(foldOp('TokenSelect', [vec([0, 1, 0]), low, full], { axis: 1 }).toNumbers()).toEqual([1, 2, -3, -4, 5, 6]);
  });

  it('rejects a bucket that does not divide S and thresholds outside [0, 1]', () => {
    expect(caught(() => foldOp('TokenKeep', [vec([0, 0, 0]), vec([1, 1, 1])], { bucket: 2 })).message).toMatch(/bucket 2 must be a positive divisor of the sequence length 3/);
    expect(caught(() => foldOp('TokenKeep', [vec([0]), vec([1])], { theta: 1.5 })).message).toMatch(/theta must be in \[0, 1\], got 1.5/);
    expect(caught(() => foldOp('TokenReduce', [vec([0]), vec([1])], { beta: -0.1 })).message).toMatch(/beta must be in \[0, 1\]/);
  });
});

describe('pruning is running the rest of the model on the kept tokens only', () => {
  it('for random masks after any layer, compaction + masking equals the shorter sequence (bert-tiny)', () => {
    const g = raisedTiny();
    const path = tokenPath(g, 'test');
    const L = path.layers.length;
    fc.assert(
      fc.property(fc.integer({ min: 2, max: SEQ }), fc.array(fc.boolean(), { minLength: SEQ, maxLength: SEQ }), fc.integer({ min: 1, max: L - 1 }), fc.integer(), (real, flags, next, seed) => {
        const feeds = tinyInputs(seed, real);
        const entry = path.layers[next]!;
        const before = cutGraph(g, 'before', [], [{ name: 'h', node: entry.input }], SEQ);
        const h = evaluate(before, feeds).get('h')!;
        // a random mask over the real tokens; [CLS] always kept
        const m = flags.map((f, j) => (j === 0 || (f && j < real) ? 1 : 0));
        const kept = m.flatMap((f, j) => (f ? [j] : []));
        const cuts = (n: number) => cutGraph(g, 'after', [{ node: entry.input, name: 'hidden', axis: 1 }, { node: entry.mask, name: 'keep', axis: 3 }], g.outputs, n);
        const pruned = evaluate(cuts(SEQ), new Map([
          ['hidden', foldOp('CompactTokens', [h, vec(m)], { axis: 1 })],
          ['keep', foldOp('CompactTokens', [vec(m), vec(m)], { axis: 3 })],
        ])).get('logits')!.toNumbers();
        const D = h.shape[2]!;
        const hd = h.toNumbers();
        const short = new Tensor('f32', [1, kept.length, D], Float64Array.from(kept.flatMap((j) => hd.slice(j * D, (j + 1) * D))));
        const alone = evaluate(cuts(kept.length), new Map([['hidden', short], ['keep', vec(kept.map(() => 1))]])).get('logits')!.toNumbers();
        expect(maxAbsDiff(pruned, alone)).toBeLessThan(1e-12);
      }),
      { numRuns: 12 },
    );
  });

  it('theta = 0 keeps every real token: the pruned model equals the unpruned one', () => {
    const g = raisedTiny();
    const p = run(g, 'prune-tokens{theta=[0]}');
    for (const real of [3, 9, SEQ]) {
      const feeds = tinyInputs(real, real);
      expect(maxAbsDiff(evaluate(p, feeds).get('logits')!.toNumbers(), evaluate(g, feeds).get('logits')!.toNumbers())).toBeLessThan(1e-12);
    }
  });

  it('a threshold that prunes changes the logits (the comparison is live)', () => {
    const g = raisedTiny();
    const feeds = tinyInputs(7, SEQ);
    const p = run(g, 'prune-tokens{theta=[0.062]}');
    const seg = runSegments(new SegmentCache(p), feeds);
    expect(seg.counts[0]).toBeLessThan(SEQ);
    expect(seg.counts[0]).toBeGreaterThan(1);
    expect(maxAbsDiff(evaluate(p, feeds).get('logits')!.toNumbers(), evaluate(g, feeds).get('logits')!.toNumbers())).toBeGreaterThan(1e-6);
  });
});

describe('segments decided at run time', () => {
  it('the segmented run equals the static pruned graph, and padding rows have exactly zero influence', () => {
    const g = raisedTiny();
    for (const [pipeline, seed] of [['prune-tokens{theta=[0.05],beta=[0.09],bucket=4}', 3], ['prune-tokens{ratio=0.5,bucket=4}', 5], ['prune-tokens{theta=[0.07],bucket=8}', 11]] as const) {
      const p = run(g, pipeline);
      const feeds = tinyInputs(seed, 13);
      const cache = new SegmentCache(p);
      const seg = runSegments(cache, feeds);
      expect(seg.tokens[1]! % (p.nodes().find((n) => n.op === 'TokenKeep')!.attrs['bucket'] as number)).toBe(0);
      const logits = seg.outputs.get('logits')!.toNumbers();
      expect(maxAbsDiff(logits, evaluate(p, feeds).get('logits')!.toNumbers())).toBeLessThan(1e-12);
      // garbage in the padding rows of every hand-off: bit-identical logits
      const r = uniform(seed);
      const garbage = (t: Tensor, from: number, axis: number): Tensor => {
        const v = t.toNumbers();
        const S = t.shape[axis]!;
        const inner = t.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
        for (let i = 0; i < v.length; i++) if (Math.floor(i / inner) % S >= from && axis === 1) v[i] = 100 * (r() - 0.5);
        return new Tensor(t.dtype, t.shape, Float64Array.from(v)); // keep the float64 values as handed over
      };
      const noisy = runSegments(cache, feeds, garbage).outputs.get('logits')!.toNumbers();
      expect(noisy).toEqual(logits);
    }
  });

  it.skipIf(!haveFixtures)('spam-bert: segments on dev mails, counts per layer shrink and logits match', () => {
    const g = raisedSpamBert(1, 128);
    const p = run(g, 'prune-tokens{theta=[0.004,0.004,0.004],bucket=8}');
    const feeds = devInputs([0], 128);
    const seg = runSegments(new SegmentCache(p), feeds);
    expect(seg.tokens.slice(1).every((n) => n % 8 === 0)).toBe(true);
    expect(seg.tokens[seg.tokens.length - 1]).toBeLessThan(128);
    expect(maxAbsDiff(seg.outputs.get('logits')!.toNumbers(), evaluate(p, feeds).get('logits')!.toNumbers())).toBeLessThan(1e-9);
    void FIXTURES;
  });
});

describe('reduce=reveal-count: each degree on its own rows', () => {
  it('TokenReduce part "full" is the other side of the split: the two parts partition the survivors', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.double({ min: 0, max: 0.5, noNaN: true })), { minLength: 1, maxLength: 12 }), fc.double({ min: 0, max: 0.5, noNaN: true }), (tokens, beta) => {
        const survivors = vec(tokens.map(([k], j) => (k || j === 0 ? 1 : 0)));
        const score = vec(tokens.map(([, x]) => x));
        const red = foldOp('TokenReduce', [score, survivors], { beta }).toNumbers();
        const full = foldOp('TokenReduce', [score, survivors], { beta, part: 'full' }).toNumbers();
        expect(red.map((r, j) => r + full[j]!)).toEqual(survivors.toNumbers());
        expect(full[0]).toBe(1); // [CLS] keeps the full degree
      }),
      { numRuns: 200 },
    );
  });

  /** Garbage in every padding row of the hand-offs (axis 1: hidden state rows). */
  const garbageFrom = (seed: number) => {
    const r = uniform(seed);
    return (t: Tensor, from: number, axis: number): Tensor => {
      const v = t.toNumbers();
      const S = t.shape[axis]!;
      const inner = t.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
      for (let i = 0; i < v.length; i++) if (Math.floor(i / inner) % S >= from && axis === 1) v[i] = 100 * (r() - 0.5);
      return new Tensor(t.dtype, t.shape, Float64Array.from(v));
    };
  };

  it('bert-tiny: the split segment computes the full degree on the first rows and the low one on the rest only, logits as the static graph', () => {
    const g = raisedTiny();
    const p = run(g, 'prune-tokens{theta=[0.05],beta=[0.09],bucket=4,reduce=reveal-count}');
    const feeds = tinyInputs(3, 13);
    const cache = new SegmentCache(p);
    const seg = runSegments(cache, feeds);
    expect(seg.counts).toEqual([13]);
    expect(seg.reduced).toEqual([12]);
    expect(seg.shapes).toEqual([[SEQ], [4, 12]]);
    const logits = seg.outputs.get('logits')!.toNumbers();
    expect(maxAbsDiff(logits, evaluate(p, feeds).get('logits')!.toNumbers())).toBeLessThan(1e-12);
    expect(runSegments(cache, feeds, garbageFrom(3)).outputs.get('logits')!.toNumbers()).toEqual(logits);
    // no per-token selection: exact softmax rows and GELU on 4 rows, PolySoftmax and ReLU on 12
    const split = cache.get(1, [4, 12]);
    const ops = split.nodes();
    expect(ops.filter((n) => n.op === 'TokenSelect')).toEqual([]);
    const softmax = ops.filter((n) => n.op === 'AttentionSoftmax').map((n) => [n.type.shape[2], (n.attrs['methods'] as string[])[0]]);
    expect(softmax.sort()).toEqual([[12, 'poly'], [4, 'exact']].sort());
    expect(ops.filter((n) => n.op === 'Gelu' || n.op === 'GeluMix').map((n) => n.type.shape[1])).toEqual([4]);
    expect(ops.filter((n) => n.op === 'Relu').map((n) => n.type.shape[1])).toEqual([12]);
    // the default reveals one count and selects per token
    const select = runSegments(new SegmentCache(run(g, 'prune-tokens{theta=[0.05],beta=[0.09],bucket=4}')), feeds);
    expect(select.reduced).toEqual([undefined]);
    expect(select.shapes).toEqual([[SEQ], [SEQ]]);
  });

  it.skipIf(!haveFixtures)('spam-bert: reduction at every boundary, the same logits as per-token selection (tokens permuted within the survivors), padding rows without influence', () => {
    const g = raisedSpamBert(1, 128);
    const spec = 'theta=[0.004,0.008,0.008],beta=[0.012,0.016,0.016],bucket=8';
    const select = run(g, `prune-tokens{${spec}}`);
    const split = new SegmentCache(run(g, `prune-tokens{${spec},reduce=reveal-count}`));
    for (const [row, seed] of [[0, 1], [7, 3]] as const) {
      const feeds = devInputs([row], 128);
      const seg = runSegments(split, feeds);
      const want = evaluate(select, feeds).get('logits')!.toNumbers();
      const got = seg.outputs.get('logits')!.toNumbers();
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-9);
      // the reduction is live at every boundary: some survivors reduced, some not
      seg.reduced.forEach((r, k) => {
        expect(r).toBeGreaterThan(0);
        expect(r).toBeLessThan(seg.counts[k]!);
      });
      // and it changes the logits (so the reduced rows do reach them)
      expect(maxAbsDiff(got, evaluate(run(g, `prune-tokens{theta=[0.004,0.008,0.008],bucket=8}`), feeds).get('logits')!.toNumbers())).toBeGreaterThan(1e-6);
      expect(seg.shapes.slice(1).every((s) => s.length === 2 && s.every((n) => n % 8 === 0))).toBe(true);
      expect(runSegments(split, feeds, garbageFrom(seed)).outputs.get('logits')!.toNumbers()).toEqual(got);
    }
    // a batch of two mails: each group is bucketed by its largest count over the batch
    const feeds = devInputs([2, 3], 128);
    const g2 = raisedSpamBert(2, 128);
    const seg = runSegments(new SegmentCache(run(g2, `prune-tokens{${spec},reduce=reveal-count}`)), feeds);
    expect(maxAbsDiff(seg.outputs.get('logits')!.toNumbers(), evaluate(run(g2, `prune-tokens{${spec}}`), feeds).get('logits')!.toNumbers())).toBeLessThan(1e-9);
  });
});

describe('prune-tokens: bad input', () => {
  const g = () => raisedTiny();
  it.each([
    ['prune-tokens{theta=[0.1,0.2]}', /theta has 2 entries but the model has 2 layers; give one per boundary between layers \(1\)/],
    ['prune-tokens{theta=[1.5]}', /theta\[0\] = 1.5 is outside \[0, 1\]/],
    ['prune-tokens{theta=[0.1],beta=[-1]}', /beta\[0\] = -1 is outside \[0, 1\]/],
    ['prune-tokens{theta=[0.3],beta=[0.2]}', /theta\[0\] = 0.3 is above beta\[0\] = 0.2/],
    ['prune-tokens{theta=[0.1],bucket=5}', /bucket 5 does not divide the sequence length 16/],
    ['prune-tokens{theta=[0.1],ratio=0.5}', /exactly one of theta/],
    ['prune-tokens{}', /exactly one of theta/],
    ['prune-tokens{thresholds="/nonexistent/t.json"}', /cannot read token thresholds/],
    ['prune-tokens{theta=[0.1],reduce=all}', /reduce/],
    ['prune-tokens{ratio=0.5,reduce=reveal-count}', /reduce=reveal-count goes with beta/],
  ])('%s', (pipeline, message) => {
    expect(caught(() => run(g(), pipeline)).message).toMatch(message);
  });
});

describe('calibration (tune --tokens) on a tiny labelled set', () => {
  it('picks thresholds within the budget, and the file it writes drives the pass', async () => {
    const g = raisedTiny();
    const rows = 6;
    const feeds = Array.from({ length: rows }, (_, r) => tinyInputs(100 + r, 8 + r));
    const cat = (name: string) => Int32Array.from(feeds.flatMap((f) => f.get(name)!.toNumbers()));
    // labels: the unpruned model's own predictions, so the baseline is 100%
    const labels = Int32Array.from(feeds.map((f) => {
      const v = evaluate(g, f).get('logits')!.toNumbers();
      return v[1]! > v[0]! ? 1 : 0;
    }));
    const dev: DevSet = { file: 'synthetic', rows, seq: SEQ, inputIds: cat('input_ids'), attentionMask: cat('attention_mask'), tokenTypeIds: cat('token_type_ids'), labels };
    const meter = new AccuracyMeter(await accuracyBackend(true), dev, 1, g.inputs.map((n) => n.name!));
    const grid = [0, 0.05, 0.06, 0.07, 0.2];
    const result = await calibrateTokens(g, g, meter, dev, { maxAccLoss: 0, bucket: 4, grid });
    expect(result.baseAccuracy).toBe(100);
    expect(result.accuracy).toBe(100);
    // on this random-weight model even [CLS] alone keeps every prediction: the greedy search
    // climbs the whole grid (theta, then beta) and every step stays within the budget
    expect(result.thresholds).toEqual({ theta: [0.2], beta: [0.2] });
    expect(result.trials.map((t) => t.theta[0])).toEqual([0.05, 0.06, 0.07, 0.2]);
    expect(result.trials.every((t) => t.accuracy === 100)).toBe(true);
    expect(result.meanKept[0]).toBeCloseTo(1, 9);
    expect(result.meanTokens[0]).toBeCloseTo(SEQ, 9);
    const file = join(tmpdir(), `ig3dc-tokens-${process.pid}.json`);
    writeFileSync(file, writeThresholdsJson(result.thresholds));
    const fromFile = run(g, `prune-tokens{thresholds=${JSON.stringify(file)},bucket=4}`);
    const direct = run(g, `prune-tokens{theta=[${result.thresholds.theta[0]}],beta=[${result.thresholds.beta[0]}],bucket=4}`);
    const f0 = feeds[0]!;
    expect(evaluate(fromFile, f0).get('logits')!.toNumbers()).toEqual(evaluate(direct, f0).get('logits')!.toNumbers());
  });
});
