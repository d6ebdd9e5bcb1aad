// Every IG-3D variant of spam-bert exports to ONNX and runs in onnxruntime-node with the
// evaluator's logits (within 1e-4; onnxruntime computes in float32).

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveOrt, ort, type OrtTensor } from './optional-ort.ts';
import { exportOnnx } from '../compiler/export/index.ts';
import type { Tensor } from '../ir/tensor.ts';
import { readImportanceFile } from '../passes/ig3d/index.ts';
import { FIXTURES, devInputs, haveFixtures, logitsOf, maxAbsDiff, raisedSpamBert, runText } from './ig3d-helpers.ts';

const VARIANTS: [string, string, string][] = [
  ['structural pruning (30% of heads by IG)', 'prune-heads{ratio=0.3}', 'importance.json'],
  ['+ PolySoftmax on the least important half of the layers', 'prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5,granularity=layer}', 'importance.json'],
  ['+ GELU mixing (thirds)', 'prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5,granularity=layer},gelu-mix', 'importance.json'],
  ['a layer with every head pruned', 'prune-heads{tau=0.0016,min-keep=0}', 'importance.json'],
  ['PolySoftmax everywhere, no max shift, clip 4, degree 4', 'softmax-to-poly{ratio=1,shift=false,clip=4,degree=4}', 'importance.json'],
  ['PolySoftmax per head, degree 3, clip 1.5', 'softmax-to-poly{tau=0.0019,degree=3,clip=1.5},gelu-mix{lambdas=[0,0.25,0.75,1]}', 'importance.json'],
  ['entropy ranking, 40% pruned', 'prune-heads{ratio=0.4},softmax-to-poly{ratio=0.5}', 'importance-entropy.json'],
];

function toOrt(t: Tensor): OrtTensor {
  return new ort.Tensor('int64', t.data as BigInt64Array, [...t.shape]);
}

describe.skipIf(!haveFixtures || !haveOrt)('IG-3D variants in onnxruntime', () => {
  const S = 16;
  const inputs = devInputs([0, 5], S);
  // the second row padded in its last 6 positions
  for (let j = S - 6; j < S; j++) {
    (inputs.get('attention_mask')!.data as BigInt64Array)[S + j] = 0n;
    (inputs.get('input_ids')!.data as BigInt64Array)[S + j] = 0n;
  }

  it.each(VARIANTS)('%s', async (_what, pipeline, importance) => {
    const { graph } = runText(raisedSpamBert(2, S), pipeline, readImportanceFile(join(FIXTURES, importance)));
    if (pipeline.includes('min-keep=0')) expect(graph.nodes().some((n) => n.op === 'Expand')).toBe(true);
    const session = await ort.InferenceSession.create(exportOnnx(graph));
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, t] of inputs) feeds[name] = toOrt(t);
    const out = await session.run(feeds);
    const got = Array.from(out['logits']!.data as Float32Array);
    const want = logitsOf(graph, inputs);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
    // the variant is a different model: it does not just reproduce the baseline
    expect(maxAbsDiff(want, logitsOf(raisedSpamBert(2, S), inputs))).toBeGreaterThan(1e-6);
  });
});
