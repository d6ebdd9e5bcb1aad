// The WebAssembly ring kernels over Z_2^64 (i64 arithmetic wraps, which is exactly the ring):
// matmul in dot-product form over a transposed right operand with 2x2 register blocking
// (storing or accumulating, over a block of the inner dimension),
// element-wise add/sub/mul/xor/and, negation, shifts (truncation), gather by index,
// reduction over a middle axis, the fused Beaver combination and the dealer's triple product. Assembled at load time by wasm-encoder.ts (about 2 KB).
//
// Pointers are byte offsets into the module's memory; the JS wrappers in kernels.ts copy
// operands in, run a kernel and copy the result out (memcpy, no per-element BigInt).

import { encodeModule, FuncBuilder, I32, I64, Op, WA, type ModuleFunction, type WasmMemory } from './wasm-encoder.ts';

/** Element-wise binary kernels: name -> i64 opcode. */
export const BINARY_OPS = { add: Op.i64Add, sub: Op.i64Sub, mul: Op.i64Mul, xor: Op.i64Xor, and: Op.i64And } as const;
export type BinaryOp = keyof typeof BINARY_OPS;

/** Shift kernels (out, a, n, bits): sar (arithmetic), shr (logical), shl, nsn = -((-x) >> bits) arithmetic. */
export const SHIFT_OPS = ['sar', 'shr', 'shl', 'nsn'] as const;
export type ShiftOp = (typeof SHIFT_OPS)[number];

/** dot(pa, pb, k) -> sum a[p]*b[p] mod 2^64. Function index 0. */
function dot(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32], [I64]);
  const [pa, pb, k] = [0, 1, 2];
  const end = f.local(I32);
  const acc = f.local(I64);
  f.get(pa).get(k).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(pa).get(end).op(Op.i32LtU),
    (g) => {
      g.get(acc).get(pa).load64().get(pb).load64().op(Op.i64Mul).op(Op.i64Add).set(acc);
      g.inc(pa, 8).inc(pb, 8);
    },
  );
  f.get(acc);
  return f;
}

/**
 * matmul_nt(out, a, bt, m, k, n, ldo, ldk): out[i*ldo + j] (=, or += when accumulating)
 * sum_{p<k} a[i*ldk + p] * bt[j*ldk + p] for i < m, j < n: rows of a and bt are ldk apart, so
 * a block of the inner dimension can be taken. 2x2 register blocks; the inner loop walks
 * four rows at once, unrolled by two.
 */
