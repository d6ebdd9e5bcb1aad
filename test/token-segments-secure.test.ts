// A token-pruned model run in segments under MPC: each boundary reveals the survivor count to
// both parties and nothing else, both pick the next segment for the count's bucket and start
// it from their own shares. The run must equal the pruned model's plaintext evaluator (same
// counts, same buckets, logits within the bound of other secure runs), each segment's
// measured cost must equal the static cost of the circuit of the bucket it took, a boundary
// that reveals more than the count is rejected, and a segment given shares of the wrong
// shape says so.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { checkBoundaryLeaks } from '../compiler/tokens/boundary.ts';
import { SegmentCircuits } from '../compiler/tokens/segment-circuits.ts';
import { costSummary } from '../ir/circuit/cost.ts';
import { build } from '../ir/build.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import { inputNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { runSegments, SEGMENT_VALUES } from '../passes/tokens/index.ts';
import { runCircuit } from '../runtime/interpreter.ts';
import type { Shares } from '../runtime/party.ts';
import { bundleSource, runSegmentedCircuits, takeShares, type SegmentSource } from '../runtime/segments.ts';
import { runDealerSegmentsTcp, runPartySegmentsTcp } from '../runtime/segments-tcp.ts';
import { runSegmentedCircuitsWorkers } from '../runtime/workers.ts';
import { decodeSegmentBundle, encodeSegmentBundle, type SegmentBundle } from '../ir/circuit/segment-bundle.ts';
import { circuitContentHash } from '../ir/circuit/file.ts';
import { freshKeys, reason } from './deploy-helpers.ts';
import type { SegmentedRunReport } from '../compiler/cli/commands/run-segments.ts';
import { caught, maxAbsDiff } from './ig3d-helpers.ts';
import { ig3dc, killAll, ROOT } from './process-helpers.ts';

const TINY = join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx');
const SEQ = 16;

let raised: Graph | undefined;
function pruned(spec: string): Graph {
  raised ??= runPipeline(loadOnnxFile(TINY, { batch: 1, seq: SEQ }).graph, parsePipeline('raise-bert')).graph;
  return runPipeline(raised, parsePipeline(spec)).graph;
}

/** Deterministic pseudo-random numbers in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** 13 real tokens of 16; their importance after layer 0 lies in 0.074..0.081 (tokens 6 and 11 lowest, token 3 highest). */
function inputs(): Map<string, Tensor> {
  const r = uniform(3);
  const real = 13;
  const ids = Array.from({ length: SEQ }, (_, j) => (j === 0 ? 101n : j < real ? BigInt(1 + Math.floor(r() * 1999)) : 0n));
  const mask = Array.from({ length: SEQ }, (_, j) => (j < real ? 1n : 0n));
  return new Map([
    ['input_ids', Tensor.from('i64', [1, SEQ], ids)],
    ['attention_mask', Tensor.from('i64', [1, SEQ], mask)],
    ['token_type_ids', Tensor.zeros('i64', [1, SEQ])],
  ]);
}

// The scores cluster near 1/13, so thresholds sit between them; `best` protocols compute the
// importance within 1e-4 (CrypTen's softmax is off by 1e-2 here, which flips such tokens).
const SCHEDULES = [
  // survivors [CLS] and token 3 (0.0802): bucket 4
  { spec: 'prune-tokens{theta=[0.08],bucket=4}', counts: [2], tokens: [16, 4] },
  // all but tokens 6 and 11: 11 survivors, bucket 12
  { spec: 'prune-tokens{theta=[0.075],bucket=4}', counts: [11], tokens: [16, 12] },
  // 9 survivors, those below 0.078 with the lower-degree softmax and ReLU next layer
  { spec: 'prune-tokens{theta=[0.076],beta=[0.078],bucket=4}', counts: [9], tokens: [16, 12] },
] as const;

