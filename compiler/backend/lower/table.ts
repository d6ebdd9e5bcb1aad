// The lowering table: IR op name -> lowering, one file per op family (as the frontend's
// import table and the export table are organized).

import type { OpKind } from '../../../ir/circuit/types.ts';
import type { Node } from '../../../ir/node.ts';
import { ACTIVATION_LOWERINGS } from './activation.ts';
import { ATTENTION_LOWERINGS } from './attention.ts';
import { ELEMENTWISE_LOWERINGS } from './elementwise.ts';
import { EMBEDDING_LOWERINGS } from './embedding.ts';
import { LAYER_NORM_LOWERINGS } from './layer-norm.ts';
import { LINEAR_LOWERINGS } from './linear.ts';
import type { LoweringTable, OpLowering } from './lowering.ts';
import { MOVEMENT_LOWERINGS } from './movement.ts';
import { SOFTMAX_LOWERINGS } from './softmax.ts';
import { TOKEN_LOWERINGS } from './tokens.ts';

const TABLE: Record<string, OpLowering> = {
  ...ELEMENTWISE_LOWERINGS,
  ...MOVEMENT_LOWERINGS,
  ...LINEAR_LOWERINGS,
  ...EMBEDDING_LOWERINGS,
  ...ATTENTION_LOWERINGS,
  ...SOFTMAX_LOWERINGS,
  ...LAYER_NORM_LOWERINGS,
  ...ACTIVATION_LOWERINGS,
  ...TOKEN_LOWERINGS,
};

export const LOWERINGS: LoweringTable = TABLE;

export function findLowering(op: string): OpLowering | undefined {
  return Object.hasOwn(TABLE, op) ? TABLE[op] : undefined;
}

/** Registers the lowering of a user-defined op (e.g. one a custom pass introduces). */
export function registerLowering(op: string, lowering: OpLowering): void {
  if (Object.hasOwn(TABLE, op)) throw new Error(`op '${op}' already has a lowering`);
  TABLE[op] = lowering;
}

/** The ops that have a lowering, sorted. */
export function loweredOps(): string[] {
  return Object.keys(TABLE).sort();
}

/** The op kind a node's instructions are reported under. */
export function opKindOf(node: Node): OpKind {
  const k = findLowering(node.op)?.opKind;
  if (k === undefined) return 'other';
  return typeof k === 'function' ? k(node) : k;
}

/** Input positions of a node that hold indices rather than data. */
export function indexInputsOf(node: Node): readonly number[] {
  return findLowering(node.op)?.indexInputs ?? [];
}
