// Patterns over IR nodes: data that says what a subgraph looks like.
//
// A pattern is a tree: `op('Mul', [any('x'), scalar(1)])` matches a Mul node whose first
// input is anything (captured as `x`) and whose second is a constant whose elements are all
// 1. A name captured twice must bind the same node (`op('Sub', [any('x'), any('x')])` is
// `x - x`). Predicates sit next to what they constrain, as in MLIR's PDLL.

import type { AttrValue, Node } from '../ir/node.ts';
import { CONST_OP, constValue } from '../ir/node.ts';
import type { Tensor } from '../ir/tensor.ts';

export type Pattern = AnyPattern | OpPattern | ConstPattern;

export interface AnyPattern {
  readonly kind: 'any';
  readonly capture?: string;
  readonly where?: (node: Node) => boolean;
}

export interface OpPattern {
  readonly kind: 'op';
  readonly ops: readonly string[];
  /** Input patterns; absent: any inputs. Otherwise the arity must be equal. */
  readonly inputs?: readonly Pattern[];
  /** For two-input ops: also try the inputs swapped. */
  readonly commutative?: boolean;
  /** Attributes that must have exactly these values. */
  readonly attrs?: Readonly<Record<string, AttrValue>>;
  /** Checked after the inputs matched, with the captures so far. */
  readonly where?: (node: Node, captures: Captures) => boolean;
  readonly capture?: string;
}

export interface ConstPattern {
  readonly kind: 'const';
  readonly capture?: string;
  readonly where?: (value: Tensor, node: Node) => boolean;
}

export type Captures = Readonly<Record<string, Node>>;

export interface OpPatternOptions {
  readonly commutative?: boolean;
  readonly attrs?: Readonly<Record<string, AttrValue>>;
  readonly where?: (node: Node, captures: Captures) => boolean;
  readonly capture?: string;
}

/** Any node, optionally captured. */
export function any(capture?: string, where?: (node: Node) => boolean): AnyPattern {
  return { kind: 'any', ...(capture !== undefined ? { capture } : {}), ...(where ? { where } : {}) };
}

/** A node of one of the op kinds, with input patterns. */
export function op(ops: string | readonly string[], inputs?: readonly Pattern[], options: OpPatternOptions = {}): OpPattern {
  return {
    kind: 'op',
    ops: typeof ops === 'string' ? [ops] : ops,
    ...(inputs !== undefined ? { inputs } : {}),
    ...options,
  };
}

/** A constant with known data, optionally constrained. */
export function constant(capture?: string, where?: (value: Tensor, node: Node) => boolean): ConstPattern {
  return { kind: 'const', ...(capture !== undefined ? { capture } : {}), ...(where ? { where } : {}) };
}

/** A constant whose every element equals `v` (e.g. the 1 of `x * 1`), any shape. */
export function scalar(v: number, capture?: string): ConstPattern {
  return constant(capture, (t) => allEqual(t, v));
}

/** A constant whose every element is within `tol` (relative) of `v`, e.g. 1.4142135 for sqrt(2). */
export function approx(v: number, tol = 1e-6, capture?: string): ConstPattern {
  return constant(capture, (t) => t.size > 0 && t.toNumbers().every((x) => Math.abs(x - v) <= tol * Math.max(1, Math.abs(v))));
}

export function allEqual(t: Tensor, v: number): boolean {
  if (t.size === 0) return false;
  for (let i = 0; i < t.size; i++) if (t.at(i) !== v) return false;
  return true;
}

/**
 * Matches `pattern` at `node`. Returns the captures, or undefined. `bound` carries the
 * captures of an enclosing match (so a name used twice binds one node).
 */
export function match(pattern: Pattern, node: Node, bound: Captures = {}): Captures | undefined {
  switch (pattern.kind) {
    case 'any':
      if (pattern.where && !pattern.where(node)) return undefined;
      return bind(bound, pattern.capture, node);
    case 'const': {
      if (node.op !== CONST_OP) return undefined;
      const value = constValue(node);
      if (value === undefined) return undefined;
      if (pattern.where && !pattern.where(value, node)) return undefined;
      return bind(bound, pattern.capture, node);
    }
    case 'op': {
      if (!pattern.ops.includes(node.op)) return undefined;
      if (pattern.attrs) {
        for (const [k, v] of Object.entries(pattern.attrs)) if (!attrEquals(node.attrs[k], v)) return undefined;
      }
      const orders: (readonly Node[])[] = [node.inputs];
      if (pattern.commutative && node.inputs.length === 2) orders.push([node.inputs[1]!, node.inputs[0]!]);
      for (const inputs of orders) {
        let caps: Captures | undefined = bind(bound, pattern.capture, node);
        if (caps === undefined) return undefined;
        if (pattern.inputs !== undefined) {
          if (pattern.inputs.length !== inputs.length) return undefined;
          for (let i = 0; i < inputs.length && caps !== undefined; i++) caps = match(pattern.inputs[i]!, inputs[i]!, caps);
        }
        if (caps !== undefined && (!pattern.where || pattern.where(node, caps))) return caps;
      }
      return undefined;
    }
  }
}

function bind(bound: Captures, name: string | undefined, node: Node): Captures | undefined {
  if (name === undefined) return bound;
  const prev = bound[name];
  if (prev !== undefined) return prev === node ? bound : undefined;
  return { ...bound, [name]: node };
}

export function attrEquals(a: AttrValue | undefined, b: AttrValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}
