// The server's weights file: a tensor bundle (`ig3dc-tensor-bundle/1`, read by
// ir/tensor-json.ts readTensorBundle): a JSON index and a little-endian .bin beside it, each
// tensor 8-byte aligned, in the compact storage of its element type.

import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { elemToDtype } from '../../../ir/tensor-json.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { compactStorage } from '../../../ir/weights-file.ts';

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `model.circuit` (or `model.segments`) -> `model.weights.json` (its data goes to `model.weights.bin`). */
export function weightsPathFor(circuitPath: string): string {
  return `${circuitPath.replace(/\.(circuit|segments)$/, '')}.weights.json`;
}

/** Writes the bundle index to `indexPath` and its data to the same name with `.bin`. */
export function writeWeightsBundle(indexPath: string, weights: ReadonlyMap<string, Tensor>, meta: Readonly<Record<string, unknown>> = {}): { bytes: number; bin: string } {
  if (!HOST_LITTLE_ENDIAN) throw new Error('writing tensor bundles assumes a little-endian host');
  const binPath = `${indexPath.replace(/\.json$/, '')}.bin`;
  const tensors: Record<string, { dtype: string; shape: number[]; offset: number; nbytes: number }> = {};
  let fd: number;
  try {
    fd = openSync(binPath, 'w');
  } catch (e) {
    throw new Ig3dcError('io', `cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: binPath });
  }
  let offset = 0;
  const pad = new Uint8Array(8);
  try {
    for (const [name, t] of weights) {
      const data = compactStorage(t);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      writeSync(fd, bytes);
      tensors[name] = { dtype: elemToDtype(t.dtype), shape: [...t.shape], offset, nbytes: bytes.length };
      offset += bytes.length;
      const p = (8 - (offset % 8)) % 8;
      if (p > 0) {
        writeSync(fd, pad.subarray(0, p));
        offset += p;
      }
    }
  } finally {
    closeSync(fd);
  }
  const index = { format: 'ig3dc-tensor-bundle/1', bin: basename(binPath), ...meta, tensors };
  try {
    writeFileSync(indexPath, `${JSON.stringify(index, null, 1)}\n`);
  } catch (e) {
    throw new Ig3dcError('io', `cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: indexPath });
  }
  return { bytes: offset, bin: binPath };
}
