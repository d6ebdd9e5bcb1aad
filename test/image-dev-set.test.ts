// The image dev set reader: the ViT fixtures' dev sets load against their models, and a dev
// set whose images do not fit the model's input (or that lacks a tensor) is a clear error
// naming the file and both shapes.

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { imageRows, readImageDevSet } from '../compiler/tune/index.ts';
import { caught } from './ig3d-helpers.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveFixtures = existsSync(join(FIXTURES, 'vit-digits-p2.dev.json'));

/** A tensor bundle with float pixels of `shape` and `n` labels. */
function bundle(shape: number[], labels = shape[0]!, pixelsName = 'pixel_values'): string {
  const dir = mkdtempSync(join(tmpdir(), 'ig3dc-images-'));
  const n = shape.reduce((a, b) => a * b, 1);
  const bin = Buffer.alloc(n * 4 + labels * 4);
  writeFileSync(join(dir, 'dev.bin'), bin);
  const index = {
    format: 'ig3dc-tensor-bundle/1',
    bin: 'dev.bin',
    tensors: { [pixelsName]: { dtype: 'float32', shape, offset: 0, nbytes: n * 4 }, labels: { dtype: 'int32', shape: [labels], offset: n * 4, nbytes: labels * 4 } },
  };
  writeFileSync(join(dir, 'dev.json'), JSON.stringify(index));
  return join(dir, 'dev.json');
}

describe.skipIf(!haveFixtures)('image dev sets', () => {
  const model = haveFixtures ? loadOnnxFile(join(FIXTURES, 'vit-digits-p2.onnx'), { batch: 1 }).graph : undefined;

  it('the fixture dev sets fit their models: 360 images of [1, 8, 8] with labels 0..9', () => {
    const d = readImageDevSet(join(FIXTURES, 'vit-digits-p2.dev.json'), model!);
    expect(d.pixels.shape).toEqual([360, 1, 8, 8]);
    expect(d.labels.length).toBe(360);
    expect(Math.max(...d.labels)).toBe(9);
    expect(imageRows(d, 3, 10).shape).toEqual([7, 1, 8, 8]);
  });

  it('images of another size are refused, naming the file and both shapes', () => {
    const file = bundle([4, 1, 6, 6]);
    const e = caught(() => readImageDevSet(file, model!));
    expect(e.kind).toBe('input');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/holds images of shape \[1, 6, 6\], but the model takes \[1, 8, 8\] \(pixel_values is \[1, 1, 8, 8\]\)/);
  });

  it('images with another channel count, labels of the wrong length, a missing tensor', () => {
    expect(caught(() => readImageDevSet(bundle([2, 3, 8, 8]), model!)).message).toMatch(/\[3, 8, 8\], but the model takes \[1, 8, 8\]/);
    expect(caught(() => readImageDevSet(bundle([2, 1, 8, 8], 3), model!)).message).toMatch(/'labels' must be integers \[2\], got i32\[3\]/);
    expect(caught(() => readImageDevSet(bundle([2, 1, 8, 8], 2, 'images'), model!)).message).toMatch(/needs 'pixel_values' \[N, C, H, W\] and 'labels' \[N\] \(it has: images, labels\)/);
  });
});
