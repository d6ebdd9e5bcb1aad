// Patterns over IR nodes: data that says what a subgraph looks like.
//
// A pattern is a tree: `op('Mul', [any('x'), scalar(1)])` matches a Mul node whose first
// input is anything (captured as `x`) and whose second is a constant whose elements are all
// 1. A name captured twice must bind the same node (`op('Sub', [any('x'), any('x')])` is
// `x - x`). Predicates sit next to what they constrain, as in MLIR's PDLL; `either` tries
// alternatives in order (tinygrad's UPat with several sources).

import type { AttrValue, Node } from '../ir/node.ts';
import { CONST_OP, constValue } from '../ir/node.ts';
import type { Tensor } from '../ir/tensor.ts';

export type Pattern = AnyPattern | OpPattern | ConstPattern | EitherPattern;

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
  /** Attributes that must have exactly these values, or satisfy these predicates. */
  readonly attrs?: Readonly<Record<string, AttrValue | ((value: AttrValue | undefined) => boolean)>>;
  /** Checked after the inputs matched, with the captures so far. */
  readonly where?: (node: Node, captures: Captures) => boolean;
  readonly capture?: string;
}

export interface ConstPattern {
  readonly kind: 'const';
  readonly capture?: string;
  readonly where?: (value: Tensor, node: Node) => boolean;
}

export interface EitherPattern {
  readonly kind: 'either';
  readonly alternatives: readonly Pattern[];
}

export type Captures = Readonly<Record<string, Node>>;

export interface OpPatternOptions {
  readonly commutative?: boolean;
  readonly attrs?: OpPattern['attrs'];
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
    ops: typeof ops === 'string' ? [ops] : [...ops],
    ...(inputs !== undefined ? { inputs } : {}),
    ...options,
  };
}

/** A constant with known data (not elided), optionally constrained. */
export function constant(capture?: string, where?: (value: Tensor, node: Node) => boolean): ConstPattern {
  return { kind: 'const', ...(capture !== undefined ? { capture } : {}), ...(where ? { where } : {}) };
}

/** A constant whose every element equals `v` (e.g. the 1 of `x * 1`), any shape; 0 matches -0 too. */
export function scalar(v: number, capture?: string): ConstPattern {
  return constant(capture, (t) => allEqual(t, v));
}

/** A constant whose every element is within `tol` (relative) of `v`, e.g. 1.4142135 for sqrt(2). */
export function approx(v: number, tol = 1e-6, capture?: string): ConstPattern {
  return constant(capture, (t) => {
    if (t.size === 0) return false;
    for (let i = 0; i < t.size; i++) if (!(Math.abs(t.at(i) - v) <= tol * Math.max(1, Math.abs(v)))) return false;
    return true;
  });
}

/** The first of the alternatives that matches (captures from the others are discarded). */
export function either(...alternatives: Pattern[]): EitherPattern {
  return { kind: 'either', alternatives };
}

/** Whether every element of a non-empty tensor equals `v` (with ===, so 0 and -0 are equal). */
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
      const value = node.op === CONST_OP ? constValue(node) : undefined;
      if (value === undefined) return undefined;
      if (pattern.where && !pattern.where(value, node)) return undefined;
      return bind(bound, pattern.capture, node);
    }
    case 'either':
      for (const alt of pattern.alternatives) {
        const caps = match(alt, node, bound);
        if (caps !== undefined) return caps;
      }
      return undefined;
    case 'op': {
      if (!pattern.ops.includes(node.op)) return undefined;
      if (pattern.attrs) {
        for (const [k, want] of Object.entries(pattern.attrs)) {
          const have = node.attrs[k];
          if (typeof want === 'function' ? !want(have) : !attrEquals(have, want)) return undefined;
        }
      }
      if (pattern.inputs !== undefined && pattern.inputs.length !== node.inputs.length) return undefined;
      const orders: (readonly Node[])[] = [node.inputs];
      if (pattern.commutative && node.inputs.length === 2) orders.push([node.inputs[1]!, node.inputs[0]!]);
      for (const inputs of orders) {
        let caps: Captures | undefined = bind(bound, pattern.capture, node);
        if (caps === undefined) return undefined;
        if (pattern.inputs !== undefined) {
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

/** The op kinds a pattern can match at its root, or undefined for any op (used to index rules). */
export function rootOps(pattern: Pattern): readonly string[] | undefined {
  switch (pattern.kind) {
    case 'op':
      return pattern.ops;
    case 'const':
      return [CONST_OP];
    case 'any':
      return undefined;
    case 'either': {
      const all = new Set<string>();
      for (const alt of pattern.alternatives) {
        const ops = rootOps(alt);
        if (ops === undefined) return undefined;
        for (const o of ops) all.add(o);
      }
      return [...all];
    }
  }
}
