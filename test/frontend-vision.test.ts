// The vision ops of the frontend: Conv as a patch embedding against a direct convolution,
// BatchNormalization (inference) against its formula, and the errors for every Conv that is
// not a patch embedding.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { importOnnx } from '../compiler/frontend/import.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { encodeModel, node, type ModelSpec } from './frontend-model-builder.ts';

/** Direct 2-D convolution, no padding, stride = kernel (the definition, loop by loop). */
function directConv(x: Tensor, w: Tensor, bias: readonly number[] | undefined, k: number, l: number): { shape: number[]; data: number[] } {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const O = w.shape[0]!;
  const [Hp, Wp] = [Math.floor(H / k), Math.floor(W / l)];
  const out: number[] = [];
  for (let b = 0; b < B; b++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < Hp; i++)
        for (let j = 0; j < Wp; j++) {
          let s = bias?.[o] ?? 0;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < l; v++) s += x.at(((b * C + c) * H + i * k + u) * W + j * l + v) * w.at(((o * C + c) * k + u) * l + v);
          out.push(s);
        }
  return { shape: [B, O, Hp, Wp], data: out };
}

function convModel(xShape: number[], wShape: number[], attrs: Record<string, number | number[] | string>, bias?: number[], weightValues?: number[]): ModelSpec {
  const O = wShape[0]!;
  const wv = weightValues ?? Array.from({ length: wShape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + 1));
  const inits = new Map<string, Tensor>([['w', Tensor.from('f32', wShape, wv)]]);
  if (bias !== undefined) inits.set('b', Tensor.from('f32', [O], bias));
  return {
    inputs: [{ name: 'x', elem: 'f32', dims: xShape }],
    outputs: [{ name: 'y', elem: 'f32' }],
    nodes: [node('Conv', bias !== undefined ? ['x', 'w', 'b'] : ['x', 'w'], ['y'], attrs, { name: '/patch/Conv' })],
    initializers: inits,
  };
}

function run(spec: ModelSpec, x: Tensor): Tensor {
  const { graph } = importOnnx(encodeModel(spec), { file: 'vit.onnx' });
  return evaluate(graph, new Map([['x', x]])).get('y')!;
}

function importError(spec: ModelSpec): Ig3dcError {
  try {
    importOnnx(encodeModel(spec), { file: 'vit.onnx' });
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw e;
  }
  throw new Error('expected an import error');
}

