// Polynomial GELUs of the related systems, as passes:
// - quad-gelu{tau|ratio}: MPCFormer's Quad, GELU(x) ~ 0.125 x^2 + 0.25 x + 0.5, in every layer
//   (no tau or ratio) or in the layers whose mean head importance is below tau (the `ratio`
//   least important layers).
// - taylor{tau|ratio, degree, granularity}: PriViT-style selective Taylor expansion: the chosen
//   heads (as softmax-to-poly chooses them) take exp's Taylor polynomial of `degree` (method
//   poly), and the GELU of a layer whose heads are all chosen its Taylor polynomial at 0,
//   0.5 x + x^2 / sqrt(2 pi) (degree 2; the odd terms beyond vanish only to degree 3).
// Both write the polynomial out as Mul and Add, which the backend lowers to one product and
// local steps.

import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { type Pass, type PassContext, type PassOptionSpec, type PassOptions } from '../pass.ts';
import { op } from '../pattern.ts';
import { type RewriteContext, type Rule, rewriteGraph, rule } from '../rewrite.ts';
import { checkAnnotationFits } from './annotations.ts';
import { modelShape } from './model-shape.ts';
import { annotationFrom, checkOptions, selectionOf } from './options.ts';
import { headKey, leastImportant, requireImportance, type Ranked } from './ranking.ts';
import { choosePolyHeads, presentHeads, softmaxToPoly, type Granularity } from './softmax-to-poly.ts';

/** a2 x^2 + a1 x + a0, as graph nodes. */
function quadratic(ctx: RewriteContext, x: Node, [a0, a1, a2]: readonly [number, number, number]): Node {
  const sq = ctx.build('Mul', [ctx.build('Mul', [x, x]), ctx.scalar(a2)]);
  const lin = ctx.build('Add', [sq, ctx.build('Mul', [x, ctx.scalar(a1)])]);
  return a0 === 0 ? lin : ctx.build('Add', [lin, ctx.scalar(a0)]);
}

/** MPCFormer's Quad GELU coefficients [a0, a1, a2]. */
export const QUAD_GELU: readonly [number, number, number] = [0.5, 0.25, 0.125];
/** GELU's Taylor polynomial at 0 to degree 2: 0.5 x + x^2 / sqrt(2 pi). */
export const TAYLOR_GELU: readonly [number, number, number] = [0, 0.5, 1 / Math.sqrt(2 * Math.PI)];

export function polynomialGeluRule(name: string, coefficients: readonly [number, number, number], inLayer: (layer: number) => boolean): Rule {
  return rule(name, `Gelu(x) in a chosen layer -> ${coefficients[2]} x^2 + ${coefficients[1]} x + ${coefficients[0]} (Mul, Add)`, op('Gelu'), (_c, ctx) => {
    const layer = ctx.root.loc.layer;
    return layer !== undefined && inLayer(layer) ? quadratic(ctx, ctx.root.inputs[0]!, coefficients) : undefined;
  });
}

/** Layers whose mean head importance is below tau (the ratio least important); every layer without tau or ratio. */
function chosenLayers(graph: Graph, pass: string, options: PassOptions, ctx: PassContext): Set<number> {
  const sel = selectionOf(pass, options, false);
  const annotation = annotationFrom(ctx, pass);
  const shape = modelShape(graph, pass);
  if (annotation !== undefined) checkAnnotationFits(annotation, shape);
  const present = presentHeads(shape);
  if (sel.kind === 'pins') return new Set(present.keys());
  const importance = requireImportance(pass, annotation, sel)!;
  const units: Ranked<number>[] = [...present].filter(([, hs]) => hs.length > 0).map(([l, hs]) => ({ unit: l, score: hs.reduce((s, h) => s + importance[l]![h]!, 0) / hs.length }));
  return new Set(leastImportant(units, sel));
}

export const QUAD_GELU_PASS: Pass = {
  name: 'quad-gelu',
  summary: "MPCFormer's Quad GELU 0.125x^2 + 0.25x + 0.5 in every layer, or in the layers of lowest mean head importance (tau|ratio)",
  options: {
    tau: { kind: 'number', doc: 'layers with mean head importance >= tau keep GELU' },
    ratio: { kind: 'number', min: 0, max: 1, doc: 'replace GELU in this fraction of the layers, least important first' },
  },
  rules: [polynomialGeluRule('GeluToQuadGelu', QUAD_GELU, () => true)],
  run(graph, given, ctx) {
    const options = checkOptions('quad-gelu', QUAD_GELU_PASS.options, given);
    const layers = chosenLayers(graph, 'quad-gelu', options, ctx);
    ctx.note('quad-gelu', `Quad GELU in layers ${[...layers].sort((a, b) => a - b).join(' ') || 'none'}`);
    return rewriteGraph(graph, [polynomialGeluRule('GeluToQuadGelu', QUAD_GELU, (l) => layers.has(l))]).graph;
  },
};

const TAYLOR_OPTIONS: Readonly<Record<string, PassOptionSpec>> = {
  tau: { kind: 'number', doc: 'heads (or layers) with importance >= tau keep softmax (and their layer GELU)' },
  ratio: { kind: 'number', min: 0, max: 1, doc: 'expand this fraction of the heads (or layers), least important first' },
  degree: { kind: 'int', default: 2, min: 2, max: 8, doc: "degree of exp's Taylor polynomial" },
  granularity: { kind: 'enum', values: ['head', 'layer'], default: 'head', doc: 'decide per head, or per layer by the mean importance of its heads' },
};

export const TAYLOR_PASS: Pass = {
  name: 'taylor',
  summary: "PriViT-style selective Taylor expansion: exp's Taylor polynomial on unimportant heads, GELU's degree-2 Taylor polynomial in layers whose heads are all expanded",
  options: TAYLOR_OPTIONS,
  rules: [polynomialGeluRule('GeluToTaylorGelu', TAYLOR_GELU, () => true)],
  run(graph, given, ctx) {
    const options = checkOptions('taylor', TAYLOR_OPTIONS, given);
    const sel = selectionOf('taylor', options, false);
    const annotation = annotationFrom(ctx, 'taylor');
    const shape = modelShape(graph, 'taylor');
    if (annotation !== undefined) checkAnnotationFits(annotation, shape);
    const importance = requireImportance('taylor', annotation, sel);
    const present = presentHeads(shape);
    const heads = choosePolyHeads(importance, present, sel, options['granularity'] as Granularity, annotation);
    const layers = new Set([...present].filter(([l, hs]) => hs.length > 0 && hs.every((h) => heads.has(headKey(l, h)))).map(([l]) => l));
    ctx.note('taylor', `Taylor softmax on ${heads.size} heads; Taylor GELU in layers ${[...layers].sort((a, b) => a - b).join(' ') || 'none'}`);
    const expanded = softmaxToPoly(graph, heads, { degree: options['degree'] as number, shift: true, clip: 0 });
    return rewriteGraph(expanded, [polynomialGeluRule('GeluToTaylorGelu', TAYLOR_GELU, (l) => layers.has(l))]).graph;
  },
};