describe('a token-pruned model in segments under MPC (bert-tiny)', () => {
  it.each(SCHEDULES)('$spec: the plaintext evaluator\'s counts and buckets, its logits within 2e-3, measured == static per bucket', ({ spec, counts, tokens }) => {
    const g = pruned(spec);
    const feeds = inputs();
    const src = new SegmentCircuits(g, { protocols: 'best' });
    const plain = runSegments(src.graphs, feeds);
    expect(plain.counts).toEqual(counts);
    expect(plain.tokens).toEqual(tokens);
    const run = runSegmentedCircuits(src, { inputs: feeds, seed: new Uint8Array(16).fill(7) });
    expect(run.steps.map((s) => s.tokens)).toEqual(tokens);
    expect(run.steps.slice(0, -1).map((s) => s.counts)).toEqual([counts]);
    // both parties learned the same count (and nothing else was revealed to the server)
    expect(run.steps.slice(0, -1).map((s) => s.serverCounts)).toEqual([counts]);
    const want = plain.outputs.get('logits')!.toNumbers();
    expect(maxAbsDiff(run.outputs.get('logits')!.toNumbers(), want)).toBeLessThanOrEqual(2e-3);
    for (const s of run.steps) {
      const { byRound: _, ...measured } = s.cost;
      expect(measured).toEqual(costSummary(src.compiled(s.segment, s.tokens).cost));
    }
    // on demand: one compilation per (segment, bucket) taken
    expect(src.compiles.map((c) => [c.segment, c.tokens])).toEqual(tokens.map((n, k) => [k, n]));
  });

  it('in two worker threads: each worker runs the segments on its own shares; the same counts, buckets, costs and (same seed) outputs as in process', async () => {
    for (const protocols of ['best', 'fss'] as const) {
      const src = new SegmentCircuits(pruned(SCHEDULES[1].spec), { protocols });
      const seed = new Uint8Array(16).fill(11);
      const local = runSegmentedCircuits(src, { inputs: inputs(), seed });
      const seen: number[] = [];
      const run = await runSegmentedCircuitsWorkers(src, { inputs: inputs(), seed, onSegment: (s) => seen.push(s.segment) });
      expect(seen).toEqual([0, 1]);
      expect(run.steps.map((s) => s.tokens)).toEqual([16, 12]);
      expect(run.steps.map((s) => s.counts)).toEqual([[11], undefined]);
      expect(run.steps.map((s) => s.serverCounts)).toEqual([[11], undefined]);
      run.steps.forEach((s, k) => {
        const { byRound: _, ...measured } = s.cost;
        expect(measured).toEqual(costSummary(src.compiled(s.segment, s.tokens).cost));
        // the same seeds per segment: the same transcript as in process
        expect(s.transcriptHash).toBe(local.steps[k]!.transcriptHash);
      });
      expect(run.outputs.get('logits')!.toNumbers()).toEqual(local.outputs.get('logits')!.toNumbers());
    }
  }, 240_000);

  it('with the fss protocols too (one-round comparisons for the thresholds)', () => {
    const src = new SegmentCircuits(pruned(SCHEDULES[1].spec), { protocols: 'fss' });
    const run = runSegmentedCircuits(src, { inputs: inputs(), seed: new Uint8Array(16).fill(9) });
    expect(run.steps.map((s) => s.tokens)).toEqual([16, 12]);
    expect(run.steps[0]!.counts).toEqual([11]);
    const want = runSegments(src.graphs, inputs()).outputs.get('logits')!.toNumbers();
    expect(maxAbsDiff(run.outputs.get('logits')!.toNumbers(), want)).toBeLessThanOrEqual(2e-3);
  });

  it('a fixed-fraction schedule (ratio) has no protocol: a clear error', () => {
    const src = new SegmentCircuits(pruned('prune-tokens{ratio=0.5,bucket=4}'));
    expect(caught(() => src.compiled(0, SEQ)).message).toMatch(/TokenKeep\{ratio\} has no MPC protocol .*prune by thresholds/);
  });

  it('a smaller bucket costs less: the second segment at 4 tokens against 12', () => {
    const a = new SegmentCircuits(pruned(SCHEDULES[0].spec), { protocols: 'best' });
    const b = new SegmentCircuits(pruned(SCHEDULES[1].spec), { protocols: 'best' });
    expect(a.compiled(1, 4).cost.onlineBytes).toBeLessThan(b.compiled(1, 12).cost.onlineBytes);
    expect(a.compiled(0, 16).cost.onlineBytes).toBe(b.compiled(0, 16).cost.onlineBytes);
  });
});

// 9 survivors of which 5 below beta: with reduce=reveal-count the boundary also reveals the 5,
// and segment 1 runs on [4 full rows | 8 reduced rows] instead of 12 rows with both degrees.
const SPLIT = { spec: 'prune-tokens{theta=[0.076],beta=[0.078],bucket=4,reduce=reveal-count}', counts: [9], reduced: [5], shapes: [[16], [4, 8]] } as const;

