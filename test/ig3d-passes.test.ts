// The IG-3D passes on the raised spam-bert: prune-heads, softmax-to-poly, gelu-mix, their
// decisions, their equivalences (pruning = silencing the head's output), and their errors.
// Every pipeline here runs with the verifier after each pass.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate, foldOp } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { printGraph } from '../ir/printer.ts';
import { Tensor } from '../ir/tensor.ts';
import {
  type ImportanceAnnotation,
  choosePolyHeads,
  choosePrunedHeads,
  headKey,
  importanceOf,
  parseImportanceText,
  readImportanceFile,
  thirdsSchedule,
} from '../passes/ig3d/index.ts';
import { GELU_MIX_PASS, PRUNE_HEADS_PASS, SOFTMAX_TO_POLY_PASS } from '../passes/ig3d/index.ts';
import { parsePipeline } from '../passes/index.ts';
import { caught, FIXTURES, devInputs, haveFixtures, logitsOf, maxAbsDiff, raisedSpamBert, realLength, resources, runText, zeroValueHeads } from './ig3d-helpers.ts';


const ig = (): ImportanceAnnotation => readImportanceFile(join(FIXTURES, 'importance.json'));

/** An annotation with these scores (4 x 4 unless given otherwise). */
function scored(scores: number[][], extra = ''): ImportanceAnnotation {
  return parseImportanceText(`scores\n${scores.map((r, l) => `L${l}: ${r.join(' ')}`).join('\n')}\n${extra}`);
}

function ops(g: Graph, op: string): Node[] {
  return g.nodes().filter((n) => n.op === op);
}

function softmaxOf(g: Graph, layer: number): Node | undefined {
  return ops(g, 'AttentionSoftmax').find((n) => n.loc.layer === layer);
}

const allHeads: [number, number][] = [0, 1, 2, 3].flatMap((l) => [0, 1, 2, 3].map((h): [number, number] => [l, h]));

describe('head choices', () => {
  it('tau keeps S >= tau, ratio prunes the least important, min-keep keeps the most important', () => {
    const s = [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
      [13, 14, 15, 16],
    ];
    const sorted = (set: Set<string>) => [...set].sort();
    expect(sorted(choosePrunedHeads(s, { kind: 'tau', tau: 3 }, 0))).toEqual([headKey(0, 0), headKey(0, 1)]);
    expect(choosePrunedHeads(s, { kind: 'tau', tau: 0.5 }, 0.3).size).toBe(0);
    // tau above every score: min-keep 0.3 keeps ceil(4.8) = 5, the five best
    const all = choosePrunedHeads(s, { kind: 'tau', tau: 100 }, 0.3);
    expect(all.size).toBe(11);
    for (const [l, h] of [[3, 3], [3, 2], [3, 1], [3, 0], [2, 3]] as const) expect(all.has(headKey(l, h))).toBe(false);
    expect(choosePrunedHeads(s, { kind: 'tau', tau: 100 }, 0).size).toBe(16);
    // ratio 0.3 of 16 = 4.8 -> the 5 least important
    expect(sorted(choosePrunedHeads(s, { kind: 'ratio', ratio: 0.3 }, 0.3))).toEqual(['0:0', '0:1', '0:2', '0:3', '1:0']);
    expect(choosePrunedHeads(s, { kind: 'ratio', ratio: 0.9 }, 0.5).size).toBe(8);
  });

  it('pins override the scores and min-keep', () => {
    const a = scored([[1, 2], [3, 4]], 'keep L0H0\nprune L1H1');
    const imp = importanceOf(a)!;
    const p = choosePrunedHeads(imp, { kind: 'ratio', ratio: 0.5 }, 0.5, a);
    expect([...p].sort()).toEqual([headKey(0, 1), headKey(1, 1)]);
    expect([...choosePrunedHeads(undefined, { kind: 'pins' }, 0.3, a)]).toEqual([headKey(1, 1)]);
  });

  it.skipIf(!haveFixtures)('ratio 0.3 with integrated gradients prunes the last five of the fixture\'s importance order', () => {
    const order = (JSON.parse(readFileSync(join(FIXTURES, 'importance.json'), 'utf8')) as { importance_order: [number, number][] }).importance_order;
    const p = choosePrunedHeads(importanceOf(ig()), { kind: 'ratio', ratio: 0.3 }, 0.3);
    expect([...p].sort()).toEqual(order.slice(11).map(([l, h]) => headKey(l, h)).sort());
  });

  it('poly choice: per head by score, per layer by the mean of the remaining heads', () => {
    const s = [
      [1, 1, 9, 9],
      [4, 4, 4, 4],
      [0, 0, 0, 100],
    ];
    const present = new Map<number, readonly number[]>([
      [0, [0, 1, 2, 3]],
      [1, [0, 1, 2, 3]],
      [2, [0, 1, 2]],
    ]);
    const heads = choosePolyHeads(s, present, { kind: 'tau', tau: 4 }, 'head');
    expect([...heads].sort()).toEqual(['0:0', '0:1', '2:0', '2:1', '2:2']);
    // layer means: L0 5, L1 4, L2 0 (head 3 is gone)
    expect([...choosePolyHeads(s, present, { kind: 'tau', tau: 4.5 }, 'layer')].sort()).toEqual(['1:0', '1:1', '1:2', '1:3', '2:0', '2:1', '2:2']);
    expect([...choosePolyHeads(s, present, { kind: 'ratio', ratio: 0.34 }, 'layer')].sort()).toEqual(['2:0', '2:1', '2:2']);
    const pinned = parseImportanceText('exact L2H1\npoly L0H3');
    expect([...choosePolyHeads(s, present, { kind: 'ratio', ratio: 0.34 }, 'layer', pinned)].sort()).toEqual(['0:3', '2:0', '2:2']);
  });

  it('the thirds schedule follows the paper\'s formula', () => {
    // lambda_l = 0 for l <= L/3, (l - L/3)/(L/3) up to 2L/3, then 1 (layers l = 1..L)
    const paper = (L: number) =>
      Array.from({ length: L }, (_, i) => {
        const l = i + 1;
        const third = L / 3;
        if (l <= third + 1e-9) return 0;
        if (l <= 2 * third + 1e-9) return (l - third) / third;
        return 1;
      });
    for (const L of [1, 2, 3, 4, 6, 12, 24]) {
      const got = thirdsSchedule(L);
      const want = paper(L);
      expect(got.length).toBe(L);
      got.forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 12));
    }
    expect(thirdsSchedule(4)).toEqual([0, 0.5, 1, 1]);
    expect(thirdsSchedule(12)).toEqual([0, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1]);
  });
});

