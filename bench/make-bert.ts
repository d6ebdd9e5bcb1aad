// Generates BERT-shaped ONNX models (BertForSequenceClassification) with random weights.
//
// The node graph reproduces what torch.onnx.export (torch 1.13, opset 14, constant folding)
// emits for HuggingFace's BertForSequenceClassification, node for node: the same op
// sequence, torch-module-path node names, Constant nodes, run-time shape chains
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), mask construction, position Slice,
// transposed [in, out] MatMul weights and Gemm(transB=1) pooler/classifier. It lets the
// frontend be exercised on BERT-base-sized files without PyTorch.
//
// Memory: the structure is encoded with onnx-proto, but each initializer's raw_data is
// spliced in as bytes (protobuf messages concatenate), so weights are generated one tensor
// at a time straight into the output (in-memory) or into the file (streaming writer). The
// bytes are identical to onnx.ModelProto.encode of the same model.

import pkg from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Ig3dcError } from '../ir/diagnostics.ts';

const { onnx } = pkg;
type INodeProto = OnnxTypes.INodeProto;
type IAttributeProto = OnnxTypes.IAttributeProto;
type ITensorProto = OnnxTypes.ITensorProto;
type IValueInfoProto = OnnxTypes.IValueInfoProto;

export type GeluForm = 'erf' | 'tanh';
export type LayerNormForm = 'decomposed' | 'op';
export type MaskForm = 'mul-min' | 'where';

export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  /** max_position_embeddings (default 128). */
  maxPositions?: number;
  /** type_vocab_size (default 2). */
  typeVocab?: number;
  /** num_labels (default 2). */
  labels?: number;
}

export interface BertOnnxConfig extends BertShape {
  /** PRNG seed for the weights (default 1). */
  seed?: number;
  /** Default opset 14; `layerNorm: 'op'` needs 17. */
  opset?: number;
  /** 'erf': exact GELU (HF "gelu"); 'tanh': HF "gelu_new" tanh approximation. */
  geluForm?: GeluForm;
  /** 'decomposed': ReduceMean/Sub/Pow/... as torch exports below opset 17; 'op': LayerNormalization-17. */
  layerNorm?: LayerNormForm;
  /** 'mul-min': (1 - mask) * float32.min; 'where': Where(bool(1 - mask), float32.min, 1 - mask). */
  maskForm?: MaskForm;
}

export type ResolvedBertConfig = Required<BertOnnxConfig>;

export const BERT_PRESETS = {
  tiny: { layers: 2, hidden: 128, heads: 2, intermediate: 512, vocab: 2000 },
  mini: { layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocab: 2000 },
  base: { layers: 12, hidden: 768, heads: 12, intermediate: 3072, vocab: 30522 },
} as const satisfies Record<string, BertShape>;
export type BertPreset = keyof typeof BERT_PRESETS;

const LAYER_NORM_EPS = 1e-12;
const FLOAT32_MIN = -3.4028234663852886e38;

