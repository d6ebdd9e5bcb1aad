// Small predicates and pattern helpers shared by the raising rules.

import type { Node } from '../../ir/node.ts';
import { CONST_OP, constValue } from '../../ir/node.ts';
import { isFloatType, isIntType } from '../../ir/types.ts';
import type { Captures } from '../pattern.ts';

/** A constant (data may be elided in a text dump) of float elements and the given rank: a weight. */
export function isWeight(rank: number): (n: Node) => boolean {
  return (n) => n.op === CONST_OP && isFloatType(n.type.elem) && n.type.shape.length === rank;
}

/** A non-constant integer tensor: token ids, the padding mask. */
export function isIntValue(n: Node): boolean {
  return n.op !== CONST_OP && isIntType(n.type.elem);
}

/** The single value of a constant holding one element (any rank), else undefined. */
export function scalarValue(n: Node): number | undefined {
  const v = constValue(n);
  return v !== undefined && v.size === 1 ? v.at(0) : undefined;
}

/** Whether `axes` (a reduce attribute) names exactly the last axis of a rank-`rank` input. */
export function isLastAxisOnly(axes: unknown, rank: number): boolean {
  return Array.isArray(axes) && axes.length === 1 && (axes[0] === rank - 1 || axes[0] === -1);
}

/** Whether `axis` (a normalized or negative axis attribute) is the last axis of rank `rank`. */
export function isLastAxis(axis: unknown, rank: number): boolean {
  return typeof axis === 'number' && rank > 0 && (axis === rank - 1 || axis === -1);
}

/** Whether the permutation attribute of a Transpose equals `perm`. */
export function hasPerm(n: Node, perm: readonly number[]): boolean {
  const p = n.attrs['perm'];
  return Array.isArray(p) && p.length === perm.length && p.every((x, i) => x === perm[i]);
}

/** [0, 1, ..., n-1]: the head ids of an unpruned layer. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The captured node `name` (the rule's pattern guarantees it is there). */
export function cap(c: Captures, name: string): Node {
  const n = c[name];
  if (n === undefined) throw new Error(`internal: pattern capture '${name}' missing`);
  return n;
}
