// Vector-Jacobian products as graph builders: the reverse-mode rule of an op written with IR
// ops, so that a model's backward pass becomes part of a graph that can be printed,
// verified, evaluated or exported to ONNX and run by another engine. The numeric rules
// (vjp.ts) remain the reference; every graph rule is checked against them.

import { build } from '../build.ts';
import { Ig3dcError } from '../diagnostics.ts';
import type { Attrs, Loc, Node } from '../node.ts';
import { constNode } from '../node.ts';
import { Tensor } from '../tensor.ts';
import { shapesEqual, type ElemType, type Shape } from '../types.ts';

export interface GraphVjpArgs {
  /** The forward node; its inputs and the node itself are available as values. */
  readonly node: Node;
  /** dL/d(node), a node of the same shape. */
  readonly grad: Node;
  /** needs[i]: the caller wants dL/d(input i). */
  readonly needs: readonly boolean[];
  /** Builds the gradient nodes (typed like the forward node, located at it). */
  readonly b: GradBuilder;
}

/** dL/d(input i) as a node for each needed input (undefined for the others). */
export type GraphVjp = (a: GraphVjpArgs) => readonly (Node | undefined)[];

/** Node construction for gradient rules: one element type, one source location. */
export class GradBuilder {
  readonly elem: ElemType;
  readonly #loc: Loc;

  constructor(forward: Node) {
    this.elem = forward.type.elem;
    this.#loc = { ...forward.loc, ...(forward.loc.name !== undefined ? { name: `${forward.loc.name}/grad` } : {}) };
  }

  op(name: string, inputs: readonly Node[], attrs: Attrs = {}): Node {
    return build(name, inputs, attrs, this.#loc);
  }

  scalar(value: number): Node {
    return constNode(Tensor.scalar(this.elem, value), { elem: this.elem, shape: [], vis: 'public' });
  }

  add(a: Node, b: Node): Node {
    return this.op('Add', [a, b]);
  }
  sub(a: Node, b: Node): Node {
    return this.op('Sub', [a, b]);
  }
  mul(a: Node, b: Node): Node {
    return this.op('Mul', [a, b]);
  }
  div(a: Node, b: Node): Node {
    return this.op('Div', [a, b]);
  }
  scale(a: Node, c: number): Node {
    return c === 1 ? a : this.mul(a, this.scalar(c));
  }
  matmul(a: Node, b: Node): Node {
    return this.op('MatMul', [a, b]);
  }
  /** Swaps the last two axes. */
  transposeLast(x: Node): Node {
    const r = x.type.shape.length;
    const perm = Array.from({ length: r }, (_, i) => i);
    [perm[r - 2], perm[r - 1]] = [r - 1, r - 2];
    return this.op('Transpose', [x], { perm });
  }
  reshape(x: Node, shape: Shape): Node {
    return shapesEqual(x.type.shape, shape) ? x : this.op('Reshape', [x], { shape: [...shape] });
  }
  /** Mean over the last axis, kept as size 1. */
  meanLast(x: Node): Node {
    return this.op('ReduceMean', [x], { axes: [-1], keepdims: 1 });
  }
  zeros(shape: Shape): Node {
    return this.op('Expand', [this.scalar(0)], { shape: [...shape] });
  }

  /**
   * Sums a gradient of a broadcast result back to an operand of shape `shape` (the
   * transpose of numpy broadcasting).
   */
  sumTo(g: Node, shape: Shape): Node {
    const gs = g.type.shape;
    if (shapesEqual(gs, shape)) return g;
    const lead = gs.length - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < gs.length; i++) if (i < lead || (shape[i - lead] === 1 && gs[i] !== 1)) axes.push(i);
    const summed = axes.length === 0 ? g : this.op('ReduceSum', [g], { axes, keepdims: 1 });
    return this.reshape(summed, shape);
  }

  unsupported(node: Node, why: string): never {
    throw new Ig3dcError('unsupported', `no gradient graph for ${node.op}: ${why}`, node.loc.name !== undefined ? { node: node.loc.name } : {});
  }
}