export function resolveBertConfig(c: BertOnnxConfig): ResolvedBertConfig {
  const r: ResolvedBertConfig = {
    maxPositions: 128,
    typeVocab: 2,
    labels: 2,
    seed: 1,
    opset: 14,
    geluForm: 'erf',
    layerNorm: 'decomposed',
    maskForm: 'mul-min',
    ...stripUndefined(c),
  } as ResolvedBertConfig;
  for (const k of ['layers', 'hidden', 'heads', 'intermediate', 'vocab', 'maxPositions', 'typeVocab', 'labels'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 1) throw usage(`${k} must be a positive integer, got ${String(r[k])}`);
  }
  if (!Number.isInteger(r.seed)) throw usage(`seed must be an integer, got ${String(r.seed)}`);
  if (r.hidden % r.heads !== 0) throw usage(`hidden (${r.hidden}) must be a multiple of heads (${r.heads})`);
  if (!Number.isInteger(r.opset) || r.opset < 13 || r.opset > 17) throw usage(`opset must be 13..17, got ${String(r.opset)}`);
  if (r.layerNorm === 'op' && r.opset < 17) throw usage(`layerNorm 'op' (LayerNormalization) needs opset 17, got ${r.opset}`);
  if (r.geluForm !== 'erf' && r.geluForm !== 'tanh') throw usage(`geluForm must be 'erf' or 'tanh', got '${String(r.geluForm)}'`);
  if (r.layerNorm !== 'decomposed' && r.layerNorm !== 'op') throw usage(`layerNorm must be 'decomposed' or 'op', got '${String(r.layerNorm)}'`);
  if (r.maskForm !== 'mul-min' && r.maskForm !== 'where') throw usage(`maskForm must be 'mul-min' or 'where', got '${String(r.maskForm)}'`);
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function usage(msg: string): Ig3dcError {
  return new Ig3dcError('usage', msg);
}

/** Number of float parameters of the model (what the initializers hold). */
export function bertParameterCount(c: BertOnnxConfig): number {
  return planWeights(resolveBertConfig(c)).reduce((s, w) => s + numel(w.dims), 0);
}

// ---------------------------------------------------------------------------------------
// Seeded PRNG: sfc32 seeded through splitmix32, normal deviates by Marsaglia's polar method.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Fills `out` with N(mean, std^2). State lives in locals: this loop runs 10^8 times for BERT-base. */
  fillNormal(out: Float32Array, mean: number, std: number): void {
    let a = this.a, b = this.b, c = this.c, d = this.d;
    const n = out.length;
    const k = 2 / 4294967296;
    let i = 0;
    while (i < n) {
      let u: number, v: number, s: number;
      do {
        let t = (((a + b) | 0) + d) | 0;
        d = (d + 1) | 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) | 0;
        c = (c << 21) | (c >>> 11);
        c = (c + t) | 0;
        u = (t >>> 0) * k - 1;
        t = (((a + b) | 0) + d) | 0;
        d = (d + 1) | 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) | 0;
        c = (c << 21) | (c >>> 11);
        c = (c + t) | 0;
        v = (t >>> 0) * k - 1;
        s = u * u + v * v;
      } while (s >= 1 || s === 0);
      const f = std * Math.sqrt((-2 * Math.log(s)) / s);
      out[i++] = mean + u * f;
      if (i < n) out[i++] = mean + v * f;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }
}

// ---------------------------------------------------------------------------------------
// Weights, in the exporter's initializer order.

interface WeightSpec {
  name: string;
  dims: number[];
  mean: number;
  std: number;
  /** HF zeroes the padding row (id 0) of the word embedding. */
  zeroFirstRow?: boolean;
}

/**
 * torch's generated names ("onnx::MatMul_612", "Constant_46" -> "onnx::Unsqueeze_129") come
 * from its value and node counters. These formulas reproduce bert-tiny's and bert-mini's
 * exports (2 and 4 layers; the counters grow linearly with the layer count).
 */
const torchNames = {
  matmulWeight(layers: number, layer: number, role: 'q' | 'k' | 'v' | 'o' | 'i' | 'out'): string {
    const off = { q: 0, k: 1, v: 4, o: 10, i: 11, out: 12 }[role];
    return `onnx::MatMul_${60 + 138 * layers + 13 * layer + off}`;
  },
  positionIds(layers: number): { node: string; value: string } {
    return { node: 'Constant_13', value: `onnx::Slice_${26 + 16 * layers}` };
  },
  /** The k-th (0..7) Unsqueeze-axes Constant of a layer's four shape chains. */
  unsqueezeAxes(layers: number, layer: number, k: number): { node: string; value: string } {
    const nodeOff = [0, 2, 16, 18, 31, 33, 54, 56][k]!;
    const valueOff = [0, 2, 19, 21, 36, 38, 61, 63][k]!;
    const start = 65 + 16 * layers + (layer === 0 ? 0 : 1 + 122 * layer);
    const extra = layer === 0 && k >= 6 ? 1 : 0;
    return { node: `Constant_${46 + 109 * layer + nodeOff}`, value: `onnx::Unsqueeze_${start + valueOff + extra}` };
  },
};

