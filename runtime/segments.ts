// A model in segments whose shapes are decided at run time (token pruning), run with both
// parties and the dealer in this process. Segment 0 starts from the parties' own inputs;
// each segment ends by revealing one declared value to both parties, the survivor count,
// and handing off its secret values (each party keeps its share). Both parties then pick the
// next segment from the count alone (the same function of the same public value, so they
// agree), take the first rows of their own shares along the token axis (the survivors are at
// the front after the oblivious compaction; the rows after them are padding the next segment
// masks), and start the next segment from those shares. Nothing is reconstructed between
// segments. Each segment is its own session: its seeds derive from the run's pairwise seeds
// and the segment's index, so no mask is used twice.
// A boundary of prune-tokens{reduce=reveal-count} also reveals the number of reduced tokens;
// it hands off the full-degree and the reduced survivors apart, each compacted, and the next
// segment takes the first rows of each (its shape is the pair of bucketed counts).

import { createHash } from 'node:crypto';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { bundleEntry, nextSegmentTokens, segmentWeights, type SegmentBundle } from '../ir/circuit/segment-bundle.ts';
import type { Tensor } from '../ir/tensor.ts';
import { numel, type Shape } from '../ir/types.ts';
import { runCircuit, type MeasuredCost, type RunOptions } from './interpreter.ts';
import type { Shares } from './party.ts';
import { deriveSeeds, type PartySeeds } from './prg.ts';

/** A compiled segment: its circuit and the server's tensors for it. */
export interface SegmentCircuit {
  readonly circuit: Circuit;
  readonly weights: ReadonlyMap<string, Tensor>;
}

/**
 * The token rows a segment runs on: [n]; or [f, r] (f full-degree rows, then r reduced rows)
 * after a boundary that reveals its reduced count.
 */
export type SegmentShape = readonly number[];

/** Where the segments come from: compiled ahead, or on demand (and cached) by the caller. */
export interface SegmentSource {
  /** Number of segments (boundaries + 1). */
  readonly segments: number;
  /** Tokens segment 0 runs on (the model's sequence length). */
  readonly tokens: number;
  /** The shape segment k + 1 runs on, given what boundary k revealed (by name, one value per example) and segment k's shape. */
  next(k: number, revealed: ReadonlyMap<string, readonly number[]>, shape: SegmentShape): SegmentShape;
  /** Segment k compiled for a shape. */
  get(k: number, shape: SegmentShape): SegmentCircuit;
}

/** The name under which a boundary reveals its survivor counts. */
export const COUNT_OUTPUT = 'count';
/** The name under which a boundary of prune-tokens{reduce=reveal-count} reveals its reduced counts. */
export const REDUCED_OUTPUT = 'reduced';

/** The counts a boundary revealed, by name (the survivor count always; the reduced count when revealed). */
export function revealedCounts(outputs: ReadonlyMap<string, Tensor>, circuit: string): Map<string, number[]> {
  const out = new Map<string, number[]>([[COUNT_OUTPUT, counts(outputs.get(COUNT_OUTPUT), circuit)]]);
  const reduced = outputs.get(REDUCED_OUTPUT);
  if (reduced !== undefined) out.set(REDUCED_OUTPUT, counts(reduced, circuit));
  return out;
}

export interface SegmentStep {
  readonly segment: number;
  /** Token rows the segment ran on (for a split shape, full + reduced). */
  readonly tokens: number;
  readonly shape: SegmentShape;
  readonly circuit: string;
  /** The counts the segment's boundary revealed (undefined for the last segment). */
  readonly counts?: readonly number[];
  /** The reduced counts a boundary of prune-tokens{reduce=reveal-count} revealed. */
  readonly reduced?: readonly number[];
  /** The counts as the server saw them (both parties learn them). */
  readonly serverCounts?: readonly number[];
  readonly cost: MeasuredCost;
  readonly transcriptHash: string;
}

export interface SegmentedResult {
  /** The last segment's declared outputs (the client's). */
  readonly outputs: Map<string, Tensor>;
  readonly steps: readonly SegmentStep[];
}

export interface SegmentedOptions {
  /** The client's (party 1) inputs to segment 0. */
  readonly inputs: ReadonlyMap<string, Tensor>;
  readonly seed?: Uint8Array;
  readonly seeds?: PartySeeds;
  readonly checkLeakage?: boolean;
  /** Worker mode: dealer bytes a party may hold before the simulated dealer's thread waits for it to take them (default 16 MiB; a party that holds none always gets its next stretch). */
  readonly dealerWindowBytes?: number;
  /** Called after each segment. */
  readonly onSegment?: (step: SegmentStep) => void;
  readonly onRound?: RunOptions['onRound'];
}

/** Segment k's seed of one pair, derived from the run's seed of that pair alone. */
export function segmentSeed(seed: Uint8Array, k: number): Uint8Array {
  return createHash('sha256').update(seed).update(`ig3dc/segment/${k}`).digest().subarray(0, 16);
}

/** Segment k's pairwise seeds: each pair derives its own from its own seed (no party learns another pair's). */
export function segmentSeeds(seeds: PartySeeds, k: number): PartySeeds {
  return { s01: segmentSeed(seeds.s01, k), s0d: segmentSeed(seeds.s0d, k), s1d: segmentSeed(seeds.s1d, k) };
}

/**
 * One party's share cut to the shape the next segment expects: the first rows along the one
 * axis where the shapes differ (the token axis). Local: a party slices its own share.
 */
