// Embeddings and the pooler: Gather of table rows by token ids becomes Embedding; BERT's
// pooler (tanh of a Linear on the first token) becomes Pooler.

import type { Node } from '../../ir/node.ts';
import { constNode } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { any, constant, either, op } from '../pattern.ts';
import { type Rule, rule } from '../rewrite.ts';
import { cap, isIntValue, isWeight } from './predicates.ts';

/** x[:, 0, :] as exported: Gather(x [B,S,D], 0, axis = 1) with a scalar index 0. */
const firstToken = op('Gather', [any('x', (n) => n.type.shape.length === 3), constant(undefined, (t) => t.shape.length === 0 && t.at(0) === 0)], {
  attrs: { axis: 1 },
});
const unassigned = (n: Node): boolean => n.attrs['role'] === '' || n.attrs['role'] === 'pooler';

export const EMBEDDING_RULES: readonly Rule[] = [
  // Gather(table, ids) -> Embedding(table, ids)
  rule(
    'GatherIdsToEmbedding',
    'Gather{axis = 0}(table, ids) with a rank-2 weight table and run-time integer ids -> Embedding(table, ids)',
    op('Gather', [any('table', isWeight(2)), any('ids', isIntValue)], { attrs: { axis: 0 } }),
    (c, ctx) => ctx.build('Embedding', [cap(c, 'table'), cap(c, 'ids')]),
  ),
  // tanh(Linear(x[:, 0, :], W, b)) -> Pooler(x, W, b)
  rule(
    'FirstTokenTanhLinearToPooler',
    'Tanh(Linear(Gather(x, 0, axis = 1), W, b?)) -> Pooler(x, W, b or 0)',
    op('Tanh', [
      either(
        op('Linear', [firstToken, any('W'), any('b')], { where: unassigned }),
        op('Linear', [firstToken, any('W')], { where: unassigned }),
      ),
    ]),
    (c, ctx) => {
      const w = cap(c, 'W');
      return ctx.build('Pooler', [cap(c, 'x'), w, c['b'] ?? zeroBias(w)]);
    },
  ),
];

/** A public zero bias [N] for W [K, N]. */
function zeroBias(w: Node): Node {
  const shape = [w.type.shape[1]!];
  return constNode(Tensor.zeros(w.type.elem, shape), { elem: w.type.elem, shape, vis: 'public' });
}