describe('reduce=reveal-count under MPC: each degree on its own rows', () => {
  it('the counts, reduced counts and shapes of the plaintext evaluator, its logits within 2e-3, measured == static per segment', () => {
    const src = new SegmentCircuits(pruned(SPLIT.spec), { protocols: 'best' });
    const plain = runSegments(src.graphs, inputs());
    expect(plain.counts).toEqual(SPLIT.counts);
    expect(plain.reduced).toEqual(SPLIT.reduced);
    expect(plain.shapes).toEqual(SPLIT.shapes);
    const run = runSegmentedCircuits(src, { inputs: inputs(), seed: new Uint8Array(16).fill(5) });
    expect(run.steps.map((s) => s.shape)).toEqual(SPLIT.shapes);
    expect(run.steps[0]!.counts).toEqual(SPLIT.counts);
    expect(run.steps[0]!.serverCounts).toEqual(SPLIT.counts);
    expect(run.steps[0]!.reduced).toEqual(SPLIT.reduced);
    expect(maxAbsDiff(run.outputs.get('logits')!.toNumbers(), plain.outputs.get('logits')!.toNumbers())).toBeLessThanOrEqual(2e-3);
    for (const s of run.steps) {
      const { byRound: _, ...measured } = s.cost;
      expect(measured).toEqual(costSummary(src.compiled(s.segment, s.shape).cost));
    }
  });

  it('in two worker threads: the same split shapes, reduced counts, transcripts and outputs as in process', async () => {
    const src = new SegmentCircuits(pruned(SPLIT.spec), { protocols: 'best' });
    const seed = new Uint8Array(16).fill(6);
    const local = runSegmentedCircuits(src, { inputs: inputs(), seed });
    const run = await runSegmentedCircuitsWorkers(src, { inputs: inputs(), seed });
    expect(run.steps.map((s) => s.shape)).toEqual(SPLIT.shapes);
    expect(run.steps.map((s) => s.transcriptHash)).toEqual(local.steps.map((s) => s.transcriptHash));
    expect(run.outputs.get('logits')!.toNumbers()).toEqual(local.outputs.get('logits')!.toNumbers());
  }, 120_000);

  it('segment 1 costs less than with both degrees per token, and less than the full degree alone', () => {
    const split = new SegmentCircuits(pruned(SPLIT.spec), { protocols: 'best' }).compiled(1, [4, 8]).cost;
    const select = new SegmentCircuits(pruned(SCHEDULES[2].spec), { protocols: 'best' }).compiled(1, 12).cost;
    const full = new SegmentCircuits(pruned('prune-tokens{theta=[0.076],bucket=4}'), { protocols: 'best' }).compiled(1, 12).cost;
    expect(split.onlineBytes).toBeLessThan(full.onlineBytes);
    expect(full.onlineBytes).toBeLessThan(select.onlineBytes);
    expect(split.rounds).toBeLessThanOrEqual(full.rounds);
  });

  it('its boundary reveals the reduced count too, which the checker permits only when opted in', () => {
    const src = new SegmentCircuits(pruned(SPLIT.spec));
    const c = src.compiled(0, SEQ).circuit;
    expect(c.instructions.filter((i) => i.op === 'reveal').map((i) => i.attrs['name'])).toEqual(['count', 'reduced']);
    expect(c.instructions.filter((i) => i.op === 'handoff').map((i) => i.attrs['name']).sort()).toEqual(['hidden', 'hidden-reduced', 'keep', 'keep-reduced']);
    expect(() => checkBoundaryLeaks(c, { reduced: true })).not.toThrow();
    expect(caught(() => checkBoundaryLeaks(c)).message).toMatch(/may reveal only its survivor count \('count'\); it also reveals 'reduced'/);
    // opted in, a boundary that also reveals a mask is still rejected
    const seg = src.graphs.get(0, SEQ);
    const leaky = compileModel(seg, { raise: false, boundary: { handoff: [SEGMENT_VALUES.hidden, SEGMENT_VALUES.keep, SEGMENT_VALUES.hiddenReduced], countOf: SEGMENT_VALUES.keep, reducedOf: SEGMENT_VALUES.keepReduced } }).circuit;
    expect(caught(() => checkBoundaryLeaks(leaky, { reduced: true })).message).toMatch(/may reveal only its survivor count \('count'\) and its reduced count \('reduced'\); it also reveals 'keep-reduced'/);
  });
});

