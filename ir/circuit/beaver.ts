// The Beaver-triple protocols every other protocol is built from: private x private
// multiply, square, matmul (one round each: the masked operands are opened together) and
// AND of XOR-shared words. Each emits its steps through a CircuitBuilder.

import { typeError } from '../op.ts';
import { shapesEqual } from '../types.ts';
import type { CircuitBuilder } from './builder.ts';
import type { Reg } from './types.ts';

export interface MulOptions {
  /** Truncate the product back by f bits (default true). */
  readonly truncate?: boolean;
  /**
   * Open an operand that depends on no client input (a weight) on its own, so that its
   * opening lands in the preprocessing phase (default true). False opens both together
   * in one step, as CrypTen does.
   */
  readonly separateWeightOpen?: boolean;
}

/** Opens x - a and y - b: together, or apart when exactly one of them is client-independent. */
function openPair(b: CircuitBuilder, x: Reg, y: Reg, opts: MulOptions): [Reg, Reg] {
  const apart = opts.separateWeightOpen !== false && b.dependsOnClient(x) !== b.dependsOnClient(y);
  if (!apart) {
    const [e, f] = b.open([x, y]);
    return [e!, f!];
  }
  const [e] = b.open([x]);
  const [f] = b.open([y]);
  return [e!, f!];
}

function maybeTrunc(b: CircuitBuilder, z: Reg, opts: MulOptions): Reg {
  return opts.truncate === false ? z : b.trunc(z, b.f);
}

/** x * y element-wise (equal shapes): open x-a, y-b; z = c + e*b + f*a + e*f. 32 bytes/element on the wire. */
export function beaverMul(b: CircuitBuilder, x: Reg, y: Reg, opts: MulOptions = {}): Reg {
  return b.withProtocol('beaver-mul', () => {
    if (!shapesEqual(x.shape, y.shape)) typeError(`beaverMul needs equal shapes, got [${x.shape.join(',')}] and [${y.shape.join(',')}]`);
    const [a, bb, c] = b.dealer.beaver(x.shape, [x.scale, y.scale]);
    const [e, f] = openPair(b, b.sub(x, a), b.sub(y, bb), opts);
    const z = b.addPub(b.add(b.add(c, b.mulPub(bb, e)), b.mulPub(a, f)), b.mulPP(e, f));
    return maybeTrunc(b, z, opts);
  });
}

/** x * x: open x-r; x^2 = r2 + 2*e*r + e^2. 16 bytes/element. */
export function beaverSquare(b: CircuitBuilder, x: Reg, opts: MulOptions = {}): Reg {
  return b.withProtocol('beaver-square', () => {
    const [r, r2] = b.dealer.beaverSquare(x.shape, x.scale);
    const [e] = b.open([b.sub(x, r)]);
    const twoE = b.addPP(e!, e!);
    const z = b.addPub(b.add(r2, b.mulPub(r, twoE)), b.mulPP(e!, e!));
    return maybeTrunc(b, z, opts);
  });
}

/** x @ y, both shared ([..,m,k] @ [..,k,n], equal batch dims): open X-A, Y-B; Z = C + E@B + A@F + E@F. 16(mk+kn) bytes. */
export function beaverMatmul(b: CircuitBuilder, x: Reg, y: Reg, opts: MulOptions = {}): Reg {
  return b.withProtocol('beaver-matmul', () => {
    const batch = x.shape.slice(0, -2);
    if (x.shape.length < 2 || !shapesEqual(batch, y.shape.slice(0, -2))) {
      typeError(`beaverMatmul needs equal batch dimensions, got [${x.shape.join(',')}] and [${y.shape.join(',')}]`);
    }
    const m = x.shape[x.shape.length - 2]!;
    const k = x.shape[x.shape.length - 1]!;
    const n = y.shape[y.shape.length - 1]!;
    const [A, B, C] = b.dealer.beaverMatmul(m, k, n, batch, [x.scale, y.scale]);
    const [e, f] = openPair(b, b.sub(x, A), b.sub(y, B), opts);
    const z = b.addPub(b.add(b.add(C, b.matmulPub(e, B)), b.matmulPub(A, f)), b.matmulPP(e, f));
    return maybeTrunc(b, z, opts);
  });
}

/** x AND y on XOR-shared words: open x^a, y^b; z = c ^ (e&b) ^ (f&a) ^ (e&f). */
export function beaverAnd(b: CircuitBuilder, x: Reg, y: Reg): Reg {
  return b.withProtocol('beaver-and', () => {
    const [a, bb, c] = b.dealer.beaverAnd(x.shape);
    const [e, f] = b.openB([b.xor(x, a), b.xor(y, bb)]);
    return b.xorPub(b.xor(b.xor(c, b.andPub(bb, e!)), b.andPub(a, f!)), b.andPP(e!, f!));
  });
}
