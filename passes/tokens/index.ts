// Token pruning (CipherPrune) as a pass, and the segments a pruned model runs in.
// Importing this module registers prune-tokens.

import { registerPass } from '../pass.ts';
import { PRUNE_TOKENS_PASS } from './prune-tokens.ts';

export { PRUNE_TOKENS, PRUNE_TOKENS_PASS, policyOf, pruneTokens, type TokenPolicy } from './prune-tokens.ts';
export { tokenPath, type TokenLayer, type TokenPath } from './layers.ts';
export { SegmentCache, boundariesOf, bucketOf, cutGraph, nextShape, runSegments, segmentGraph, shapeTokens, takeTokens, tokenAxisOf, SEGMENT_VALUES, type Boundary, type Cut, type SegmentedRun, type SegmentShape } from './segments.ts';
export { checkThresholds, readThresholdsFile, writeThresholdsJson, TOKEN_THRESHOLDS_FORMAT, type TokenThresholds } from './thresholds.ts';

registerPass(PRUNE_TOKENS_PASS);