describe('the mask-selected degree on shares', () => {
  // In a two-layer model the reduced tokens' rows never reach the logits (the pooler reads
  // [CLS], which is never reduced), so TokenSelect is checked on its own.
  it('TokenSelect takes the reduced rows where the secret flag is set (tokens on axis 1 and 2)', () => {
    const r = uniform(5);
    for (const [shape, axis] of [[[1, 6, 3], 1], [[1, 2, 6, 6], 2]] as const) {
      const flags = inputNode('flags', { elem: 'f32', shape: [1, 1, 1, 6], vis: 'client' });
      const low = inputNode('low', { elem: 'f32', shape: [...shape], vis: 'client' });
      const full = inputNode('full', { elem: 'f32', shape: [...shape], vis: 'client' });
      const g = new Graph('select', [flags, low, full], [{ name: 'y', node: build('TokenSelect', [flags, low, full], { axis }) }]);
      const n = shape.reduce((p: number, d: number) => p * d, 1);
      const feeds = new Map([
        ['flags', Tensor.from('f32', [1, 1, 1, 6], [0, 1, 1, 0, 1, 0])],
        ['low', Tensor.from('f32', [...shape], Array.from({ length: n }, () => r() * 4 - 2))],
        ['full', Tensor.from('f32', [...shape], Array.from({ length: n }, () => r() * 4 - 2))],
      ]);
      const c = compileModel(g, { raise: false });
      const got = runCircuit(c.circuit, { inputs: feeds, weights: c.weights }).outputs.get('y')!.toNumbers();
      expect(maxAbsDiff(got, evaluate(g, feeds).get('y')!.toNumbers())).toBeLessThan(1e-4);
    }
  });
});

describe('a segment boundary reveals the count and nothing else', () => {
  it('the compiled boundary passes the checker: one reveal (the count), the rest handed off', () => {
    const c = new SegmentCircuits(pruned(SCHEDULES[2].spec)).compiled(0, SEQ).circuit;
    expect(() => checkBoundaryLeaks(c)).not.toThrow();
    expect(c.outputs.map((o) => o.name)).toEqual(['count']);
    expect(c.instructions.filter((i) => i.op === 'reveal').map((i) => i.attrs['name'])).toEqual(['count']);
    expect(c.instructions.filter((i) => i.op === 'handoff').map((i) => i.attrs['name']).sort()).toEqual(['hidden', 'keep', 'reduce']);
  });

  it('a boundary that reveals the keep mask as well is rejected', () => {
    const src = new SegmentCircuits(pruned(SCHEDULES[2].spec));
    const seg = src.graphs.get(0, SEQ);
    // the keep mask is not handed off, so it becomes a declared output
    const c = compileModel(seg, { raise: false, boundary: { handoff: [SEGMENT_VALUES.hidden, SEGMENT_VALUES.reduce], countOf: SEGMENT_VALUES.keep } }).circuit;
    expect(caught(() => checkBoundaryLeaks(c)).message).toMatch(/may reveal only its survivor count \('count'\); it also reveals 'keep'/);
  });
});

describe('segments start from shares', () => {
  const src = new SegmentCircuits(pruned(SCHEDULES[1].spec), { protocols: 'best' });
  const zeros = (shape: readonly number[]): Shares => ({ shape, scale: 16, data: new BigUint64Array(shape.reduce((p, d) => p * d, 1)) });
  const shares = (hidden: readonly number[]): Map<string, Shares> => new Map([['hidden', zeros(hidden)], ['keep', zeros([1, 1, 1, 12])]]);

  it('wrong shapes are a clear error naming the input, the shape given and the shape expected', () => {
    const { circuit, weights } = src.get(1, 12);
    const run = (s: Map<string, Shares>) => caught(() => runCircuit(circuit, { inputs: new Map(), weights, shared: [s, s] }));
    expect(run(shares([1, 8, 128])).message).toMatch(/shared input 'hidden' \(party 0\): the share has shape \[1,8,128\], the circuit expects \[1,12,128\]/);
    expect(run(new Map([['hidden', zeros([1, 12, 128])]])).message).toMatch(/shared input 'keep' \(party 0\): no share given; .* \(given: hidden\)/);
  });

  it('a share is cut to the next segment along its token axis only', () => {
    const s: Shares = { shape: [1, 4, 2], scale: 16, data: BigUint64Array.from([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]) };
    expect([...takeShares('hidden', s, [1, 2, 2]).data]).toEqual([1n, 2n, 3n, 4n]);
    expect(caught(() => takeShares('hidden', s, [1, 2, 1])).message).toMatch(/only fewer tokens along one axis/);
  });
});

