// The token-pruning ops (CipherPrune): importance, threshold, reduction mask, oblivious
// compaction, per-token degree selection.

import type { OpDef } from '../../op.ts';
import { CompactTokens } from './compact-tokens.ts';
import { TokenImportance } from './token-importance.ts';
import { TokenKeep } from './token-keep.ts';
import { TokenReduce } from './token-reduce.ts';
import { TokenSelect } from './token-select.ts';

export const TOKEN_OPS: readonly OpDef[] = [TokenImportance, TokenKeep, TokenReduce, CompactTokens, TokenSelect];