describe.skipIf(!haveFixtures)('prune-heads on spam-bert', () => {
  const S = 12;
  const g = () => raisedSpamBert(2, S);
  const inputs = () => devInputs([3, 7], S);

  it('tau below every score is the identity (fast-check)', () => {
    const before = printGraph(g());
    fc.assert(
      fc.property(fc.array(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 4, maxLength: 4 }), { minLength: 4, maxLength: 4 }), fc.double({ min: 0, max: 1e3, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (s, below, minKeep) => {
        const tau = Math.min(...s.flat()) - below - 1e-9;
        const out = runText(g(), `prune-heads{tau=${tau},min-keep=${minKeep}}`, scored(s)).graph;
        expect(printGraph(out)).toBe(before);
      }),
      { numRuns: 30 },
    );
  });

  it('pruning heads equals silencing their output O(l,h) in the unpruned model (fast-check)', () => {
    fc.assert(
      fc.property(fc.subarray(allHeads, { minLength: 1, maxLength: 10 }), (heads) => {
        const pins = parseImportanceText(`prune ${heads.map(([l, h]) => `L${l}H${h}`).join(' ')}`);
        const pruned = runText(g(), 'prune-heads', pins).graph;
        const a = logitsOf(pruned, inputs());
        const b = logitsOf(zeroValueHeads(g(), heads), inputs());
        expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
        // the heads are gone from the graph: the remaining ones are the others
        for (let l = 0; l < 4; l++) {
          const left = [0, 1, 2, 3].filter((h) => !heads.some(([pl, ph]) => pl === l && ph === h));
          expect((softmaxOf(pruned, l)?.attrs['heads'] as readonly number[] | undefined) ?? []).toEqual(left);
        }
      }),
      { numRuns: 12 },
    );
  });

  it('shrinks the weights: a pruned head removes 64 columns of Wq/Wk/Wv and 64 rows of Wo', () => {
    const out = runText(g(), 'prune-heads', parseImportanceText('prune L0H1 L0H3 L2H0')).graph;
    const layer0 = out.nodes().filter((n) => n.loc.layer === 0 && n.op === 'Linear');
    const byRole = (role: string) => layer0.find((n) => n.attrs['role'] === role)!;
    for (const role of ['query', 'key', 'value']) {
      expect(byRole(role).inputs[1]!.type.shape).toEqual([256, 128]);
      expect(byRole(role).inputs[2]!.type.shape).toEqual([128]);
      expect(byRole(role).type.shape).toEqual([2, S, 128]);
    }
    expect(byRole('attention-output').inputs[1]!.type.shape).toEqual([128, 256]);
    expect(softmaxOf(out, 0)!.type.shape).toEqual([2, 2, S, S]);
    expect(ops(out, 'SplitHeads').filter((n) => n.loc.layer === 2).map((n) => n.attrs['heads'])).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3]]);
  });

  it('a layer with every head pruned keeps its residual path: it equals silencing all its heads', () => {
    const out = runText(g(), 'prune-heads', parseImportanceText('prune L1H0 L1H1 L1H2 L1H3 L2H2')).graph;
    expect(softmaxOf(out, 1)).toBeUndefined();
    expect(ops(out, 'AttentionSoftmax').length).toBe(3);
    const expand = ops(out, 'Expand');
    expect(expand.length).toBe(1);
    expect(expand[0]!.loc.layer).toBe(1);
    expect(expand[0]!.type.shape).toEqual([2, S, 256]);
    const want = logitsOf(zeroValueHeads(g(), [[1, 0], [1, 1], [1, 2], [1, 3], [2, 2]]), inputs());
    expect(maxAbsDiff(logitsOf(out, inputs()), want)).toBeLessThan(1e-5);
    // running again changes nothing; the layer still counts for the annotation check
    const again = runText(out, 'prune-heads', parseImportanceText('model spam-bert layers 4 heads 4\nprune L1H0 L1H1 L1H2 L1H3 L2H2')).graph;
    expect(printGraph(again)).toBe(printGraph(out));
  });

  it('ratio 0.3 with integrated gradients keeps the pins of the example file', () => {
    const a = readImportanceFile(join(import.meta.dirname, '..', 'examples', 'importance', 'spam-bert-ig.txt'));
    const { graph: out, notes } = runText(g(), 'prune-heads{ratio=0.3}', a);
    expect(notes.join('\n')).toMatch(/pruning 5 of 16 heads: L0H0 L0H1 L1H0 L1H2 L1H3/);
    const kept = ops(out, 'AttentionSoftmax').flatMap((n) => (n.attrs['heads'] as number[]).map((h) => headKey(n.loc.layer!, h)));
    expect(kept.length).toBe(11);
    expect(kept).toContain(headKey(3, 1));
  });

  it('option errors', () => {
    const bad: [string, RegExp][] = [
      ['prune-heads{tau=0.001,ratio=0.3}', /give either tau .* or ratio .*, not both/],
      ['prune-heads{ratio=1}', /ratio must be in \[0, 1\), got 1/],
      ['prune-heads{tau=1}', /tau=1 needs head importance scores: give an importance file/],
    ];
    for (const [p, message] of bad) {
      const e = caught(() => runText(g(), p, p.endsWith('{tau=1}') ? undefined : ig()));
      expect(e.kind).toBe('usage');
      expect(e.detail).toMatch(message);
    }
    // ranges the pipeline checks as it parses, with the column of the value
    const range = caught(() => parsePipeline('raise-bert,prune-heads{min-keep=1.5}'));
    expect(range.detail).toMatch(/option 'min-keep' of pass 'prune-heads' must be in \[0, 1\], got 1.5/);
    expect(range.place.column).toBe(33);
    expect(caught(() => parsePipeline('prune-heads{ratio=-0.1}')).detail).toMatch(/must be in \[0, 1\]/);
    // and the pass itself, when called directly
    const ctx = { resources: resources(ig()), note: () => {} };
    expect(caught(() => PRUNE_HEADS_PASS.run(g(), { ratio: 1.2 }, ctx)).detail).toMatch(/option 'ratio' must be in \[0, 1\], got 1.2/);
    expect(caught(() => PRUNE_HEADS_PASS.run(g(), { ratio: 0.2, 'min-keep': -1 }, ctx)).detail).toMatch(/option 'min-keep' must be in \[0, 1\]/);
    expect(caught(() => PRUNE_HEADS_PASS.run(g(), { tau: Number.NaN }, ctx)).detail).toMatch(/tau' must be a finite number/);
    expect(caught(() => PRUNE_HEADS_PASS.run(g(), { threshold: 1 }, ctx)).detail).toMatch(/no option 'threshold'/);
    // scores are needed for tau, not for pins
    const pinsOnly = parseImportanceText('prune L0H0');
    expect(caught(() => runText(g(), 'prune-heads{tau=1}', pinsOnly)).detail).toMatch(/has only pins/);
    expect(caught(() => runText(g(), 'prune-heads')).detail).toMatch(/nothing to decide with/);
  });
});

