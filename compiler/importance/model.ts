// The model side of head importance: an ONNX BERT bound to one sequence length, raised so
// that every head's output O(l, h) is addressable (AttentionContext of layer l, head axis 1),
// with its pooler trimmed to [CLS], and the partial re-evaluation and gradient plans each
// layer's heads need. Graphs are built once per length and cached.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Node } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { GradientPlan, Replay } from '../../ir/grad/index.ts';
import { decodeModel, longToNumber } from '../frontend/decode.ts';
import { importOnnx } from '../frontend/import.ts';
import { describeUnraised, raiseBert, unraised } from '../../passes/raise/index.ts';
import type { Example } from './dataset.ts';
import { firstTokenOnly } from './first-token.ts';

/** One encoder layer's attention, as the importance methods need it. */
export interface AttentionSite {
  readonly layer: number;
  /** AttentionContext: O(l, h) for every head, [1, H, S, d]. */
  readonly context: Node;
  /** AttentionSoftmax: A(l, h), [1, H, S, S]. */
  readonly softmax: Node;
  /** Original head ids along axis 1. */
  readonly heads: readonly number[];
  readonly headDim: number;
  /** The query / key / value projections (Linear, W [D, H*d]). */
  readonly query: Node | undefined;
  readonly key: Node | undefined;
  readonly value: Node | undefined;
}

/** The model bound to one sequence length, with what every method needs precomputed lazily. */
export class BoundModel {
  readonly graph: Graph;
  readonly length: number;
  readonly logits: Node;
  readonly sites: readonly AttentionSite[];
  readonly #replays = new Map<number, Replay>();
  readonly #plans = new Map<string, GradientPlan>();

  readonly batch: number;

  constructor(graph: Graph, length: number, file: string, batch = 1) {
    this.graph = graph;
    this.length = length;
    this.batch = batch;
    if (graph.outputs.length !== 1 || graph.outputs[0]!.node.type.shape.length !== 2 || graph.outputs[0]!.node.type.shape[0] !== batch) {
      const got = graph.outputs.map((o) => `${o.name} [${o.node.type.shape.join(',')}]`).join(', ');
      throw new Ig3dcError('unsupported', `importance needs a classifier with one output of logits [batch, classes]; the model's outputs are ${got}`, { file });
    }
    this.logits = graph.outputs[0]!.node;
    this.sites = attentionSites(graph, file);
  }

  /** Re-evaluation of everything downstream of layer l's head outputs. */
  replayFrom(layer: number): Replay {
    let r = this.#replays.get(layer);
    if (r === undefined) this.#replays.set(layer, (r = new Replay(this.graph, [this.sites[layer]!.context])));
    return r;
  }

  /** Gradient of the logits with respect to the given nodes (cached by a key). */
  plan(key: string, wrt: () => readonly Node[]): GradientPlan {
    let p = this.#plans.get(key);
    if (p === undefined) this.#plans.set(key, (p = new GradientPlan(this.graph, wrt(), [this.logits])));
    return p;
  }
}

function attentionSites(graph: Graph, file: string): AttentionSite[] {
  const byLayer = new Map<number, AttentionSite>();
  for (const n of graph.nodes()) {
    if (n.op !== 'AttentionContext' || n.loc.layer === undefined) continue;
    const softmax = n.inputs[0]!;
    if (softmax.op !== 'AttentionSoftmax') continue;
    const scores = softmax.inputs[0]!;
    const proj = (x: Node | undefined): Node | undefined => (x?.op === 'SplitHeads' && x.inputs[0]!.op === 'Linear' ? x.inputs[0] : undefined);
    byLayer.set(n.loc.layer, {
      layer: n.loc.layer,
      context: n,
      softmax,
      heads: n.attrs['heads'] as readonly number[],
      headDim: n.type.shape[3]!,
      query: scores.op === 'AttentionScores' ? proj(scores.inputs[0]) : undefined,
      key: scores.op === 'AttentionScores' ? proj(scores.inputs[1]) : undefined,
      value: proj(n.inputs[1]),
    });
  }
  if (byLayer.size === 0) {
    const missing = unraised(graph).map((u) => `  ${describeUnraised(u)}`);
    throw new Ig3dcError(
      'unsupported',
      `the model has no recognizable attention heads: raise-bert found no per-head attention output (AttentionContext = softmax(q k^T * scale + mask) @ v with an explicit head axis) in any encoder layer, so there is no O(l, h) to attribute to${missing.length > 0 ? `; what it could not raise:\n${missing.join('\n')}` : ''}`,
      { file },
    );
  }
  const layers = Math.max(...byLayer.keys()) + 1;
  const sites: AttentionSite[] = [];
  for (let l = 0; l < layers; l++) {
    const s = byLayer.get(l);
    if (s === undefined) throw new Ig3dcError('unsupported', `encoder layer ${l} has no recognizable attention heads (no AttentionContext), although layer ${layers - 1} has`, { file });
    sites.push(s);
  }
  return sites;
}

/** What the dataset must fit: the model's inputs, vocabulary and position limit, or its image shape. */
export interface ModelLimits {
  readonly inputs: readonly string[];
  readonly vocab: number | undefined;
  readonly maxPositions: number | undefined;
  /** [C, H, W] of a vision model's pixel_values [batch, C, H, W]. */
  readonly image?: readonly number[];
}

