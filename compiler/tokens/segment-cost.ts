// The static cost of a token-pruned model run in segments, read off the segment circuits the
// runtime executes (segment-circuits.ts: the same compile path and cache), never estimated
// from parts. A (segment, bucket) costs its circuit's static cost; a run costs the sum over
// the buckets it took (a boundary is a synchronization point, so rounds, bytes and latency
// add); the expected cost over a dev set is the mean over its rows of the cost of the buckets
// the pruned model's plaintext evaluator takes for each row, which are the buckets the parties
// take (they open the same counts). The runtime measures exactly these numbers per segment.

import { costSummary, type CircuitCost, type CostSummary } from '../../ir/circuit/cost.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { runSegments, shapeTokens, type SegmentedRun, type SegmentShape } from '../../passes/tokens/segments.ts';
import { estimateLatency, PROFILES } from '../backend/report/latency.ts';
import type { SegmentCircuits } from './segment-circuits.ts';

/** What the runtime measures (CostSummary), plus the online bytes and the latency estimate. */
export interface StaticCost extends CostSummary {
  /** Online bytes on the wire, both parties (bytesTotal less the preprocessing). */
  readonly onlineBytes: number;
  /** Seconds per network profile (lan, wan): online rounds x RTT + the larger sender's online bytes / bandwidth, summed over segments. */
  readonly latency: Readonly<Record<string, number>>;
}

export const ZERO_COST: StaticCost = {
  rounds: 0,
  preprocessingRounds: 0,
  bytesPerParty: [0, 0],
  bytesTotal: 0,
  dealerBytes: 0,
  dealerBytesPerParty: [0, 0],
  onlineBytes: 0,
  latency: Object.fromEntries(PROFILES.map((p) => [p.name, 0])),
};

/** The static cost of one circuit. */
export function staticCost(c: CircuitCost): StaticCost {
  return { ...costSummary(c), onlineBytes: c.onlineBytes, latency: Object.fromEntries(PROFILES.map((p) => [p.name, estimateLatency(c, p).seconds])) };
}

/** a + s b (s = 1: two segments one after the other). */
function combine(a: StaticCost, b: StaticCost, s = 1): StaticCost {
  const pair = (x: readonly [number, number], y: readonly [number, number]): [number, number] => [x[0] + s * y[0], x[1] + s * y[1]];
  return {
    rounds: a.rounds + s * b.rounds,
    preprocessingRounds: a.preprocessingRounds + s * b.preprocessingRounds,
    bytesPerParty: pair(a.bytesPerParty, b.bytesPerParty),
    bytesTotal: a.bytesTotal + s * b.bytesTotal,
    dealerBytes: a.dealerBytes + s * b.dealerBytes,
    dealerBytesPerParty: pair(a.dealerBytesPerParty, b.dealerBytesPerParty),
    onlineBytes: a.onlineBytes + s * b.onlineBytes,
    latency: Object.fromEntries(Object.entries(a.latency).map(([k, v]) => [k, v + s * (b.latency[k] ?? 0)])),
  };
}

export const addCost = (a: StaticCost, b: StaticCost): StaticCost => combine(a, b);

/** The cost scaled by s (a mean: s = 1 / rows). */
export const scaleCost = (a: StaticCost, s: number): StaticCost => combine(ZERO_COST, a, s);

export interface BucketCost {
  readonly segment: number;
  readonly tokens: number;
  /** [tokens], or [full rows, reduced rows] after a boundary of prune-tokens{reduce=reveal-count}. */
  readonly shape: SegmentShape;
  readonly cost: StaticCost;
}

/** Segment k's circuit at a shape (compiled on first use, cached with the circuits the runtime runs). */
export function bucketCost(src: SegmentCircuits, k: number, shape: SegmentShape | number): BucketCost {
  const sh = typeof shape === 'number' ? [shape] : shape;
  return { segment: k, tokens: shapeTokens(sh), shape: sh, cost: staticCost(src.compiled(k, sh).cost) };
}

/** Every (segment, bucket) a run can take, in SegmentCircuits.buckets() order: compiles them all. */
export function bucketTable(src: SegmentCircuits, onBucket?: (b: BucketCost, done: number, total: number) => void): BucketCost[] {
  const all = src.buckets();
  return all.map(({ segment, shape }, i) => {
    const b = bucketCost(src, segment, shape);
    onBucket?.(b, i + 1, all.length);
    return b;
  });
}

/** The cost of a run whose segment k ran at shapes[k] (a token count, or [full, reduced] rows; shapes[0]: the sequence length). */
export function runCost(src: SegmentCircuits, shapes: readonly (SegmentShape | number)[]): StaticCost {
  if (shapes.length !== src.segments) throw new Error(`a run of ${src.segments} segments takes ${src.segments} token counts, got [${shapes.map((sh) => (typeof sh === 'number' ? String(sh) : sh.join('+'))).join(', ')}]`);
  return shapes.reduce<StaticCost>((acc, sh, k) => addCost(acc, bucketCost(src, k, sh).cost), ZERO_COST);
}

/** The rows of a dev set that took one sequence of buckets. */
export interface BucketPath {
  readonly tokens: readonly number[];
  /** Each segment's shape: [tokens], or [full, reduced] rows after a reduce=reveal-count boundary. */
  readonly shapes: readonly SegmentShape[];
  readonly rows: number;
  readonly cost: StaticCost;
}

export interface ExpectedCost {
  readonly rows: number;
  /** Mean over the rows of the cost of the buckets each took. */
  readonly mean: StaticCost;
  /** Mean survivor count opened at each boundary. */
  readonly meanCounts: readonly number[];
  /** Mean tokens each segment ran on. */
  readonly meanTokens: readonly number[];
  /** The bucket sequences taken, most frequent first. */
  readonly paths: readonly BucketPath[];
}

/**
 * The expected cost over `rows` inputs (`feeds(r)`, one inference each): the plaintext
 * evaluator runs each in segments as the parties do (same counts, same buckets) and the
 * buckets' static costs are averaged. `onRow` sees each row's plaintext run (its outputs, for
 * accuracy) and cost.
 */
export function expectedCost(src: SegmentCircuits, rows: number, feeds: (r: number) => ReadonlyMap<string, Tensor>, onRow?: (r: number, run: SegmentedRun, cost: StaticCost) => void): ExpectedCost {
  if (rows < 1) throw new Error('the expected cost needs at least one row');
  let total = ZERO_COST;
  const counts = Array<number>(src.segments - 1).fill(0);
  const tokens = Array<number>(src.segments).fill(0);
  const paths = new Map<string, { tokens: readonly number[]; shapes: readonly SegmentShape[]; rows: number; cost: StaticCost }>();
  for (let r = 0; r < rows; r++) {
    const run = runSegments(src.graphs, feeds(r));
    const cost = runCost(src, run.shapes);
    total = addCost(total, cost);
    run.counts.forEach((c, i) => (counts[i]! += c));
    run.tokens.forEach((n, i) => (tokens[i]! += n));
    const key = run.shapes.map((sh) => sh.join('+')).join(',');
    const p = paths.get(key);
    if (p === undefined) paths.set(key, { tokens: run.tokens, shapes: run.shapes, rows: 1, cost });
    else p.rows++;
    onRow?.(r, run, cost);
  }
  return {
    rows,
    mean: scaleCost(total, 1 / rows),
    meanCounts: counts.map((c) => c / rows),
    meanTokens: tokens.map((n) => n / rows),
    paths: [...paths.values()].sort((a, b) => b.rows - a.rows || a.cost.bytesTotal - b.cost.bytesTotal),
  };
}