function matmulNt(accumulate: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [out, a, bt, m, k, n, ldo, ldk] = [0, 1, 2, 3, 4, 5, 6, 7];
  const L = (): number => f.local(I32);
  const [i, j, pa0, pa1, pb0, pb1, kb, po, ob, p0, p1, p2, p3, end, end2, kl] = [L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L(), L()];
  const W = (): number => f.local(I64);
  const [c00, c01, c10, c11, x0, x1, y0, y1] = [W(), W(), W(), W(), W(), W(), W(), W()];
  const DOT = 0;
  f.get(ldk).i32(3).op(Op.i32Shl).set(kb);
  f.get(k).i32(3).op(Op.i32Shl).set(kl);
  f.get(ldo).i32(3).op(Op.i32Shl).set(ob);
  // po = out + (i*ldo + j) * 8
  const setPo = (g: FuncBuilder): void => {
    g.get(out).get(i).get(ldo).op(Op.i32Mul).get(j).op(Op.i32Add).i32(3).op(Op.i32Shl).op(Op.i32Add).set(po);
  };
  const mac = (g: FuncBuilder, c: number, x: number, y: number): void => {
    g.get(c).get(x).get(y).op(Op.i64Mul).op(Op.i64Add).set(c);
  };
  const step = (g: FuncBuilder, off: number): void => {
    g.get(p0).load64(off).set(x0);
    g.get(p1).load64(off).set(x1);
    g.get(p2).load64(off).set(y0);
    g.get(p3).load64(off).set(y1);
    mac(g, c00, x0, y0);
    mac(g, c01, x0, y1);
    mac(g, c10, x1, y0);
    mac(g, c11, x1, y1);
  };
  // out[..] = c, or out[..] += c when accumulating (a sum over blocks of the inner dimension).
  const store = (g: FuncBuilder, addr: () => void, off: number, c: number): void => {
    addr();
    if (accumulate) {
      addr();
      g.load64(off).get(c).op(Op.i64Add);
    } else g.get(c);
    g.store64(off);
  };
  const storeDot = (g: FuncBuilder, addr: () => void, dot: () => void): void => {
    addr();
    if (accumulate) {
      addr();
      g.load64(0);
      dot();
      g.op(Op.i64Add);
    } else dot();
    g.store64(0);
  };
  f.i32(0).set(i);
  f.whileLoop(
    (g) => g.get(i).i32(1).op(Op.i32Add).get(m).op(Op.i32LtS),
    (g) => {
      g.get(a).get(i).get(kb).op(Op.i32Mul).op(Op.i32Add).tee(pa0).get(kb).op(Op.i32Add).set(pa1);
      g.i32(0).set(j);
      g.whileLoop(
        (h) => h.get(j).i32(1).op(Op.i32Add).get(n).op(Op.i32LtS),
        (h) => {
          h.get(bt).get(j).get(kb).op(Op.i32Mul).op(Op.i32Add).tee(pb0).get(kb).op(Op.i32Add).set(pb1);
          for (const c of [c00, c01, c10, c11]) h.i64(0n).set(c);
          h.get(pa0).set(p0).get(pa1).set(p1).get(pb0).set(p2).get(pb1).set(p3);
          h.get(pa0).get(kl).op(Op.i32Add).tee(end).i32(8).op(Op.i32Sub).set(end2);
          h.whileLoop(
            (l) => l.get(p0).get(end2).op(Op.i32LtU),
            (l) => {
              step(l, 0);
              step(l, 8);
              l.inc(p0, 16).inc(p1, 16).inc(p2, 16).inc(p3, 16);
            },
          );
          h.ifThen(
            (l) => l.get(p0).get(end).op(Op.i32LtU),
            (l) => step(l, 0),
          );
          setPo(h);
          store(h, () => h.get(po), 0, c00);
          store(h, () => h.get(po), 8, c01);
          store(h, () => h.get(po).get(ob).op(Op.i32Add), 0, c10);
          store(h, () => h.get(po).get(ob).op(Op.i32Add), 8, c11);
          h.inc(j, 2);
        },
      );
      // An odd last column.
      g.ifThen(
        (h) => h.get(j).get(n).op(Op.i32LtS),
        (h) => {
          setPo(h);
          h.get(bt).get(j).get(kb).op(Op.i32Mul).op(Op.i32Add).set(pb0);
          storeDot(h, () => h.get(po), () => h.get(pa0).get(pb0).get(k).op(Op.call, DOT));
          storeDot(h, () => h.get(po).get(ob).op(Op.i32Add), () => h.get(pa1).get(pb0).get(k).op(Op.call, DOT));
        },
      );
      g.inc(i, 2);
    },
  );
  // An odd last row.
  f.ifThen(
    (g) => g.get(i).get(m).op(Op.i32LtS),
    (g) => {
      g.get(a).get(i).get(kb).op(Op.i32Mul).op(Op.i32Add).set(pa0);
      g.i32(0).set(j);
      g.whileLoop(
        (h) => h.get(j).get(n).op(Op.i32LtS),
        (h) => {
          setPo(h);
          storeDot(h, () => h.get(po), () => h.get(pa0).get(bt).get(j).get(kb).op(Op.i32Mul).op(Op.i32Add).get(k).op(Op.call, DOT));
          h.inc(j, 1);
        },
      );
    },
  );
  return f;
}

/** Side of the square tiles transpose walks (a tile's rows and columns stay in cache). */
const TILE = 16;

/** transpose(out, a, rows, cols): out[c, r] = a[r, c], tile by tile (a tall matrix's columns are far apart). */
function transpose(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [out, a, rows, cols] = [0, 1, 2, 3];
  const L = (): number => f.local(I32);
  const [r0, c0, r, c, rEnd, cEnd, src, dst, rb] = [L(), L(), L(), L(), L(), L(), L(), L(), L()];
  f.get(rows).i32(3).op(Op.i32Shl).set(rb);
  // min(x + TILE, limit) into `to`.
  const clamp = (g: FuncBuilder, x: number, limit: number, to: number): void => {
    g.get(x).i32(TILE).op(Op.i32Add).set(to);
    g.ifThen(
      (h) => h.get(to).get(limit).op(Op.i32GtS),
      (h) => h.get(limit).set(to),
    );
  };
  f.i32(0).set(r0);
  f.whileLoop(
    (g) => g.get(r0).get(rows).op(Op.i32LtS),
    (g) => {
      clamp(g, r0, rows, rEnd);
      g.i32(0).set(c0);
      g.whileLoop(
        (h) => h.get(c0).get(cols).op(Op.i32LtS),
        (h) => {
          clamp(h, c0, cols, cEnd);
          h.get(r0).set(r);
          h.whileLoop(
            (l) => l.get(r).get(rEnd).op(Op.i32LtS),
            (l) => {
              // src = a + (r*cols + c0)*8, dst = out + (c0*rows + r)*8
              l.get(a).get(r).get(cols).op(Op.i32Mul).get(c0).op(Op.i32Add).i32(3).op(Op.i32Shl).op(Op.i32Add).set(src);
              l.get(out).get(c0).get(rows).op(Op.i32Mul).get(r).op(Op.i32Add).i32(3).op(Op.i32Shl).op(Op.i32Add).set(dst);
              l.get(c0).set(c);
              l.whileLoop(
                (q) => q.get(c).get(cEnd).op(Op.i32LtS),
                (q) => {
                  q.get(dst).get(src).load64().store64();
                  q.inc(src, 8).incBy(dst, rb).inc(c, 1);
                },
              );
              l.inc(r, 1);
            },
          );
          h.get(cEnd).set(c0);
        },
      );
      g.get(rEnd).set(r0);
    },
  );
  return f;
}

