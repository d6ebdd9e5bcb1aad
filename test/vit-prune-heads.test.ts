// Head pruning on a ViT. IG-3D ranks heads globally across layers (Keep(l,h) = S(l,h) >= tau,
// at least min-keep of all heads), so a layer whose heads all rank below the cut loses all of
// them: that is the definition, not a bug. What must hold then: the layer's attention block
// reduces to its output bias, exactly what silencing all its heads computes, and the pass says
// so. An importance file computed for another model of the same shape (spam-bert's 4 x 4
// scores fit vit-digits-p2) is named in a note, since its ranking is not this model's.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { readTensorBundle } from '../ir/tensor-json.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { parseImportanceJson, readImportanceFile } from '../passes/ig3d/index.ts';
import { FIXTURES, maxAbsDiff, runText, zeroValueHeads } from './ig3d-helpers.ts';

const VIT = join(FIXTURES, 'vit-digits-p2.onnx');
const have = existsSync(VIT) && existsSync(join(FIXTURES, 'importance.json'));

describe.skipIf(!have)('prune-heads on vit-digits-p2', () => {
  const raised = have ? runPipeline(loadOnnxFile(VIT, { batch: 3 }).graph, parsePipeline('raise-bert,canonicalize')).graph : undefined;
  const dev = have ? readTensorBundle(join(FIXTURES, 'vit-digits-p2.dev.json')).tensors.get('pixel_values')! : undefined;
  const images = have ? new Map([['pixel_values', new Tensor('f32', [3, 1, 8, 8], Float32Array.from(dev!.toFloat64().subarray(0, 3 * 64)))]]) : undefined;
  const logits = (g: typeof raised): number[] => Array.from(evaluate(g!, images!).get('logits')!.toFloat64());
  // layer 2 ranks lowest (a ViT-like ranking: the first layer matters most)
  const imp = parseImportanceJson(
    JSON.stringify({ model: 'vit-digits-p2.onnx', scores: [[0.42, 0.28, 0.33, 0.31], [0.043, 0.076, 0.076, 0.034], [0.028, 0.031, 0.03, 0.022], [0.043, 0.042, 0.064, 0.035]], higher_is_more_important: true, layers: 4, heads: 4 }),
    'vit-ig.json',
  );

  it('a global cut below all of a layer prunes that layer, and the result equals silencing its heads', () => {
    const { graph, notes } = runText(raised!, 'prune-heads{ratio=0.25}', imp);
    expect(notes).toContain('prune-heads: pruning 4 of 16 heads: L2H0 L2H1 L2H2 L2H3');
    expect(notes.some((n) => /layer 2 loses all its heads .* reduces to the output projection's bias/.test(n))).toBe(true);
    const silenced = zeroValueHeads(raised!, [[2, 0], [2, 1], [2, 2], [2, 3]], 32);
    expect(maxAbsDiff(logits(graph), logits(silenced))).toBeLessThan(1e-9);
    // and it is not the unpruned model
    expect(maxAbsDiff(logits(graph), logits(raised))).toBeGreaterThan(1e-3);
    // min-keep is global too: pruning all but ceil(0.3 * 16) = 5 heads keeps the five most important
    const most = runText(raised!, 'prune-heads{ratio=0.9,min-keep=0.3}', imp).notes[0]!;
    expect(most).toBe('prune-heads: pruning 11 of 16 heads: L1H0 L1H2 L1H3 L2H0 L2H1 L2H2 L2H3 L3H0 L3H1 L3H2 L3H3');
  });

  it("another model's importance file is named in a note", () => {
    const spam = readImportanceFile(join(FIXTURES, 'importance.json'));
    const { notes } = runText(raised!, 'prune-heads{ratio=0.4}', spam);
    expect(notes.some((n) => /computed for 'spam-bert\.onnx', but this model is 'vit-digits-p2'/.test(n))).toBe(true);
    expect(runText(raised!, 'prune-heads{ratio=0.25}', imp).notes.some((n) => /computed for/.test(n))).toBe(false);
  });
});
