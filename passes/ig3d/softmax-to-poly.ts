// softmax-to-poly{tau|ratio, degree, clip, shift, granularity}: IG-3D operator approximation.
// Heads with importance >= tau keep the exact softmax; the others use PolySoftmax
// (AttentionSoftmax method "poly": exp replaced by its Taylor polynomial of `degree`).
//
// granularity=layer decides per layer, by the mean importance of the layer's (remaining)
// heads, so a layer's heads switch together: the heads of a layer run side by side under
// MPC, so a layer's rounds only drop when none of its heads takes the exact path. The mean
// (not the max) lets a layer with one important head among unimportant ones switch as a
// whole; the max would keep such layers exact, which per-head decisions already allow.
// With ratio, the fraction counts units: heads (granularity=head) or layers (granularity=layer).
//
// shift=false drops the row-max subtraction (the max costs about as many rounds as the
// exact softmax under MPC). Without the shift the polynomial sees raw scores, so a clip
// bound B (z clamped to [-B, B]) should be given; the pass notes when it is not.

import type { Graph } from '../../ir/graph.ts';
import type { Attrs } from '../../ir/node.ts';
import { type Pass, type PassContext, type PassOptionSpec, type PassOptions } from '../pass.ts';
import { op } from '../pattern.ts';
import { type Rule, rewriteGraph, rule } from '../rewrite.ts';
import { type ImportanceAnnotation, checkAnnotationFits } from './annotations.ts';
import { type ModelShape, modelShape } from './model-shape.ts';
import { annotationFrom, checkOptions, selectionOf, type Selection, noteForeignAnnotation } from './options.ts';
import { type HeadRef, type Ranked, headKey, headName, leastImportant, requireImportance } from './ranking.ts';

export const SOFTMAX_TO_POLY = 'softmax-to-poly';

export const SOFTMAX_TO_POLY_OPTIONS: Readonly<Record<string, PassOptionSpec>> = {
  tau: { kind: 'number', doc: 'heads (or layers) with importance >= tau keep the exact softmax; any finite number' },
  ratio: { kind: 'number', min: 0, max: 1, doc: 'use PolySoftmax on this fraction of the heads (or layers), least important first (instead of tau)' },
  degree: { kind: 'int', default: 2, min: 2, max: 8, doc: 'degree m of q(z) = sum_{k<=m} z^k/k! (the paper uses 2; 3 and 4 in its Table 2)' },
  clip: { kind: 'number', default: 0, min: 0, doc: 'clamp z to [-clip, clip] before the polynomial; 0: no clamp' },
  shift: { kind: 'bool', default: true, doc: 'subtract the row max over kept keys first (false saves the max; then give clip)' },
  granularity: { kind: 'enum', values: ['head', 'layer'], default: 'head', doc: 'decide per head, or per layer by the mean importance of its heads' },
};

export type Granularity = 'head' | 'layer';

/** Heads by layer that still exist in the model. */
export type PresentHeads = ReadonlyMap<number, readonly number[]>;

export function presentHeads(shape: ModelShape): PresentHeads {
  return new Map([...shape.attention.values()].map((a) => [a.layer, a.heads]));
}

/**
 * Which present heads use PolySoftmax, by `headKey`: by score (per head, or per layer by the
 * mean of its heads), then exact/poly pins override single heads.
 */
export function choosePolyHeads(importance: readonly (readonly number[])[] | undefined, present: PresentHeads, sel: Selection, granularity: Granularity, annotation?: ImportanceAnnotation): Set<string> {
  const poly = new Set<string>();
  if (sel.kind !== 'pins' && importance !== undefined) {
    const score = (l: number, h: number): number => importance[l]![h]!;
    if (granularity === 'head') {
      const units: Ranked<HeadRef>[] = [];
      for (const [layer, heads] of present) for (const head of heads) units.push({ unit: { layer, head }, score: score(layer, head) });
      for (const u of leastImportant(units, sel)) poly.add(headKey(u.layer, u.head));
    } else {
      const units: Ranked<number>[] = [];
      for (const [layer, heads] of present) {
        if (heads.length > 0) units.push({ unit: layer, score: heads.reduce((s, h) => s + score(layer, h), 0) / heads.length });
      }
      for (const layer of leastImportant(units, sel)) for (const h of present.get(layer)!) poly.add(headKey(layer, h));
    }
  }
  for (const p of annotation?.headPins ?? []) {
    if (p.kind === 'poly') poly.add(headKey(p.layer, p.head));
    else if (p.kind === 'exact') poly.delete(headKey(p.layer, p.head));
  }
  return poly;
}

/** The heads a head-selecting pass changes, with the names and total its note gives. */
export interface HeadChoice {
  readonly present: PresentHeads;
  readonly chosen: Set<string>;
  readonly names: readonly string[];
  readonly total: number;
  readonly annotation: ImportanceAnnotation | undefined;
}

/**
 * The selection every head-selecting pass shares: tau / ratio / pins from its options, the
 * importance annotation checked against the model, then `choosePolyHeads`. Undefined when
 * nothing selects (no tau, ratio or importance file): the pass notes that and changes nothing.
 */
