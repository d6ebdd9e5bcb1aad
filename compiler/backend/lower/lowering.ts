// What one IR op's lowering is: a function from the lowered inputs to the lowered result,
// the op kind its instructions are reported under, and which inputs are indices (integers
// that select, never encoded as fixed point and not range-checked).

import type { OpKind } from '../../../ir/circuit/types.ts';
import type { Node } from '../../../ir/node.ts';
import type { LowerContext, LValue } from './context.ts';

export interface OpLowering {
  /** Default 'other'. */
  readonly opKind?: OpKind | ((node: Node) => OpKind);
  /** Input positions holding indices. */
  readonly indexInputs?: readonly number[];
  /**
   * The lowered result. Called only when some input is not public (public inputs only are
   * folded by the evaluator; public-and-server only, too, as the server can compute it).
   */
  lower(ctx: LowerContext, node: Node, inputs: readonly LValue[]): LValue;
}

export type LoweringTable = Readonly<Record<string, OpLowering>>;
