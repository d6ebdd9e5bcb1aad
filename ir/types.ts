// Value types of the IR: element type, static shape and visibility.
//
// Visibility is part of the type (as in SecretFlow SPU's pphlo dialect): the type checker,
// not a naming convention, decides whether an op is local (public x anything) or needs
// communication (secret x secret).

/** Element types. `ring64` is the fixed-point ring element used after lowering. */
export const ELEM_TYPES = ['f32', 'f64', 'i8', 'i32', 'i64', 'u8', 'u32', 'u64', 'bool', 'ring64'] as const;
export type ElemType = (typeof ELEM_TYPES)[number];

export function isElemType(s: string): s is ElemType {
  return (ELEM_TYPES as readonly string[]).includes(s);
}

export function isFloatType(t: ElemType): boolean {
  return t === 'f32' || t === 'f64';
}

export function isIntType(t: ElemType): boolean {
  return t === 'i8' || t === 'i32' || t === 'i64' || t === 'u8' || t === 'u32' || t === 'u64' || t === 'ring64';
}

/**
 * Who knows a value. `public`: architecture constants and shapes, known to everyone.
 * `client`: the inference input. `server`: the model weights. `shared`: derived from both
 * client and server secrets, so neither party may see it (printed `secret`).
 */
export type Visibility = 'public' | 'client' | 'server' | 'shared';

export function isSecret(v: Visibility): boolean {
  return v !== 'public';
}

/** The least visibility that may hold a value computed from values of visibility a and b. */
export function joinVisibility(a: Visibility, b: Visibility): Visibility {
  if (a === b) return a;
  if (a === 'public') return b;
  if (b === 'public') return a;
  return 'shared';
}

export function formatVisibility(v: Visibility): string {
  switch (v) {
    case 'public':
      return 'public';
    case 'client':
      return 'secret(client)';
    case 'server':
      return 'secret(server)';
    case 'shared':
      return 'secret';
  }
}

export type Shape = readonly number[];

export interface ValueType {
  readonly elem: ElemType;
  readonly shape: Shape;
  readonly vis: Visibility;
}

export function valueType(elem: ElemType, shape: Shape, vis: Visibility): ValueType {
  return { elem, shape: [...shape], vis };
}

/** `f32[1,128,768] secret(client)`; a scalar is `f32[]`. */
export function formatType(t: ValueType): string {
  return `${t.elem}[${t.shape.join(',')}] ${formatVisibility(t.vis)}`;
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function typesEqual(a: ValueType, b: ValueType): boolean {
  return a.elem === b.elem && a.vis === b.vis && shapesEqual(a.shape, b.shape);
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Numpy-style multidirectional broadcast of two shapes, or `undefined` if they do not
 * broadcast.
 */
export function broadcastShapes(a: Shape, b: Shape): number[] | undefined {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else return undefined;
  }
  return out;
}

/** Normalizes a possibly negative axis into [0, rank); `undefined` if out of range. */
export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
}
