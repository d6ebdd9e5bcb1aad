// A point of the IG-3D search space, as decisions rather than thresholds: which heads are
// pruned, which of the remaining heads use PolySoftmax (with its parameters), and each
// layer's GELU/ReLU lambda. Two thresholds that select the same heads are one candidate,
// so the key of the decisions is what results are cached by.
//
// A candidate is applied through the passes themselves, driven by an annotation that pins
// every decision (`prune`, `poly`, `lambda` lines) and a pipeline without thresholds; the
// annotation file `ig3dc tune -o` writes is exactly what was measured.

import type { Graph } from '../../ir/graph.ts';
import { parsePipeline, runPipeline, type PipelineStep } from '../../passes/index.ts';
import { type HeadPin, type ImportanceAnnotation, type LambdaPin, headName, IMPORTANCE_RESOURCE } from '../../passes/ig3d/index.ts';

export interface PolyChoice {
  /** Heads with PolySoftmax, as `layer:head` keys, sorted. */
  readonly heads: readonly string[];
  readonly degree: number;
  readonly shift: boolean;
  /** 0: no clamp. */
  readonly clip: number;
}

export interface Candidate {
  /** Pruned heads, `layer:head`, sorted. */
  readonly pruned: readonly string[];
  readonly poly: PolyChoice;
  /** Lambda per layer (1 = GELU, 0 = ReLU). */
  readonly lambdas: readonly number[];
}

export const parseKey = (k: string): [number, number] => k.split(':').map(Number) as [number, number];

function byHead(a: string, b: string): number {
  const [la, ha] = parseKey(a);
  const [lb, hb] = parseKey(b);
  return la - lb || ha - hb;
}

export function sortedKeys(keys: Iterable<string>): string[] {
  return [...new Set(keys)].sort(byHead);
}

export function baselineCandidate(layers: number): Candidate {
  return { pruned: [], poly: { heads: [], degree: 2, shift: true, clip: 0 }, lambdas: new Array<number>(layers).fill(1) };
}

/** The cache key: equal keys build the same graph. */
export function candidateKey(c: Candidate): string {
  const poly = c.poly.heads.length === 0 ? '-' : `${c.poly.heads.join(',')}|d${c.poly.degree}|${c.poly.shift ? 's' : 'n'}|c${c.poly.clip}`;
  return `P[${c.pruned.join(',')}] A[${poly}] G[${c.lambdas.join(',')}]`;
}

export const names = (keys: readonly string[]): string => keys.map((k) => headName(...parseKey(k))).join(' ');

/** The pipeline that applies a candidate given its pinning annotation (empty for the baseline). */
export function candidatePipeline(c: Candidate): string {
  const steps: string[] = [];
  if (c.pruned.length > 0) steps.push('prune-heads');
  if (c.poly.heads.length > 0) {
    const opts = [`degree=${c.poly.degree}`, `shift=${c.poly.shift}`];
    if (c.poly.clip > 0) opts.push(`clip=${c.poly.clip}`);
    steps.push(`softmax-to-poly{${opts.join(',')}}`);
  }
  if (c.lambdas.some((l) => l !== 1)) steps.push('gelu-mix{schedule=none}');
  return steps.join(',');
}

/**
 * The importance annotation with every decision of `c` pinned (its own pins replaced): the
 * scores stay, so the file also serves threshold pipelines.
 */
export function candidateAnnotation(importance: ImportanceAnnotation, c: Candidate): ImportanceAnnotation {
  const place = {};
  const headPins: HeadPin[] = [
    ...c.pruned.map((k): HeadPin => ({ kind: 'prune', layer: parseKey(k)[0], head: parseKey(k)[1], place })),
    ...c.poly.heads.map((k): HeadPin => ({ kind: 'poly', layer: parseKey(k)[0], head: parseKey(k)[1], place })),
  ];
  const lambdaPins: LambdaPin[] = c.lambdas.flatMap((value, layer) => (value !== 1 ? [{ layer, value, place }] : []));
  const { file: _file, shapePlace: _place, ...rest } = importance;
  return { ...rest, headPins, lambdaPins };
}

/** Applies a candidate to a raised graph through the passes. */
export function applyCandidate(raised: Graph, importance: ImportanceAnnotation, c: Candidate): Graph {
  const text = candidatePipeline(c);
  if (text === '') return raised;
  const steps: PipelineStep[] = parsePipeline(text, 'tune');
  return runPipeline(raised, steps, { verify: false, resources: new Map([[IMPORTANCE_RESOURCE, candidateAnnotation(importance, c)]]) }).graph;
}