/** An ONNX model file, bound and raised per sequence length on demand. */
export class ImportanceModel {
  readonly file: string;
  readonly name: string;
  readonly limits: ModelLimits;
  readonly #bytes: Uint8Array;
  readonly #bound = new Map<string, BoundModel>();

  constructor(file: string) {
    this.file = file;
    this.name = basename(file);
    if (!/\.onnx$/i.test(file)) throw new Ig3dcError('usage', 'importance needs an ONNX model (it binds the model to the length of every example)', { file });
    try {
      this.#bytes = readFileSync(file);
    } catch (e) {
      throw new Ig3dcError('io', `cannot read ONNX model: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
    }
    this.limits = readLimits(this.#bytes, file);
  }

  /**
   * The model bound to [batch, n] (batch 1 by default), raised, pooler trimmed to [CLS]. A
   * vision model has one length (its patches and CLS), so n does not matter for it.
   */
  at(n: number, batch = 1): BoundModel {
    const image = this.limits.image;
    const key = image !== undefined ? `${batch}ximage` : `${batch}x${n}`;
    let m = this.#bound.get(key);
    if (m !== undefined) return m;
    const inputShapes: Record<string, number[]> = {};
    for (const name of this.limits.inputs) inputShapes[name] = image !== undefined ? [batch, ...image] : [batch, n];
    let graph: Graph;
    try {
      graph = importOnnx(this.#bytes, { file: this.file, inputShapes }).graph;
    } catch (e) {
      if (e instanceof Ig3dcError) throw new Ig3dcError(e.kind, `binding the model to [${batch}, ${n}] failed: ${e.detail}`, { file: this.file, ...e.place });
      throw e;
    }
    const raised = firstTokenOnly(raiseBert(graph));
    m = new BoundModel(raised, image !== undefined ? tokensOf(raised) : n, this.file, batch);
    this.#bound.set(key, m);
    return m;
  }

  /** The sequence length an example runs at: its tokens, or a vision model's patches and CLS. */
  lengthOf(ex: Example): number {
    return this.limits.image !== undefined ? this.at(1).length : ex.ids.length;
  }

  /** Graph inputs for one example: ids as given, mask all ones, token types all zero; or the image. */
  feeds(model: BoundModel, ex: Example): Map<string, Tensor> {
    if (ex.pixels !== undefined) {
      const input = model.graph.inputs[0]!;
      return new Map([[input.name!, new Tensor('f32', [1, ...(ex.imageShape ?? [])], ex.pixels)]]);
    }
    const ids = ex.ids;
    const n = ids.length;
    const feeds = new Map<string, Tensor>();
    for (const input of model.graph.inputs) {
      const name = input.name!;
      const elem = input.type.elem;
      const values: number[] = name === 'input_ids' ? Array.from(ids) : new Array<number>(n).fill(name === 'attention_mask' ? 1 : 0);
      feeds.set(name, Tensor.from(elem, [1, n], elem === 'i64' || elem === 'u64' ? values.map((v) => BigInt(v)) : values));
    }
    return feeds;
  }
}

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);
const IMAGE_INPUT = 'pixel_values';

/** Tokens of a raised model: the sequence axis of its first head output [B, H, S, d]. */
function tokensOf(graph: Graph): number {
  const ctx = graph.nodes().find((n) => n.op === 'AttentionContext');
  return ctx?.type.shape[2] ?? 0;
}

/** Reads the graph inputs and the sizes of the word and position embedding tables from the file. */
function readLimits(bytes: Uint8Array, file: string): ModelLimits {
  const { graph } = decodeModel(bytes, file);
  const inits = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = (graph.input ?? []).map((i) => i.name ?? '').filter((name) => !inits.has(name));
  if (inputs.length === 1 && inputs[0] === IMAGE_INPUT) {
    const vi = (graph.input ?? []).find((i) => i.name === IMAGE_INPUT)!;
    const dims = (vi.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null ? longToNumber(d.dimValue) : undefined));
    const image = dims.slice(1);
    if (dims.length !== 4 || image.some((d) => d === undefined || d < 1)) {
      throw new Ig3dcError('unsupported', `importance feeds a vision model's ${IMAGE_INPUT} [batch, C, H, W] with static C, H, W; the model's input has dims [${dims.map((d) => d ?? '?').join(', ')}]`, { file });
    }
    return { inputs, vocab: undefined, maxPositions: undefined, image: image as number[] };
  }
  const unknown = inputs.filter((i) => !KNOWN_INPUTS.has(i));
  if (!inputs.includes('input_ids') || unknown.length > 0) {
    throw new Ig3dcError(
      'unsupported',
      `importance feeds a BERT's input_ids (and attention_mask / token_type_ids when present), or a ViT's ${IMAGE_INPUT}; the model's inputs are ${inputs.join(', ') || 'none'}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}`,
      { file },
    );
  }
  let vocab: number | undefined;
  let maxPositions: number | undefined;
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    const dims = (t.dims ?? []).map((d) => longToNumber(d));
    if (dims.length !== 2) continue;
    if (/word_embeddings/.test(name)) vocab = dims[0];
    if (/position_embeddings/.test(name)) maxPositions = dims[0];
  }
  return { inputs, vocab, maxPositions };
}
