// A labelled dev set for the threshold search: an `ig3dc-tensor-bundle/1` (spam-dev.json)
// with input_ids and attention_mask [N, S], labels [N], and optionally token_type_ids [N, S]
// (all zero when absent, as in the fixtures), checked against the model it is run on; or,
// for a vision model, images (pixel_values [N, C, H, W], see image-dev-set.ts).

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { type TensorBundle, readTensorBundle } from '../../ir/tensor-json.ts';
import { type ImageDevSet, checkImageDevSetFits, imageDevSetOf, isImageBundle } from './image-dev-set.ts';

export interface DevSet {
  readonly file: string;
  /** Rows used (the first `rows` of the bundle). */
  readonly rows: number;
  /** Sequence length of every row (padding included). */
  readonly seq: number;
  /** Row-major [rows, seq]. */
  readonly inputIds: Int32Array;
  readonly attentionMask: Int32Array;
  readonly tokenTypeIds: Int32Array;
  readonly labels: Int32Array;
}

const INTEGER_ELEMS = new Set(['i32', 'i64', 'u8', 'u32', 'u64']);

function integers(t: Tensor): Int32Array {
  const out = new Int32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = t.at(i);
  return out;
}

/**
 * Reads the bundle and keeps its first `examples` rows (all when undefined). Errors name the
 * tensor and what is wrong with it.
 */
export function readDevSet(file: string, examples?: number): DevSet {
  return textDevSetOf(readTensorBundle(file), file, examples);
}

/** A dev set of token ids (`DevSet`) or of images. */
export type LabelledDevSet = DevSet | ImageDevSet;

export const isImageDevSet = (d: LabelledDevSet): d is ImageDevSet => 'pixels' in d;

/** Reads a text or an image dev set, whichever the bundle holds (images: a pixel_values tensor). */
export function readLabelledDevSet(file: string, examples?: number): LabelledDevSet {
  const bundle = readTensorBundle(file);
  return isImageBundle(bundle) ? imageDevSetOf(bundle, file, examples) : textDevSetOf(bundle, file, examples);
}

/** What one row of the dev set is, for reports: `seq 128` or `images [1, 8, 8]`. */
export function devSetShape(d: LabelledDevSet): string {
  return isImageDevSet(d) ? `images [${d.pixels.shape.slice(1).join(', ')}]` : `seq ${d.seq}`;
}

/** Checks a dev set against the (ONNX-level or raised) model it runs on; `model` names it in errors. */
export function checkLabelledDevSetFits(d: LabelledDevSet, graph: Graph, model: string): void {
  if (isImageDevSet(d)) checkImageDevSetFits(d, graph, model);
  else {
    const image = graph.inputs.find((i) => i.type.shape.length === 4);
    if (image !== undefined) throw new Ig3dcError('input', `dev set: it holds token ids (input_ids), but ${model} takes images ('${image.name}' [${image.type.shape.join(', ')}]): give an image dev set (pixel_values [N, C, H, W] and labels [N])`, { file: d.file });
    checkDevSetFits(d, modelLimits(graph), model);
  }
}

function textDevSetOf(bundle: TensorBundle, file: string, examples?: number): DevSet {
  const get = (name: string, rank: number, optional = false): Tensor | undefined => {
    const t = bundle.tensors.get(name);
    if (t === undefined) {
      if (optional) return undefined;
      throw new Ig3dcError('input', `dev set: no tensor '${name}' (it has: ${[...bundle.tensors.keys()].join(', ') || 'none'}); a labelled dev set needs input_ids and attention_mask [N, S] and labels [N]`, { file });
    }
    if (!INTEGER_ELEMS.has(t.dtype)) throw new Ig3dcError('input', `dev set: tensor '${name}' must hold integers, got ${t.dtype}`, { file });
    if (t.shape.length !== rank) throw new Ig3dcError('input', `dev set: tensor '${name}' must have rank ${rank} (${rank === 2 ? '[N, S]' : '[N]'}), got shape [${t.shape.join(', ')}]`, { file });
    return t;
  };
  const ids = get('input_ids', 2)!;
  const mask = get('attention_mask', 2)!;
  const labels = get('labels', 1)!;
  const types = get('token_type_ids', 2, true);
  const [n, seq] = ids.shape as [number, number];
  for (const [name, t] of [['attention_mask', mask], ['token_type_ids', types]] as const) {
    if (t !== undefined && (t.shape[0] !== n || t.shape[1] !== seq)) {
      throw new Ig3dcError('input', `dev set: tensor '${name}' has shape [${t.shape.join(', ')}], but input_ids has [${n}, ${seq}]`, { file });
    }
  }
  if (labels.shape[0] !== n) throw new Ig3dcError('input', `dev set: tensor 'labels' has ${labels.shape[0]} rows, but input_ids has ${n}`, { file });
  if (n === 0 || seq === 0) throw new Ig3dcError('input', `dev set: input_ids has shape [${n}, ${seq}]: no rows to measure accuracy on`, { file });
  if (examples !== undefined && (!Number.isInteger(examples) || examples < 1 || examples > n)) {
    throw new Ig3dcError('usage', `--examples: expected an integer from 1 to ${n} (the rows of the dev set ${file}), got ${examples}`);
  }
  const rows = examples ?? n;
  const cut = (a: Int32Array, width: number): Int32Array => a.slice(0, rows * width);
  const maskData = cut(integers(mask), seq);
  for (let i = 0; i < maskData.length; i++) {
    const v = maskData[i]!;
    if (v !== 0 && v !== 1) {
      throw new Ig3dcError('input', `dev set: tensor 'attention_mask' holds ${v} at [${Math.floor(i / seq)}, ${i % seq}]; expected 0 (padding) or 1 (token)`, { file });
    }
  }
  return {
    file,
    rows,
    seq,
    inputIds: cut(integers(ids), seq),
    attentionMask: maskData,
    tokenTypeIds: types !== undefined ? cut(integers(types), seq) : new Int32Array(rows * seq),
    labels: cut(integers(labels), 1),
  };
}

