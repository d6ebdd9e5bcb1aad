// WebAssembly kernels of DCF evaluation (ir/ring/dcf.ts): per tree level, the AES input of
// every lane (prep) and, after AES, the lane's new seed, control bit and accumulated value
// (update). i64 arithmetic wraps, which is exactly Z_2^64. Assembled at load time by
// wasm-encoder.ts; the AES itself stays in node:crypto (the caller passes the input out of
// and the output back into this module's memory).
//
// Lanes are struct-of-arrays at byte offsets: seed S (16 bytes: low, high word), control bit T
// as a mask (8 bytes: 0 or all ones), accumulated values V (8 g bytes), input X (8 bytes),
// key K (i32: the lane's key within the chunk's correction-word block). The correction words
// of one level are rows `rs` bytes apart from `cwl`: seed low word (its two lowest bits the
// control-bit corrections of the left and right child), seed high word, then g value words;
// key k's word at 8 k in each row.

import { encodeModule, FuncBuilder, I32, I64, Op, type ModuleFunction } from './wasm-encoder.ts';

const I64_SHR_U = Op.i64ShrU;
const I32_LOAD = Op.i32Load;

/** prep(s, x, in, nl, bit): per lane the two AES blocks (seed ^ tweak 2 side, 2 side + 1) of the side bit `bit` of x takes. */
function prep(): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32], []);
  const [s, x, inp, nl, bit] = [0, 1, 2, 3, 4];
  const [end] = [f.local(I32)];
  const [sh, lo, hi, tw] = [f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
  f.get(bit).op(Op.i64ExtendI32U).set(sh);
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (g) => g.get(s).get(end).op(Op.i32LtU),
    (g) => {
      // tweak 2 side in the seed's last u32: (side << 1) << 32.
      g.get(x).load64().get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).i64(33n).op(Op.i64Shl).set(tw);
      g.get(s).load64().set(lo);
      g.get(s).load64(8).get(tw).op(Op.i64Xor).set(hi);
      g.get(inp).get(lo).store64(0);
      g.get(inp).get(hi).store64(8);
      g.get(inp).get(lo).store64(16);
      g.get(inp).get(hi).i64(1n << 32n).op(Op.i64Xor).store64(24);
      g.inc(s, 16).inc(x, 8).inc(inp, 32);
    },
  );
  return f;
}

/**
 * update(s, v, t, x, k, in, h, nl, bit, cwl, rs) with g payload words; `sub`: party 1
 * subtracts its values. h: AES of `in` (MMO adds `in` back).
 */
function update(g: number, sub: boolean): FuncBuilder {
  const f = new FuncBuilder([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [s, v, t, x, k, inp, h, nl, bit, cwl, rs] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [end, cwk, cwv] = [f.local(I32), f.local(I32), f.local(I32)];
  const [sh, side, tm, h0, cs0] = [f.local(I64), f.local(I64), f.local(I64), f.local(I64), f.local(I64)];
  f.get(bit).op(Op.i64ExtendI32U).set(sh);
  f.get(s).get(nl).i32(4).op(Op.i32Shl).op(Op.i32Add).set(end);
  f.whileLoop(
    (b) => b.get(s).get(end).op(Op.i32LtU),
    (b) => {
      b.get(x).load64().get(sh).op(I64_SHR_U).i64(1n).op(Op.i64And).set(side);
      b.get(t).load64().set(tm);
      // cwk = cwl + 8 k
      b.get(cwl).get(k).op(I32_LOAD, 2, 0).i32(3).op(Op.i32Shl).op(Op.i32Add).set(cwk);
      // Values: v (+/-)= (AES ^ in) + (cw & tm), row 2 + j.
      b.get(cwk).get(rs).i32(1).op(Op.i32Shl).op(Op.i32Add).set(cwv);
      for (let j = 0; j < g; j++) {
        const off = 16 + 8 * j;
        b.get(v);
        b.get(v).load64(8 * j);
        b.get(h).load64(off).get(inp).load64(off).op(Op.i64Xor);
        b.get(cwv).load64().get(tm).op(Op.i64And).op(Op.i64Add);
        b.op(sub ? Op.i64Sub : Op.i64Add).store64(8 * j);
        if (j + 1 < g) b.get(cwv).get(rs).op(Op.i32Add).set(cwv);
      }
      // Seed: (AES ^ in) ^ (cw & tm), the two lowest bits cleared; control bit: the hash's lowest bit ^ (t & the side's correction bit).
      b.get(h).load64().get(inp).load64().op(Op.i64Xor).set(h0);
      b.get(cwk).load64().set(cs0);
      b.get(s).get(h0).get(cs0).get(tm).op(Op.i64And).op(Op.i64Xor).i64(-4n).op(Op.i64And).store64(0);
      b.get(s).get(h).load64(8).get(inp).load64(8).op(Op.i64Xor);
      b.get(cwk).get(rs).op(Op.i32Add).load64().get(tm).op(Op.i64And).op(Op.i64Xor).store64(8);
      // t = -((h0 ^ (tm & (cs0 >> side))) & 1)
      b.get(t).i64(0n);
      b.get(h0).get(tm).get(cs0).get(side).op(I64_SHR_U).op(Op.i64And).op(Op.i64Xor).i64(1n).op(Op.i64And);
      b.op(Op.i64Sub).store64(0);
      b.inc(s, 16).inc(v, 8 * g).inc(t, 8).inc(x, 8).inc(k, 4).inc(inp, 32).inc(h, 32);
    },
  );
  return f;
}

export function dcfKernelModule(): Uint8Array {
  const funcs: ModuleFunction[] = [{ name: 'prep', fn: prep() }];
  for (const g of [1, 2]) for (const sub of [false, true]) funcs.push({ name: `update${g}${sub ? 'sub' : 'add'}`, fn: update(g, sub) });
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
export interface DcfKernelExports {
  readonly memory: WasmMemory;
  prep(s: Ptr, x: Ptr, inp: Ptr, nl: number, bit: number): void;
  [update: `update${string}`]: (s: Ptr, v: Ptr, t: Ptr, x: Ptr, k: Ptr, inp: Ptr, h: Ptr, nl: number, bit: number, cwl: Ptr, rs: number) => void;
}

let instance: DcfKernelExports | undefined;

/** The instantiated kernels (one instance per thread, created on first use), memory at least `bytes`. */
export function dcfKernels(bytes: number): DcfKernelExports {
  if (instance === undefined) instance = new WA.Instance(new WA.Module(dcfKernelModule()), {}).exports as unknown as DcfKernelExports;
  const have = instance.memory.buffer.byteLength;
  if (have < bytes) instance.memory.grow(Math.ceil((bytes - have) / 65536));
  return instance;
}
