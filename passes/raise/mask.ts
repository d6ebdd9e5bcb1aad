// The additive attention mask as exporters build it from the padding mask m (1 = attend):
// (1 - float(m)) * big, or Where(bool(1 - float(m)), big, 1 - float(m)) (transformers >= 4.36),
// with big any huge negative number (float32 min in torch's export). AttentionMask(m) is the
// same information as a 0/1 keep mask.

import type { Node } from '../../ir/node.ts';
import { CONST_OP } from '../../ir/node.ts';
import { isFloatType, shapesEqual } from '../../ir/types.ts';
import { any, constant, either, match, op, scalar, type Pattern } from '../pattern.ts';

/** Anything at or below this is "minus infinity" for an additive mask. */
export const MASK_BIG_NEGATIVE = -1e30;

const big = constant(undefined, (t) => t.size === 1 && t.at(0) <= MASK_BIG_NEGATIVE);

// 1 - float(m), or 1 - m for a mask that is already float
const oneMinusMask = either(
  op('Sub', [scalar(1), op('Cast', [any('m')], { where: (n) => isFloatType(n.type.elem) })], { capture: 'inv' }),
  op('Sub', [scalar(1), any('m', (n) => n.op !== CONST_OP && n.op !== 'Cast' && isFloatType(n.type.elem))], { capture: 'inv' }),
);

/** "Additive mask from the padding mask m", as exporters spell it; captures m. */
export const ADDITIVE_MASK: Pattern = either(
  // (1 - m) * big
  op('Mul', [oneMinusMask, big], { commutative: true }),
  // Where(bool(1 - m), big, 1 - m)
  op('Where', [op('Cast', [oneMinusMask], { attrs: { to: 'bool' } }), big, any('inv')]),
);

/** The padding mask m when `n` is an additive mask built from it, else undefined. */
export function additiveMaskSource(n: Node): Node | undefined {
  return match(ADDITIVE_MASK, n)?.['m'];
}

/**
 * What AttentionMask should read for scores of batch B and S keys: the [B, S] mask the
 * exporter reshaped to [B, 1, 1, S] when it is there, else m itself when it is [B, 1, 1, S].
 */
export function keepMaskInput(m: Node, B: number, S: number): Node | undefined {
  for (let n: Node | undefined = m; n !== undefined; n = n.op === 'Reshape' ? n.inputs[0] : undefined) {
    if (shapesEqual(n.type.shape, [B, S])) return n;
  }
  return shapesEqual(m.type.shape, [B, 1, 1, S]) ? m : undefined;
}
