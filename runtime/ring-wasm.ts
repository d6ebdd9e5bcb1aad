// The WebAssembly ring kernels over Z_2^64 (i64 arithmetic wraps, which is exactly the ring):
// matmul in dot-product form over a transposed right operand with 2x2 register blocking
// (storing or accumulating, over a block of the inner dimension),
// element-wise add/sub/mul/xor/and, negation, shifts (truncation), gather by index and
// reduction over a middle axis. Assembled at load time by wasm-encoder.ts (about 2 KB).
//
// Pointers are byte offsets into the module's memory; the JS wrappers in kernels.ts copy
// operands in, run a kernel and copy the result out (memcpy, no per-element BigInt).

import { encodeModule, FuncBuilder, I32, I64, Op, type ModuleFunction } from './wasm-encoder.ts';

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

/** transpose(out, a, rows, cols): out[c, r] = a[r, c]. */
function transpose(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32], []);
  const [out, a, rows, cols] = [0, 1, 2, 3];
  const [r, c, src, dst, rb] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  f.get(rows).i32(3).op(Op.i32Shl).set(rb);
  f.get(a).set(src);
  f.i32(0).set(r);
  f.whileLoop(
    (g) => g.get(r).get(rows).op(Op.i32LtS),
    (g) => {
      g.get(out).get(r).i32(3).op(Op.i32Shl).op(Op.i32Add).set(dst);
      g.i32(0).set(c);
      g.whileLoop(
        (h) => h.get(c).get(cols).op(Op.i32LtS),
        (h) => {
          h.get(dst).get(src).load64().store64();
          h.inc(src, 8).incBy(dst, rb).inc(c, 1);
        },
      );
      g.inc(r, 1);
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
  return encodeModule(funcs);
}

// The WebAssembly API as this module uses it (the project's TypeScript libs carry no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

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
