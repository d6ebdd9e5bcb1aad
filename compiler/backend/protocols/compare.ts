// Comparison: the sign bit of a shared value by arithmetic-to-binary conversion and a
// carry-lookahead adder on XOR-shared 64-bit words, then bit-to-arithmetic conversion; and
// what is built from it (ge, gt, lt, ReLU, where), plus CrypTen's two-party equality test.
//
// ltz, as CrypTen: each party's arithmetic share is already a binary sharing of itself
// (a2b_own, free); their sum's bits come from a Kogge–Stone adder: one AND for the generate
// word G = x0 & x1, then log2(64) = 6 levels, each one batched AND of two word pairs
// (G' = G ^ (P & G<<s), P' = P & P<<s). The MSB of P0 ^ (G << 1) is the sign; one open
// against a random bit converts it to an arithmetic bit. 8 rounds, 432 bytes per element
// (32 + 6*64 + 16); `trimAdder` skips the last level's unused P product (400).

import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { mul, rsubConst } from './arith.ts';
import { CRYPTEN, type ProtocolConfig } from './config.ts';
import { fssWidth } from '../fss-bits.ts';

const LOG_BITS = 6;

/** AND of several pairs of XOR-shared words in one communication step (Beaver AND triples). */
export function andMany(b: CircuitBuilder, pairs: readonly (readonly [Reg, Reg])[]): Reg[] {
  return b.withProtocol('beaver-and', () => {
    const triples = pairs.map(([x]) => b.dealer.beaverAnd(x.shape));
    const masked: Reg[] = [];
    pairs.forEach(([x, y], i) => {
      const [a, bb] = triples[i]!;
      masked.push(b.xor(x, a), b.xor(y, bb));
    });
    const opened = b.openB(masked);
    return pairs.map((_, i) => {
      const [a, bb, c] = triples[i]!;
      const e = opened[2 * i]!;
      const f = opened[2 * i + 1]!;
      return b.xorPub(b.xor(b.xor(c, b.andPub(bb, e)), b.andPub(a, f)), b.andPP(e, f));
    });
  });
}

/** A public value whose ring elements are integers, relabelled at scale 0 (exact: shl then an arithmetic shift back). */
function pubAtScale0(b: CircuitBuilder, p: Reg): Reg {
  return p.scale === 0 ? p : b.truncPP(b.shl(p, p.scale), p.scale);
}

/**
 * Bit-to-arithmetic: an XOR-shared word holding one bit (in bit 0, other bits zero) becomes
 * an arithmetic bit at scale 0. Open bit ^ r for a dealer random bit r; then bit = c + r - 2cr.
 */
export function b2aBit(b: CircuitBuilder, bit: Reg): Reg {
  return b.withProtocol('b2a-bit', () => {
    const [ra, rb] = b.dealer.randBit(bit.shape);
    const [c0] = b.openB([b.xor(bit, rb)]) as [Reg];
    const c = pubAtScale0(b, c0);
    const oneMinus2c = b.subPP(b.constant(1, 0), b.addPP(c, c));
    return b.addPub(b.mulPub(ra, oneMinus2c), c);
  });
}

/**
 * Arithmetic-to-binary: the XOR-shared 64-bit word of x0 + x1 (the Kogge-Stone adder above;
 * every carry is complete, so each bit of the word is a bit of x).
 */
export function a2bWord(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  const x0 = b.a2bOwn(x, 0);
  const x1 = b.a2bOwn(x, 1);
  const p0 = b.xor(x0, x1);
  let [g] = andMany(b, [[x0, x1]]) as [Reg];
  let p = p0;
  for (let i = 0; i < LOG_BITS; i++) {
    const s = 1 << i;
    if (cfg.trimAdder && i === LOG_BITS - 1) {
      const [pg] = andMany(b, [[p, b.shl(g, s)]]) as [Reg];
      g = b.xor(g, pg);
    } else {
      const [pg, pp] = andMany(b, [
        [p, b.shl(g, s)],
        [p, b.shl(p, s)],
      ]) as [Reg, Reg];
      g = b.xor(g, pg);
      p = pp;
    }
  }
  return b.xor(p0, b.shl(g, 1));
}

