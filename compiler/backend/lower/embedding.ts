// Inputs the client encodes for the circuit: Embedding(table, ids) with client ids becomes
// a one-hot encoded client input times the table; AttentionMask(mask) becomes a keep-mask
// encoded client input (1 where mask != 0), so neither needs a comparison under MPC.

import type { Reg } from '../../../ir/circuit/types.ts';
import type { Node } from '../../../ir/node.ts';
import { numel } from '../../../ir/types.ts';
import { isPublic, secretValue, type LowerContext, type LValue } from './context.ts';
import { matmulPublic, reshapeTo } from './local.ts';
import type { LoweringTable } from './lowering.ts';
import { indexConst } from './movement.ts';

/**
 * Rows of a [V, D] table selected by client ids: one-hot [n, V] @ table. A server weight table
 * with `embedding=cross` is a cross product of the client's held one-hot and the server's held
 * table (protocols/embedding.ts); any other table, a Beaver matmul.
 */
export function oneHotLookup(ctx: LowerContext, node: Node, table: LValue, ids: Node): Reg {
  const [V, D] = tableShape(table);
  if (table.kind === 'server' && ctx.config.embedding === 'cross') {
    const onehot = ctx.clientInput(ids.name!, ids.type.shape, 'onehot', V, true);
    return reshapeTo(ctx, ctx.p.embeddingCross(onehot, ctx.heldServer(table.node, table.value)), node.type.shape);
  }
  const onehot = ctx.clientInput(ids.name!, ids.type.shape, 'onehot', V);
  const n = numel(ids.type.shape);
  const flat = reshapeTo(ctx, onehot, [n, V]);
  const rows = isPublic(table) ? matmulPublic(ctx, flat, table.value, 'right') : ctx.p.embeddingOneHot(flat, ctx.share(table));
  void D;
  return reshapeTo(ctx, rows, node.type.shape);
}

function tableShape(t: LValue): [number, number] {
  const s = t.kind === 'secret' ? t.reg.shape : t.kind === 'input' ? t.node.type.shape : t.value.shape;
  return [s[0]!, s[1]!];
}

export function lowerLookup(ctx: LowerContext, node: Node, table: LValue, ids: LValue, what: string): LValue {
  if (ids.kind === 'input') return secretValue(oneHotLookup(ctx, node, table, ids.node));
  if (isPublic(ids)) {
    const t = ctx.share(table);
    return secretValue(ctx.b.withProtocol('local', () => reshapeTo(ctx, ctx.b.gather(t, indexConst(ctx, ids.value, t.shape[0]!), 0), node.type.shape)));
  }
  throw ctx.error('unsupported', `${what} with ids computed inside the circuit has no MPC lowering (only a client graph input can be one-hot encoded by the client)`);
}

export const EMBEDDING_LOWERINGS: LoweringTable = {
  Embedding: { opKind: 'embedding', indexInputs: [1], lower: (ctx, node, [table, ids]) => lowerLookup(ctx, node, table!, ids!, 'Embedding') },
  AttentionMask: {
    lower: (ctx, node, [mask]) => {
      if (mask!.kind !== 'input') throw ctx.error('unsupported', 'AttentionMask of a mask computed inside the circuit has no MPC lowering (the client encodes a graph input as a keep mask)');
      const m = mask.node;
      const r = ctx.clientInput(m.name!, m.type.shape, 'keepmask');
      return secretValue(ctx.b.withProtocol('keepmask-input', () => reshapeTo(ctx, r, node.type.shape)));
    },
  },
};