function planWeights(c: ResolvedBertConfig): WeightSpec[] {
  const D = c.hidden;
  const F = c.intermediate;
  const w: WeightSpec[] = [];
  const lin = (name: string, dims: number[]): void => void w.push({ name, dims, mean: 0, std: 0.02 });
  const bias = lin;
  const ln = (prefix: string): void => {
    w.push({ name: `${prefix}.weight`, dims: [D], mean: 1, std: 0.1 });
    w.push({ name: `${prefix}.bias`, dims: [D], mean: 0, std: 0.1 });
  };
  w.push({ name: 'bert.embeddings.word_embeddings.weight', dims: [c.vocab, D], mean: 0, std: 0.02, zeroFirstRow: true });
  lin('bert.embeddings.position_embeddings.weight', [c.maxPositions, D]);
  lin('bert.embeddings.token_type_embeddings.weight', [c.typeVocab, D]);
  ln('bert.embeddings.LayerNorm');
  for (let l = 0; l < c.layers; l++) {
    const p = `bert.encoder.layer.${l}`;
    bias(`${p}.attention.self.query.bias`, [D]);
    bias(`${p}.attention.self.key.bias`, [D]);
    bias(`${p}.attention.self.value.bias`, [D]);
    bias(`${p}.attention.output.dense.bias`, [D]);
    ln(`${p}.attention.output.LayerNorm`);
    bias(`${p}.intermediate.dense.bias`, [F]);
    bias(`${p}.output.dense.bias`, [D]);
    ln(`${p}.output.LayerNorm`);
  }
  lin('bert.pooler.dense.weight', [D, D]);
  bias('bert.pooler.dense.bias', [D]);
  lin('classifier.weight', [c.labels, D]);
  bias('classifier.bias', [c.labels]);
  for (let l = 0; l < c.layers; l++) {
    const mm = (role: 'q' | 'k' | 'v' | 'o' | 'i' | 'out', dims: number[]): void =>
      lin(torchNames.matmulWeight(c.layers, l, role), dims);
    mm('q', [D, D]);
    mm('k', [D, D]);
    mm('v', [D, D]);
    mm('o', [D, D]);
    mm('i', [D, F]);
    mm('out', [F, D]);
  }
  return w;
}

function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------------
// Node graph.

const INT = onnx.AttributeProto.AttributeType.INT;
const INTS = onnx.AttributeProto.AttributeType.INTS;
const FLOAT = onnx.AttributeProto.AttributeType.FLOAT;
const TENSOR = onnx.AttributeProto.AttributeType.TENSOR;
const DT_FLOAT = onnx.TensorProto.DataType.FLOAT;
const DT_INT64 = onnx.TensorProto.DataType.INT64;
const DT_BOOL = onnx.TensorProto.DataType.BOOL;

const attrInt = (name: string, i: number): IAttributeProto => ({ name, i, type: INT });
const attrInts = (name: string, ints: number[]): IAttributeProto => ({ name, ints, type: INTS });
const attrFloat = (name: string, f: number): IAttributeProto => ({ name, f, type: FLOAT });

function i64Tensor(dims: number[], values: readonly number[]): ITensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  return { dims, dataType: DT_INT64, rawData: new Uint8Array(data.buffer) };
}
const i64Scalar = (v: number): ITensorProto => i64Tensor([], [v]);
const i64Vec = (values: number[]): ITensorProto => i64Tensor([values.length], values);
function f32Scalar(v: number): ITensorProto {
  return { dataType: DT_FLOAT, rawData: new Uint8Array(Float32Array.of(v).buffer) };
}

/** Emits nodes named like torch's exporter: `${scope}/${Op}`, then `_1`, `_2`, ... per scope and op. */
class NodeWriter {
  readonly nodes: INodeProto[] = [];
  private readonly counters = new Map<string, number>();

  op(scope: string, opType: string, inputs: string[], attribute: IAttributeProto[] = [], output?: string): string {
    const key = `${scope}/${opType}`;
    const n = this.counters.get(key) ?? 0;
    this.counters.set(key, n + 1);
    const name = n === 0 ? key : `${key}_${n}`;
    const out = output ?? `${name}_output_0`;
    const node: INodeProto = { input: inputs, output: [out], name, opType };
    if (attribute.length > 0) node.attribute = attribute;
    this.nodes.push(node);
    return out;
  }

  constant(scope: string, t: ITensorProto): string {
    return this.op(scope, 'Constant', [], [{ name: 'value', t, type: TENSOR }]);
  }

  /** A Constant outside any module scope, with torch's global node and value names. */
  namedConstant(names: { node: string; value: string }, t: ITensorProto): string {
    this.nodes.push({ output: [names.value], name: names.node, opType: 'Constant', attribute: [{ name: 'value', t, type: TENSOR }] });
    return names.value;
  }
}