describe('ig3dc run MODEL --passes ...prune-tokens...', () => {
  afterAll(killAll);
  it('runs the model in segments: buckets taken, measured == static per segment, error against the pruned evaluator', async () => {
    const r = await ig3dc(['run', TINY, '--inputs', join(ROOT, 'examples', 'bert-tiny.cases.json'), '--case', 'b1_s8', '--passes', 'prune-tokens{theta=[0.13],bucket=4}', '--protocols', 'best', '--threads', '1', '--json'], 240_000, { IG3DC_SEED: '000102030405060708090a0b0c0d0e0f' }).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as SegmentedRunReport;
    expect(rep.countsMatch).toBe(true);
    expect(rep.bucketsMatch).toBe(true);
    expect(rep.maxAbsError).toBeLessThanOrEqual(2e-3);
    const segs = rep.cases[0]!.segments;
    expect(segs.map((s) => s.tokens)).toEqual([8, 4]);
    expect(segs[0]!.counts![0]).toBeLessThanOrEqual(4);
    expect(segs.every((s) => s.match && s.measured.rounds === s.static.rounds && s.measured.bytesTotal === s.static.bytesTotal)).toBe(true);
    expect(rep.compiled.map((c) => `${c.segment}@${c.tokens}`)).toEqual(['0@8', '1@4']);
    // --threads 2: each party's worker runs the segments; the same seed gives the same run
    const w = await ig3dc(['run', TINY, '--inputs', join(ROOT, 'examples', 'bert-tiny.cases.json'), '--case', 'b1_s8', '--passes', 'prune-tokens{theta=[0.13],bucket=4}', '--protocols', 'best', '--threads', '2', '--json'], 240_000, { IG3DC_SEED: '000102030405060708090a0b0c0d0e0f' }).done;
    expect(w.code, w.stderr).toBe(0);
    const wr = JSON.parse(w.stdout) as SegmentedRunReport;
    expect(wr.mode).toBe('workers');
    expect(wr.cases[0]!.segments).toEqual(segs);
    expect(wr.cases[0]!.outputs).toEqual(rep.cases[0]!.outputs);
  });

  it('with reduce=reveal-count: the reduced count revealed and checked against the evaluator, the split shape taken', async () => {
    const r = await ig3dc(['run', TINY, '--inputs', join(ROOT, 'examples', 'bert-tiny.cases.json'), '--case', 'b1_s8', '--passes', 'prune-tokens{theta=[0.1],beta=[0.2],bucket=4,reduce=reveal-count}', '--protocols', 'best', '--threads', '1', '--json'], 240_000, { IG3DC_SEED: '000102030405060708090a0b0c0d0e0f' }).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as SegmentedRunReport;
    expect(rep.bucketsMatch).toBe(true);
    expect(rep.countsMatch).toBe(true);
    expect(rep.maxAbsError).toBeLessThanOrEqual(2e-3);
    const segs = rep.cases[0]!.segments;
    expect(segs[0]!.reduced).toEqual(rep.cases[0]!.plaintextReduced);
    expect(segs[0]!.reduced![0]).toBeGreaterThan(0);
    expect(segs.map((s) => s.shape)).toEqual([[8], [4, 8]]);
    expect(rep.compiled.map((c) => `${c.segment}@${c.shape.join('+')}`)).toEqual(['0@8', '1@4+8']);
  });
});

