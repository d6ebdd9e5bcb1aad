// Secure inference on the three ViT fixtures, every reference case: the two-party runtime's
// logits within 4e-3 of the plaintext evaluator on the same raised graph (logits of 4-5, so
// 1e-3 of their size), the same argmax, and the measured rounds and bytes equal to the static
// report. The bound is the fixed-point noise's with room: over seeds 1-8, with linear layers as
// cross products or Beaver matmuls, the largest error was 2.7e-3 (vit-digits-p2, b7_dev3; 2e-3
// failed for either method at some seeds), and GELU lowered as ReLU gives 0.27 to 1.6. (`best` protocols: CrypTen's
// are not accurate on these models; e.g. its inverse square root covers about [0.1, 100] and
// the first LayerNorm sees variances near 0.01.)

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { runCircuit } from '../runtime/index.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveFixtures = existsSync(join(FIXTURES, 'vit-digits-p2.onnx'));
const MODELS = ['vit-digits-p2', 'vit-digits-p2-hetero', 'vit-digits-p2-scaled-relu'];

function argmaxes(d: Float64Array, K: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < d.length; o += K) {
    let best = 0;
    for (let j = 1; j < K; j++) if (d[o + j]! > d[o + best]!) best = j;
    out.push(best);
  }
  return out;
}

describe.skipIf(!haveFixtures).each(MODELS)('%s in secure inference', (model) => {
  const cases = haveFixtures ? readCasesFile(join(FIXTURES, `${model}.cases.json`)) : [];
  it.each(cases.map((c) => [c.name, c] as const))('case %s: within 4e-3 of plaintext, same predictions, measured == static', (_name, c) => {
    const pixels = c.inputs.get('pixel_values')!;
    const compiled = compileModel(loadOnnxFile(join(FIXTURES, `${model}.onnx`), { batch: pixels.shape[0]! }).graph, { protocols: 'best' });
    const run = runCircuit(compiled.circuit, { inputs: c.inputs, weights: compiled.weights, seed: new Uint8Array(16).fill(5), transcript: false });
    expect(run.cost.rounds).toBe(compiled.cost.rounds);
    expect(run.cost.bytesTotal).toBe(compiled.cost.bytesTotal);
    expect(run.cost.dealerBytes).toBe(compiled.cost.dealerBytes);
    expect(run.cost.preprocessingRounds).toBe(compiled.cost.preprocessingRounds);
    const secure = run.outputs.get('logits')!.toFloat64();
    const plain = evaluate(compiled.graph, c.inputs).get('logits')!.toFloat64();
    let err = 0;
    for (let i = 0; i < plain.length; i++) err = Math.max(err, Math.abs(secure[i]! - plain[i]!));
    expect(err).toBeLessThan(4e-3);
    expect(argmaxes(secure, 10)).toEqual(argmaxes(plain, 10));
  }, 120_000);
});
