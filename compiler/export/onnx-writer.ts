// Accumulates an ONNX graph: nodes, initializers and one namespace of tensor names.
//
// ONNX wants every tensor name unique across inputs, initializers and node outputs, and
// Netron shows node names, so both are made unique here (`name`, `name_1`, ...). Scalar
// constants that expansions need (0.5, 1, -3.4e38) are shared initializers.

import { onnxProto, type AttributeProto, type NodeProto, type TensorProto } from '../frontend/decode.ts';
import { tensorToProto } from '../frontend/tensor-proto.ts';
import { Tensor } from '../../ir/tensor.ts';
import type { ElemType } from '../../ir/types.ts';

/** An ONNX attribute value with its kind (a JS number alone does not say int or float). */
export type OnnxAttr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

export type OnnxAttrs = Readonly<Record<string, OnnxAttr>>;

export const onnxInt = (value: number): OnnxAttr => ({ kind: 'int', value });
export const onnxFloat = (value: number): OnnxAttr => ({ kind: 'float', value });
export const onnxInts = (value: readonly number[]): OnnxAttr => ({ kind: 'ints', value });
export const onnxFloats = (value: readonly number[]): OnnxAttr => ({ kind: 'floats', value });
export const onnxString = (value: string): OnnxAttr => ({ kind: 'string', value });

const AttrType = onnxProto.AttributeProto.AttributeType;

function attributeProto(name: string, a: OnnxAttr): AttributeProto {
  switch (a.kind) {
    case 'int':
      return { name, type: AttrType.INT, i: a.value };
    case 'float':
      return { name, type: AttrType.FLOAT, f: a.value };
    case 'ints':
      return { name, type: AttrType.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: AttrType.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: AttrType.STRING, s: new TextEncoder().encode(a.value) };
  }
}

/** `base`, or `base_1`, `base_2`, ... : the first one not in `taken` (which it joins). */
export function uniqueName(taken: Set<string>, base: string): string {
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  taken.add(name);
  return name;
}

export class OnnxWriter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly #tensorNames = new Set<string>();
  readonly #nodeNames = new Set<string>();
  readonly #scalars = new Map<string, string>();

  /** Marks a tensor name as used (graph inputs and outputs keep their names). */
  reserveTensor(name: string): void {
    this.#tensorNames.add(name);
  }

  hasTensor(name: string): boolean {
    return this.#tensorNames.has(name);
  }

  claimTensor(base: string): string {
    return uniqueName(this.#tensorNames, base);
  }

  claimNode(base: string): string {
    return uniqueName(this.#nodeNames, base);
  }

  /** A new initializer named after `base` (made unique); returns its name. */
  addInitializer(t: Tensor, base: string): string {
    const name = this.claimTensor(base);
    this.initializers.push(tensorToProto(t, name));
    return name;
  }

  /** A shared 0-D initializer holding `value` as `elem`. */
  scalar(value: number, elem: ElemType): string {
    const text = Object.is(value, -0) ? '-0' : String(value);
    const key = `${elem}:${text}`;
    let name = this.#scalars.get(key);
    if (name === undefined) {
      name = this.addInitializer(Tensor.from(elem, [], [value]), `const_${elem}_${text}`);
      this.#scalars.set(key, name);
    }
    return name;
  }

  /** Appends a node with one output; returns the output's name. */
  addNode(opType: string, inputs: readonly string[], attrs: OnnxAttrs, nodeName: string, output: string, docString?: string): string {
    const attribute = Object.entries(attrs).map(([k, v]) => attributeProto(k, v));
    const node: NodeProto = { name: nodeName, opType, domain: '', input: [...inputs], output: [output], attribute };
    if (docString !== undefined) node.docString = docString;
    this.nodes.push(node);
    return output;
  }

  /** Renames a tensor in the nodes from index `from` on (outputs and uses). */
  renameTensor(from: number, oldName: string, newName: string): void {
    for (let k = from; k < this.nodes.length; k++) {
      const n = this.nodes[k]!;
      n.input = (n.input ?? []).map((s) => (s === oldName ? newName : s));
      n.output = (n.output ?? []).map((s) => (s === oldName ? newName : s));
    }
  }
}