function buildNodes(c: ResolvedBertConfig): INodeProto[] {
  const g = new NodeWriter();
  const L = c.layers;
  const D = c.hidden;
  const A = c.heads;
  const d = D / A;

  // Extended attention mask [B,1,1,S], computed once and added in every layer.
  const zeroIndex = g.constant('/bert', i64Scalar(0));
  const m0 = g.op('/bert', 'Unsqueeze', ['attention_mask', g.constant('/bert', i64Vec([1]))]);
  const m1 = g.op('/bert', 'Unsqueeze', [m0, g.constant('/bert', i64Vec([2]))]);
  const mf = g.op('/bert', 'Cast', [m1], [attrInt('to', DT_FLOAT)]);
  const inv = g.op('/bert', 'Sub', [g.constant('/bert', f32Scalar(1)), mf]);
  let mask: string;
  if (c.maskForm === 'mul-min') {
    mask = g.op('/bert', 'Mul', [inv, g.constant('/bert', f32Scalar(FLOAT32_MIN))]);
  } else {
    // transformers >= 4.36: inverted.masked_fill(inverted.to(bool), finfo.min)
    const cond = g.op('/bert', 'Cast', [inv], [attrInt('to', DT_BOOL)]);
    mask = g.op('/bert', 'Where', [cond, g.constant('/bert', f32Scalar(FLOAT32_MIN)), inv]);
  }

  // Embeddings.
  const E = '/bert/embeddings';
  const seqShape = g.op(E, 'Shape', ['input_ids']);
  const seqLen = g.op(E, 'Gather', [seqShape, g.constant(E, i64Scalar(1))], [attrInt('axis', 0)]);
  const positionIds = g.namedConstant(
    torchNames.positionIds(L),
    i64Tensor([1, c.maxPositions], Array.from({ length: c.maxPositions }, (_, i) => i)),
  );
  const starts = g.constant(E, i64Vec([0]));
  const ends = g.op(E, 'Unsqueeze', [seqLen, g.constant(E, i64Vec([0]))]);
  const axes = g.constant(E, i64Vec([1]));
  const steps = g.constant(E, i64Vec([1]));
  const positions = g.op(E, 'Slice', [positionIds, starts, ends, axes, steps]);
  const word = g.op(`${E}/word_embeddings`, 'Gather', ['bert.embeddings.word_embeddings.weight', 'input_ids']);
  const type = g.op(`${E}/token_type_embeddings`, 'Gather', ['bert.embeddings.token_type_embeddings.weight', 'token_type_ids']);
  const wt = g.op(E, 'Add', [word, type]);
  const pos = g.op(`${E}/position_embeddings`, 'Gather', ['bert.embeddings.position_embeddings.weight', positions]);
  let x = layerNorm(g, c, `${E}/LayerNorm`, g.op(E, 'Add', [wt, pos]), 'bert.embeddings.LayerNorm');

  for (let l = 0; l < L; l++) {
    const P = `/bert/encoder/layer.${l}`;
    const S = `${P}/attention/self`;
    const p = `bert.encoder.layer.${l}`;
    const mm = (role: 'q' | 'k' | 'v' | 'o' | 'i' | 'out'): string => torchNames.matmulWeight(L, l, role);
    // Reshape whose target shape is built at run time: [B, S, ...tail].
    const reshape = (src: string, chain: number, tail: number[]): string => {
      const b = g.op(S, 'Gather', [g.op(S, 'Shape', [src]), g.constant(S, i64Scalar(0))], [attrInt('axis', 0)]);
      const s = g.op(S, 'Gather', [g.op(S, 'Shape', [src]), g.constant(S, i64Scalar(1))], [attrInt('axis', 0)]);
      const ub = g.op(S, 'Unsqueeze', [b, g.namedConstant(torchNames.unsqueezeAxes(L, l, 2 * chain), i64Vec([0]))]);
      const us = g.op(S, 'Unsqueeze', [s, g.namedConstant(torchNames.unsqueezeAxes(L, l, 2 * chain + 1), i64Vec([0]))]);
      const rest = tail.map((t) => g.constant(S, i64Vec([t])));
      const shape = g.op(S, 'Concat', [ub, us, ...rest], [attrInt('axis', 0)]);
      return g.op(S, 'Reshape', [src, shape], [attrInt('allowzero', 0)]);
    };
    const q = linear(g, `${S}/query`, x, mm('q'), `${p}.attention.self.query.bias`);
    const k = linear(g, `${S}/key`, x, mm('k'), `${p}.attention.self.key.bias`);
    const kHeads = reshape(k, 0, [A, d]);
    const v = linear(g, `${S}/value`, x, mm('v'), `${p}.attention.self.value.bias`);
    const vT = g.op(S, 'Transpose', [reshape(v, 1, [A, d])], [attrInts('perm', [0, 2, 1, 3])]);
    const qT = g.op(S, 'Transpose', [reshape(q, 2, [A, d])], [attrInts('perm', [0, 2, 1, 3])]);
    const kT = g.op(S, 'Transpose', [kHeads], [attrInts('perm', [0, 2, 3, 1])]);
    const scores = g.op(S, 'Div', [g.op(S, 'MatMul', [qT, kT]), g.constant(S, f32Scalar(Math.sqrt(d)))]);
    const probs = g.op(S, 'Softmax', [g.op(S, 'Add', [scores, mask])], [attrInt('axis', -1)]);
    const ctx = g.op(S, 'Transpose', [g.op(S, 'MatMul', [probs, vT])], [attrInts('perm', [0, 2, 1, 3])]);
    const merged = reshape(ctx, 3, [D]);
    const ao = linear(g, `${P}/attention/output/dense`, merged, mm('o'), `${p}.attention.output.dense.bias`);
    const x1 = layerNorm(g, c, `${P}/attention/output/LayerNorm`, g.op(`${P}/attention/output`, 'Add', [ao, x]), `${p}.attention.output.LayerNorm`);
    const h = linear(g, `${P}/intermediate/dense`, x1, mm('i'), `${p}.intermediate.dense.bias`);
    const act = gelu(g, c, `${P}/intermediate/intermediate_act_fn`, h);
    const o = linear(g, `${P}/output/dense`, act, mm('out'), `${p}.output.dense.bias`);
    x = layerNorm(g, c, `${P}/output/LayerNorm`, g.op(`${P}/output`, 'Add', [o, x1]), `${p}.output.LayerNorm`);
  }

  const gemm = [attrFloat('alpha', 1), attrFloat('beta', 1), attrInt('transB', 1)];
  const cls = g.op('/bert/pooler', 'Gather', [x, zeroIndex], [attrInt('axis', 1)]);
  const pooled = g.op('/bert/pooler/dense', 'Gemm', [cls, 'bert.pooler.dense.weight', 'bert.pooler.dense.bias'], gemm);
  const act = g.op('/bert/pooler/activation', 'Tanh', [pooled]);
  g.op('/classifier', 'Gemm', [act, 'classifier.weight', 'classifier.bias'], gemm, 'logits');
  return g.nodes;
}