/** P0, P1 and the dealer of a run in segments on loopback (each session on fresh ports); P1 may take its own segment source, the dealer its own bundle. */
async function segmentsOverTls(src: SegmentCircuits, o: { p1Src?: SegmentSource; bundle?: SegmentBundle; timeoutMs?: number } = {}) {
  const keys = freshKeys();
  const timeoutMs = o.timeoutMs ?? 20_000;
  const deferred = (): { p: Promise<number>; set: (n: number) => void } => {
    let set!: (n: number) => void;
    return { p: new Promise<number>((r) => (set = r)), set };
  };
  const p0Ports = Array.from({ length: src.segments }, deferred);
  const dPorts = Array.from({ length: src.segments }, deferred);
  const local = { host: '127.0.0.1', port: 0 };
  let session = 0;
  const dealer = runDealerSegmentsTcp(o.bundle ?? src.bundle().bundle, { listen: () => local, keys: keys.dealer, timeoutMs, connectTimeoutMs: Math.min(timeoutMs, 5000), onListening: (n) => dPorts[session++]!.set(n) });
  const p0 = runPartySegmentsTcp({ src, party: 0, keys: keys.party0, timeoutMs, session: (k) => ({ listen: local, onListening: (n) => p0Ports[k]!.set(n) }) });
  const p1 = runPartySegmentsTcp({
    src: o.p1Src ?? src,
    party: 1,
    inputs: inputs(),
    keys: keys.party1,
    timeoutMs,
    session: async (k) => ({ connect: { host: '127.0.0.1', port: await p0Ports[k]!.p }, dealer: { host: '127.0.0.1', port: await dPorts[k]!.p } }),
  });
  return { p0, p1, dealer };
}

describe('segments over TLS: one process per role, each session its own', () => {
  it.each([
    { spec: SCHEDULES[1].spec, shapes: [[16], [12]], counts: [11], ahead: true },
    // reduce=reveal-count: the dealer is given only the shapes taken ([16] and [4, 8]), among others
    { spec: SPLIT.spec, shapes: SPLIT.shapes, counts: SPLIT.counts, ahead: false },
  ])('$spec: both parties pick the same next segment from the counts they learned; outputs, counts and costs as in process', async ({ spec, shapes, counts, ahead }) => {
    const src = new SegmentCircuits(pruned(spec), { protocols: 'best' });
    // the dealer holds every bucket's circuit (compiled ahead: it has no weights to compile with)
    const split = (): SegmentBundle => ({
      name: 'split',
      tokens: SEQ,
      buckets: src.bucketSizes(),
      circuits: [[16], [4, 4], [4, 8], [8, 4]].map((sh, k) => {
        const segment = k === 0 ? 0 : 1;
        const circuit = src.get(segment, sh).circuit;
        return { segment, tokens: sh[0]! + (sh[1] ?? 0), circuit, hash: circuitContentHash(circuit) };
      }),
    });
    const bundle = ahead ? src.bundle().bundle : split();
    if (ahead) expect(bundle.circuits.length).toBe(1 + SEQ / 4);
    else expect(src.buckets().length).toBe(1 + (SEQ / 4) * (SEQ / 4 + 1));
    const { p0, p1, dealer } = await segmentsOverTls(src, { bundle });
    const [r0, r1, rd] = await Promise.all([p0, p1, dealer]);
    expect(r0.steps.map((s) => s.shape)).toEqual(shapes);
    expect(r1.steps.map((s) => s.shape)).toEqual(shapes);
    expect(r0.steps[0]!.counts).toEqual(counts);
    expect(r1.steps[0]!.counts).toEqual(counts);
    expect(new Set([...r1.steps.map((s) => s.sessionId)]).size).toBe(2);
    const want = runSegments(src.graphs, inputs()).outputs.get('logits')!.toNumbers();
    expect(maxAbsDiff(r1.outputs.get('logits')!.toNumbers(), want)).toBeLessThanOrEqual(2e-3);
    expect(r0.outputs.has('logits')).toBe(false); // the server learns the counts only
    r1.steps.forEach((s, k) => {
      const { byRound: _, ...measured } = s.cost;
      const stat = costSummary(src.compiled(s.segment, s.shape).cost);
      expect(measured.rounds).toBe(stat.rounds);
      expect(measured.bytesPerParty).toEqual(stat.bytesPerParty);
      expect(rd[k]!.bytes).toBe(stat.dealerBytes);
      // the dealer learns the bucket taken, nothing else of the count
      expect([rd[k]!.segment, rd[k]!.tokens]).toEqual([s.segment, s.tokens]);
    });
  }, 120_000);

  it('parties that pick different buckets stop at the next handshake with an error saying so', async () => {
    const src = new SegmentCircuits(pruned(SCHEDULES[1].spec), { protocols: 'best' });
    // P1 rounds the revealed count (11) up to the full length instead of the bucket (12)
    const wrong: SegmentSource = { segments: src.segments, tokens: src.tokens, next: (_k, _c, n) => n, get: (k, n) => src.get(k, n) };
    const { p0, p1, dealer } = await segmentsOverTls(src, { p1Src: wrong });
    const [r0, r1, rd] = await Promise.allSettled([p0, p1, dealer]);
    expect(reason(r1)).toMatch(/handshake failed: the parties picked different segments: this side runs segment 1 at 16 tokens, the peer segment 1 at 12 tokens \(from the same revealed count both must pick the same bucket\)/);
    expect(reason(r0)).toMatch(/the parties picked different segments: this side runs segment 1 at 12 tokens, the peer segment 1 at 16 tokens/);
    expect(rd.status).toBe('rejected'); // P1 never comes for the second session
  }, 120_000);

  it('a bucket missing from the dealer\'s bundle: the dealer names it and what it holds; P1 stops with that reason', async () => {
    const src = new SegmentCircuits(pruned(SCHEDULES[1].spec), { protocols: 'best' });
    const { bundle } = src.bundle();
    const lacking = { ...bundle, circuits: bundle.circuits.filter((e) => !(e.segment === 1 && e.tokens === 12)) };
    const { p0, p1, dealer } = await segmentsOverTls(src, { bundle: lacking });
    const [r0, r1, rd] = await Promise.allSettled([p0, p1, dealer]);
    const why = /party 1 runs segment 1 at 12 tokens \(hash [0-9a-f]{12}\.\.\.\) that is not in the dealer's segments bundle for segment 1 \(it holds segment 1 at 4, 8, 16 tokens\)/;
    expect(reason(rd)).toMatch(why);
    expect(reason(r1)).toMatch(/the dealer stopped: handshake failed: party 1 runs segment 1 at 12 tokens/);
    expect(r0.status).toBe('rejected');
    // a party whose bundle lacks the bucket says so before connecting
    const b = bundleSource(lacking, 'tiny.segments');
    expect(caught(() => b.get(1, [12])).message).toMatch(/tiny.segments: the segments bundle has no circuit for segment 1 at 12 tokens \(it holds segment 1 at 4, 8, 16 tokens\)/);
  }, 120_000);
});

