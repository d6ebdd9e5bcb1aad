// Embedding: rows of a [V, D] table selected by integer ids; unlike Gather, negative ids
// are not wrapped (a token id is never negative) and every id out of [0, V) is an error.

import type { OpDef } from '../../op.ts';
import { evalError, typeError } from '../../op.ts';
import { Tensor } from '../../tensor.ts';
import { floatData, fmtShape } from '../broadcast.ts';
import { requireFloat } from '../check.ts';

export const Embedding: OpDef = {
  name: 'Embedding',
  summary: 'rows of a [V, D] table selected by i32/i64 ids in [0, V)',
  arity: [2, 2],
  attrs: {},
  infer([table, ids]) {
    requireFloat('Embedding', table!, 'table');
    if (table!.shape.length !== 2) typeError(`Embedding: table must be [V, D] (rank 2), got ${fmtShape(table!.shape)}`);
    if (ids!.elem !== 'i32' && ids!.elem !== 'i64') typeError(`Embedding: ids must be i32 or i64, got ${ids!.elem}`);
    return { elem: table!.elem, shape: [...ids!.shape, table!.shape[1]!] };
  },
  evaluate([table, ids], _attrs, out) {
    const [V, D] = table!.shape as [number, number];
    // an f32 table is read in place (set() widens exactly), not converted whole
    const T = floatData(table!);
    const I = ids!.data;
    const n = ids!.size;
    const Y = new Float64Array(n * D);
    for (let i = 0; i < n; i++) {
      const id = Number(I[i]!);
      if (!(id >= 0 && id < V)) evalError(`Embedding: id ${I[i]} (element ${i} of ids) is out of range [0, ${V})`);
      Y.set(T.subarray(id * D, id * D + D), i * D);
    }
    return new Tensor(out.elem, out.shape, Y);
  },
};
