// Lowering of every attention method: the two-party runtime against the plaintext evaluator
// on random scores, with every key kept, with a public keep mask and with a secret one (the
// client's attention_mask); measured cost == static cost; masked keys come out exactly 0;
// the ones whose mask is public cost no more than their activation (scale: nothing at all).

import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { loweredAttentionMethods } from '../compiler/backend/lower/attention-methods.ts';
import { build } from '../ir/build.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode, type Node } from '../ir/node.ts';
import { ATTENTION_METHOD_NAMES } from '../ir/ops/transformer/attention-methods.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit } from '../runtime/index.ts';
import { Uniform } from './raise-helpers.ts';

const [B, H, S] = [2, 2, 6];
const SEED = new Uint8Array(16).fill(3);
const rng = new Uniform(4242);
const scores = Tensor.from('f32', [B, H, S, S], rng.floats(B * H * S * S, 3));
const MASK = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0];

type MaskKind = 'none' | 'public' | 'secret';

function graphFor(method: string, mask: MaskKind): { g: Graph; inputs: Map<string, Tensor> } {
  const s = inputNode('scores', { elem: 'f32', shape: [B, H, S, S], vis: 'client' }, { name: 'scores' });
  const inputs = new Map([['scores', scores]]);
  const graphInputs: Node[] = [s];
  let keep: Node;
  if (mask === 'secret') {
    const m = inputNode('attention_mask', { elem: 'i64', shape: [B, S], vis: 'client' }, { name: 'attention_mask' });
    graphInputs.push(m);
    inputs.set('attention_mask', Tensor.from('i64', [B, S], MASK.map(BigInt)));
    keep = build('AttentionMask', [m], {});
  } else {
    const values = mask === 'public' ? MASK : MASK.map(() => 1);
    keep = constNode(Tensor.from('f32', [B, 1, 1, S], values), { elem: 'f32', shape: [B, 1, 1, S], vis: 'public' });
  }
  const y = build('AttentionSoftmax', [s, keep], { heads: [0, 1], methods: [method, method], eps: method === 'rsattn' ? 1e-6 : 0 }, { name: '/attention', layer: 0 });
  return { g: new Graph('attention', graphInputs, [{ name: 'y', node: y }]), inputs };
}

describe('lowering of the attention methods', () => {
  it('every method of the IR has a lowering', () => {
    expect(loweredAttentionMethods().sort()).toEqual([...ATTENTION_METHOD_NAMES].sort());
  });

  const cases = ATTENTION_METHOD_NAMES.flatMap((m) => (['none', 'public', 'secret'] as const).map((k) => [m, k] as const));
  it.each(cases)('%s with mask %s: within fixed-point error of the evaluator, masked keys exactly 0, measured == static', (method, mask) => {
    const { g, inputs } = graphFor(method, mask);
    const c = compileModel(g, { raise: false, protocols: 'best' });
    const run = runCircuit(c.circuit, { inputs, weights: c.weights, seed: SEED });
    expect(run.cost.rounds).toBe(c.cost.rounds);
    expect(run.cost.bytesTotal).toBe(c.cost.bytesTotal);
    expect(run.cost.dealerBytes).toBe(c.cost.dealerBytes);
    const got = run.outputs.get('y')!;
    const want = evaluate(g, inputs).get('y')!;
    let err = 0;
    for (let i = 0; i < want.size; i++) {
      err = Math.max(err, Math.abs(got.at(i) - want.at(i)) / Math.max(1, Math.abs(want.at(i))));
      const b = Math.floor(i / (H * S * S));
      if (mask !== 'none' && MASK[b * S + (i % S)] === 0) expect(Math.abs(got.at(i)), `masked element ${i}`).toBeLessThan(2 ** -14);
    }
    expect(err, method).toBeLessThan(method === 'exact' ? 1e-2 : 3e-3);
  });

  it('scale with a public mask is local; the ReLU-based methods pay one ReLU; rsattn also one reciprocal', () => {
    const compiled = (m: string): ReturnType<typeof compileModel> => compileModel(graphFor(m, 'public').g, { raise: false, protocols: 'best' });
    // the only round of scale is the one that reveals the output, as for a public rescaling
    const s = inputNode('scores', { elem: 'f32', shape: [B, H, S, S], vis: 'client' }, { name: 'scores' });
    const half = constNode(Tensor.scalar('f32', 0.5), { elem: 'f32', shape: [], vis: 'public' });
    const local = compileModel(new Graph('local', [s], [{ name: 'y', node: build('Mul', [s, half]) }]), { raise: false, protocols: 'best' });
    expect(compiled('scale').cost.rounds).toBe(local.cost.rounds);
    const relu = compiled('scaled-relu').cost.rounds;
    expect(relu).toBeGreaterThan(0);
    expect(compiled('scaled-relu2').cost.rounds).toBe(relu + 1);
    expect(compiled('rsattn').cost.rounds).toBeGreaterThan(relu);
    expect(compiled('rsattn').cost.rounds).toBeLessThan(compiled('exact').cost.rounds);
  });
});
