// Linear layer X W with X shared and W a server weight. `beaver` (CrypTen's) shares W and runs
// the matrix Beaver protocol (arith.ts). `cross`: the server keeps W to itself and the product is
// a cross product of P1's share of X with W (ir/circuit/gates/cross.ts): P0 multiplies its own
// share exactly; P1 sends X1 - A to P0 alone online (8 |X| bytes instead of 16 |X|), P0 sends
// W - B to P1 alone in preprocessing (8 |W| instead of 16 |W|); online only P0 multiplies densely.
// The product is at the scales' sum and truncated back as every product is (the configured
// truncation, local or exact).

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { rescale } from './arith.ts';

/** X [..lead, k] (shared) @ W [k, n] (held by the server, own0): shares of [..lead, n]. */
export function linearCross(b: CircuitBuilder, x: Reg, w: Reg): Reg {
  return b.withProtocol('linear-cross', () => {
    const k = x.shape[x.shape.length - 1]!;
    const [a, mask] = b.dealer.crossMask(x.shape.slice(0, -1), k, w.shape[1]!, [x.scale, w.scale]);
    const f = b.send(w, mask);
    const e = b.send(x, a);
    return rescale(b, b.crossCombineShared(x, e, w, a, f, b.dealer.crossTriple(a, mask)));
  });
}
