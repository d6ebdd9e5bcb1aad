// Decoding ONNX files: protobuf bytes -> a validated ModelProto.
//
// protobufjs decodes almost any byte string into *something* (or throws arbitrary errors
// on malformed wire data), so decoding is followed by a structural check of everything the
// importer relies on: a graph, an IR version and a default-domain opset we support, nodes
// with op types and string input/output names. Every failure is an Ig3dcError naming the file.

import pkg from 'onnx-proto';
import type { onnx as OnnxNs } from 'onnx-proto';
import { Ig3dcError } from '../../ir/diagnostics.ts';

const { onnx } = pkg;

/** What protobufjs decodes an int64 field into (a Long from the 'long' package). */
export interface LongLike {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
  toNumber(): number;
}

export type ModelProto = OnnxNs.ModelProto;
export type GraphProto = OnnxNs.IGraphProto;
export type NodeProto = OnnxNs.INodeProto;
export type TensorProto = OnnxNs.ITensorProto;
export type ValueInfoProto = OnnxNs.IValueInfoProto;
export type AttributeProto = OnnxNs.IAttributeProto;

/** The protobufjs module of ONNX messages (encode/decode), for callers that build models. */
export const onnxProto: typeof OnnxNs = onnx;

/** ONNX IR versions we read (ONNX 1.2 .. 1.15). Newer fields are dropped by the decoder. */
export const IR_VERSION_RANGE = [3, 9] as const;
/** Opset versions of the default ONNX domain we import. */
export const OPSET_RANGE = [11, 18] as const;

/** Domains that mean the default ONNX operator set. */
export function isDefaultDomain(domain: string | null | undefined): boolean {
  return domain === undefined || domain === null || domain === '' || domain === 'ai.onnx';
}

/** A protobuf int64 (a Long, or a number when no Long library is present) as a JS number. */
export function longToNumber(v: number | LongLike | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  return v.toNumber();
}

/** A protobuf int64 as an exact bigint (signed unless the Long says unsigned). */
export function longToBigInt(v: number | LongLike | null | undefined, unsigned = false): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  const big = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned || v.unsigned ? big : BigInt.asIntN(64, big);
}

/** A decoded and structurally checked model with the facts the importer needs. */
export interface DecodedModel {
  readonly model: ModelProto;
  readonly graph: GraphProto;
  readonly irVersion: number;
  /** Version of the default ONNX domain. */
  readonly opset: number;
  readonly producer: string;
}

/**
 * Decodes and validates an ONNX model. Throws Ig3dcError 'decode' for bytes that are not
 * an ONNX model and 'unsupported' for an IR version or opset outside what we read.
 */
export function decodeModel(bytes: Uint8Array, file?: string): DecodedModel {
  const place = file !== undefined ? { file } : {};
  if (bytes.length === 0) throw new Ig3dcError('decode', 'empty file: expected an ONNX model (a protobuf ModelProto)', place);
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Ig3dcError('decode', `not a valid ONNX model (protobuf decoding failed: ${why}); the file may be truncated or not ONNX`, place);
  }
  const fail = (what: string): never => {
    throw new Ig3dcError('decode', `not a valid ONNX model: ${what}`, place);
  };
  const irVersion = safeLong(model.irVersion);
  if (irVersion === undefined || irVersion <= 0) fail('no ir_version (expected a ModelProto with ir_version and a graph)');
  const graph = model.graph;
  if (graph === null || graph === undefined || typeof graph !== 'object') fail('the model has no graph');
  const [irMin, irMax] = IR_VERSION_RANGE;
  if (irVersion! < irMin || irVersion! > irMax) {
    throw new Ig3dcError('unsupported', `ONNX IR version ${irVersion} is not supported (expected ${irMin} to ${irMax})`, place);
  }

  if (!Array.isArray(model.opsetImport)) fail('opset_import is malformed');
  let opset: number | undefined;
  for (const o of model.opsetImport) {
    if (o === null || typeof o !== 'object') fail('opset_import is malformed');
    if (isDefaultDomain(o.domain)) opset = safeLong(o.version);
  }
  if (opset === undefined) fail('no opset_import for the default ONNX domain');
  const [opMin, opMax] = OPSET_RANGE;
  if (opset! < opMin || opset! > opMax) {
    throw new Ig3dcError(
      'unsupported',
      `opset ${opset} of the default ONNX domain is not supported (expected ${opMin} to ${opMax}; re-export the model with an opset in that range, e.g. torch.onnx.export(..., opset_version=14))`,
      place,
    );
  }
  validateGraph(graph!, fail);
  const producer = [str(model.producerName), str(model.producerVersion)].filter((s) => s !== '').join(' ');
  return { model, graph: graph!, irVersion: irVersion!, opset: opset!, producer };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** An int64 field as a number, or undefined when it is not a safe integer. */
function safeLong(v: number | LongLike | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  const n = longToNumber(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function validateGraph(graph: GraphProto, fail: (what: string) => never): void {
  for (const key of ['node', 'initializer', 'input', 'output'] as const) {
    const list = graph[key];
    if (list !== undefined && list !== null && !Array.isArray(list)) fail(`graph.${key} is malformed`);
  }
  const nodes = graph.node ?? [];
  nodes.forEach((n, k) => {
    if (n === null || typeof n !== 'object') fail(`node #${k} is malformed`);
    const label = typeof n.name === 'string' && n.name !== '' ? `node '${n.name}'` : `node #${k}`;
    if (typeof n.opType !== 'string' || n.opType === '') fail(`${label} has no op_type`);
    for (const io of ['input', 'output'] as const) {
      const names = n[io];
      if (names !== undefined && names !== null && (!Array.isArray(names) || !names.every((s) => typeof s === 'string'))) {
        fail(`${label} (${n.opType}) has malformed ${io}s`);
      }
    }
    if ((n.output ?? []).length === 0) fail(`${label} (${n.opType}) has no outputs`);
    for (const a of n.attribute ?? []) {
      if (a === null || typeof a !== 'object' || typeof a.name !== 'string' || a.name === '') {
        fail(`${label} (${n.opType}) has an attribute without a name`);
      }
    }
  });
  for (const key of ['input', 'output'] as const) {
    (graph[key] ?? []).forEach((v, k) => {
      if (v === null || typeof v !== 'object' || typeof v.name !== 'string' || v.name === '') fail(`graph ${key} #${k} has no name`);
    });
  }
  (graph.initializer ?? []).forEach((t, k) => {
    if (t === null || typeof t !== 'object' || typeof t.name !== 'string' || t.name === '') fail(`initializer #${k} has no name`);
  });
  if ((graph.output ?? []).length === 0) fail('the graph has no outputs');
}
