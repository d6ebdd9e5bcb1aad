// The IR verifier: the invariants every graph holds between passes.
//
// Rules: no cycles; graph inputs are Input nodes with unique names, and every Input node the
// outputs reach is a graph input; output names are unique; Const nodes carry data of their
// type's size in the compact storage of its element type (or elided data); every other op is
// registered, has a valid arity and complete, valid attributes, and its type (shape, element
// type and visibility) is exactly what its type rule gives. Errors name the value as the
// printer numbers it (`%12 = MatMul`) and its loc name when it has one.

import { build } from './build.ts';
import { Ig3dcError } from './diagnostics.ts';
import type { Graph } from './graph.ts';
import { CONST_OP, INPUT_OP, isElided, type Node } from './node.ts';
import { completeAttrs, findOp } from './op.ts';
import { formatValueName, valueNamesOf } from './printer.ts';
import { allocStorage } from './tensor.ts';
import { formatType, numel, shapesEqual, typesEqual } from './types.ts';

/** Throws Ig3dcError('verify') naming the first value that breaks a rule. */
export function verifyGraph(graph: Graph): void {
  const inputSet = new Set<Node>();
  const inputNames = new Set<string>();
  graph.inputs.forEach((n, i) => {
    if (n.op !== INPUT_OP) fail(`graph input ${i} is a ${n.op} node, not an Input`, n);
    if (typeof n.name !== 'string') fail(`graph input ${i} has no name`, n);
    if (inputNames.has(n.name)) fail(`graph input name ${formatValueName(n.name)} is used twice`, n);
    inputNames.add(n.name);
    inputSet.add(n);
  });
  const outputNames = new Set<string>();
  for (const o of graph.outputs) {
    if (outputNames.has(o.name)) fail(`output name '${o.name}' is used twice`);
    outputNames.add(o.name);
  }

  const order = acyclicOrder(graph);
  const names = valueNamesOf(order);
  for (const n of order) {
    const label = `${formatValueName(names.get(n)!)} = ${n.op}`;
    const bad: (rule: string) => never = (rule) => fail(`${label}: ${rule}`, n);
    if (n.op === INPUT_OP) {
      if (n.inputs.length !== 0) bad('an Input node has no operands');
      if (!inputSet.has(n)) bad('this Input node is not a graph input');
      continue;
    }
    if (n.op === CONST_OP) {
      if (n.inputs.length !== 0) bad('a Const node has no operands');
      const data = n.data;
      if (data === undefined) bad('a Const node needs data');
      if (isElided(data)) continue;
      if (data.dtype !== n.type.elem) bad(`data is ${data.dtype} but the type says ${n.type.elem}`);
      if (!shapesEqual(data.shape, n.type.shape)) bad(`data has shape [${data.shape.join(',')}] but the type says [${n.type.shape.join(',')}]`);
      const storage = allocStorage(n.type.elem, 0);
      if (data.data.constructor !== storage.constructor) {
        bad(`${n.type.elem} data must be stored in a ${storage.constructor.name}, not a ${data.data.constructor.name}`);
      }
      if (data.data.length !== numel(n.type.shape)) bad(`data has ${data.data.length} elements but ${formatType(n.type)} has ${numel(n.type.shape)}`);
      continue;
    }
    const def = findOp(n.op);
    if (def === undefined) bad(`unknown op '${n.op}'`);
    let rebuilt: Node;
    try {
      const full = completeAttrs(def, n.attrs);
      const missing = Object.keys(full).filter((k) => !(k in n.attrs));
      if (missing.length > 0) bad(`attribute${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')} missing (defaults must be filled in, as build() does)`);
      rebuilt = build(n.op, n.inputs, n.attrs, {});
    } catch (e) {
      if (e instanceof Ig3dcError && e.kind !== 'verify') bad(e.detail);
      throw e;
    }
    if (!typesEqual(rebuilt.type, n.type)) bad(`type is ${formatType(n.type)} but ${n.op} gives ${formatType(rebuilt.type)}`);
  }
}

function fail(detail: string, node?: Node): never {
  const name = node?.loc.name;
  throw new Ig3dcError('verify', detail, name !== undefined ? { node: name } : {});
}

/**
 * The nodes in the printer's order (`topoOrder`), with cycles reported as verify errors
 * rather than crashes. Iterative, so long chains do not overflow the stack.
 */
function acyclicOrder(graph: Graph): Node[] {
  const order: Node[] = [];
  const done = new Set<Node>();
  for (const i of graph.inputs) {
    if (done.has(i)) continue;
    done.add(i);
    order.push(i);
  }
  const onStack = new Set<Node>();
  const stack: { node: Node; next: number }[] = [];
  for (const { node: root } of graph.outputs) {
    if (done.has(root)) continue;
    stack.push({ node: root, next: 0 });
    onStack.add(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.node.inputs.length) {
        const child = top.node.inputs[top.next++]!;
        if (done.has(child)) continue;
        if (onStack.has(child)) fail(`cycle: a ${child.op} node depends on itself (through ${stack.length - stack.findIndex((f) => f.node === child)} node(s))`, child);
        onStack.add(child);
        stack.push({ node: child, next: 0 });
      } else {
        stack.pop();
        onStack.delete(top.node);
        done.add(top.node);
        order.push(top.node);
      }
    }
  }
  return order;
}
