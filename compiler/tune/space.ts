// The three stages' moves over the importance ranking.
//
// Stage 1 (structure): prune every head below tau_s, for each tau_s between two neighbouring
// distinct scores (min-keep and the file's keep/prune pins applied as the pass applies them).
// Stage 2 (operator): PolySoftmax below tau_a, per head or per layer (by the mean of the
// layer's remaining heads), with and without the max shift, unclipped or clipped; degree 2.
// Stage 3 (activation): the paper's thirds schedule, ReLU in the first k layers, and ReLU in
// the first k layers with an even mix in layer k (the file's lambda pins always win).
// Thresholds that pick the same heads give one move (the first one generated).

import type { ImportanceAnnotation } from '../../passes/ig3d/index.ts';
import { choosePolyHeads, choosePrunedHeads, type Granularity, headKey, thirdsSchedule } from '../../passes/ig3d/index.ts';
import { type Candidate, candidateKey, names, parseKey, sortedKeys } from './candidate.ts';
import type { SearchPoint } from './search.ts';

export interface PruneThreshold {
  /** Keep(l, h) = S(l, h) >= tau. */
  readonly tau: number;
  readonly minKeep: number;
  /** Pruned heads by name (L1H0 ...). */
  readonly heads: readonly string[];
}

export interface SoftmaxThreshold {
  /** Heads (or layers, by mean importance) with importance >= tau keep the exact softmax. */
  readonly tau: number;
  readonly granularity: Granularity;
  readonly degree: number;
  readonly shift: boolean;
  readonly clip: number;
  /** Heads with PolySoftmax by name. */
  readonly heads: readonly string[];
}

export interface ActivationChoice {
  /** 'thirds' (the paper's), 'relu-first-k', 'relu-first-k+mix', or 'pinned' (the file's lambdas only). */
  readonly schedule: string;
  /** Per layer, L0 first: 1 = GELU, 0 = ReLU. */
  readonly lambdas: readonly number[];
}

export interface Thresholds {
  readonly prune: PruneThreshold | null;
  readonly softmax: SoftmaxThreshold | null;
  readonly activation: ActivationChoice | null;
}

export const NO_THRESHOLDS: Thresholds = { prune: null, softmax: null, activation: null };

export interface PointCost {
  readonly rounds: number;
  readonly bytesTotal: number;
  readonly onlineBytes: number;
  readonly latencySeconds: { readonly lan: number; readonly wan: number };
}

export interface TunePoint extends SearchPoint {
  readonly candidate: Candidate;
  readonly cost: PointCost;
  /** The thresholds behind every decision of the candidate (cumulative over the stages). */
  readonly thresholds: Thresholds;
}

export interface SpaceContext {
  /** Oriented importance (higher = more important), [layer][head]. */
  readonly importance: readonly (readonly number[])[];
  /** The search's annotation, for its pins. */
  readonly annotation: ImportanceAnnotation;
  readonly minKeep: number;
  readonly granularities: readonly Granularity[];
  readonly degree: number;
  /** Clip bounds tried (0 = no clamp). */
  readonly clips: readonly number[];
  /** Costs a candidate (cached by the caller); undefined when it cannot be compiled. */
  point(candidate: Candidate, label: string, thresholds: Thresholds): Promise<TunePoint | undefined>;
  /** Told before each candidate is costed: how many of how many. */
  readonly costing?: (done: number, total: number) => void;
}

/** Thresholds that split the distinct scores: midpoints, and one above the largest. */
export function cutPoints(scores: readonly number[]): number[] {
  const s = [...new Set(scores)].sort((a, b) => a - b);
  const cuts: number[] = [];
  for (let i = 0; i + 1 < s.length; i++) cuts.push((s[i]! + s[i + 1]!) / 2);
  const top = s[s.length - 1]!;
  cuts.push(s.length > 1 ? top + (top - s[s.length - 2]!) / 2 : top + Math.abs(top) + 1);
  return cuts;
}

async function distinctPoints(ctx: SpaceContext, made: readonly { c: Candidate; label: string; t: Thresholds }[], from: Candidate): Promise<TunePoint[]> {
  const seen = new Set<string>([candidateKey(from)]);
  const out: TunePoint[] = [];
  for (const [i, m] of made.entries()) {
    ctx.costing?.(i, made.length);
    const key = candidateKey(m.c);
    if (seen.has(key)) continue;
    seen.add(key);
    const p = await ctx.point(m.c, m.label, m.t);
    if (p !== undefined) out.push(p);
  }
  return out;
}

