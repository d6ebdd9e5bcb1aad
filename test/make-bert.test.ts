// The BERT ONNX generator: runs in onnxruntime-node, has the node structure of the real
// torch.onnx.export fixtures, encodes canonically, and draws the documented weight statistics.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveOrt, ort } from './optional-ort.ts';
import pkg from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import {
  BERT_PRESETS,
  Rng,
  bertParameterCount,
  makeBertOnnx,
  parseMakeBertArgs,
  writeBertOnnx,
  type BertOnnxConfig,
} from '../bench/make-bert.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';

const { onnx } = pkg;

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveFixtures = existsSync(join(FIXTURES, 'bert-tiny.onnx')) && existsSync(join(FIXTURES, 'bert-mini.onnx'));

const TINY = BERT_PRESETS.tiny;
const MINI = BERT_PRESETS.mini;

function decode(bytes: Uint8Array): OnnxTypes.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

function nodesOf(m: OnnxTypes.ModelProto): OnnxTypes.INodeProto[] {
  return m.graph?.node ?? [];
}

function initsOf(m: OnnxTypes.ModelProto): OnnxTypes.ITensorProto[] {
  return m.graph?.initializer ?? [];
}

function dimsOf(t: OnnxTypes.ITensorProto): number[] {
  return (t.dims ?? []).map(Number);
}

function histogram(m: OnnxTypes.ModelProto): Record<string, number> {
  const h: Record<string, number> = {};
  for (const n of nodesOf(m)) h[n.opType!] = (h[n.opType!] ?? 0) + 1;
  return h;
}

/** A node as plain data: op, name, inputs, outputs, attributes (Constant tensors as hex). */
function nodeKey(n: OnnxTypes.INodeProto): string {
  const o = onnx.NodeProto.toObject(onnx.NodeProto.create(n), { longs: String, bytes: String, defaults: false });
  return JSON.stringify(o);
}

function float32(t: OnnxTypes.ITensorProto): Float32Array {
  const raw = t.rawData!;
  return new Float32Array(raw.slice().buffer);
}

function initializer(m: OnnxTypes.ModelProto, name: string): OnnxTypes.ITensorProto {
  const t = initsOf(m).find((x) => x.name === name);
  expect(t, name).toBeDefined();
  return t!;
}

function meanStd(a: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of a) s += v;
  const mean = s / a.length;
  let q = 0;
  for (const v of a) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / a.length) };
}

async function runLogits(bytes: Uint8Array, batch: number, seq: number, vocab: number): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const session = await ort.InferenceSession.create(bytes);
  const n = batch * seq;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i % seq === 0 ? 2 : 4 + ((i * 7919) % (vocab - 4))));
  // The last row has padding at its end, so the mask path matters.
  const mask = BigInt64Array.from({ length: n }, (_, i) => (Math.floor(i / seq) === batch - 1 && i % seq >= seq - 2 && seq > 2 ? 0n : 1n));
  const types = BigInt64Array.from({ length: n }, (_, i) => (i % seq >= seq / 2 ? 1n : 0n));
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
    token_type_ids: new ort.Tensor('int64', types, [batch, seq]),
  });
  const logits = out['logits']!;
  return { dims: logits.dims, data: logits.data as Float32Array };
}

