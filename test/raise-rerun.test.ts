// raise-bert is idempotent on an IG-3D-optimized model: run again after a layer lost every head
// (its attention block is gone), the later layers keep their numbers and the per-layer passes
// (gelu-mix) still find every layer.

import { describe, expect, it } from 'vitest';
import type { Graph } from '../ir/graph.ts';
import { parseImportanceText } from '../passes/ig3d/index.ts';
import { haveFixtures, raisedSpamBert, runText } from './ig3d-helpers.ts';

const LAYER_OPS = new Set(['Linear', 'LayerNorm', 'AttentionScores', 'AttentionSoftmax', 'AttentionContext', 'Gelu', 'Add']);

/**
 * The transformer ops with their layers, as a sorted list (a re-raise may order the nodes
 * differently, and fold the pruned layer's broadcast of its output bias).
 */
function layersOf(g: Graph): string[] {
  return g
    .nodes()
    .filter((n) => LAYER_OPS.has(n.op))
    .map((n) => `${n.op}@${n.loc.layer ?? '-'}`)
    .sort();
}

describe.skipIf(!haveFixtures)('raise-bert after pruning every head of a layer', () => {
  const pins = parseImportanceText('model spam-bert layers 4 heads 4\nprune L1H0 L1H1 L1H2 L1H3\n');

  it('keeps every later layer number, so gelu-mix finds all four layers', () => {
    const pruned = runText(raisedSpamBert(1, 16), 'prune-heads{min-keep=0}', pins).graph;
    expect(pruned.nodes().filter((n) => n.op === 'AttentionSoftmax')).toHaveLength(3);
    const again = runText(pruned, 'raise-bert').graph;
    expect(layersOf(again)).toEqual(layersOf(pruned));
    const layers = new Set(again.nodes().flatMap((n) => (n.loc.layer === undefined ? [] : [n.loc.layer])));
    expect([...layers].sort()).toEqual([0, 1, 2, 3]);
    const mixed = runText(again, 'gelu-mix{lambdas=[0,0.5,1,0.25]}').graph;
    const activation = (op: string): unknown[] => mixed.nodes().filter((n) => n.op === op).map((n) => [n.loc.layer, n.attrs['lambda']]);
    expect(activation('GeluMix')).toEqual([
      [1, 0.5],
      [3, 0.25],
    ]);
    expect(activation('Relu')).toEqual([[0, undefined]]);
    expect(activation('Gelu')).toEqual([[2, undefined]]);
  });
});