/** What a BERT classifier accepts, read off the ONNX-level or raised graph; undefined = unknown. */
export interface ModelLimits {
  /** Rows of the word embedding table. */
  readonly vocab?: number;
  /** Rows of the token type table. */
  readonly typeVocab?: number;
  /** Rows of the position table. */
  readonly maxPositions?: number;
  /** Classes: the last dimension of the `logits` output (or the first output). */
  readonly labels?: number;
}

/**
 * Embedding tables are Gather/Embedding ops on a rank-2 weight: indexed by a graph input
 * (input_ids, token_type_ids) they give the vocabularies; indexed by anything else (the
 * position range the exporter builds) the position limit.
 */
export function modelLimits(graph: Graph): ModelLimits {
  let vocab: number | undefined;
  let typeVocab: number | undefined;
  let maxPositions: number | undefined;
  for (const n of graph.nodes()) {
    if (n.op !== 'Gather' && n.op !== 'Embedding') continue;
    const [table, idx] = n.inputs;
    if (table?.op !== 'Const' || table.type.shape.length !== 2 || idx === undefined) continue;
    if ((n.attrs['axis'] ?? 0) !== 0) continue;
    const rows = table.type.shape[0]!;
    if (idx.op === 'Input') {
      if (idx.name === 'token_type_ids') typeVocab = rows;
      else if (idx.name === 'input_ids' || vocab === undefined) vocab = rows;
    } else if (idx.type.vis !== 'client') {
      maxPositions = Math.max(maxPositions ?? 0, rows);
    }
  }
  const out = graph.outputs.find((o) => o.name === 'logits') ?? graph.outputs[0];
  const shape = out?.node.type.shape;
  const labels = shape !== undefined && shape.length >= 1 ? shape[shape.length - 1] : undefined;
  return {
    ...(vocab !== undefined ? { vocab } : {}),
    ...(typeVocab !== undefined ? { typeVocab } : {}),
    ...(maxPositions !== undefined ? { maxPositions } : {}),
    ...(labels !== undefined ? { labels } : {}),
  };
}

/** Checks the dev set's sequence length, token ids, token types and labels against the model. */
export function checkDevSetFits(dev: DevSet, limits: ModelLimits, model: string): void {
  const place = { file: dev.file };
  if (limits.maxPositions !== undefined && dev.seq > limits.maxPositions) {
    throw new Ig3dcError('input', `dev set: tensor 'input_ids' has sequence length ${dev.seq}, but ${model} has ${limits.maxPositions} positions (max_position_embeddings): the sequence length must be at most ${limits.maxPositions}`, place);
  }
  const check = (name: string, data: Int32Array, width: number, limit: number | undefined, what: string): void => {
    if (limit === undefined) return;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < 0 || v >= limit) {
        const at = width === 1 ? `[${i}]` : `[${Math.floor(i / width)}, ${i % width}]`;
        throw new Ig3dcError('input', `dev set: tensor '${name}' holds ${v} at ${at}, outside ${what} of ${model}: expected 0..${limit - 1}`, place);
      }
    }
  };
  check('input_ids', dev.inputIds, dev.seq, limits.vocab, `the vocabulary (${limits.vocab} tokens)`);
  check('token_type_ids', dev.tokenTypeIds, dev.seq, limits.typeVocab, `the token types (${limits.typeVocab})`);
  check('labels', dev.labels, 1, limits.labels, `the classes (${limits.labels} logits)`);
}