/** torch's Linear on a 3-D input: MatMul(x, W[in,out]) then Add(bias, ·). */
function linear(g: NodeWriter, scope: string, x: string, weight: string, bias: string): string {
  return g.op(scope, 'Add', [bias, g.op(scope, 'MatMul', [x, weight])]);
}

function layerNorm(g: NodeWriter, c: ResolvedBertConfig, s: string, x: string, prefix: string): string {
  if (c.layerNorm === 'op') {
    return g.op(s, 'LayerNormalization', [x, `${prefix}.weight`, `${prefix}.bias`], [
      attrFloat('epsilon', LAYER_NORM_EPS),
      attrInt('axis', -1),
    ]);
  }
  const mean = g.op(s, 'ReduceMean', [x], [attrInts('axes', [-1])]);
  const centered = g.op(s, 'Sub', [x, mean]);
  const sq = g.op(s, 'Pow', [centered, g.constant(s, f32Scalar(2))]);
  const variance = g.op(s, 'ReduceMean', [sq], [attrInts('axes', [-1])]);
  const std = g.op(s, 'Sqrt', [g.op(s, 'Add', [variance, g.constant(s, f32Scalar(LAYER_NORM_EPS))])]);
  const normed = g.op(s, 'Div', [centered, std]);
  return g.op(s, 'Add', [g.op(s, 'Mul', [normed, `${prefix}.weight`]), `${prefix}.bias`]);
}

