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

/** Where the segments come from: compiled ahead, or on demand (and cached) by the caller. */
export interface SegmentSource {
  /** Number of segments (boundaries + 1). */
  readonly segments: number;
  /** Tokens segment 0 runs on (the model's sequence length). */
  readonly tokens: number;
  /** The tokens segment k + 1 runs on, given boundary k's revealed counts (one per example) and segment k's tokens. */
  next(k: number, counts: readonly number[], tokens: number): number;
  /** Segment k compiled for n tokens. */
  get(k: number, n: number): SegmentCircuit;
}

/** The name under which a boundary reveals its survivor counts. */
export const COUNT_OUTPUT = 'count';

export interface SegmentStep {
  readonly segment: number;
  readonly tokens: number;
  readonly circuit: string;
  /** The counts the segment's boundary revealed (undefined for the last segment). */
  readonly counts?: readonly number[];
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
  let n = src.tokens;
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
    let step: SegmentStep = { segment: k, tokens: n, circuit: circuit.name, cost: res.cost, transcriptHash: res.transcriptHash };
    if (last) outputs = res.outputs;
    else {
      const client = counts(res.outputs.get(COUNT_OUTPUT), circuit.name);
      const server = counts(res.serverOutputs.get(COUNT_OUTPUT), circuit.name);
      step = { ...step, counts: client, serverCounts: server };
      // each party picks the next segment from the count it learned
      const n0 = src.next(k, server, n);
      const n1 = src.next(k, client, n);
      if (n0 !== n1) throw new Error(`the parties picked different segments after boundary ${k} (${n0} and ${n1} tokens)`);
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
  return {
    segments: b.buckets.length + 1,
    tokens: b.tokens,
    next: (k, cs, n) => nextSegmentTokens(b.buckets[k]!, cs, n),
    get: (k, n) => {
      const e = bundleEntry(b, k, n, file);
      return { circuit: e.circuit, weights: segmentWeights(weights, e.circuit, k, n) };
    },
    hashOf: (k, n) => bundleEntry(b, k, n, file).hash,
  };
}
