// What raising left at the ONNX level although it belongs to a transformer-level op: the
// summary lists it and raise-bert notes it, so a model that is only partly recognized is
// never silently compiled op by op.

import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { CONST_OP } from '../../ir/node.ts';
import { formatType, isFloatType } from '../../ir/types.ts';
import { additiveMaskSource } from './mask.ts';

export interface UnraisedOp {
  readonly node: Node;
  /** The op, or "mask" for an additive attention mask construction. */
  readonly what: string;
  /** Why it matters: what it should have been part of. */
  readonly reason: string;
}

const REASONS: Readonly<Record<string, string>> = {
  Softmax: 'not an attention softmax (over the last axis of scaled q k^T scores, optionally plus an additive padding mask)',
  Erf: 'not part of a GELU 0.5 x (1 + erf(x / sqrt 2))',
  Tanh: 'not part of a tanh GELU or of a BERT pooler tanh(Linear(x[:, 0]))',
  ReduceMean: 'not part of a LayerNorm over the last axis',
  Pow: 'not part of a LayerNorm over the last axis or of a tanh GELU',
  Sqrt: 'not part of a LayerNorm over the last axis',
  Gemm: 'not a Linear (needs alpha = beta = 1, transA = 0, a rank-2 weight B and a rank-1 bias C)',
  LayerNormalization: 'not a LayerNorm (needs axis = last and [D] scale and bias)',
};

const isWeightOperand = (n: Node): boolean => n.op === CONST_OP && isFloatType(n.type.elem) && n.type.shape.length >= 2;

/** The ONNX-level ops in `graph` that raise-bert should have absorbed, in graph order. */
export function unraised(graph: Graph): UnraisedOp[] {
  const out: UnraisedOp[] = [];
  for (const n of graph.nodes()) {
    const reason = REASONS[n.op];
    if (reason !== undefined) out.push({ node: n, what: n.op, reason });
    else if (n.op === 'MatMul' && n.inputs.some(isWeightOperand)) {
      out.push({ node: n, what: n.op, reason: 'multiplies by a weight but is not a Linear (x [..., K] @ W [K, N], + b [N])' });
    } else if (additiveMaskSource(n) !== undefined) {
      out.push({ node: n, what: 'mask', reason: 'additive attention mask construction not consumed by a recognized attention softmax' });
    }
  }
  return out;
}

/** One line for the user: `Softmax at /bert/.../Softmax (f32[1,2,8,8], layer 3) was not raised: ...`. */
export function describeUnraised(u: UnraisedOp): string {
  const where = u.node.loc.name !== undefined ? ` at ${u.node.loc.name}` : '';
  const layer = u.node.loc.layer !== undefined ? `, layer ${u.node.loc.layer}` : '';
  return `${u.what}${where} (${formatType(u.node.type)}${layer}) was not raised: ${u.reason}`;
}
