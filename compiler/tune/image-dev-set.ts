// A labelled image dev set for a vision model: an `ig3dc-tensor-bundle/1` with float
// pixel_values [N, C, H, W] and integer labels [N] (as the ViT fixtures' *.dev.json), checked
// against the image input of the model it is run on.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { Tensor } from '../../ir/tensor.ts';
import { readTensorBundle } from '../../ir/tensor-json.ts';
import { isFloatType } from '../../ir/types.ts';

export interface ImageDevSet {
  readonly file: string;
  /** The model input the images feed. */
  readonly input: string;
  /** [N, C, H, W]. */
  readonly pixels: Tensor;
  readonly labels: Int32Array;
}

/** Rows [start, end) of the images, as the model's float32 input. */
export function imageRows(d: ImageDevSet, start: number, end: number): Tensor {
  const per = d.pixels.size / d.pixels.shape[0]!;
  return new Tensor('f32', [end - start, ...d.pixels.shape.slice(1)], Float32Array.from(d.pixels.toFloat64().subarray(start * per, end * per)));
}

/**
 * Reads the bundle and checks it against `model`'s single float image input [B, C, H, W]:
 * the per-image shape [C, H, W] must be the model's. Errors name the file, the tensor and
 * both shapes.
 */
export function readImageDevSet(file: string, model: Graph, input = 'pixel_values'): ImageDevSet {
  const bundle = readTensorBundle(file);
  const pixels = bundle.tensors.get(input);
  const labels = bundle.tensors.get('labels');
  if (pixels === undefined || labels === undefined) {
    throw new Ig3dcError('input', `image dev set: needs '${input}' [N, C, H, W] and 'labels' [N] (it has: ${[...bundle.tensors.keys()].join(', ') || 'none'})`, { file });
  }
  if (!isFloatType(pixels.dtype) || pixels.shape.length !== 4) {
    throw new Ig3dcError('input', `image dev set: '${input}' must be float [N, C, H, W], got ${pixels.dtype}[${pixels.shape.join(', ')}]`, { file });
  }
  const n = pixels.shape[0]!;
  if (labels.shape.length !== 1 || labels.shape[0] !== n || isFloatType(labels.dtype)) {
    throw new Ig3dcError('input', `image dev set: 'labels' must be integers [${n}], got ${labels.dtype}[${labels.shape.join(', ')}]`, { file });
  }
  const modelInput = model.inputs.find((i) => i.name === input);
  if (modelInput === undefined) {
    throw new Ig3dcError('input', `image dev set: the model has no input '${input}' (its inputs: ${model.inputs.map((i) => i.name).join(', ')})`, { file });
  }
  const want = modelInput.type.shape.slice(1);
  const got = pixels.shape.slice(1);
  if (want.length !== got.length || want.some((d, i) => d !== got[i])) {
    throw new Ig3dcError('input', `image dev set: '${input}' holds images of shape [${got.join(', ')}], but the model takes [${want.join(', ')}] (${input} is [${modelInput.type.shape.join(', ')}])`, { file });
  }
  return { file, input, pixels, labels: Int32Array.from(labels.toNumbers()) };
}