describe.skipIf(!haveOrt)('makeBertOnnx in onnxruntime-node', () => {
  const cases: [string, BertOnnxConfig][] = [
    ['tiny', { ...TINY, seed: 3 }],
    ['mini', { ...MINI, seed: 4 }],
    ['tanh GELU', { ...TINY, seed: 3, geluForm: 'tanh' }],
    ['LayerNormalization-17', { ...TINY, seed: 3, opset: 17, layerNorm: 'op' }],
    ['Where mask', { ...TINY, seed: 3, maskForm: 'where' }],
  ];
  it.each(cases)('%s: finite logits of shape [B, 2] at two batch/sequence sizes', async (_name, config) => {
    const bytes = makeBertOnnx(config);
    for (const [b, s] of [
      [1, 8],
      [3, 37],
    ] as const) {
      const { dims, data } = await runLogits(bytes, b, s, config.vocab);
      expect(dims).toEqual([b, 2]);
      expect(data.every(Number.isFinite)).toBe(true);
      // Random weights give small but not all-zero logits.
      expect(data.some((v) => v !== 0)).toBe(true);
    }
  });

  it('variants compute the same function as the default form (same seed, same weights)', async () => {
    const ref = await runLogits(makeBertOnnx({ ...TINY, seed: 5 }), 2, 16, TINY.vocab);
    const exact = await runLogits(makeBertOnnx({ ...TINY, seed: 5, opset: 17, layerNorm: 'op', maskForm: 'where' }), 2, 16, TINY.vocab);
    const tanh = await runLogits(makeBertOnnx({ ...TINY, seed: 5, geluForm: 'tanh' }), 2, 16, TINY.vocab);
    for (let i = 0; i < ref.data.length; i++) {
      expect(Math.abs(exact.data[i]! - ref.data[i]!)).toBeLessThan(1e-5);
      // tanh GELU differs from erf GELU by < 1e-3 per activation.
      expect(Math.abs(tanh.data[i]! - ref.data[i]!)).toBeLessThan(1e-3);
    }
    const other = await runLogits(makeBertOnnx({ ...TINY, seed: 6 }), 2, 16, TINY.vocab);
    expect(Array.from(other.data)).not.toEqual(Array.from(ref.data));
  });

  it('the mask hides padded tokens: changing a padded token id leaves the logits unchanged', async () => {
    const session = await ort.InferenceSession.create(makeBertOnnx({ ...TINY, seed: 9 }));
    const run = async (last: bigint): Promise<Float32Array> => {
      const ids = BigInt64Array.from([2n, 10n, 11n, 3n, last]);
      const out = await session.run({
        input_ids: new ort.Tensor('int64', ids, [1, 5]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n, 0n]), [1, 5]),
        token_type_ids: new ort.Tensor('int64', new BigInt64Array(5), [1, 5]),
      });
      return out['logits']!.data as Float32Array;
    };
    expect(Array.from(await run(700n))).toEqual(Array.from(await run(1500n)));
  });
});

describe.skipIf(!haveFixtures)('structure matches the torch.onnx.export fixtures', () => {
  const fixture = (name: string): OnnxTypes.ModelProto => decode(readFileSync(join(FIXTURES, name)));

  it('bert-tiny shape: same op histogram except the fixture-only Identity nodes', () => {
    const want = histogram(fixture('bert-tiny.onnx'));
    const got = histogram(decode(makeBertOnnx(TINY)));
    expect(want['Identity']).toBeGreaterThan(0);
    delete want['Identity'];
    expect(got).toEqual(want);
  });

  it('bert-mini shape: same op histogram', () => {
    expect(histogram(decode(makeBertOnnx(MINI)))).toEqual(histogram(fixture('bert-mini.onnx')));
  });

  it('bert-mini shape: node for node identical (ops, names, inputs, outputs, attributes, constants)', () => {
    const want = nodesOf(fixture('bert-mini.onnx')).map(nodeKey);
    const got = nodesOf(decode(makeBertOnnx(MINI))).map(nodeKey);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(got[i], `node ${i}`).toBe(want[i]);
  });

  it('bert-tiny shape: node for node identical up to the counters shifted by its Identity nodes', () => {
    // torch numbers unscoped Constant nodes globally; bert-tiny's 20 Identity nodes shift them
    // by 20 and its position-ids constant value by one.
    const norm = (s: string): string => s.replace(/"Constant_\d+"/g, '"Constant_N"').replace(/onnx::Slice_\d+/g, 'onnx::Slice_N');
    const want = nodesOf(fixture('bert-tiny.onnx')).filter((n) => n.opType !== 'Identity').map((n) => norm(nodeKey(n)));
    const got = nodesOf(decode(makeBertOnnx(TINY))).map((n) => norm(nodeKey(n)));
    expect(got).toEqual(want);
  });

  it('graph inputs, outputs, initializer names/dims/order, opset and IR version match bert-mini', () => {
    const f = fixture('bert-mini.onnx');
    const g = decode(makeBertOnnx(MINI));
    const io = (m: OnnxTypes.ModelProto): unknown =>
      onnx.GraphProto.toObject(onnx.GraphProto.create({ input: m.graph!.input, output: m.graph!.output, name: m.graph!.name }), { longs: String });
    expect(io(g)).toEqual(io(f));
    const inits = (m: OnnxTypes.ModelProto): unknown => initsOf(m).map((t) => [t.name, t.dataType, dimsOf(t)]);
    expect(inits(g)).toEqual(inits(f));
    expect(Number(g.irVersion)).toBe(Number(f.irVersion));
    expect(g.opsetImport.map((o) => Number(o.version))).toEqual(f.opsetImport.map((o) => Number(o.version)));
    expect(g.producerName).toBe(f.producerName);
  });

  it('parameter count equals the fixture configurations (0.69 M / 3.77 M)', () => {
    const count = (m: OnnxTypes.ModelProto): number =>
      initsOf(m).reduce((s, t) => s + dimsOf(t).reduce((a, b) => a * b, 1), 0);
    expect(bertParameterCount(MINI)).toBe(count(fixture('bert-mini.onnx')));
  });
});

