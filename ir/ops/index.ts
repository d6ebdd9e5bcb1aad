// Registers the built-in ops. One import per op file; the table is `allOps()`.

import { registerOp, type OpDef } from '../op.ts';
import { Relu } from './relu.ts';

export const BUILTIN_OPS: readonly OpDef[] = [Relu];

for (const def of BUILTIN_OPS) registerOp(def);