function gelu(g: NodeWriter, c: ResolvedBertConfig, s: string, x: string): string {
  if (c.geluForm === 'erf') {
    // x * (1 + erf(x / sqrt 2)) * 0.5
    const e = g.op(s, 'Erf', [g.op(s, 'Div', [x, g.constant(s, f32Scalar(Math.SQRT2))])]);
    const one = g.op(s, 'Add', [e, g.constant(s, f32Scalar(1))]);
    return g.op(s, 'Mul', [g.op(s, 'Mul', [x, one]), g.constant(s, f32Scalar(0.5))]);
  }
  // HF NewGELUActivation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
  const half = g.op(s, 'Mul', [x, g.constant(s, f32Scalar(0.5))]);
  const cube = g.op(s, 'Pow', [x, g.constant(s, f32Scalar(3))]);
  const inner = g.op(s, 'Add', [x, g.op(s, 'Mul', [cube, g.constant(s, f32Scalar(0.044715))])]);
  const t = g.op(s, 'Tanh', [g.op(s, 'Mul', [inner, g.constant(s, f32Scalar(Math.sqrt(2 / Math.PI)))])]);
  return g.op(s, 'Mul', [half, g.op(s, 'Add', [t, g.constant(s, f32Scalar(1))])]);
}

function valueInfo(name: string, elemType: number, dims: (string | number)[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })) },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------
// Encoding: a list of byte pieces and weight tensors whose concatenation is the model file.

type Piece = Uint8Array | WeightSpec;