/** bin(out, a, b, n): out[i] = a[i] OP b[i]. */
function binary(opcode: number): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [out, a, b, n] = [0, 1, 2, 3];
  const end = f.local(I32);
  f.get(out).get(n).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(out).get(end).op(Op.i32LtU),
    (g) => {
      g.get(out).get(a).load64().get(b).load64().op(opcode).store64();
      g.inc(out, 8).inc(a, 8).inc(b, 8);
    },
  );
  return f;
}

/** shift(out, a, n, bits). */
function shift(kind: ShiftOp): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [out, a, n, bits] = [0, 1, 2, 3];
  const end = f.local(I32);
  const sh = f.local(I64);
  f.get(bits).op(Op.i64ExtendI32U).set(sh);
  f.get(out).get(n).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(out).get(end).op(Op.i32LtU),
    (g) => {
      g.get(out);
      if (kind === 'nsn') {
        g.i64(0n).i64(0n).get(a).load64().op(Op.i64Sub).get(sh).op(Op.i64ShrS).op(Op.i64Sub);
      } else {
        g.get(a).load64().get(sh).op(kind === 'sar' ? Op.i64ShrS : kind === 'shr' ? Op.i64ShrU : Op.i64Shl);
      }
      g.store64();
      g.inc(out, 8).inc(a, 8);
    },
  );
  return f;
}

/**
 * combine(out, c, x1, p1, x2, p2, n): the Beaver combination out = c + x1*p1 + x2*p2, plus
 * p1*p2 when `withPublic` (party 0; computed as c + p1*(x1 + p2) + x2*p2), in one pass. `add`
 * and `mul` are i64 add and mul (arithmetic shares) or xor and and (binary shares).
 */
function combine(add: number, mul: number, withPublic: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32], []);
  const [out, c, x1, p1, x2, p2, n] = [0, 1, 2, 3, 4, 5, 6];
  const end = f.local(I32);
  f.get(out).get(n).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(out).get(end).op(Op.i32LtU),
    (g) => {
      g.get(out).get(c).load64();
      if (withPublic) g.get(p1).load64().get(x1).load64().get(p2).load64().op(add).op(mul);
      else g.get(x1).load64().get(p1).load64().op(mul);
      g.op(add).get(x2).load64().get(p2).load64().op(mul).op(add).store64();
      g.inc(out, 8).inc(c, 8).inc(x1, 8).inc(p1, 8).inc(x2, 8).inc(p2, 8);
    },
  );
  return f;
}

/**
 * triple(out, a0, a1, b0, b1, c0, n): the dealer's correction word (a0 + a1) * (b0 + b1) - c0
 * (arithmetic) or ((a0 ^ a1) & (b0 ^ b1)) ^ c0 (binary), in one pass.
 */
function triple(binaryShares: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32], []);
  const [out, a0, a1, b0, b1, c0, n] = [0, 1, 2, 3, 4, 5, 6];
  const [add, mul, sub] = binaryShares ? [Op.i64Xor, Op.i64And, Op.i64Xor] : [Op.i64Add, Op.i64Mul, Op.i64Sub];
  const end = f.local(I32);
  f.get(out).get(n).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(out).get(end).op(Op.i32LtU),
    (g) => {
      g.get(out).get(a0).load64().get(a1).load64().op(add).get(b0).load64().get(b1).load64().op(add).op(mul);
      g.get(c0).load64().op(sub).store64();
      g.inc(out, 8).inc(a0, 8).inc(a1, 8).inc(b0, 8).inc(b1, 8).inc(c0, 8);
    },
  );
  return f;
}

/** neg(out, a, n): out[i] = -a[i]. */
function neg(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32], []);
  const [out, a, n] = [0, 1, 2];
  const end = f.local(I32);
  f.get(out).get(n).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(out).get(end).op(Op.i32LtU),
    (g) => {
      g.get(out).i64(0n).get(a).load64().op(Op.i64Sub).store64();
      g.inc(out, 8).inc(a, 8);
    },
  );
  return f;
}

