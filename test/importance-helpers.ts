// Datasets and models for the importance tests: tensor bundles written to a temporary
// directory, a small generated BERT, and a classifier without attention.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../ir/tensor.ts';
import { makeBertOnnx, type BertOnnxConfig } from '../bench/make-bert.ts';
import { encodeModel, node } from './frontend-model-builder.ts';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ig3dc-importance-'));
}

/** Writes an ig3dc-tensor-bundle/1 (int32 tensors) and returns the index path. */
export function writeBundle(dir: string, name: string, tensors: Record<string, { shape: number[]; data: number[] }>): string {
  const parts: Buffer[] = [];
  const index: Record<string, unknown> = {};
  let offset = 0;
  for (const [k, t] of Object.entries(tensors)) {
    const b = Buffer.from(Int32Array.from(t.data).buffer);
    index[k] = { dtype: 'int32', shape: t.shape, offset, nbytes: b.length };
    parts.push(b);
    offset += b.length;
    const pad = (8 - (offset % 8)) % 8;
    if (pad > 0) {
      parts.push(Buffer.alloc(pad));
      offset += pad;
    }
  }
  writeFileSync(join(dir, `${name}.bin`), Buffer.concat(parts));
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ format: 'ig3dc-tensor-bundle/1', bin: `${name}.bin`, tensors: index }));
  return path;
}

/** Rows of token ids (each padded with 0 to `len`), mask 1 on the tokens, and labels. */
export function examplesBundle(dir: string, name: string, rows: readonly number[][], labels: readonly number[], len: number): string {
  const ids: number[] = [];
  const mask: number[] = [];
  for (const r of rows) {
    for (let j = 0; j < len; j++) {
      ids.push(j < r.length ? r[j]! : 0);
      mask.push(j < r.length ? 1 : 0);
    }
  }
  return writeBundle(dir, name, {
    input_ids: { shape: [rows.length, len], data: ids },
    attention_mask: { shape: [rows.length, len], data: mask },
    labels: { shape: [rows.length], data: [...labels] },
  });
}

/** A small random BERT (HF initialization, seeded) written as ONNX. */
export function writeSmallBert(dir: string, config: Partial<BertOnnxConfig> = {}): string {
  const path = join(dir, 'small-bert.onnx');
  writeFileSync(path, makeBertOnnx({ layers: 2, hidden: 32, heads: 2, intermediate: 64, vocab: 50, maxPositions: 16, seed: 7, ...config }));
  return path;
}

/** input_ids -> embedding -> mean over tokens -> linear: a classifier with no attention at all. */
export function writeNoAttentionModel(dir: string): string {
  const path = join(dir, 'no-attention.onnx');
  const D = 8;
  const emb = Tensor.from('f32', [20, D], Array.from({ length: 20 * D }, (_, i) => Math.sin(i)));
  const w = Tensor.from('f32', [D, 2], Array.from({ length: D * 2 }, (_, i) => Math.cos(i)));
  const bytes = encodeModel({
    inputs: [{ name: 'input_ids', elem: 'i64', dims: ['batch', 'sequence'] }],
    outputs: [{ name: 'logits', elem: 'f32', dims: ['batch', 2] }],
    nodes: [
      node('Gather', ['word_embeddings', 'input_ids'], ['e']),
      node('ReduceMean', ['e'], ['m'], { axes: [1], keepdims: 0 }),
      node('MatMul', ['m', 'classifier'], ['logits']),
    ],
    initializers: new Map([
      ['word_embeddings', emb],
      ['classifier', w],
    ]),
  });
  writeFileSync(path, bytes);
  return path;
}