export function chooseHeads(pass: string, graph: Graph, options: PassOptions, ctx: PassContext): HeadChoice | undefined {
  const sel = selectionOf(pass, options, false);
  const annotation = annotationFrom(ctx, pass);
  const shape = modelShape(graph, pass);
  if (annotation !== undefined) checkAnnotationFits(annotation, shape);
  if (annotation !== undefined) noteForeignAnnotation(ctx, pass, annotation, graph.name);
  const importance = requireImportance(pass, annotation, sel);
  if (sel.kind === 'pins' && annotation === undefined) {
    ctx.note(pass, 'no tau, ratio or importance file: every head keeps its method');
    return undefined;
  }
  const present = presentHeads(shape);
  const chosen = choosePolyHeads(importance, present, sel, options['granularity'] as Granularity, annotation);
  const names = [...present].flatMap(([l, hs]) => hs.filter((h) => chosen.has(headKey(l, h))).map((h) => headName(l, h)));
  const total = [...present.values()].reduce((s, hs) => s + hs.length, 0);
  return { present, chosen, names, total, annotation };
}

export interface PolyParams {
  readonly degree: number;
  readonly clip: number;
  readonly shift: boolean;
}

/** AttentionSoftmax with every head's method set from `isPoly`; the polynomial parameters are set on layers with a poly head. */
export function softmaxToPolyRule(isPoly: (layer: number, head: number) => boolean, params: PolyParams): Rule {
  return rule(
    'ChosenHeadsToPolySoftmax',
    'AttentionSoftmax{methods} -> AttentionSoftmax{methods: "poly" for the chosen heads, "exact" for the others; degree, shift, clip}',
    op('AttentionSoftmax'),
    (_c, ctx) => {
      const n = ctx.root;
      const layer = n.loc.layer;
      if (layer === undefined) return undefined;
      const heads = n.attrs['heads'] as readonly number[];
      const methods = heads.map((h) => (isPoly(layer, h) ? 'poly' : 'exact'));
      const anyPoly = methods.includes('poly');
      const attrs: Attrs = anyPoly ? { ...n.attrs, methods, degree: params.degree, shift: params.shift, clip: params.clip } : { ...n.attrs, methods };
      const same = Object.entries(attrs).every(([k, v]) => JSON.stringify(n.attrs[k]) === JSON.stringify(v));
      return same ? undefined : ctx.build('AttentionSoftmax', n.inputs, attrs, n.loc);
    },
  );
}

/** Applies a decision already made (by `headKey`). */
export function softmaxToPoly(graph: Graph, poly: ReadonlySet<string>, params: PolyParams): Graph {
  return rewriteGraph(graph, [softmaxToPolyRule((l, h) => poly.has(headKey(l, h)), params)]).graph;
}

function run(graph: Graph, given: PassOptions, ctx: PassContext): Graph {
  const options = checkOptions(SOFTMAX_TO_POLY, SOFTMAX_TO_POLY_OPTIONS, given);
  const params: PolyParams = { degree: options['degree'] as number, clip: options['clip'] as number, shift: options['shift'] as boolean };
  const choice = chooseHeads(SOFTMAX_TO_POLY, graph, options, ctx);
  if (choice === undefined) return graph;
  const { present, chosen: poly, names: chosen, total, annotation } = choice;
  ctx.note(SOFTMAX_TO_POLY, `PolySoftmax (degree ${params.degree}${params.shift ? '' : ', no max shift'}${params.clip > 0 ? `, clip ${params.clip}` : ''}) on ${chosen.length} of ${total} heads: ${chosen.join(' ') || 'none'}`);
  if (chosen.length > 0 && !params.shift && params.clip === 0) {
    ctx.note(SOFTMAX_TO_POLY, 'shift=false without clip: the polynomial sees raw attention scores; give clip=B (a bound on |score|) to keep it accurate');
  }
  if (chosen.length > 0 && params.degree % 2 === 1 && params.clip === 0) {
    ctx.note(SOFTMAX_TO_POLY, `degree ${params.degree} is odd: q(z) is negative for z below about -1.6 (degree 3), so rows may get negative weights; use an even degree, or clip below 1.5`);
  }
  for (const p of annotation?.headPins ?? []) {
    if ((p.kind === 'exact' || p.kind === 'poly') && !present.get(p.layer)?.includes(p.head)) {
      ctx.note(SOFTMAX_TO_POLY, `${p.kind} ${headName(p.layer, p.head)}: that head was pruned from the model`);
    }
  }
  return softmaxToPoly(graph, poly, params);
}

export const SOFTMAX_TO_POLY_PASS: Pass = {
  name: SOFTMAX_TO_POLY,
  summary: 'IG-3D operator approximation: PolySoftmax (Taylor exp, masked keys exactly 0) on heads with importance below tau (or the ratio least important)',
  options: SOFTMAX_TO_POLY_OPTIONS,
  rules: [softmaxToPolyRule(() => false, { degree: 2, clip: 0, shift: true })],
  run,
};