describe('the .segments file', () => {
  it('a model with reduce=reveal-count is refused for a segments file, naming the boundary and what to do', () => {
    const src = new SegmentCircuits(pruned(SPLIT.spec), { protocols: 'best' });
    const e = caught(() => src.bundle());
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(/boundary 0 splits the survivors by degree \(prune-tokens\{reduce=reveal-count\}\): a segments file .* run it in process \(ig3dc run\) or drop reduce=reveal-count/);
  });

  it('round-trips every bucket\'s circuit and hash; a corrupt file or entry is a clear error', () => {
    const src = new SegmentCircuits(pruned(SCHEDULES[0].spec), { protocols: 'best' });
    const { bundle, weights } = src.bundle();
    const bytes = encodeSegmentBundle(bundle.name, bundle.tokens, bundle.buckets, bundle.circuits);
    const back = decodeSegmentBundle(bytes, 'x.segments');
    expect(back.buckets).toEqual([4]);
    expect(back.circuits.map((e) => [e.segment, e.tokens, e.hash])).toEqual(bundle.circuits.map((e) => [e.segment, e.tokens, e.hash]));
    // a segment's weights are stored once for all its buckets, and each bucket finds its own
    expect([...weights.keys()].every((k) => /^[01]\//.test(k))).toBe(true);
    const c = src.get(1, 8);
    expect([...bundleSource(back, 'x.segments', weights).get(1, [8]).weights.keys()].sort()).toEqual([...c.weights.keys()].sort());
    expect(caught(() => decodeSegmentBundle(bytes.subarray(0, 12), 'x.segments')).message).toMatch(/x.segments: not a segments file/);
    const flipped = Uint8Array.from(bytes);
    flipped[bytes.length - 9]! ^= 1;
    expect(caught(() => decodeSegmentBundle(flipped, 'x.segments')).message).toMatch(/x.segments \(segment \d at \d+ tokens\).*content hash does not match/);
  });
});
