// A labelled image dev set for a vision model: an `ig3dc-tensor-bundle/1` with float
// pixel_values [N, C, H, W] and integer labels [N] (as the ViT fixtures' *.dev.json), checked
// against the image input of the model it is run on.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { Tensor } from '../../ir/tensor.ts';
import { type TensorBundle, readTensorBundle } from '../../ir/tensor-json.ts';
import { isFloatType } from '../../ir/types.ts';

/** The input name image bundles and vision models share. */
export const IMAGE_INPUT = 'pixel_values';

export interface ImageDevSet {
  readonly kind: 'image';
  readonly file: string;
  /** The model input the images feed. */
  readonly input: string;
  /** Rows used (the first `rows` of the bundle). */
  readonly rows: number;
  /** [rows, C, H, W]. */
  readonly pixels: Tensor;
  readonly labels: Int32Array;
}

/** Whether a bundle holds images (a `pixel_values` tensor) rather than token ids. */
export function isImageBundle(bundle: TensorBundle, input = IMAGE_INPUT): boolean {
  return bundle.tensors.has(input) && !bundle.tensors.has('input_ids');
}

/** Rows [start, end) of the images, as the model's float32 input. */
export function imageRows(d: ImageDevSet, start: number, end: number): Tensor {
  const per = d.pixels.size / d.pixels.shape[0]!;
  return new Tensor('f32', [end - start, ...d.pixels.shape.slice(1)], Float32Array.from(d.pixels.toFloat64().subarray(start * per, end * per)));
}

/**
 * The images and labels of a bundle, its first `examples` rows (all when undefined). Errors
 * name the file, the tensor and what was expected.
 */
export function imageDevSetOf(bundle: TensorBundle, file: string, examples?: number, input = IMAGE_INPUT): ImageDevSet {
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
  if (n === 0) throw new Ig3dcError('input', `image dev set: '${input}' has no images`, { file });
  if (examples !== undefined && (!Number.isInteger(examples) || examples < 1 || examples > n)) {
    throw new Ig3dcError('usage', `--examples: expected an integer from 1 to ${n} (the images of the dev set ${file}), got ${examples}`);
  }
  const rows = examples ?? n;
  const per = pixels.size / n;
  const kept = rows === n ? pixels : new Tensor('f32', [rows, ...pixels.shape.slice(1)], Float32Array.from(pixels.toFloat64().subarray(0, rows * per)));
  return { kind: 'image', file, input, rows, pixels: kept, labels: Int32Array.from(labels.toNumbers().slice(0, rows)) };
}

/**
 * Checks the images against `model`'s image input [B, C, H, W] (the per-image shape must be
 * the model's) and the labels against its classes (the last dimension of the logits).
 */
export function checkImageDevSetFits(d: ImageDevSet, model: Graph, modelName = 'the model'): void {
  const file = d.file;
  const input = d.input;
  const modelInput = model.inputs.find((i) => i.name === input);
  if (modelInput === undefined) {
    throw new Ig3dcError('input', `image dev set: ${modelName} has no input '${input}' (its inputs: ${model.inputs.map((i) => i.name).join(', ')}); an image dev set feeds a vision model`, { file });
  }
  const want = modelInput.type.shape.slice(1);
  const got = d.pixels.shape.slice(1);
  if (want.length !== got.length || want.some((x, i) => x !== got[i])) {
    throw new Ig3dcError('input', `image dev set: '${input}' holds images of shape [${got.join(', ')}], but ${modelName} takes [${want.join(', ')}] (${input} is [${modelInput.type.shape.join(', ')}])`, { file });
  }
  const out = model.outputs.find((o) => o.name === 'logits') ?? model.outputs[0];
  const classes = out?.node.type.shape[out.node.type.shape.length - 1];
  if (classes !== undefined) {
    const bad = d.labels.findIndex((v) => v < 0 || v >= classes);
    if (bad >= 0) throw new Ig3dcError('input', `image dev set: tensor 'labels' holds ${d.labels[bad]} at [${bad}], outside the classes of ${modelName} (${classes} logits): expected 0..${classes - 1}`, { file });
  }
}

/**
 * Reads the bundle and checks it against `model`'s single float image input [B, C, H, W]:
 * the per-image shape [C, H, W] must be the model's. Errors name the file, the tensor and
 * both shapes.
 */
export function readImageDevSet(file: string, model: Graph, input = IMAGE_INPUT): ImageDevSet {
  const d = imageDevSetOf(readTensorBundle(file), file, undefined, input);
  checkImageDevSetFits(d, model);
  return d;
}
