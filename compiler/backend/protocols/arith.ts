// Arithmetic on shares: Beaver products (mul with broadcasting, square, batched matmul),
// each followed by local truncation back to f fractional bits, and the local operations with
// public values and constants every other protocol uses.

import { typeError } from '../../../ir/op.ts';
import { beaverMatmul } from '../../../ir/circuit/beaver.ts';
import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { broadcastShapes, shapesEqual } from '../../../ir/types.ts';
import type { ProtocolConfig } from './config.ts';

/** Truncates a product back to f fractional bits when it carries more. */
export function rescale(b: CircuitBuilder, z: Reg): Reg {
  return z.scale > b.f ? b.trunc(z, z.scale - b.f) : z;
}

/** Opens x - a and y - b: together, or apart when exactly one of them is client-independent (its open is preprocessing). */
function openMasked(b: CircuitBuilder, dx: Reg, dy: Reg, x: Reg, y: Reg): [Reg, Reg] {
  if (b.dependsOnClient(x) !== b.dependsOnClient(y)) {
    const [e] = b.open([dx]) as [Reg];
    const [f] = b.open([dy]) as [Reg];
    return [e, f];
  }
  const [e, f] = b.open([dx, dy]) as [Reg, Reg];
  return [e, f];
}

/**
 * x * y element-wise with numpy broadcasting (Beaver). As CrypTen, the masks have the
 * operands' own shapes, so x - a and y - b cost 16(|x| + |y|) bytes on the wire. Equal shapes
 * use an element-wise triple; broadcast shapes use a matrix triple with inner dimension 1
 * (batch = the axes both span, rows = the axes only x spans, columns = the axes only y
 * spans), whose C = A @ B is exactly the broadcast product a*b. An operand that depends on
 * no client input is opened on its own, in the preprocessing phase. Scales add, then the
 * product is truncated back to f (a bit at scale 0 times a value at f needs none).
 */
export function mul(b: CircuitBuilder, x: Reg, y: Reg, _cfg?: ProtocolConfig, truncate = true): Reg {
  const done = (z: Reg): Reg => (truncate ? rescale(b, z) : z);
  return b.withProtocol('beaver-mul', () => {
    const out = broadcastShapes(x.shape, y.shape);
    if (out === undefined) typeError(`mul: shapes [${x.shape.join(',')}] and [${y.shape.join(',')}] do not broadcast`);
    if (shapesEqual(x.shape, y.shape)) {
      const [a, bb, c] = b.dealer.beaver(x.shape, [x.scale, y.scale]);
      const [e, f] = openMasked(b, b.sub(x, a), b.sub(y, bb), x, y);
      return done(b.addPub(b.add(b.add(c, b.mulPub(bb, e)), b.mulPub(a, f)), b.mulPP(e, f)));
    }
    return done(broadcastMul(b, x, y, out));
  });
}

function broadcastMul(b: CircuitBuilder, x: Reg, y: Reg, out: readonly number[]): Reg {
  const r = out.length;
  const xs = [...Array(r - x.shape.length).fill(1), ...x.shape] as number[];
  const ys = [...Array(r - y.shape.length).fill(1), ...y.shape] as number[];
  const both: number[] = [];
  const onlyX: number[] = [];
  const onlyY: number[] = [];
  const ones: number[] = [];
  for (let i = 0; i < r; i++) {
    if (out[i] === 1) ones.push(i);
    else if (xs[i] === ys[i]) both.push(i);
    else if (ys[i] === 1) onlyX.push(i);
    else onlyY.push(i);
  }
  const size = (axes: number[]): number => axes.reduce((p, i) => p * out[i]!, 1);
  const [nb, nm, nn] = [size(both), size(onlyX), size(onlyY)];
  const perm = [...both, ...onlyX, ...onlyY, ...ones];
  const arrange = (v: Reg, full: number[], shape3: number[]): Reg => {
    let t = shapesEqual(v.shape, full) ? v : b.reshape(v, full);
    if (perm.some((p, i) => p !== i)) t = b.transpose(t, perm);
    return b.reshape(t, shape3);
  };
  const x3 = arrange(x, xs, [nb, nm, 1]);
  const y3 = arrange(y, ys, [nb, 1, nn]);
  const z3 = beaverMatmul(b, x3, y3, { truncate: false });
  let z = b.reshape(z3, perm.map((p) => out[p]!));
  if (perm.some((p, i) => p !== i)) {
    const inv = new Array<number>(r);
    perm.forEach((p, i) => (inv[p] = i));
    z = b.transpose(z, inv);
  }
  return z;
}

/** x * x with a square pair (r, r^2): one open of x - r, 16 bytes per element (`truncate` false: left at twice x's scale). */
export function square(b: CircuitBuilder, x: Reg, _cfg?: ProtocolConfig, truncate = true): Reg {
  return b.withProtocol('beaver-square', () => {
    const [r, r2] = b.dealer.beaverSquare(x.shape, x.scale);
    const [e] = b.open([b.sub(x, r)]) as [Reg];
    const z = b.addPub(b.add(r2, b.mulPub(r, b.addPP(e, e))), b.mulPP(e, e));
    return truncate ? rescale(b, z) : z;
  });
}

