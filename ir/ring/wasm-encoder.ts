// A tiny WebAssembly binary encoder: just enough to assemble the ring kernels (i32/i64
// locals, loads and stores, integer arithmetic, structured loops, calls) without a
// toolchain dependency. The module it writes is fully determined by the code that builds it.

export const I32 = 0x7f;
export const I64 = 0x7e;
export type ValType = typeof I32 | typeof I64;

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a bigint (covers i32 and i64 constants). */
export function sleb(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function str(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

function vec(items: readonly number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Opcodes used by the kernels. */
export const Op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  i32Store: 0x36,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GtS: 0x4a,
  i32GeS: 0x4e,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32And: 0x71,
  i32Shl: 0x74,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrS: 0x87,
  i64ShrU: 0x88,
  i64ExtendI32U: 0xad,
  i64Eqz: 0x50,
  i64Eq: 0x51,
  i64LtU: 0x54,
  i64Clz: 0x79,
  i32WrapI64: 0xa7,
} as const;

/** Emits the body of one function; locals are numbered after the parameters. */
export class FuncBuilder {
  readonly code: number[] = [];
  readonly #locals: ValType[] = [];
  readonly #nParams: number;

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {
    this.#nParams = params.length;
  }

  local(t: ValType): number {
    this.#locals.push(t);
    return this.#nParams + this.#locals.length - 1;
  }

  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  get(l: number): this {
    return this.op(Op.localGet, ...uleb(l));
  }
  set(l: number): this {
    return this.op(Op.localSet, ...uleb(l));
  }
  tee(l: number): this {
    return this.op(Op.localTee, ...uleb(l));
  }
  i32(v: number): this {
    return this.op(Op.i32Const, ...sleb(BigInt(v)));
  }
  i64(v: bigint): this {
    return this.op(Op.i64Const, ...sleb(v));
  }
  /** i64.load with a constant byte offset (alignment 8). */
  load64(offset = 0): this {
    return this.op(Op.i64Load, 3, ...uleb(offset));
  }
  store64(offset = 0): this {
    return this.op(Op.i64Store, 3, ...uleb(offset));
  }
  load32(offset = 0): this {
    return this.op(Op.i32Load, 2, ...uleb(offset));
  }
  /** i32.store with a constant byte offset (alignment 4). */
  store32(offset = 0): this {
    return this.op(Op.i32Store, 2, ...uleb(offset));
  }
  /** local += delta (i32). */
  inc(l: number, delta: number): this {
    return this.get(l).i32(delta).op(Op.i32Add).set(l);
  }
  /** local += local2 (i32). */
  incBy(l: number, by: number): this {
    return this.get(l).get(by).op(Op.i32Add).set(l);
  }
  /** `while (cond) body`: cond leaves an i32 on the stack. */
  whileLoop(cond: (f: this) => void, body: (f: this) => void): this {
    this.op(Op.block, 0x40, Op.loop, 0x40);
    cond(this);
    this.op(Op.i32Eqz, Op.brIf, 1);
    body(this);
    this.op(Op.br, 0, Op.end, Op.end);
    return this;
  }
  /** `if (cond) then`: cond leaves an i32 on the stack. */
  ifThen(cond: (f: this) => void, then: (f: this) => void): this {
    cond(this);
    this.op(Op.if, 0x40);
    then(this);
    this.op(Op.end);
    return this;
  }

  encode(): number[] {
    const groups: number[][] = [];
    for (const t of this.#locals) {
      const last = groups[groups.length - 1];
      if (last !== undefined && last[1] === t) last[0]!++;
      else groups.push([1, t]);
    }
    const body = [...vec(groups.map(([n, t]) => [...uleb(n!), t!])), ...this.code, Op.end];
    return [...uleb(body.length), ...body];
  }
}

export interface ModuleFunction {
  readonly name: string;
  readonly fn: FuncBuilder;
  /** Exported under its name (default true). */
  readonly exported?: boolean;
}

/** A module with one memory (exported as `memory`, `pages` initial 64 KiB pages) and the given functions. */
export function encodeModule(funcs: readonly ModuleFunction[], pages = 1): Uint8Array {
  const types: string[] = [];
  const typeIdx = funcs.map(({ fn }) => {
    const key = `${fn.params.join(',')}|${fn.results.join(',')}`;
    let i = types.indexOf(key);
    if (i < 0) i = types.push(key) - 1;
    return i;
  });
  const typeSec = types.map((k) => {
    const [p, r] = k.split('|').map((s) => (s === '' ? [] : s.split(',').map(Number)));
    return [0x60, ...vec(p!.map((t) => [t])), ...vec(r!.map((t) => [t]))];
  });
  const exports: number[][] = [[...str('memory'), 0x02, 0]];
  funcs.forEach((f, i) => {
    if (f.exported !== false) exports.push([...str(f.name), 0x00, ...uleb(i)]);
  });
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(typeSec)),
    ...section(3, vec(typeIdx.map((i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec(exports)),
    ...section(10, vec(funcs.map((f) => f.fn.encode()))),
  ];
  return Uint8Array.from(bytes);
}

// The WebAssembly API as this module uses it (the project's TypeScript libs carry no DOM types).
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
export const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
