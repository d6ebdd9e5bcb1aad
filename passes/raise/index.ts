// raise-bert: recognize the transformer-level structure of an imported BERT (LayerNorm, GELU,
// Linear, embeddings, attention with an explicit head axis, pooler) and replace the ONNX-level
// subgraphs with the ops of ir/ops/transformer; then fold, set roles and layers, and note
// what could not be raised.

import type { Graph } from '../../ir/graph.ts';
import { canonicalize } from '../canonicalize.ts';
import { type PassContext, registerPass } from '../pass.ts';
import { type Rule, rewriteGraph } from '../rewrite.ts';
import { annotateBert } from './annotate.ts';
import { ATTENTION_RULES } from './attention.ts';
import { ATTENTION_METHOD_RULES } from './attention-methods.ts';
import { EMBEDDING_RULES } from './embedding.ts';
import { GELU_RULES } from './gelu.ts';
import { LAYER_NORM_RULES } from './layer-norm.ts';
import { LINEAR_RULES } from './linear.ts';
import { describeUnraised, unraised } from './unraised.ts';

export { annotateBert, encoderLayers, linearRoles } from './annotate.ts';
export { mapGraph, type NodeUpdate } from './map-graph.ts';
export { describeUnraised, unraised, type UnraisedOp } from './unraised.ts';
export { ATTENTION_METHOD_RULES, ATTENTION_RULES, EMBEDDING_RULES, GELU_RULES, LAYER_NORM_RULES, LINEAR_RULES };

export const RAISE_BERT_RULES: readonly Rule[] = [...LAYER_NORM_RULES, ...GELU_RULES, ...LINEAR_RULES, ...EMBEDDING_RULES, ...ATTENTION_RULES, ...ATTENTION_METHOD_RULES];

export const RAISE_BERT_PASS = 'raise-bert';

/** Raises `graph`; every op the rules could not absorb is reported through `ctx.note`. */
export function raiseBert(graph: Graph, ctx?: PassContext): Graph {
  const raised = rewriteGraph(graph, RAISE_BERT_RULES).graph;
  const folded = canonicalize.run(raised, {}, ctx ?? { resources: new Map(), note: () => {} });
  const annotated = annotateBert(folded);
  for (const u of unraised(annotated)) ctx?.note(RAISE_BERT_PASS, describeUnraised(u));
  return annotated;
}

registerPass({
  name: RAISE_BERT_PASS,
  summary: 'recognize BERT structure (LayerNorm, GELU, Linear, Embedding, attention with a head axis, Pooler) as transformer-level ops, with roles and layers',
  options: {},
  rules: RAISE_BERT_RULES,
  run: (graph, _options, ctx) => raiseBert(graph, ctx),
});
