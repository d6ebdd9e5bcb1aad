// Shape and attribute checks shared by the transformer-level type rules.

import { typeError } from '../../op.ts';
import type { ElemType, ValueType } from '../../types.ts';
import { fmtShape } from '../broadcast.ts';
import { requireFloat } from '../check.ts';

/** The input has exactly `rank` axes; `layout` names them for the message (e.g. "[B,S,D]"). */
export function requireRank(op: string, t: ValueType, rank: number, what: string, layout: string): void {
  if (t.shape.length !== rank) typeError(`${op}: ${what} must be ${layout} (rank ${rank}), got ${fmtShape(t.shape)}`);
}

/** All given inputs are float and of one element type; returns it. */
export function requireSameFloat(op: string, named: readonly (readonly [string, ValueType | undefined])[]): ElemType {
  let elem: ElemType | undefined;
  let first = '';
  for (const [what, t] of named) {
    if (t === undefined) continue;
    requireFloat(op, t, what);
    if (elem === undefined) {
      elem = t.elem;
      first = what;
    } else if (t.elem !== elem) {
      typeError(`${op}: ${what} is ${t.elem} but ${first} is ${elem}; they must match`);
    }
  }
  return elem!;
}

/** A dimension of one input equals a dimension of another. */
export function requireDim(op: string, got: number, want: number, what: string): void {
  if (got !== want) typeError(`${op}: ${what}: ${got} vs ${want}`);
}

/** `heads` (original head ids of a layer) lists H distinct non-negative ids. */
export function checkHeads(op: string, heads: readonly number[], H: number | undefined): void {
  if (heads.length === 0) typeError(`${op}: heads must list at least one head`);
  const seen = new Set<number>();
  for (const h of heads) {
    if (h < 0) typeError(`${op}: head id ${h} in heads [${heads.join(',')}] is negative`);
    if (seen.has(h)) typeError(`${op}: head id ${h} appears twice in heads [${heads.join(',')}]`);
    seen.add(h);
  }
  if (H !== undefined && heads.length !== H) {
    typeError(`${op}: heads [${heads.join(',')}] names ${heads.length} head${heads.length === 1 ? '' : 's'} but the input has ${H} on axis 1`);
  }
}