/**
 * A one-round FSS comparison (ir/circuit/gates/fss.ts): the dealer's mask r and keys; the
 * parties open x - r (one ring word each) and evaluate their keys on it locally. Its width is
 * the fewest bits x's proven bound needs (fss-bits.ts), or cfg.fssBits when a number.
 */
function fssCompare(b: CircuitBuilder, x: Reg, mode: 'ltz' | 'relu', cfg: ProtocolConfig): Reg {
  return b.withProtocol(`fss-${mode}`, () => {
    const bx = b.boundOf(x);
    const bound = bx === undefined || x.scale === b.f ? bx : ([bx[0] * 2 ** (x.scale - b.f), bx[1] * 2 ** (x.scale - b.f)] as const);
    const bits = fssWidth(b, bound, cfg.fssBits);
    const [r, key, own] = b.dealer.fssKey(x.shape, x.scale, bits, mode);
    const [xh] = b.open([b.sub(x, r)]) as [Reg];
    const y = b.emit('fss_eval', [xh, r, key, own], { bits, mode })[0]!;
    // ReLU(x) lies within [max(0, lo), max(0, hi)]; [x < 0] within [0, 1].
    return mode === 'relu' ? (bx !== undefined ? b.bound(y, Math.max(0, bx[0]), Math.max(0, bx[1])) : y) : b.bound(y, 0, 1);
  });
}

/** 1 where x < 0, else 0: an arithmetic bit at scale 0. */
export function ltz(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  if (cfg.compare === 'fss') return fssCompare(b, x, 'ltz', cfg);
  return b.withProtocol('ltz-a2b', () => b2aBit(b, b.shr(a2bWord(b, x, cfg), 63)));
}

/** x < y (arithmetic bit at scale 0). */
export function lt(b: CircuitBuilder, x: Reg, y: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return ltz(b, b.sub(x, y), cfg);
}

/** x > y. */
export function gt(b: CircuitBuilder, x: Reg, y: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return ltz(b, b.sub(y, x), cfg);
}

/** x >= y = 1 - (x < y). */
export function ge(b: CircuitBuilder, x: Reg, y: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return rsubConst(b, 1, lt(b, x, y, cfg));
}

/** ReLU(x) = x * (1 - ltz(x)): 9 rounds, 464 bytes per element. */
export function relu(b: CircuitBuilder, x: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  if (cfg.compare === 'fss') return fssCompare(b, x, 'relu', cfg);
  return b.withProtocol('relu', () => mul(b, x, rsubConst(b, 1, ltz(b, x, cfg))));
}

/**
 * c ? x : y for a shared bit c (any scale; 0 or 1). CrypTen (`two-mul`): x*c + y*(1-c), two
 * products (two rounds when run one after the other); `one-mul`: c*(x - y) + y.
 */
export function where(b: CircuitBuilder, c: Reg, x: Reg, y: Reg, cfg: ProtocolConfig = CRYPTEN): Reg {
  return b.withProtocol(`where-${cfg.whereMethod}`, () => {
    if (cfg.whereMethod === 'one-mul') return b.add(mul(b, c, b.sub(x, y)), y);
    const yMasked = mul(b, rsubConst(b, 1, c), y);
    return b.add(mul(b, x, c), yMasked);
  });
}

/**
 * x == 0 as an arithmetic bit (scale 0), CrypTen's two-party test: P0's share and the
 * negation of P1's share are equal exactly when x = 0; their XOR is all zeros then. AND the
 * 64 complemented bits together in 6 halving levels, then convert the bit. 7 rounds, 208
 * bytes per element.
 */
export function eqz(b: CircuitBuilder, x: Reg): Reg {
  return b.withProtocol('eqz-2pc', () => {
    const s0 = b.a2bOwn(x, 0);
    const s1 = b.a2bOwn(b.neg(x), 1);
    let t = b.xorPub(b.xor(s0, s1), b.constantRing(new BigUint64Array([0xffffffffffffffffn]), [], 0));
    for (let s = 32; s >= 1; s >>= 1) [t] = andMany(b, [[t, b.shr(t, s)]]) as [Reg];
    return b2aBit(b, b.andPub(t, b.constantRing(new BigUint64Array([1n]), [], 0)));
  });
}