describe('PolySoftmax rows (AttentionSoftmax "poly", fast-check)', () => {
  /** scores [1, 1, S, S] and a keep mask [1, 1, 1, S] with at least one kept key. */
  const rowsArb = (bound: number) =>
    fc.integer({ min: 1, max: 8 }).chain((S) =>
      fc.record({
        S: fc.constant(S),
        scores: fc.array(fc.double({ min: -bound, max: bound, noNaN: true }), { minLength: S * S, maxLength: S * S }),
        keep: fc.array(fc.boolean(), { minLength: S, maxLength: S }).filter((k) => k.some((x) => x)),
      }),
    );
  const poly = (r: { S: number; scores: number[]; keep: boolean[] }, attrs: Record<string, number | boolean | string[] | number[]>) =>
    foldOp('AttentionSoftmax', [Tensor.from('f64', [1, 1, r.S, r.S], r.scores), Tensor.from('f32', [1, 1, 1, r.S], r.keep.map((k) => (k ? 1 : 0)))], { heads: [0], ...attrs }).toNumbers();

  it('are non-negative, sum to 1, and give masked keys exactly 0 (even degrees; any shift and clip)', () => {
    fc.assert(
      fc.property(rowsArb(30), fc.constantFrom(2, 4, 6), fc.boolean(), fc.constantFrom(0, 2, 8), (r, degree, shift, clip) => {
        const p = poly(r, { methods: ['poly'], degree, shift, clip });
        for (let i = 0; i < r.S; i++) {
          let sum = 0;
          for (let j = 0; j < r.S; j++) {
            const v = p[i * r.S + j]!;
            if (!r.keep[j]) expect(Object.is(v, 0)).toBe(true);
            else expect(v).toBeGreaterThanOrEqual(0);
            sum += v;
          }
          expect(sum).toBeCloseTo(1, 9);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('approach the exact softmax as the degree grows, on bounded scores', () => {
    fc.assert(
      fc.property(rowsArb(2), (r) => {
        const exact = poly(r, { methods: ['exact'] });
        const err = (degree: number) => maxAbsDiff(poly(r, { methods: ['poly'], degree }), exact);
        const [e2, e4, e8, e16] = [err(2), err(4), err(8), err(16)];
        expect(e16).toBeLessThan(1e-4);
        expect(e8).toBeLessThanOrEqual(e2 + 1e-12);
        expect(e16).toBeLessThanOrEqual(e4 + 1e-12);
      }),
      { numRuns: 200 },
    );
  });
});

describe.skipIf(!haveFixtures)('softmax-to-poly on spam-bert', () => {
  it('a padded input predicts the same as the unpadded one', () => {
    const row = 0;
    const n = realLength(row);
    expect(n).toBeLessThan(128);
    for (const p of ['softmax-to-poly{ratio=1}', 'softmax-to-poly{ratio=1,shift=false,clip=4,degree=4}']) {
      const short = runText(raisedSpamBert(1, n), p, ig()).graph;
      const padded = runText(raisedSpamBert(1, 128), p, ig()).graph;
      const a = logitsOf(short, devInputs([row], n));
      const b = logitsOf(padded, devInputs([row], 128));
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
    }
  });

  it('on a raised model: rows non-negative, summing to 1, masked keys exactly 0', () => {
    const S = 16;
    const inputs = devInputs([0, 1], S);
    // pad the second row's last 5 positions
    const mask = inputs.get('attention_mask')!;
    const ids = inputs.get('input_ids')!;
    for (let j = S - 5; j < S; j++) {
      (mask.data as BigInt64Array)[S + j] = 0n;
      (ids.data as BigInt64Array)[S + j] = 0n;
    }
    const out = runText(raisedSpamBert(2, S), 'softmax-to-poly{ratio=1,shift=false,clip=6}', ig()).graph;
    let checked = 0;
    evaluate(out, inputs, {
      onValue: (node, value) => {
        if (node.op !== 'AttentionSoftmax') return;
        expect(node.attrs['methods']).toEqual(['poly', 'poly', 'poly', 'poly']);
        const v = value.toNumbers();
        for (let b = 0; b < 2; b++) {
          for (let r = 0; r < 4 * S; r++) {
            const base = (b * 4 * S + r) * S;
            let sum = 0;
            for (let j = 0; j < S; j++) {
              const x = v[base + j]!;
              if (b === 1 && j >= S - 5) expect(x).toBe(0);
              expect(x).toBeGreaterThanOrEqual(0);
              sum += x;
            }
            expect(sum).toBeCloseTo(1, 9);
          }
        }
        checked++;
      },
    });
    expect(checked).toBe(4);
  });

  it('layer granularity switches a layer\'s heads together; pins override; the example decisions', () => {
    const g = raisedSpamBert(1, 8);
    const { graph: out, notes } = runText(g, 'softmax-to-poly{ratio=0.5,granularity=layer,degree=3,clip=1.5}', ig());
    // IG layer means: L1 < L0 < L2 < L3
    expect(softmaxOf(out, 0)!.attrs['methods']).toEqual(['poly', 'poly', 'poly', 'poly']);
    expect(softmaxOf(out, 1)!.attrs['methods']).toEqual(['poly', 'poly', 'poly', 'poly']);
    expect(softmaxOf(out, 2)!.attrs['methods']).toEqual(['exact', 'exact', 'exact', 'exact']);
    expect(softmaxOf(out, 0)!.attrs).toMatchObject({ degree: 3, clip: 1.5, shift: true });
    expect(notes.join('\n')).toMatch(/on 8 of 16 heads/);
    const pinned = readImportanceFile(join(import.meta.dirname, '..', 'examples', 'importance', 'spam-bert-ig.txt'));
    const both = runText(g, 'softmax-to-poly{tau=0.0018}', pinned).graph;
    // per head: below 1.8e-3 -> poly, but L2H2 is pinned exact (its score is above anyway), L2H1 (1.746e-3) poly
    expect(softmaxOf(both, 2)!.attrs['methods']).toEqual(['poly', 'poly', 'exact', 'exact']);
    expect(softmaxOf(both, 3)!.attrs['methods']).toEqual(['exact', 'exact', 'exact', 'exact']);
    // after pruning: ratio counts the remaining heads
    const after = runText(g, 'prune-heads{ratio=0.25},softmax-to-poly{ratio=0.5}', ig()).graph;
    const methods = ops(after, 'AttentionSoftmax').flatMap((n) => n.attrs['methods'] as string[]);
    expect(methods.length).toBe(12);
    expect(methods.filter((m) => m === 'poly').length).toBe(6);
  });

  it('pins alone, without scores', () => {
    const g = raisedSpamBert(1, 8);
    const a = readImportanceFile(join(import.meta.dirname, '..', 'examples', 'importance', 'spam-bert-pins.txt'));
    const out = runText(g, 'prune-heads,softmax-to-poly,gelu-mix{schedule=none}', a).graph;
    expect(softmaxOf(out, 0)!.attrs['methods']).toEqual(['poly', 'poly', 'poly', 'poly']);
    expect(softmaxOf(out, 1)!.attrs['heads']).toEqual([1, 3]);
    expect(softmaxOf(out, 1)!.attrs['methods']).toEqual(['exact', 'exact']);
    const acts = (layer: number) => out.nodes().filter((n) => n.loc.layer === layer && ['Gelu', 'GeluMix', 'Relu'].includes(n.op));
    expect(acts(0).map((n) => n.op)).toEqual(['Relu']);
    expect(acts(1).map((n) => [n.op, n.attrs['lambda']])).toEqual([['GeluMix', 0.5]]);
    expect(acts(2).map((n) => n.op)).toEqual(['Gelu']);
  });

  it('notes about shift=false without clip and odd degrees', () => {
    const { notes } = runText(raisedSpamBert(1, 8), 'softmax-to-poly{ratio=0.5,shift=false,degree=3}', ig());
    expect(notes.join('\n')).toMatch(/shift=false without clip/);
    expect(notes.join('\n')).toMatch(/degree 3 is odd/);
  });

  it('option errors', () => {
    const g = raisedSpamBert(1, 8);
    expect(caught(() => parsePipeline('softmax-to-poly{granularity=row}')).detail).toMatch(/option 'granularity' of pass 'softmax-to-poly' must be one of head, layer, got 'row'/);
    expect(caught(() => parsePipeline('softmax-to-poly{degree=9}')).detail).toMatch(/must be in \[2, 8\], got 9/);
    expect(caught(() => parsePipeline('softmax-to-poly{clip=-1}')).detail).toMatch(/must be in \[0, inf\], got -1/);
    const ctx = { resources: resources(ig()), note: () => {} };
    expect(caught(() => SOFTMAX_TO_POLY_PASS.run(g, { tau: 1, ratio: 0.5 }, ctx)).detail).toMatch(/not both/);
    expect(caught(() => SOFTMAX_TO_POLY_PASS.run(g, { ratio: 1.5 }, ctx)).detail).toMatch(/option 'ratio' must be in \[0, 1\], got 1.5/);
    expect(caught(() => SOFTMAX_TO_POLY_PASS.run(g, { ratio: 0.5, granularity: 'row' }, ctx)).detail).toMatch(/option 'granularity' must be one of head, layer, got row/);
    expect(caught(() => SOFTMAX_TO_POLY_PASS.run(g, { ratio: 0.5, degree: 2.5 }, ctx)).detail).toMatch(/must be an integer/);
  });
});

describe.skipIf(!haveFixtures)('gelu-mix on spam-bert', () => {
  const g = () => raisedSpamBert(1, 8);
  const activations = (out: Graph) => out.nodes().filter((n) => ['Gelu', 'GeluMix', 'Relu'].includes(n.op) && n.loc.layer !== undefined);

  it('all lambdas 1 is the identity', () => {
    expect(printGraph(runText(g(), 'gelu-mix{lambdas=[1,1,1,1]}').graph)).toBe(printGraph(g()));
  });

  it('puts Relu for 0, GeluMix for 0 < lambda < 1, Gelu for 1 (fast-check), and evaluates as the mix', () => {
    const inputs = devInputs([2], 8);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 4, maxLength: 4 }), (lambdas) => {
        const out = runText(g(), `gelu-mix{lambdas=[${lambdas.join(',')}]}`).graph;
        const acts = activations(out);
        expect(acts.length).toBe(4);
        for (const a of acts) {
          const lambda = lambdas[a.loc.layer!]!;
          if (lambda === 0) expect(a.op).toBe('Relu');
          else if (lambda === 1) expect(a.op).toBe('Gelu');
          else expect([a.op, a.attrs['lambda']]).toEqual(['GeluMix', lambda]);
        }
        // back to GELU everywhere: the original graph
        expect(printGraph(runText(out, 'gelu-mix{lambdas=[1,1,1,1]}').graph.with({}))).toBe(printGraph(lambdas.includes(0) ? runText(g(), `gelu-mix{lambdas=[${lambdas.map((x) => (x === 0 ? 0 : 1)).join(',')}]}`).graph : g()));
        expect(logitsOf(out, inputs).every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 15 },
    );
  });

  it('the default schedule is thirds; annotation lambdas override it', () => {
    const out = runText(g(), 'gelu-mix').graph;
    expect(activations(out).map((n) => [n.op, n.attrs['lambda'] ?? null])).toEqual([
      ['Relu', null],
      ['GeluMix', 0.5],
      ['Gelu', null],
      ['Gelu', null],
    ]);
    const pinned = runText(g(), 'gelu-mix{schedule=thirds}', parseImportanceText('lambda L0 = 1\nlambda L3 = 0.25')).graph;
    expect(activations(pinned).map((n) => [n.op, n.attrs['lambda'] ?? null])).toEqual([
      ['Gelu', null],
      ['GeluMix', 0.5],
      ['Gelu', null],
      ['GeluMix', 0.25],
    ]);
  });

  it('option errors', () => {
    expect(caught(() => runText(g(), 'gelu-mix{lambdas=[1,0.5,0]}')).detail).toMatch(/lambdas has 3 entries, but the model has 4 layers/);
    expect(caught(() => runText(g(), 'gelu-mix{lambdas=[1,0.5,0,2]}')).detail).toMatch(/lambdas\[3\] = 2 is outside \[0, 1\]/);
    expect(caught(() => runText(g(), 'gelu-mix{schedule=thirds,lambdas=[1,1,1,1]}')).detail).toMatch(/either schedule=thirds or lambdas=\[...\], not both/);
    expect(caught(() => parsePipeline('gelu-mix{schedule=halves}')).detail).toMatch(/must be one of thirds, none, got 'halves'/);
    expect(caught(() => GELU_MIX_PASS.run(g(), { schedule: 'halves' }, { resources: new Map(), note: () => {} })).detail).toMatch(/must be one of thirds, none/);
  });
});
