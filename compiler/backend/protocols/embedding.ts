// Embedding lookup with a secret token id: the client encodes its ids one-hot (local, shared
// for free by the `onehot` input encoding), and the one-hot rows times the table is a Beaver
// matmul. The table is a server weight, so its mask (T - B) opens once, in preprocessing;
// online only the one-hot's mask is opened: 16 |onehot| bytes.

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { matmul, matmulPublic } from './arith.ts';
import type { ProtocolConfig } from './config.ts';

/** onehot [..., V] @ table [V, D]; a public table multiplies locally. */
export function embeddingOneHot(b: CircuitBuilder, onehot: Reg, table: Reg, _cfg?: ProtocolConfig): Reg {
  return b.withProtocol('embedding-onehot', () => (table.kind === 'pub' ? matmulPublic(b, onehot, table) : matmul(b, onehot, table)));
}
