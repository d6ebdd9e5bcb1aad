// Ranking heads (or layers) by importance, and choosing the least important ones by a
// threshold or a fraction. Shared by prune-heads and softmax-to-poly.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import { type ImportanceAnnotation, importanceOf } from './annotations.ts';
import { annotationName, type Selection } from './options.ts';

/** A head by layer and original head index. */
export interface HeadRef {
  readonly layer: number;
  readonly head: number;
}

export const headKey = (layer: number, head: number): string => `${layer}:${head}`;
export const headName = (layer: number, head: number): string => `L${layer}H${head}`;

/** A unit being ranked (a head or a layer) with its importance. */
export interface Ranked<T> {
  readonly unit: T;
  readonly score: number;
}

/**
 * Units from most to least important; ties keep the given order (so earlier layers and
 * heads rank first), which makes every choice deterministic.
 */
export function rankDescending<T>(units: readonly Ranked<T>[]): Ranked<T>[] {
  return units
    .map((u, i) => ({ u, i }))
    .sort((a, b) => b.u.score - a.u.score || a.i - b.i)
    .map((x) => x.u);
}

/**
 * The units to switch off (prune, approximate): score < tau, or the round(ratio * n) least
 * important (halves round up: 30% of 16 heads is 5). `pins` selection chooses none.
 */
export function leastImportant<T>(units: readonly Ranked<T>[], sel: Selection): Set<T> {
  if (sel.kind === 'pins') return new Set();
  if (sel.kind === 'tau') return new Set(units.filter((u) => u.score < sel.tau).map((u) => u.unit));
  const n = Math.min(units.length, Math.floor(sel.ratio * units.length + 0.5 + 1e-9));
  const ranked = rankDescending(units);
  return new Set(ranked.slice(ranked.length - n).map((u) => u.unit));
}

/** The oriented importance matrix, or an error saying that `sel` needs scores. */
export function requireImportance(pass: string, a: ImportanceAnnotation | undefined, sel: Selection): number[][] | undefined {
  if (sel.kind === 'pins') return a === undefined ? undefined : importanceOf(a);
  if (a === undefined) {
    throw new Ig3dcError('usage', `${pass}: ${sel.kind}=${sel.kind === 'tau' ? sel.tau : sel.ratio} needs head importance scores: give an importance file (--importance FILE)`);
  }
  const imp = importanceOf(a);
  if (imp === undefined) {
    throw new Ig3dcError('usage', `${pass}: ${sel.kind} needs head importance scores, but ${annotationName(a)} has only pins (add a 'scores' section, or leave out tau and ratio to apply the pins alone)`, a.shapePlace ?? {});
  }
  return imp;
}
