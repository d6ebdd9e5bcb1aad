// spam-bert (4 layers, vocab 30522, seq 128) in secure inference against the plaintext
// evaluator, with bounds that catch a wrong protocol: on dev0 the logits are about +-3; CrypTen's
// protocols err by 6.0e-3 and the best preset by 1.0e-4, while GELU lowered as ReLU errs by
// 2.3e-2 (crypten) and 3.0e-2 (best). Slow (tens of seconds each): `npm run test:slow`.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { evaluate } from '../ir/evaluate.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { runCircuit } from '../runtime/index.ts';

const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const present = existsSync(join(FIX, 'spam-bert.onnx')) && existsSync(join(FIX, 'spam-bert.cases.json'));

describe.skipIf(!present)('spam-bert secure inference matches the plaintext model', () => {
  const bounds = { crypten: 1.2e-2, best: 2e-3 } as const;
  for (const protocols of ['crypten', 'best'] as const) {
    it(`dev0 with ${protocols} protocols: logits within ${bounds[protocols]}, same prediction`, () => {
      const c = readCasesFile(join(FIX, 'spam-bert.cases.json'))[0]!;
      const [batch, seq] = c.inputs.get('input_ids')!.shape as [number, number];
      const r = compileModel(loadModel(join(FIX, 'spam-bert.onnx'), { batch, seq }), { protocols });
      const run = runCircuit(r.circuit, { inputs: new Map(c.inputs), weights: r.weights, seed: new Uint8Array(16).fill(5) });
      const plain = evaluate(r.graph, c.inputs).get('logits')!.toFloat64();
      const mpc = run.outputs.get('logits')!.toFloat64();
      const err = Math.max(...Array.from(plain, (p, i) => Math.abs(p - mpc[i]!)));
      expect(err).toBeLessThan(bounds[protocols]);
      expect(Math.sign(mpc[1]! - mpc[0]!)).toBe(Math.sign(plain[1]! - plain[0]!));
      expect(run.cost.rounds).toBe(r.cost.rounds);
    });
  }
});