/**
 * x @ y, both shared, batched: [..., m, k] @ [..., k, n]. A rank-2 right operand is applied to
 * the flattened rows of x (one triple, as a linear layer); other batch shapes must be equal,
 * or broadcast by expanding the smaller operand (which opens its expanded copy). An operand
 * that depends on no client input (a weight) has its mask opened in preprocessing.
 */
export function matmul(b: CircuitBuilder, x: Reg, y: Reg, _cfg?: ProtocolConfig): Reg {
  return b.withProtocol('beaver-matmul', () => {
    if (x.shape.length < 2 || y.shape.length < 2) typeError(`matmul needs operands of rank >= 2, got [${x.shape.join(',')}] and [${y.shape.join(',')}]`);
    const k = x.shape[x.shape.length - 1]!;
    if (y.shape[y.shape.length - 2] !== k) typeError(`matmul: inner dimensions differ: [${x.shape.join(',')}] @ [${y.shape.join(',')}]`);
    if (y.shape.length === 2 && x.shape.length > 2) {
      const rows = x.shape.slice(0, -1);
      const flat = b.reshape(x, [rows.reduce((p, d) => p * d, 1), k]);
      return b.reshape(rescale(b, beaverMatmul(b, flat, y, { truncate: false })), [...rows, y.shape[1]!]);
    }
    const bx = x.shape.slice(0, -2);
    const by = y.shape.slice(0, -2);
    if (shapesEqual(bx, by)) return rescale(b, beaverMatmul(b, x, y, { truncate: false }));
    const batch = broadcastShapes(bx, by);
    if (batch === undefined) typeError(`matmul: batch dimensions [${bx.join(',')}] and [${by.join(',')}] do not broadcast`);
    const xe = shapesEqual(bx, batch) ? x : b.expand(x, [...batch, ...x.shape.slice(-2)]);
    const ye = shapesEqual(by, batch) ? y : b.expand(y, [...batch, ...y.shape.slice(-2)]);
    return rescale(b, beaverMatmul(b, xe, ye, { truncate: false }));
  });
}

/** x * p for a public p (local), truncated back to f. */
export function mulPublic(b: CircuitBuilder, x: Reg, p: Reg): Reg {
  return rescale(b, b.mulPub(x, p));
}

/** x @ p or p @ x for a public p (local, no communication), truncated back to f. */
export function matmulPublic(b: CircuitBuilder, x: Reg, y: Reg): Reg {
  return rescale(b, b.matmulPub(x, y));
}

/** x + c for a number c. */
export function addConst(b: CircuitBuilder, x: Reg, c: number): Reg {
  return c === 0 ? x : b.addPub(x, b.constant(c, x.scale));
}

/** c - x for a number c. */
export function rsubConst(b: CircuitBuilder, c: number, x: Reg): Reg {
  return b.rsubPub(b.constant(c, x.scale), x);
}

/**
 * x * c for a number c (local). Integers multiply exactly (no truncation); other constants
 * are encoded with enough fractional bits to keep about 16 significant bits (so 1/768 or
 * 1/(8! 17) are not rounded away), then truncated back. That truncates x c 2^s, about 2^f
 * times |x| (CrypTen's way); with `shiftPowersOfTwo`, c = +-2^-n truncates x itself by n bits
 * (the same value, a 2^-f times smaller chance of a wrapped truncation).
 */
export function mulConst(b: CircuitBuilder, x: Reg, c: number, cfg?: Pick<ProtocolConfig, 'shiftPowersOfTwo'>): Reg {
  if (Number.isInteger(c) && Math.abs(c) < 2 ** 31) return c === 1 ? x : b.mulPub(x, b.constant(c, 0));
  if (cfg?.shiftPowersOfTwo === true) {
    const n = powerOfTwoShift(c);
    if (n !== undefined && n <= x.scale) {
      const y = shiftDown(b, x, n);
      return c < 0 ? b.neg(y) : y;
    }
  }
  const mag = Math.abs(c);
  const extra = mag >= 1 ? 0 : Math.min(b.f + 8, Math.ceil(-Math.log2(mag)));
  const s = b.f + extra;
  return b.trunc(b.mulPub(x, b.constant(c, s)), s);
}

/** n when |c| = 2^-n for an integer n in 1..62, else undefined. */
export function powerOfTwoShift(c: number): number | undefined {
  const n = -Math.log2(Math.abs(c));
  return Number.isInteger(n) && n >= 1 && n <= 62 ? n : undefined;
}

/**
 * x / 2^n at x's scale: x truncated by n bits (at scale s - n), then relabelled at scale s by
 * a ring product with 1 (the constant 2^-n at scale n). Local; the truncated value is x itself.
 */
export function shiftDown(b: CircuitBuilder, x: Reg, n: number): Reg {
  return b.mulPub(b.trunc(x, n), b.constant(2 ** -n, n));
}

/** A bit (or any value) at scale 0 brought to scale f (local, exact). */
export function toFixed(b: CircuitBuilder, x: Reg): Reg {
  return x.scale === b.f ? x : b.mulPub(x, b.constant(1, b.f - x.scale));
}

/** The sum of a list of shares (same scale; broadcast). */
export function sum(b: CircuitBuilder, xs: readonly Reg[]): Reg {
  let acc = xs[0]!;
  for (const x of xs.slice(1)) acc = b.add(acc, x);
  return acc;
}