describe('encoding and weights', () => {
  it('is the canonical onnx-proto encoding of the decoded model (spliced raw_data is exact)', () => {
    const bytes = makeBertOnnx({ ...TINY, layers: 1, vocab: 300 });
    const again = onnx.ModelProto.encode(decode(bytes)).finish();
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });

  it('writeBertOnnx streams exactly the bytes makeBertOnnx returns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'make-bert-'));
    try {
      const cfg = { ...TINY, seed: 11, geluForm: 'tanh' as const };
      const info = writeBertOnnx(join(dir, 'm.onnx'), cfg);
      const file = readFileSync(join(dir, 'm.onnx'));
      expect(info.bytes).toBe(file.length);
      expect(info.parameters).toBe(bertParameterCount(cfg));
      expect(Buffer.compare(file, Buffer.from(makeBertOnnx(cfg)))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('draws HF-like statistics: N(0, 0.02) weights and biases, LayerNorm 1 + N(0, 0.1), zero padding row', () => {
    const m = decode(makeBertOnnx({ ...MINI, seed: 21 }));
    const word = float32(initializer(m, 'bert.embeddings.word_embeddings.weight'));
    expect(word.subarray(0, MINI.hidden).every((v) => v === 0)).toBe(true);
    const ws = meanStd(word.subarray(MINI.hidden));
    expect(Math.abs(ws.mean)).toBeLessThan(1e-3);
    expect(ws.std).toBeGreaterThan(0.0195);
    expect(ws.std).toBeLessThan(0.0205);
    const gamma = meanStd(float32(initializer(m, 'bert.encoder.layer.2.output.LayerNorm.weight')));
    expect(gamma.mean).toBeGreaterThan(0.97);
    expect(gamma.mean).toBeLessThan(1.03);
    expect(gamma.std).toBeGreaterThan(0.08);
    expect(gamma.std).toBeLessThan(0.12);
    const beta = meanStd(float32(initializer(m, 'bert.encoder.layer.2.output.LayerNorm.bias')));
    expect(beta.std).toBeGreaterThan(0.08);
    const bias = meanStd(float32(initializer(m, 'bert.encoder.layer.1.intermediate.dense.bias')));
    expect(bias.std).toBeGreaterThan(0.015);
    expect(bias.std).toBeLessThan(0.025);
    // MatMul weights are stored [in, out].
    const q = nodesOf(m).find((n) => n.name === '/bert/encoder/layer.0/intermediate/dense/MatMul')!;
    expect(dimsOf(initializer(m, q.input![1]!))).toEqual([MINI.hidden, MINI.intermediate]);
  });

  it('the PRNG is deterministic per seed and its normals have the requested moments', () => {
    const a = new Float32Array(200_001);
    const b = new Float32Array(200_001);
    new Rng(7).fillNormal(a, 0, 1);
    new Rng(7).fillNormal(b, 0, 1);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
    new Rng(8).fillNormal(b, 0, 1);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).not.toBe(0);
    const { mean, std } = meanStd(a);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
    // Tail mass of a normal: P(|x| > 2) = 4.55 %.
    const tail = a.filter((v) => Math.abs(v) > 2).length / a.length;
    expect(Math.abs(tail - 0.0455)).toBeLessThan(0.003);
  });

  it('rejects impossible configurations with usage errors', () => {
    expect(() => makeBertOnnx({ ...TINY, layerNorm: 'op' })).toThrow(Ig3dcError);
    expect(() => makeBertOnnx({ ...TINY, layerNorm: 'op' })).toThrow(/opset 17/);
    expect(() => makeBertOnnx({ ...TINY, heads: 3 })).toThrow(/multiple of heads/);
    expect(() => makeBertOnnx({ ...TINY, layers: 0 })).toThrow(/layers must be a positive integer/);
  });

  it('parses the CLI arguments', () => {
    const { config, out } = parseMakeBertArgs(['--preset', 'base', '--layers', '3', '--geluForm', 'tanh', '--opset', '17', '--layerNorm', 'op', '-o', 'x.onnx']);
    expect(out).toBe('x.onnx');
    expect(config).toEqual({ ...BERT_PRESETS.base, layers: 3, geluForm: 'tanh', opset: 17, layerNorm: 'op' });
    expect(() => parseMakeBertArgs(['--preset', 'huge', '-o', 'x'])).toThrow(/unknown preset/);
    expect(() => parseMakeBertArgs(['--layers', '2', '-o', 'x'])).toThrow(/--hidden is required/);
    expect(() => parseMakeBertArgs(['--preset', 'tiny'])).toThrow(/missing -o/);
  });
});
