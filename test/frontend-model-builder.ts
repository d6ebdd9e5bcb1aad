// Small ONNX models for frontend tests, encoded with onnx-proto.

import { onnxProto, type NodeProto, type TensorProto } from '../compiler/frontend/decode.ts';
import { onnxFromElem, tensorToProto } from '../compiler/frontend/tensor-proto.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { ElemType } from '../ir/types.ts';

export interface ValueSpec {
  readonly name: string;
  readonly elem: ElemType;
  /** numbers are fixed sizes, strings dim_params, null an unknown dim; undefined: no shape at all. */
  readonly dims?: readonly (number | string | null)[];
}

export interface ModelSpec {
  readonly opset?: number;
  readonly irVersion?: number;
  readonly graphName?: string;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly nodes: readonly NodeProto[];
  readonly initializers?: ReadonlyMap<string, Tensor>;
  /** Extra opset_import entries, e.g. { domain: 'com.microsoft', version: 1 }. */
  readonly extraOpsets?: readonly { domain: string; version: number }[];
}

function valueInfo(v: ValueSpec): object {
  const tensorType: Record<string, unknown> = { elemType: onnxFromElem(v.elem) };
  if (v.dims !== undefined) {
    tensorType.shape = { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) };
  }
  return { name: v.name, type: { tensorType } };
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  const initializer: TensorProto[] = [...(spec.initializers ?? new Map<string, Tensor>())].map(([name, t]) => tensorToProto(t, name));
  return onnxProto.ModelProto.encode({
    irVersion: spec.irVersion ?? 8,
    producerName: 'ig3dc-test',
    opsetImport: [{ domain: '', version: spec.opset ?? 14 }, ...(spec.extraOpsets ?? [])],
    graph: {
      name: spec.graphName ?? 'test_graph',
      node: [...spec.nodes],
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer,
    },
  }).finish();
}

/** A NodeProto; attribute values: number (int unless `floats` names it), number[], Tensor, string. */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: Readonly<Record<string, number | readonly number[] | Tensor | string>> = {},
  extra: { name?: string; domain?: string; floatAttrs?: readonly string[] } = {},
): NodeProto {
  const attribute = Object.entries(attrs).map(([name, v]) => {
    const isFloat = extra.floatAttrs?.includes(name) ?? false;
    if (typeof v === 'number') return isFloat ? { name, type: 1, f: v } : { name, type: 2, i: v };
    if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return isFloat ? { name, type: 6, floats: [...v] } : { name, type: 7, ints: [...v] };
    return { name, type: 4, t: tensorToProto(v as Tensor, name) };
  });
  return { opType, input: [...inputs], output: [...outputs], attribute, name: extra.name ?? outputs[0] ?? opType, domain: extra.domain ?? '' };
}