export function takeShares(name: string, s: Shares, want: Shape): Shares {
  if (s.shape.length !== want.length) throw new Ig3dcError('input', `shared input '${name}': the handed-off share has shape [${s.shape.join(',')}], the next segment expects rank ${want.length} ([${want.join(',')}])`, { node: name });
  const axes = want.flatMap((d, i) => (d !== s.shape[i] ? [i] : []));
  if (axes.length === 0) return s;
  const axis = axes[0]!;
  if (axes.length > 1 || want[axis]! > s.shape[axis]!) {
    throw new Ig3dcError('input', `shared input '${name}': the handed-off share has shape [${s.shape.join(',')}], the next segment expects [${want.join(',')}] (only fewer tokens along one axis can be taken)`, { node: name });
  }
  const n = want[axis]!;
  const S = s.shape[axis]!;
  const outer = s.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = s.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const data = new BigUint64Array(numel(want));
  for (let o = 0; o < outer; o++) data.set(s.data.subarray(o * S * inner, (o * S + n) * inner), o * n * inner);
  return { shape: [...want], scale: s.scale, data };
}

/** The shares one party starts segment `c` from: its handoffs, cut to the circuit's shared inputs. */
export function sharesFor(c: Circuit, handoffs: ReadonlyMap<string, Shares>): Map<string, Shares> {
  const out = new Map<string, Shares>();
  for (const ins of c.instructions) {
    if (ins.op !== 'shared_input') continue;
    const name = ins.attrs['name'] as string;
    const s = handoffs.get(name);
    if (s === undefined) continue; // checkSharedInputs names what is missing
    out.set(name, takeShares(name, s, ins.attrs['shape'] as readonly number[]));
  }
  return out;
}

/** The survivor counts a boundary revealed, as integers. */
export function counts(t: Tensor | undefined, circuit: string): number[] {
  if (t === undefined) throw new Ig3dcError('verify', `segment '${circuit}' ends without revealing its survivor count '${COUNT_OUTPUT}' to both parties`);
  return t.toNumbers().map((v) => Math.round(v));
}

/** Runs every segment in turn (see the header). */
export function runSegmentedCircuits(src: SegmentSource, opts: SegmentedOptions): SegmentedResult {
  const seeds = opts.seeds ?? deriveSeeds(opts.seed);
  const steps: SegmentStep[] = [];
  let n: SegmentShape = [src.tokens];
  let handoffs: readonly [ReadonlyMap<string, Shares>, ReadonlyMap<string, Shares>] | undefined;
  let outputs = new Map<string, Tensor>();
  for (let k = 0; k < src.segments; k++) {
    const { circuit, weights } = src.get(k, n);
    const last = k + 1 === src.segments;
    const res = runCircuit(circuit, {
      inputs: k === 0 ? opts.inputs : new Map(),
      weights,
      seeds: segmentSeeds(seeds, k),
      ...(handoffs !== undefined ? { shared: [sharesFor(circuit, handoffs[0]), sharesFor(circuit, handoffs[1])] as const } : {}),
      ...(opts.checkLeakage !== undefined ? { checkLeakage: opts.checkLeakage } : {}),
      ...(opts.onRound !== undefined ? { onRound: opts.onRound } : {}),
    });
    let step: SegmentStep = { segment: k, tokens: n.reduce((a, b) => a + b, 0), shape: n, circuit: circuit.name, cost: res.cost, transcriptHash: res.transcriptHash };
    if (last) outputs = res.outputs;
    else {
      const client = revealedCounts(res.outputs, circuit.name);
      const server = revealedCounts(res.serverOutputs, circuit.name);
      const reduced = client.get(REDUCED_OUTPUT);
      step = { ...step, counts: client.get(COUNT_OUTPUT)!, serverCounts: server.get(COUNT_OUTPUT)!, ...(reduced !== undefined ? { reduced } : {}) };
      // each party picks the next segment from the counts it learned
      const n0 = src.next(k, server, n);
      const n1 = src.next(k, client, n);
      if (n0.join('+') !== n1.join('+')) throw new Error(`the parties picked different segments after boundary ${k} ([${n0.join(', ')}] and [${n1.join(', ')}] tokens)`);
      n = n1;
      handoffs = res.handoffs;
    }
    steps.push(step);
    opts.onSegment?.(step);
  }
  return { outputs, steps };
}

/**
 * A segments bundle (`ig3dc compile ... -o FILE.segments`: every bucket's circuit, compiled ahead)
 * as the source of a run. P0 gives the weights bundle written beside it; P1 and the dealer none.
 * A bucket the bundle lacks is an error naming it.
 */
export function bundleSource(b: SegmentBundle, file: string, weights: ReadonlyMap<string, Tensor> = new Map()): SegmentSource & { hashOf(k: number, n: number): string } {
  // a bundle holds one token count per bucket (SegmentCircuits.bundle refuses split boundaries)
  const tokensOf = (shape: SegmentShape): number => {
    if (shape.length !== 1) throw new Ig3dcError('input', `a segments bundle holds one token count per bucket, not the split shape [${shape.join(', ')}]`, { file });
    return shape[0]!;
  };
  return {
    segments: b.buckets.length + 1,
    tokens: b.tokens,
    next: (k, revealed, shape) => [nextSegmentTokens(b.buckets[k]!, revealed.get(COUNT_OUTPUT)!, tokensOf(shape))],
    get: (k, shape) => {
      const n = tokensOf(shape);
      const e = bundleEntry(b, k, n, file);
      return { circuit: e.circuit, weights: segmentWeights(weights, e.circuit, k, n) };
    },
    hashOf: (k, n) => bundleEntry(b, k, n, file).hash,
  };
}