export async function structureMoves(ctx: SpaceContext, from: TunePoint): Promise<TunePoint[]> {
  const made = cutPoints(ctx.importance.flat()).map((tau) => {
    const pruned = sortedKeys(choosePrunedHeads(ctx.importance, { kind: 'tau', tau }, ctx.minKeep, ctx.annotation));
    const c: Candidate = { ...from.candidate, pruned };
    return { c, label: `prune ${pruned.length} heads (tau_s=${fmtTau(tau)})`, t: { ...from.thresholds, prune: { tau, minKeep: ctx.minKeep, heads: names(pruned).split(' ').filter(Boolean) } } };
  });
  return distinctPoints(ctx, made, from.candidate);
}

export async function operatorMoves(ctx: SpaceContext, from: TunePoint): Promise<TunePoint[]> {
  const pruned = new Set(from.candidate.pruned);
  const present = new Map<number, number[]>();
  ctx.importance.forEach((row, l) => present.set(l, row.map((_, h) => h).filter((h) => !pruned.has(headKey(l, h)))));
  const made: { c: Candidate; label: string; t: Thresholds }[] = [];
  for (const granularity of ctx.granularities) {
    const unitScores =
      granularity === 'head'
        ? [...present].flatMap(([l, hs]) => hs.map((h) => ctx.importance[l]![h]!))
        : [...present].filter(([, hs]) => hs.length > 0).map(([l, hs]) => hs.reduce((s, h) => s + ctx.importance[l]![h]!, 0) / hs.length);
    if (unitScores.length === 0) continue;
    for (const shift of [false, true]) {
      for (const clip of ctx.clips) {
        for (const tau of cutPoints(unitScores)) {
          const heads = sortedKeys(choosePolyHeads(ctx.importance, present, { kind: 'tau', tau }, granularity, ctx.annotation));
          if (heads.length === 0) continue;
          const c: Candidate = { ...from.candidate, poly: { heads, degree: ctx.degree, shift, clip } };
          const layers = new Set(heads.map((k) => parseKey(k)[0])).size;
          const how = `${shift ? 'max-shifted' : 'no shift'}${clip > 0 ? `, clip ${clip}` : ''}`;
          made.push({
            c,
            label: `PolySoftmax on ${heads.length} heads in ${layers} layers (${granularity}, ${how}, tau_a=${fmtTau(tau)})`,
            t: { ...from.thresholds, softmax: { tau, granularity, degree: ctx.degree, shift, clip, heads: names(heads).split(' ').filter(Boolean) } },
          });
        }
      }
    }
  }
  return distinctPoints(ctx, made, from.candidate);
}

export async function activationMoves(ctx: SpaceContext, from: TunePoint): Promise<TunePoint[]> {
  const L = ctx.importance.length;
  const pinned = (lambdas: readonly number[]): number[] =>
    lambdas.map((v, l) => {
      let p: number | undefined;
      for (const pin of ctx.annotation.lambdaPins) if (pin.layer === l) p = pin.value;
      return p ?? v;
    });
  const schedules: { schedule: string; lambdas: number[] }[] = [{ schedule: 'thirds', lambdas: thirdsSchedule(L) }];
  for (let k = 1; k <= L; k++) schedules.push({ schedule: 'relu-first-k', lambdas: Array.from({ length: L }, (_, l) => (l < k ? 0 : 1)) });
  for (let k = 0; k < L; k++) schedules.push({ schedule: 'relu-first-k+mix', lambdas: Array.from({ length: L }, (_, l) => (l < k ? 0 : l === k ? 0.5 : 1)) });
  if (ctx.annotation.lambdaPins.length > 0) schedules.push({ schedule: 'pinned', lambdas: new Array<number>(L).fill(1) });
  const made = schedules.map(({ schedule, lambdas }) => {
    const ls = pinned(lambdas);
    return { c: { ...from.candidate, lambdas: ls }, label: `${schedule} lambdas [${ls.map(fmtLambda).join(', ')}]`, t: { ...from.thresholds, activation: { schedule, lambdas: ls } } };
  });
  return distinctPoints(ctx, made, from.candidate);
}

export function fmtTau(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

export function fmtLambda(x: number): string {
  return Number(x.toFixed(3)).toString();
}

/** A pipeline with thresholds (not pins) that makes the same decisions from the importance scores. */
export function thresholdPipeline(t: Thresholds): string {
  const steps: string[] = [];
  if (t.prune !== null) steps.push(`prune-heads{tau=${t.prune.tau},min-keep=${t.prune.minKeep}}`);
  if (t.softmax !== null) {
    const s = t.softmax;
    steps.push(`softmax-to-poly{tau=${s.tau},granularity=${s.granularity},degree=${s.degree},shift=${s.shift}${s.clip > 0 ? `,clip=${s.clip}` : ''}}`);
  }
  if (t.activation !== null) steps.push(`gelu-mix{lambdas=[${t.activation.lambdas.join(',')}]}`);
  return steps.join(',');
}
