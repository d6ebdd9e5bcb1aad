// The plaintext evaluator: float64 reference semantics of any IR graph.
//
// Nodes run in graph order; each intermediate is dropped after its last user so memory
// stays bounded by the live values, not the whole graph.

import { Ig3dcError } from './diagnostics.ts';
import type { Graph } from './graph.ts';
import type { Attrs, Node } from './node.ts';
import { CONST_OP, INPUT_OP, isElided } from './node.ts';
import { completeAttrs, findOp } from './op.ts';
import { Tensor } from './tensor.ts';
import { formatType, isFloatType, isIntType, shapesEqual, type ElemType, type ValueType } from './types.ts';
import { convertStorage } from './ops/cast.ts';
import { rangeLength } from './ops/range.ts';
import './ops/index.ts';

export interface EvaluateOptions {
  /** Called with every node's value as soon as it is computed (inputs and constants too). */
  readonly onValue?: (node: Node, value: Tensor) => void;
}

/**
 * Runs the graph on named input tensors; returns the graph outputs by name. Inputs must
 * have exactly the declared element type and shape (convert with `coerceInput`).
 */
export function evaluate(graph: Graph, inputs: ReadonlyMap<string, Tensor>, options: EvaluateOptions = {}): Map<string, Tensor> {
  const declared = new Set(graph.inputs.map((n) => n.name!));
  for (const name of inputs.keys()) {
    if (!declared.has(name)) {
      throw new Ig3dcError('input', `unknown input '${name}' (the graph's inputs are: ${[...declared].join(', ') || 'none'})`, { node: name });
    }
  }
  const order = graph.nodes();
  // remaining users per node; graph outputs are never freed
  const remaining = new Map<Node, number>();
  for (const n of order) for (const i of new Set(n.inputs)) remaining.set(i, (remaining.get(i) ?? 0) + 1);
  const keep = new Set(graph.outputs.map((o) => o.node));
  const values = new Map<Node, Tensor>();
  for (const node of order) {
    let value: Tensor;
    if (node.op === INPUT_OP) value = inputValue(node, inputs);
    else value = evaluateNode(node, node.inputs.map((i) => values.get(i)!));
    values.set(node, value);
    options.onValue?.(node, value);
    for (const i of new Set(node.inputs)) {
      const left = remaining.get(i)! - 1;
      remaining.set(i, left);
      if (left === 0 && !keep.has(i)) values.delete(i);
    }
  }
  const out = new Map<string, Tensor>();
  for (const o of graph.outputs) out.set(o.name, values.get(o.node)!);
  return out;
}

function inputValue(node: Node, inputs: ReadonlyMap<string, Tensor>): Tensor {
  const name = node.name!;
  const want = node.type;
  const expected = `${want.elem}[${want.shape.join(',')}]`;
  const t = inputs.get(name);
  if (t === undefined) throw new Ig3dcError('input', `missing input '${name}' (expected ${expected})`, { node: name });
  if (t.dtype !== want.elem) {
    throw new Ig3dcError('input', `input '${name}' has element type ${t.dtype}, expected ${expected}`, { node: name });
  }
  if (!shapesEqual(t.shape, want.shape)) {
    throw new Ig3dcError('input', `input '${name}' has shape [${t.shape.join(',')}], expected ${expected}`, { node: name });
  }
  return t;
}

/**
 * The value of one node given its input values: a Const's data, or the op's evaluator.
 * Errors name the node (its loc name). Input nodes have no value here.
 */
export function evaluateNode(node: Node, inputs: readonly Tensor[]): Tensor {
  const place = node.loc.name !== undefined ? { node: node.loc.name } : {};
  if (node.op === CONST_OP) {
    const d = node.data;
    if (d === undefined || isElided(d)) {
      throw new Ig3dcError('eval', `constant ${node.loc.name !== undefined ? `'${node.loc.name}' ` : ''}(${formatType(node.type)}) has elided data and cannot be evaluated`, place);
    }
    return d;
  }
  if (node.op === INPUT_OP) throw new Ig3dcError('eval', `input '${node.name}' has no value without graph inputs`, place);
  const def = findOp(node.op);
  if (def === undefined) throw new Ig3dcError('unsupported', `unknown op '${node.op}'`, place);
  let value: Tensor;
  try {
    value = def.evaluate(inputs, node.attrs, node.type);
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within(place);
    throw e;
  }
  if (value.dtype !== node.type.elem || !shapesEqual(value.shape, node.type.shape)) {
    throw new Ig3dcError('eval', `${node.op} produced ${value.dtype}[${value.shape.join(',')}] but its type is ${formatType(node.type)}`, place);
  }
  return value;
}

/**
 * Applies an op directly to tensors (constant folding without a node): fills default
 * attributes, infers the type from the tensors (as public values) and evaluates. Range
 * gets its data-dependent `size` filled in.
 */
export function foldOp(op: string, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor {
  const def = findOp(op);
  if (def === undefined) throw new Ig3dcError('unsupported', `unknown op '${op}'`);
  let given = attrs;
  if (op === 'Range' && attrs['size'] === undefined && inputs.length === 3) {
    given = { ...attrs, size: rangeLength(inputs[0]!, inputs[1]!, inputs[2]!) };
  }
  const full = completeAttrs(def, given);
  const types: ValueType[] = inputs.map((t) => ({ elem: t.dtype, shape: t.shape, vis: 'public' }));
  const inferred = def.infer(types, full);
  return def.evaluate(inputs, full, { elem: inferred.elem, shape: inferred.shape, vis: 'public' });
}

/**
 * The tensor converted to the declared element type of an input, when that is safe:
 * between integer types (every value must fit the target, else an 'input' error) and
 * between float types (f64 -> f32 rounds). The shape must already match.
 */
export function coerceInput(tensor: Tensor, type: ValueType | ElemType, name?: string): Tensor {
  const elem = typeof type === 'string' ? type : type.elem;
  if (tensor.dtype === elem) return tensor;
  const label = name !== undefined ? `input '${name}'` : 'input';
  const place = name !== undefined ? { node: name } : {};
  const from = tensor.dtype;
  if (isFloatType(from) && isFloatType(elem)) {
    const data = elem === 'f32' ? Float32Array.from(tensor.toFloat64()) : tensor.toFloat64().slice();
    return new Tensor(elem, tensor.shape, data);
  }
  if (isIntType(from) && isIntType(elem)) {
    const [lo, hi] = INT_RANGES[elem as IntElem];
    for (let i = 0; i < tensor.size; i++) {
      const v = tensor.bigAt(i);
      if (v < lo || v > hi) {
        throw new Ig3dcError('input', `${label}: value ${v} at element ${i} does not fit ${elem} (converting from ${from})`, place);
      }
    }
    const data = convertStorage(tensor.data, elem);
    return new Tensor(elem, tensor.shape, data);
  }
  throw new Ig3dcError('input', `${label} has element type ${from}; it cannot be converted to ${elem} (only integer<->integer and float<->float)`, place);
}

type IntElem = 'i8' | 'i32' | 'i64' | 'u8' | 'u32' | 'u64' | 'ring64';
const INT_RANGES: Record<IntElem, readonly [bigint, bigint]> = {
  i8: [-128n, 127n],
  i32: [-(2n ** 31n), 2n ** 31n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
  u8: [0n, 255n],
  u32: [0n, 2n ** 32n - 1n],
  u64: [0n, 2n ** 64n - 1n],
  ring64: [0n, 2n ** 64n - 1n],
};
