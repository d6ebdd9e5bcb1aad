// gelu-mix{schedule|lambdas}: IG-3D activation replacement. Each encoder layer's FFN GELU
// becomes lambda * GELU + (1 - lambda) * ReLU: lambda 1 leaves the Gelu as it is, lambda 0
// gives a plain Relu (no GELU left to evaluate under MPC), anything between a GeluMix.
//
// schedule=thirds is the paper's layer-wise schedule over layers l = 1..L: ReLU for
// l <= L/3, lambda_l = (l - L/3) / (L/3) for L/3 < l <= 2L/3, GELU above. lambdas=[...] gives
// one lambda per layer instead; schedule=none changes only the layers the importance file
// pins (`lambda L3 = 0.5`), and such pins override the schedule and the list too.
// A Relu that an earlier run put in place stays a Relu (it is no longer recognizably a GELU).

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { type Pass, type PassContext, type PassOptionSpec, type PassOptions } from '../pass.ts';
import { op } from '../pattern.ts';
import { type Rule, rewriteGraph, rule } from '../rewrite.ts';
import { checkAnnotationFits, lambdaPin } from './annotations.ts';
import { modelShape } from './model-shape.ts';
import { annotationFrom, checkOptions } from './options.ts';

export const GELU_MIX = 'gelu-mix';

export const GELU_MIX_OPTIONS: Readonly<Record<string, PassOptionSpec>> = {
  schedule: { kind: 'enum', values: ['thirds', 'none'], doc: "'thirds': the paper's ReLU / mix / GELU thirds (the default); 'none': only the file's lambdas" },
  lambdas: { kind: 'numbers', doc: 'one lambda in [0, 1] per layer, L0 first (1 = GELU, 0 = ReLU), instead of a schedule' },
};

/** The paper's schedule for L layers, index l-1 for layer l = 1..L (computed in integers: 3l <= L etc.). */
export function thirdsSchedule(L: number): number[] {
  return Array.from({ length: L }, (_, i) => {
    const l = i + 1;
    if (3 * l <= L) return 0;
    if (3 * l <= 2 * L) return (3 * l - L) / L;
    return 1;
  });
}

/** The activation of every layer with a lambda: Gelu (1), Relu (0) or GeluMix{lambda}. */
export function geluMixRule(lambdaOf: (layer: number) => number | undefined): Rule {
  return rule(
    'GeluToGeluMix',
    'Gelu(x) in layer l -> Gelu(x) (lambda_l = 1), Relu(x) (lambda_l = 0), else GeluMix{lambda_l}(x)',
    op(['Gelu', 'GeluMix']),
    (_c, ctx) => {
      const n = ctx.root;
      const layer = n.loc.layer;
      const lambda = layer === undefined ? undefined : lambdaOf(layer);
      if (lambda === undefined) return undefined;
      if (lambda === 0) return ctx.build('Relu', n.inputs, {}, n.loc);
      if (n.op === 'Gelu') {
        // GeluMix mixes the exact (erf) GELU; a tanh-approximated one is left alone
        if (lambda === 1 || n.attrs['approximate'] !== 'none') return undefined;
        return ctx.build('GeluMix', n.inputs, { lambda }, n.loc);
      }
      if (lambda === 1) return ctx.build('Gelu', n.inputs, { approximate: 'none' }, n.loc);
      return n.attrs['lambda'] === lambda ? undefined : ctx.build('GeluMix', n.inputs, { lambda }, n.loc);
    },
  );
}

/** Applies per-layer lambdas (index = layer; undefined leaves a layer as it is). */
export function geluMix(graph: Graph, lambdas: readonly (number | undefined)[]): Graph {
  return rewriteGraph(graph, [geluMixRule((l) => lambdas[l])]).graph;
}

function run(graph: Graph, given: PassOptions, ctx: PassContext): Graph {
  const options = checkOptions(GELU_MIX, GELU_MIX_OPTIONS, given);
  const schedule = options['schedule'] as string | undefined;
  const list = options['lambdas'] as readonly number[] | undefined;
  if (schedule !== undefined && list !== undefined) throw new Ig3dcError('usage', `${GELU_MIX}: give either schedule=${schedule} or lambdas=[...], not both`);
  const shape = modelShape(graph, GELU_MIX);
  const L = shape.layers;
  const annotation = annotationFrom(ctx, GELU_MIX);
  if (annotation !== undefined) checkAnnotationFits(annotation, shape);
  let lambdas: (number | undefined)[];
  if (list !== undefined) {
    if (list.length !== L) throw new Ig3dcError('usage', `${GELU_MIX}: lambdas has ${list.length} entr${list.length === 1 ? 'y' : 'ies'}, but the model has ${L} layers (one lambda per layer, L0 first)`);
    list.forEach((v, i) => {
      if (!(v >= 0 && v <= 1)) throw new Ig3dcError('usage', `${GELU_MIX}: lambdas[${i}] = ${v} is outside [0, 1] (1 = GELU, 0 = ReLU)`);
    });
    lambdas = [...list];
  } else if (schedule === 'none') {
    lambdas = new Array<number | undefined>(L).fill(undefined);
  } else {
    lambdas = thirdsSchedule(L);
  }
  for (let l = 0; l < L; l++) lambdas[l] = lambdaPin(annotation, l) ?? lambdas[l];
  const skipped = graph.nodes().filter((n) => n.op === 'Gelu' && n.loc.layer !== undefined && n.attrs['approximate'] !== 'none' && (lambdas[n.loc.layer] ?? 1) !== 1 && lambdas[n.loc.layer] !== 0);
  for (const n of skipped) ctx.note(GELU_MIX, `layer ${n.loc.layer}: its Gelu is the tanh approximation; GeluMix mixes the exact (erf) GELU, so it is left as it is`);
  if (graph.nodes().some((n) => (n.op === 'Gelu' || n.op === 'GeluMix') && n.loc.layer === undefined)) ctx.note(GELU_MIX, 'a Gelu outside the encoder layers (no layer) is left as it is');
  ctx.note(GELU_MIX, `lambdas by layer: ${lambdas.map((v, l) => `L${l}=${v ?? 'unchanged'}`).join(' ')}`);
  return geluMix(graph, lambdas);
}

export const GELU_MIX_PASS: Pass = {
  name: GELU_MIX,
  summary: 'IG-3D activation replacement: per layer lambda*GELU + (1-lambda)*ReLU (schedule=thirds as in the paper, or lambdas=[...])',
  options: GELU_MIX_OPTIONS,
  rules: [geluMixRule(() => undefined)],
  run,
};
