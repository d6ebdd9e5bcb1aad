// Embedding lookup with a secret token id: the client encodes its ids one-hot, and the one-hot
// rows times the table is the lookup.
//
// `beaver` (CrypTen's): the one-hot is shared for free by the `onehot` input encoding and
// multiplied by the shared table with a Beaver matmul. The table is a server weight, so its
// mask (T - B) opens once, in preprocessing; online only the one-hot's mask is opened: 16
// |onehot| bytes.
//
// `cross`: where the one-hot is a client input and the table a server weight, neither is
// shared: a cross product (ir/circuit/gates/cross.ts) sends T - B to the client in
// preprocessing and X - A to the server online (8 |onehot| bytes, one way); the server and the
// dealer each compute one dense product, the client adds up rows. The one-hot is an exact 0/1
// indicator at scale 0, so the rows come out at the table's scale, bit-exact, with no truncation.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { matmul, matmulPublic, rescale } from './arith.ts';
import type { ProtocolConfig } from './config.ts';

/** onehot [..., V] @ table [V, D]; a public table multiplies locally. */
export function embeddingOneHot(b: CircuitBuilder, onehot: Reg, table: Reg, _cfg?: ProtocolConfig): Reg {
  return b.withProtocol('embedding-onehot', () => (table.kind === 'pub' ? matmulPublic(b, onehot, table) : matmul(b, onehot, table)));
}

/** onehot [..., V] (held by the client, own1) @ table [V, D] (held by the server, own0): shares of the rows [..., D]. */
export function embeddingCross(b: CircuitBuilder, onehot: Reg, table: Reg): Reg {
  return b.withProtocol('embedding-cross', () => {
    const lead = onehot.shape.slice(0, -1);
    const [a, mask] = b.dealer.crossMask(lead, onehot.shape[onehot.shape.length - 1]!, table.shape[1]!, [onehot.scale, table.scale]);
    const f = b.send(table, mask);
    const e = b.send(onehot, a);
    return rescale(b, b.crossCombine(onehot, f, e, mask, b.dealer.crossTriple(a, mask)));
  });
}