/** gather(out, a, idx, n): out[i] = a[idx[i]] (idx: i32 element indices). */
function gather(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [out, a, idx, n] = [0, 1, 2, 3];
  const end = f.local(I32);
  f.get(out).get(n).i32(3).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(out).get(end).op(Op.i32LtU),
    (g) => {
      g.get(out).get(a).get(idx).load32().i32(3).op(Op.i32Shl).op(Op.i32Add).load64().store64();
      g.inc(out, 8).inc(idx, 4);
    },
  );
  return f;
}

/** reduce(out, a, outer, red, inner): out[o, i] = sum_r a[o, r, i]. */
function reduce(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32], []);
  const [out, a, outer, red, inner] = [0, 1, 2, 3, 4];
  const [o, r, po, end, ib] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  f.get(inner).i32(3).op(Op.i32Shl).set(ib);
  f.i32(0).set(o);
  f.whileLoop(
    (g) => g.get(o).get(outer).op(Op.i32LtS),
    (g) => {
      // Zero the output row, then add each of the `red` input rows into it.
      g.get(out).get(o).get(ib).op(Op.i32Mul).op(Op.i32Add).tee(po).get(ib).op(Op.i32Add).set(end);
      g.whileLoop(
        (h) => h.get(po).get(end).op(Op.i32LtU),
        (h) => {
          h.get(po).i64(0n).store64();
          h.inc(po, 8);
        },
      );
      g.i32(0).set(r);
      g.whileLoop(
        (h) => h.get(r).get(red).op(Op.i32LtS),
        (h) => {
          h.get(end).get(ib).op(Op.i32Sub).set(po);
          h.whileLoop(
            (l) => l.get(po).get(end).op(Op.i32LtU),
            (l) => {
              l.get(po).get(po).load64().get(a).load64().op(Op.i64Add).store64();
              l.inc(po, 8).inc(a, 8);
            },
          );
          h.inc(r, 1);
        },
      );
      g.inc(o, 1);
    },
  );
  return f;
}

/** The kernel module's bytes (function 0 is `dot`, which matmul_nt calls). */
export function ringKernelModule(): Uint8Array {
  const funcs: ModuleFunction[] = [
    { name: 'dot', fn: dot() },
    { name: 'matmul_nt', fn: matmulNt(false) },
    { name: 'matmul_nt_acc', fn: matmulNt(true) },
    { name: 'transpose', fn: transpose() },
    { name: 'neg', fn: neg() },
    { name: 'gather', fn: gather() },
    { name: 'reduce', fn: reduce() },
  ];
  for (const [name, code] of Object.entries(BINARY_OPS)) funcs.push({ name: `bin_${name}`, fn: binary(code) });
  for (const kind of SHIFT_OPS) funcs.push({ name: `shift_${kind}`, fn: shift(kind) });
  funcs.push({ name: 'triple_mul', fn: triple(false) }, { name: 'triple_and', fn: triple(true) });
  for (const pub of [false, true]) {
    funcs.push({ name: `combine_mul${pub ? '_pub' : ''}`, fn: combine(Op.i64Add, Op.i64Mul, pub) });
    funcs.push({ name: `combine_and${pub ? '_pub' : ''}`, fn: combine(Op.i64Xor, Op.i64And, pub) });
  }
  return encodeModule(funcs);
}


type Ptr = number;
export interface RingKernelExports {
  readonly memory: WasmMemory;
  dot(pa: Ptr, pb: Ptr, k: number): bigint;
  matmul_nt(out: Ptr, a: Ptr, bt: Ptr, m: number, k: number, n: number, ldo: number, ldk: number): void;
  matmul_nt_acc(out: Ptr, a: Ptr, bt: Ptr, m: number, k: number, n: number, ldo: number, ldk: number): void;
  transpose(out: Ptr, a: Ptr, rows: number, cols: number): void;
  neg(out: Ptr, a: Ptr, n: number): void;
  gather(out: Ptr, a: Ptr, idx: Ptr, n: number): void;
  reduce(out: Ptr, a: Ptr, outer: number, red: number, inner: number): void;
  [bin: `bin_${string}`]: (out: Ptr, a: Ptr, b: Ptr, n: number) => void;
  [shift: `shift_${string}`]: (out: Ptr, a: Ptr, n: number, bits: number) => void;
  [combine: `combine_${string}`]: (out: Ptr, c: Ptr, x1: Ptr, p1: Ptr, x2: Ptr, p2: Ptr, n: number) => void;
  [triple: `triple_${string}`]: (out: Ptr, a0: Ptr, a1: Ptr, b0: Ptr, b1: Ptr, c0: Ptr, n: number) => void;
}

let instance: RingKernelExports | undefined;

/** The instantiated kernels (one instance per thread, created on first use). */
export function ringKernels(): RingKernelExports {
  if (instance === undefined) {
    const mod = new WA.Module(ringKernelModule());
    instance = new WA.Instance(mod, {}).exports as unknown as RingKernelExports;
  }
  return instance;
}