describe('Conv as a patch embedding', () => {
  it('equals a direct convolution on random shapes, with and without bias, with a remainder dropped', () => {
    fc.assert(
      fc.property(
        fc.record({ B: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), O: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 1, max: 3 }), l: fc.integer({ min: 1, max: 3 }), hp: fc.integer({ min: 1, max: 3 }), wp: fc.integer({ min: 1, max: 3 }), extraH: fc.integer({ min: 0, max: 1 }), withBias: fc.boolean() }),
        ({ B, C, O, k, l, hp, wp, extraH, withBias }) => {
          const H = hp * k + (k > 1 ? extraH : 0);
          const W = wp * l;
          const x = Tensor.from('f32', [B, C, H, W], Array.from({ length: B * C * H * W }, (_, i) => Math.cos(i * 0.7)));
          const bias = withBias ? Array.from({ length: O }, (_, i) => i - 0.5) : undefined;
          const spec = convModel([B, C, H, W], [O, C, k, l], { kernel_shape: [k, l], strides: [k, l] }, bias);
          const got = run(spec, x);
          const want = directConv(x, Tensor.from('f32', [O, C, k, l], Array.from({ length: O * C * k * l }, (_, i) => Math.sin(i + 1))), bias, k, l);
          expect([...got.shape]).toEqual(want.shape);
          for (let i = 0; i < got.size; i++) expect(Math.abs(got.at(i) - want.data[i]!)).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('takes the kernel from the weight when kernel_shape is absent, and accepts auto_pad VALID', () => {
    const x = Tensor.from('f32', [1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i));
    const got = run(convModel([1, 1, 4, 4], [1, 1, 2, 2], { strides: [2, 2], auto_pad: 'VALID' }, undefined, [1, 1, 1, 1]), x);
    expect(got.toNumbers()).toEqual([0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
  });

  const cases: [string, number[], Record<string, number | number[] | string>, RegExp][] = [
    ['stride smaller than the kernel', [1, 1, 3, 3], { kernel_shape: [3, 3], strides: [1, 1] }, /strides \[1,1\] and kernel \[3,3\]/],
    ['padding', [1, 1, 2, 2], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1] }, /pads \[1,1,1,1\]/],
    ['SAME_UPPER', [1, 1, 2, 2], { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' }, /auto_pad SAME_UPPER/],
    ['dilation', [1, 1, 2, 2], { kernel_shape: [2, 2], strides: [2, 2], dilations: [2, 2] }, /dilations \[2,2\]/],
    ['groups', [2, 1, 2, 2], { kernel_shape: [2, 2], strides: [2, 2], group: 2 }, /group = 2/],
  ];
  it.each(cases)('a Conv with %s is refused, naming the node and what is supported', (_what, wShape, attrs, why) => {
    const C = attrs['group'] === 2 ? 2 : 1;
    const e = importError(convModel([1, C, 8, 8], wShape, attrs));
    expect(e.kind).toBe('unsupported');
    expect(e.message).toMatch(/vit\.onnx/);
    expect(e.message).toMatch(/\/patch\/Conv/);
    expect(e.message).toMatch(why);
    expect(e.message).toMatch(/only patch-embedding Conv is supported: 2-D, one group, kernel_shape = strides, no padding/);
  });

  it('a 1-D Conv is refused as not 2-D', () => {
    const spec: ModelSpec = {
      inputs: [{ name: 'x', elem: 'f32', dims: [1, 1, 8] }],
      outputs: [{ name: 'y', elem: 'f32' }],
      nodes: [node('Conv', ['x', 'w'], ['y'], { kernel_shape: [2], strides: [2] }, { name: 'conv1d' })],
      initializers: new Map([['w', Tensor.from('f32', [1, 1, 2], [1, 1])]]),
    };
    expect(importError(spec).message).toMatch(/conv1d.*1-D convolution.*only patch-embedding Conv/);
  });
});

describe('BatchNormalization (inference)', () => {
  it('is (x - mean) / sqrt(var + eps) * scale + bias per channel', () => {
    const [B, C, S] = [2, 3, 4];
    const scale = [1.5, -0.5, 2];
    const bias = [0.1, 0.2, -0.3];
    const mean = [0.5, -1, 2];
    const variance = [1, 4, 0.25];
    const eps = 1e-3;
    const spec: ModelSpec = {
      inputs: [{ name: 'x', elem: 'f32', dims: [B, C, S] }],
      outputs: [{ name: 'y', elem: 'f32' }],
      nodes: [node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], { epsilon: eps }, { floatAttrs: ['epsilon'] })],
      initializers: new Map([
        ['s', Tensor.from('f32', [C], scale)],
        ['b', Tensor.from('f32', [C], bias)],
        ['m', Tensor.from('f32', [C], mean)],
        ['v', Tensor.from('f32', [C], variance)],
      ]),
    };
    const x = Tensor.from('f32', [B, C, S], Array.from({ length: B * C * S }, (_, i) => Math.sin(i) * 3));
    const got = run(spec, x);
    for (let i = 0; i < x.size; i++) {
      const c = Math.floor(i / S) % C;
      const want = ((x.at(i) - mean[c]!) / Math.sqrt(variance[c]! + Math.fround(eps))) * scale[c]! + bias[c]!;
      expect(Math.abs(got.at(i) - want)).toBeLessThan(1e-5);
    }
  });

  it('in training mode is refused', () => {
    const spec: ModelSpec = {
      inputs: [{ name: 'x', elem: 'f32', dims: [1, 2] }],
      outputs: [{ name: 'y', elem: 'f32' }],
      nodes: [node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], { training_mode: 1 }, { name: 'bn' })],
      initializers: new Map(['s', 'b', 'm', 'v'].map((k) => [k, Tensor.from('f32', [2], [1, 1])])),
    };
    expect(importError(spec).message).toMatch(/bn.*training mode/);
  });
});
