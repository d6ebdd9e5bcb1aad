// The labelled examples importance is computed on: an ig3dc tensor bundle with input_ids
// [N, L] and attention_mask [N, L] (int32 or int64; 1 = token, 0 = padding) and labels [N].
// Each example is cut to its tokens (the mask's ones), so it runs at its own length. For a
// vision model, the bundle holds images instead: pixel_values [N, C, H, W] (float) and labels.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { readTensorBundle } from '../../ir/tensor-json.ts';
import { isFloatType, isIntType } from '../../ir/types.ts';
import type { ModelLimits } from './model.ts';

export interface Example {
  /** Row of the bundle. */
  readonly index: number;
  /** Token ids of the non-padding positions (empty for an image). */
  readonly ids: Int32Array;
  /** One image [C, H, W], row-major, for a vision model. */
  readonly pixels?: Float32Array;
  /** [C, H, W] of `pixels`. */
  readonly imageShape?: readonly number[];
  readonly label: number | undefined;
}

const IMAGE_INPUT = 'pixel_values';

/** The first `count` images of a bundle with pixel_values [N, C, H, W] and labels [N]. */
function readImageExamples(tensors: ReadonlyMap<string, Tensor>, count: number, file: string): Example[] {
  const pixels = tensors.get(IMAGE_INPUT)!;
  if (!isFloatType(pixels.dtype) || pixels.shape.length !== 4) {
    throw new Ig3dcError('input', `tensor '${IMAGE_INPUT}' must be a float tensor [N, C, H, W], got ${pixels.dtype}[${pixels.shape.join(',')}]`, { file });
  }
  const labels = intTensor(tensors, 'labels', 1, file);
  const N = pixels.shape[0]!;
  if (labels === undefined) throw new Ig3dcError('input', `the dataset has no 'labels' tensor (it has: ${[...tensors.keys()].join(', ')}); expected ${IMAGE_INPUT} [N, C, H, W] and labels [N]`, { file });
  if (labels.shape[0] !== N) throw new Ig3dcError('input', `labels [${labels.shape.join(',')}] does not match ${IMAGE_INPUT} [${pixels.shape.join(',')}] (one label per image)`, { file });
  const imageShape = pixels.shape.slice(1);
  const per = pixels.size / N;
  const all = pixels.toFloat64();
  return Array.from({ length: Math.min(count, N) }, (_, r) => ({ index: r, ids: new Int32Array(0), pixels: Float32Array.from(all.subarray(r * per, (r + 1) * per)), imageShape, label: labels.at(r) }));
}

function intTensor(tensors: ReadonlyMap<string, Tensor>, name: string, rank: number, file: string): Tensor | undefined {
  const t = tensors.get(name);
  if (t === undefined) return undefined;
  if (!isIntType(t.dtype) || t.shape.length !== rank) {
    throw new Ig3dcError('input', `tensor '${name}' must be an integer tensor of rank ${rank}, got ${t.dtype}[${t.shape.join(',')}]`, { file });
  }
  return t;
}

/** The first `count` examples of a bundle (all of them when it has fewer). */
export function readExamples(file: string, count: number): Example[] {
  const { tensors } = readTensorBundle(file);
  if (tensors.has(IMAGE_INPUT) && !tensors.has('input_ids')) return readImageExamples(tensors, count, file);
  const missing = ['input_ids', 'labels'].filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    throw new Ig3dcError(
      'input',
      `the dataset has no ${missing.map((m) => `'${m}'`).join(' and ')} tensor${missing.length > 1 ? 's' : ''} (it has: ${[...tensors.keys()].join(', ') || 'none'}); expected input_ids [N, L], attention_mask [N, L] (optional) and labels [N]`,
      { file },
    );
  }
  const ids = intTensor(tensors, 'input_ids', 2, file)!;
  const mask = intTensor(tensors, 'attention_mask', 2, file);
  const labels = intTensor(tensors, 'labels', 1, file)!;
  const [N, L] = ids.shape as [number, number];
  if (mask !== undefined && (mask.shape[0] !== N || mask.shape[1] !== L)) {
    throw new Ig3dcError('input', `attention_mask [${mask.shape.join(',')}] does not match input_ids [${N},${L}]`, { file });
  }
  if (labels.shape[0] !== N) throw new Ig3dcError('input', `labels [${labels.shape.join(',')}] does not match input_ids [${N},${L}] (one label per row)`, { file });
  const out: Example[] = [];
  for (let r = 0; r < Math.min(count, N); r++) {
    const kept: number[] = [];
    for (let j = 0; j < L; j++) if (mask === undefined || mask.at(r * L + j) !== 0) kept.push(ids.at(r * L + j));
    if (kept.length === 0) throw new Ig3dcError('input', `example ${r} has no tokens (its attention_mask is all zero)`, { file });
    out.push({ index: r, ids: Int32Array.from(kept), label: labels.at(r) });
  }
  return out;
}

/** Checks every example against the model: length within the positions, ids within the vocabulary, labels within the classes. */
export function checkExamplesFit(examples: readonly Example[], limits: ModelLimits & { readonly classes?: number }, file: string, model: string): void {
  const image = limits.image;
  for (const e of examples) {
    if ((e.pixels !== undefined) !== (image !== undefined)) {
      throw new Ig3dcError(
        'input',
        image !== undefined
          ? `the dataset holds token ids, but ${model} takes images (${IMAGE_INPUT} [batch, ${image.join(', ')}]): give ${IMAGE_INPUT} [N, ${image.join(', ')}] and labels [N]`
          : `the dataset holds images (${IMAGE_INPUT}), but ${model} takes token ids (${limits.inputs.join(', ')})`,
        { file },
      );
    }
    if (image !== undefined) {
      const got = e.imageShape ?? [];
      if (got.length !== image.length || got.some((d, i) => d !== image[i])) {
        throw new Ig3dcError('input', `image ${e.index} has shape [${got.join(', ')}], but ${model} takes images of [${image.join(', ')}] (${IMAGE_INPUT} [batch, ${image.join(', ')}]): the dataset does not fit the model`, { file });
      }
    }
    if (limits.maxPositions !== undefined && e.ids.length > limits.maxPositions) {
      throw new Ig3dcError(
        'input',
        `example ${e.index} has ${e.ids.length} tokens, but the model ${model} has ${limits.maxPositions} positions (max_position_embeddings): the dataset does not fit the model`,
        { file },
      );
    }
    if (limits.vocab !== undefined) {
      for (let j = 0; j < e.ids.length; j++) {
        const id = e.ids[j]!;
        if (id < 0 || id >= limits.vocab) {
          throw new Ig3dcError('input', `example ${e.index}, token ${j}: id ${id} is outside the vocabulary of ${model} (0..${limits.vocab - 1}): the dataset does not fit the model`, { file });
        }
      }
    }
    if (limits.classes !== undefined && e.label !== undefined && (e.label < 0 || e.label >= limits.classes)) {
      throw new Ig3dcError('input', `example ${e.index} has label ${e.label}, but the model has ${limits.classes} classes (0..${limits.classes - 1})`, { file });
    }
  }
}