interface EncodedPlan {
  pieces: Piece[];
  totalBytes: number;
  maxWeight: number;
  parameters: number;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function planEncoding(c: ResolvedBertConfig): EncodedPlan {
  const weights = planWeights(c);
  const nodes = buildNodes(c);
  // Field order of onnx.ModelProto.encode: graph (7) sits between producer fields and opset_import (8);
  // inside GraphProto, node (1), name (2), initializer (5), input (11), output (12).
  const modelHead = onnx.ModelProto.encode({ irVersion: c.opset <= 14 ? 7 : 8, producerName: 'pytorch', producerVersion: '1.13.0' }).finish();
  const modelTail = onnx.ModelProto.encode({ opsetImport: [{ version: c.opset }] }).finish();
  const graphHead = onnx.GraphProto.encode({ node: nodes, name: 'torch_jit' }).finish();
  const dims = ['batch', 'sequence'];
  const graphTail = onnx.GraphProto.encode({
    input: [valueInfo('input_ids', DT_INT64, dims), valueInfo('attention_mask', DT_INT64, dims), valueInfo('token_type_ids', DT_INT64, dims)],
    output: [valueInfo('logits', DT_FLOAT, ['batch', c.labels])],
  }).finish();

  const weightPieces: Piece[] = [];
  let graphLen = graphHead.length + graphTail.length;
  let maxWeight = 0;
  let parameters = 0;
  for (const w of weights) {
    const n = numel(w.dims);
    const header = onnx.TensorProto.encode({ dims: w.dims, dataType: DT_FLOAT, name: w.name }).finish();
    const rawLen = 4 * n;
    const rawTag = [0x4a, ...varint(rawLen)]; // field 9 (raw_data), length-delimited
    const tensorLen = header.length + rawTag.length + rawLen;
    const initTag = [0x2a, ...varint(tensorLen)]; // GraphProto field 5 (initializer)
    const prefix = new Uint8Array(initTag.length + header.length + rawTag.length);
    prefix.set(initTag, 0);
    prefix.set(header, initTag.length);
    prefix.set(rawTag, initTag.length + header.length);
    weightPieces.push(prefix, w);
    graphLen += initTag.length + tensorLen;
    maxWeight = Math.max(maxWeight, n);
    parameters += n;
  }
  const graphTag = Uint8Array.from([0x3a, ...varint(graphLen)]); // ModelProto field 7 (graph)
  const pieces: Piece[] = [modelHead, graphTag, graphHead, ...weightPieces, graphTail, modelTail];
  const totalBytes = modelHead.length + graphTag.length + graphLen + modelTail.length;
  return { pieces, totalBytes, maxWeight, parameters };
}

/** Calls `emit` with every byte chunk of the model in file order; weights are generated in a reused scratch buffer. */
function emitModel(plan: EncodedPlan, seed: number, emit: (bytes: Uint8Array) => void): void {
  const rng = new Rng(seed);
  const scratch = new Float32Array(plan.maxWeight);
  for (const piece of plan.pieces) {
    if (piece instanceof Uint8Array) {
      emit(piece);
      continue;
    }
    const data = scratch.subarray(0, numel(piece.dims));
    rng.fillNormal(data, piece.mean, piece.std);
    if (piece.zeroFirstRow) data.fill(0, 0, piece.dims[1]);
    // raw_data is little-endian float32, the layout of Float32Array on every platform Node runs on here.
    emit(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
}

/** Size in bytes of the model file makeBertOnnx / writeBertOnnx produce for this config. */
export function bertOnnxByteLength(config: BertOnnxConfig): number {
  return planEncoding(resolveBertConfig(config)).totalBytes;
}

/** The encoded ONNX ModelProto of a BERT sequence classifier with seeded random weights. */
export function makeBertOnnx(config: BertOnnxConfig): Uint8Array {
  const c = resolveBertConfig(config);
  const plan = planEncoding(c);
  const out = new Uint8Array(plan.totalBytes);
  let off = 0;
  emitModel(plan, c.seed, (b) => {
    out.set(b, off);
    off += b.length;
  });
  if (off !== plan.totalBytes) throw new Error(`internal: wrote ${off} of ${plan.totalBytes} bytes`);
  return out;
}

export interface WrittenModel {
  path: string;
  bytes: number;
  parameters: number;
  nodes: number;
}

/** Streams the model to `path`; memory stays at about one weight tensor. */
export function writeBertOnnx(path: string, config: BertOnnxConfig): WrittenModel {
  const c = resolveBertConfig(config);
  const plan = planEncoding(c);
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new Ig3dcError('io', `cannot write: ${(e as Error).message}`, { file: path });
  }
  let written = 0;
  try {
    emitModel(plan, c.seed, (b) => {
      let done = 0;
      while (done < b.length) done += writeSync(fd, b, done, b.length - done);
      written += b.length;
    });
  } finally {
    closeSync(fd);
  }
  const nodes = buildNodes(c).length;
  return { path, bytes: written, parameters: plan.parameters, nodes };
}

// ---------------------------------------------------------------------------------------
// CLI: npx tsx bench/make-bert.ts --preset tiny|mini|base [--layers N ...] -o out.onnx

const CLI_HELP = `usage: tsx bench/make-bert.ts [--preset tiny|mini|base] [options] -o out.onnx
  --layers N --hidden N --heads N --intermediate N --vocab N
  --maxPositions N --typeVocab N --labels N --seed N --opset N
  --geluForm erf|tanh --layerNorm decomposed|op --maskForm mul-min|where`;

export function parseMakeBertArgs(argv: readonly string[]): { config: BertOnnxConfig; out: string } {
  const numeric = ['layers', 'hidden', 'heads', 'intermediate', 'vocab', 'maxPositions', 'typeVocab', 'labels', 'seed', 'opset'] as const;
  const textual = ['geluForm', 'layerNorm', 'maskForm'] as const;
  let preset: BertPreset | undefined;
  let out: string | undefined;
  const opts: Record<string, number | string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw usage(`${arg} needs a value\n${CLI_HELP}`);
      return v;
    };
    if (arg === '-o' || arg === '--out') out = value();
    else if (arg === '--preset') {
      const p = value();
      if (!(p in BERT_PRESETS)) throw usage(`unknown preset '${p}' (tiny, mini, base)`);
      preset = p as BertPreset;
    } else if (arg.startsWith('--') && (numeric as readonly string[]).includes(arg.slice(2))) {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n)) throw usage(`${arg} needs an integer, got '${v}'`);
      opts[arg.slice(2)] = n;
    } else if (arg.startsWith('--') && (textual as readonly string[]).includes(arg.slice(2))) {
      opts[arg.slice(2)] = value();
    } else throw usage(`unknown argument '${arg}'\n${CLI_HELP}`);
  }
  if (out === undefined) throw usage(`missing -o out.onnx\n${CLI_HELP}`);
  const base: Partial<BertShape> = preset ? BERT_PRESETS[preset] : {};
  const config = { ...base, ...opts } as BertOnnxConfig;
  for (const k of ['layers', 'hidden', 'heads', 'intermediate', 'vocab'] as const) {
    if (config[k] === undefined) throw usage(`--${k} is required without --preset\n${CLI_HELP}`);
  }
  return { config, out };
}

function main(argv: readonly string[]): number {
  try {
    const { config, out } = parseMakeBertArgs(argv);
    const t0 = performance.now();
    const m = writeBertOnnx(out, config);
    const s = ((performance.now() - t0) / 1000).toFixed(2);
    console.log(`${out}: ${(m.bytes / 1e6).toFixed(1)} MB, ${(m.parameters / 1e6).toFixed(2)} M parameters, ${m.nodes} nodes (${s} s)`);
    return 0;
  } catch (e) {
    if (e instanceof Ig3dcError) {
      console.error(`make-bert: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
