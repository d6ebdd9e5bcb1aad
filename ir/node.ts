// IR nodes: immutable SSA values.
//
// A node is one op applied to input nodes, with attributes, a type and a source location.
// Nodes are immutable; a rewrite builds new nodes and the graph is whatever its outputs
// reach. Every node is single-result.

import type { Tensor } from './tensor.ts';
import type { ValueType } from './types.ts';

export type AttrValue = number | string | boolean | readonly number[] | readonly string[];
export type Attrs = Readonly<Record<string, AttrValue>>;

/** Where a node came from: the ONNX node (or initializer) name, and after raising its encoder layer. */
export interface Loc {
  readonly name?: string;
  readonly layer?: number;
}

/** The data of a constant whose elements were left out of a text dump. */
export interface ElidedData {
  readonly kind: 'elided';
}
export type ConstData = Tensor | ElidedData;

export function isElided(d: ConstData): d is ElidedData {
  return (d as ElidedData).kind === 'elided';
}

/** The two ops that have no inputs and are not in the op table. */
export const INPUT_OP = 'Input';
export const CONST_OP = 'Const';

export interface Node {
  /** Unique per process, in creation order: a stable key, never printed. */
  readonly id: number;
  readonly op: string;
  readonly inputs: readonly Node[];
  readonly attrs: Attrs;
  readonly type: ValueType;
  readonly loc: Loc;
  /** Input nodes: the graph input's name. */
  readonly name?: string;
  /** Const nodes: the elements. */
  readonly data?: ConstData;
}

let nextId = 0;

/** Low-level constructor: no type inference. Use `build` (ir/build.ts) to create op nodes. */
export function rawNode(fields: Omit<Node, 'id'>): Node {
  return Object.freeze({ ...fields, id: nextId++ });
}

export function inputNode(name: string, type: ValueType, loc: Loc = {}): Node {
  return rawNode({ op: INPUT_OP, inputs: [], attrs: {}, type, loc, name });
}

export function constNode(data: ConstData, type: ValueType, loc: Loc = {}): Node {
  return rawNode({ op: CONST_OP, inputs: [], attrs: {}, type, loc, data });
}

/** The tensor of a Const node, or undefined for any other node or elided data. */
export function constValue(n: Node): Tensor | undefined {
  if (n.op !== CONST_OP || n.data === undefined || isElided(n.data)) return undefined;
  return n.data;
}
