// attention-method{method, tau|ratio, granularity, c, eps, degree, shift, clip}: the related
// systems' attention on the heads IG-3D would approximate. Like softmax-to-poly, heads (or
// layers, by the mean importance of their heads) below tau, or the `ratio` least important,
// switch to `method`: MPCViT's rsattn or scale, PolyTransformer's scaled-relu / -gelu / -relu2,
// MPCFormer's 2quad, IG-3D's poly, or back to exact. The other heads keep the method they have.
// Pins in the importance file decide single heads: `poly` pins a head to the method, `exact`
// keeps it as it is.
//
// The method's parameters (2quad's c, rsattn/2quad's eps, poly's degree/shift/clip) are one
// value per layer: they are set on layers where a head switches.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Attrs } from '../../ir/node.ts';
import { ATTENTION_METHOD_NAMES, attentionMethod } from '../../ir/ops/transformer/attention-methods.ts';
import { type Pass, type PassContext, type PassOptionSpec, type PassOptions } from '../pass.ts';
import { op } from '../pattern.ts';
import { type Rule, rewriteGraph, rule } from '../rewrite.ts';
import { checkOptions } from './options.ts';
import { headKey } from './ranking.ts';
import { chooseHeads } from './softmax-to-poly.ts';

export const ATTENTION_METHOD = 'attention-method';

export const ATTENTION_METHOD_OPTIONS: Readonly<Record<string, PassOptionSpec>> = {
  method: { kind: 'enum', values: ATTENTION_METHOD_NAMES, doc: `the method the chosen heads switch to: ${ATTENTION_METHOD_NAMES.join(', ')}` },
  tau: { kind: 'number', doc: 'heads (or layers) with importance >= tau keep their method; any finite number' },
  ratio: { kind: 'number', min: 0, max: 1, doc: 'switch this fraction of the heads (or layers), least important first (instead of tau)' },
  granularity: { kind: 'enum', values: ['head', 'layer'], default: 'head', doc: 'decide per head, or per layer by the mean importance of its heads' },
  c: { kind: 'number', default: 5, doc: '2quad: the shift c of (s + c)^2 (MPCFormer uses 5)' },
  eps: { kind: 'number', default: 0, min: 0, doc: 'rsattn, 2quad: added to the denominator' },
  degree: { kind: 'int', default: 2, min: 2, max: 8, doc: 'poly: degree of the Taylor polynomial' },
  shift: { kind: 'bool', default: true, doc: 'poly: subtract the row max first' },
  clip: { kind: 'number', default: 0, min: 0, doc: 'poly: clamp z to [-clip, clip]' },
};

/** AttentionSoftmax with the chosen heads switched to `method` and its parameters set on their layers. */
export function attentionMethodRule(method: string, chosen: (layer: number, head: number) => boolean, params: Attrs): Rule {
  return rule(
    'ChosenHeadsToAttentionMethod',
    'AttentionSoftmax{methods} -> AttentionSoftmax{methods: `method` for the chosen heads, as before for the others; the method\u2019s parameters}',
    op('AttentionSoftmax'),
    (_c, ctx) => {
      const n = ctx.root;
      const layer = n.loc.layer;
      if (layer === undefined) return undefined;
      const heads = n.attrs['heads'] as readonly number[];
      const before = n.attrs['methods'] as readonly string[];
      const methods = heads.map((h, i) => (chosen(layer, h) ? method : before[i]!));
      if (methods.every((m, i) => m === before[i])) return undefined;
      return ctx.build('AttentionSoftmax', n.inputs, { ...n.attrs, ...params, methods }, n.loc);
    },
  );
}

export function applyAttentionMethod(graph: Graph, method: string, chosen: ReadonlySet<string>, params: Attrs): Graph {
  return rewriteGraph(graph, [attentionMethodRule(method, (l, h) => chosen.has(headKey(l, h)), params)]).graph;
}

/** The option values the method reads, as AttentionSoftmax attributes. */
export function methodParams(method: string, options: PassOptions): Attrs {
  return Object.fromEntries(attentionMethod(method).uses.map((k) => [k, options[k]!]));
}

function run(graph: Graph, given: PassOptions, ctx: PassContext): Graph {
  const options = checkOptions(ATTENTION_METHOD, ATTENTION_METHOD_OPTIONS, given);
  const method = options['method'] as string | undefined;
  if (method === undefined) throw new Ig3dcError('usage', `${ATTENTION_METHOD}: give method=NAME (one of ${ATTENTION_METHOD_NAMES.join(', ')})`);
  const choice = chooseHeads(ATTENTION_METHOD, graph, options, ctx);
  if (choice === undefined) return graph;
  const { chosen, names, total } = choice;
  ctx.note(ATTENTION_METHOD, `${method} on ${names.length} of ${total} heads: ${names.join(' ') || 'none'}`);
  return applyAttentionMethod(graph, method, chosen, methodParams(method, options));
}

export const ATTENTION_METHOD_PASS: Pass = {
  name: ATTENTION_METHOD,
  summary: 'the attention method of MPCViT (rsattn, scale), PolyTransformer (scaled-relu/-gelu/-relu2), MPCFormer (2quad) or IG-3D (poly) on heads with importance below tau (or the ratio least important)',
  options: ATTENTION_METHOD_OPTIONS,
  rules: [attentionMethodRule('exact', () => false, {})],
  run,
};
