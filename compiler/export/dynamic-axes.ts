// Dynamic axes for export. The IR is statically shaped: a model imported at batch 1 and
// sequence 128 holds 128 in its shapes, Reshape targets and folded constants. To write an
// ONNX model that still takes any batch and sequence length, the same model is imported
// (and optimized) again at other values of its dynamic dimensions, the graphs are matched
// node by node, and every number that changes with the binding is expressed in the dynamic
// dimensions: a dimension, an integer attribute (a Reshape target, a Slice end) or an
// integer constant becomes c * prod(dim^e) + a, and a constant whose shape changes becomes
// a fill (Expand of one value) or a prefix of the largest binding (Slice), such as the rows
// of the position-embedding table a sequence uses. Anything else that changes makes the
// dimension impossible to generalize, and the place is named.

import type { Graph } from '../../ir/graph.ts';
import { CONST_OP, INPUT_OP, isElided, type AttrValue, type Node } from '../../ir/node.ts';
import type { Tensor } from '../../ir/tensor.ts';

/** c * prod(symbol^pow) + a; a static number has no powers. */
export interface SymDim {
  readonly c: number;
  readonly a: number;
  readonly pow: Readonly<Record<string, number>>;
}

export type ConstForm =
  /** every element is this value, at any binding: Expand(value, shape) */
  | { readonly kind: 'fill'; readonly value: number }
  /** the same along every axis that changes (a CLS token expanded over the batch): Expand of `base` */
  | { readonly kind: 'broadcast'; readonly base: readonly number[]; readonly baseShape: readonly number[] }
  /** the data at a smaller binding is the leading part of this one: Slice to the shape */
  | { readonly kind: 'prefix' }
  /** an integer tensor of rank <= 1 whose elements are numbers of the dimensions */
  | { readonly kind: 'ints'; readonly values: readonly SymDim[] };

/** What changes with the binding, for the nodes of the primary graph. */
export interface DynamicAxes {
  /** The dynamic dimensions kept, and where each is read at run time (graph input, axis). */
  readonly symbols: ReadonlyMap<string, { readonly input: string; readonly axis: number }>;
  /** Symbolic output shape of a node (static dims have no powers). */
  shapeOf(node: Node): readonly SymDim[];
  /** Symbolic values of an integer attribute that changes with the binding, else undefined. */
  attr(node: Node, name: string): readonly SymDim[] | undefined;
  /** Names of the attributes of `node` that change with the binding. */
  varyingAttrs(node: Node): readonly string[];
  /** How a constant that changes with the binding is rebuilt, else undefined. */
  constant(node: Node): ConstForm | undefined;
}

/** One import of the model at a binding of its dynamic dimensions. */
export interface Probe {
  readonly graph: Graph;
  readonly values: Readonly<Record<string, number>>;
}

export const staticDim = (v: number): SymDim => ({ c: v, a: 0, pow: {} });

export function isStatic(d: SymDim): boolean {
  return Object.keys(d.pow).length === 0;
}

export function evalDim(d: SymDim, values: Readonly<Record<string, number>>): number {
  let m = d.c;
  for (const [s, e] of Object.entries(d.pow)) m *= values[s]! ** e;
  return m + d.a;
}

export function sameDim(x: SymDim, y: SymDim): boolean {
  if (x.c !== y.c || x.a !== y.a) return false;
  const kx = Object.keys(x.pow);
  return kx.length === Object.keys(y.pow).length && kx.every((k) => x.pow[k] === y.pow[k]);
}

/** "sequence", "2*batch*sequence", "sequence+1": a dim_param for a derived dimension. */
export function formatDim(d: SymDim): string {
  const factors = Object.entries(d.pow)
    .sort(([p], [q]) => p.localeCompare(q))
    .flatMap(([s, e]) => Array<string>(e).fill(s));
  const mono = [...(d.c !== 1 || factors.length === 0 ? [String(d.c)] : []), ...factors].join('*');
  return d.a === 0 ? mono : d.a > 0 ? `${mono}+${d.a}` : `${mono}${d.a}`;
}

/** Thrown when a dimension cannot be kept dynamic; `node` names the place. */
export class CannotGeneralize extends Error {
  constructor(
    readonly node: string,
    readonly why: string,
    readonly symbols: readonly string[],
  ) {
    super(`${node}: ${why}`);
  }
}

/** Exponent vectors over the symbols, each exponent 0..2, by total degree. */
function exponentVectors(symbols: readonly string[]): Record<string, number>[] {
  let out: Record<string, number>[] = [{}];
  for (const s of symbols) out = out.flatMap((p) => [0, 1, 2].map((e) => (e === 0 ? p : { ...p, [s]: e })));
  const degree = (p: Record<string, number>): number => Object.values(p).reduce((x, y) => x + y, 0);
  return out.sort((p, q) => degree(p) - degree(q));
}

/**
 * The simplest c * prod(symbol^e) + a (integers c, a; e in 0..2) that gives `observed[p]`
 * at binding `bindings[p]` for every p, or undefined. The first binding is the primary one.
 */
export function fitDim(observed: readonly number[], bindings: readonly Readonly<Record<string, number>>[], symbols: readonly string[]): SymDim | undefined {
  if (observed.every((v) => v === observed[0])) return staticDim(observed[0]!);
  const fits = (d: SymDim): boolean => bindings.every((b, p) => evalDim(d, b) === observed[p]);
  const vectors = exponentVectors(symbols).slice(1);
  for (const pow of vectors) {
    const m = bindings.map((b) => evalDim({ c: 1, a: 0, pow }, b));
    const c = observed[0]! / m[0]!;
    if (Number.isInteger(c) && c !== 0 && fits({ c, a: 0, pow })) return { c, a: 0, pow };
  }
  for (const pow of vectors) {
    const m = bindings.map((b) => evalDim({ c: 1, a: 0, pow }, b));
    const p = m.findIndex((x) => x !== m[0]);
    if (p < 0) continue;
    const c = (observed[p]! - observed[0]!) / (m[p]! - m[0]!);
    const a = observed[0]! - c * m[0]!;
    if (Number.isInteger(c) && c !== 0 && Number.isInteger(a) && fits({ c, a, pow })) return { c, a, pow };
  }
  return undefined;
}

function label(n: Node): string {
  if (n.op === INPUT_OP) return `input '${n.name}'`;
  const where = n.loc.name !== undefined ? ` '${n.loc.name}'` : '';
  return n.op === CONST_OP ? `constant${where}` : `${n.op} node${where}`;
}

function sameAttr(x: AttrValue | undefined, y: AttrValue | undefined): boolean {
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  return Object.is(x, y);
}

function numbersOf(t: Tensor): number[] | undefined {
  try {
    return t.toNumbers();
  } catch {
    return undefined;
  }
}

/**
 * Row-major check that `small` (shape `ss`) is the leading block of `big` (shape `bs`):
 * small[i...] == big[i...] for every index of small.
 */
function isPrefix(small: readonly number[], ss: readonly number[], big: readonly number[], bs: readonly number[]): boolean {
  const rank = ss.length;
  const bigStrides = new Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) bigStrides[k] = bigStrides[k + 1]! * bs[k + 1]!;
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < small.length; i++) {
    let off = 0;
    for (let k = 0; k < rank; k++) off += idx[k]! * bigStrides[k]!;
    if (!Object.is(small[i], big[off])) return false;
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < ss[k]!) break;
      idx[k] = 0;
    }
  }
  return true;
}

/**
 * Matches the primary graph with the probes (same binding-independent structure) and
 * expresses what changes in the symbols; throws CannotGeneralize naming the first node whose
 * numbers are not functions of the dimensions this way.
 */
export function analyzeDynamicAxes(primary: Probe, probes: readonly Probe[], symbols: readonly string[]): DynamicAxes {
  const all = [primary, ...probes];
  const bindings = all.map((p) => p.values);
  const orders = all.map((p) => p.graph.nodes());
  const nodes = orders[0]!;
  const fail = (n: Node, why: string): never => {
    throw new CannotGeneralize(label(n), why, symbols);
  };
  for (const order of orders.slice(1)) {
    if (order.length !== nodes.length) {
      throw new CannotGeneralize(`graph '${primary.graph.name}'`, `has ${nodes.length} nodes at one binding and ${order.length} at another`, symbols);
    }
  }
  const index = orders.map((order) => new Map(order.map((n, i) => [n, i])));
  const shapes = new Map<Node, readonly SymDim[]>();
  const attrs = new Map<Node, Map<string, readonly SymDim[]>>();
  const consts = new Map<Node, ConstForm>();
  const fit = (n: Node, values: readonly number[], what: string): SymDim => {
    const d = fitDim(values, bindings, symbols);
    if (d === undefined) fail(n, `${what} is ${values.join(', ')} at ${bindings.map((b) => JSON.stringify(b)).join(', ')}: not c * a product of the dynamic dimensions + a`);
    return d!;
  };
  nodes.forEach((n, i) => {
    const peers = orders.map((o) => o[i]!);
    for (const [p, m] of peers.entries()) {
      if (m.op !== n.op || m.inputs.length !== n.inputs.length || m.type.shape.length !== n.type.shape.length || m.type.elem !== n.type.elem) {
        fail(n, `is ${m.op} ${m.type.elem}[${m.type.shape.join(',')}] at another binding (graph structure changes with the binding)`);
      }
      m.inputs.forEach((x, k) => {
        if (index[p]!.get(x) !== index[0]!.get(n.inputs[k]!)) fail(n, `input ${k} comes from another node at another binding`);
      });
      if (n.op === INPUT_OP && m.name !== n.name) fail(n, 'graph inputs are in another order at another binding');
    }
    shapes.set(
      n,
      n.type.shape.map((_, axis) => fit(n, peers.map((m) => m.type.shape[axis]!), `dimension ${axis}`)),
    );
    const keys = new Set(peers.flatMap((m) => Object.keys(m.attrs)));
    for (const key of keys) {
      const vals = peers.map((m) => m.attrs[key]);
      if (vals.every((v) => sameAttr(v, vals[0]))) continue;
      const arrays = vals.map((v) => (typeof v === 'number' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined));
      if (arrays.some((a) => a === undefined || a.length !== arrays[0]!.length)) fail(n, `attribute ${key} changes with the binding and is not a list of integers of one length`);
      const syms = arrays[0]!.map((_, j) => fit(n, arrays.map((a) => a![j]!), `attribute ${key}[${j}]`));
      let m = attrs.get(n);
      if (m === undefined) attrs.set(n, (m = new Map()));
      m.set(key, syms);
    }
    if (n.op === CONST_OP) {
      const form = constForm(n, peers, shapes.get(n)!, bindings, fail, fit);
      if (form !== undefined) consts.set(n, form);
    }
  });

  // where each symbol is read at run time: a graph input axis of exactly that size
  const sources = new Map<string, { input: string; axis: number }>();
  for (const s of symbols) {
    for (const inp of primary.graph.inputs) {
      const axis = shapes.get(inp)!.findIndex((d) => d.c === 1 && d.a === 0 && Object.keys(d.pow).length === 1 && d.pow[s] === 1);
      if (axis >= 0) {
        sources.set(s, { input: inp.name!, axis });
        break;
      }
    }
    if (!sources.has(s)) throw new CannotGeneralize(`graph '${primary.graph.name}'`, `no graph input has the dimension '${s}' as one axis`, [s]);
  }
  return {
    symbols: sources,
    shapeOf: (n) => shapes.get(n) ?? n.type.shape.map(staticDim),
    attr: (n, name) => attrs.get(n)?.get(name),
    varyingAttrs: (n) => [...(attrs.get(n)?.keys() ?? [])],
    constant: (n) => consts.get(n),
  };
}

function sameNumbers(a: readonly number[] | undefined, b: readonly number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

/** The data at index 0 of `axes` when it does not change along them (row-major), else undefined. */
function broadcastBase(data: readonly number[], shape: readonly number[], axes: readonly number[]): number[] | undefined {
  if (data.length === 0) return undefined;
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) strides[k] = strides[k + 1]! * shape[k + 1]!;
  const base: number[] = [];
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < data.length; i++) {
    let at0 = 0;
    for (let k = 0; k < rank; k++) if (!axes.includes(k)) at0 += idx[k]! * strides[k]!;
    if (!Object.is(data[i], data[at0])) return undefined;
    if (axes.every((k) => idx[k] === 0)) base.push(data[i]!);
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
  return base;
}

function constForm(
  n: Node,
  peers: readonly Node[],
  shape: readonly SymDim[],
  bindings: readonly Readonly<Record<string, number>>[],
  fail: (n: Node, why: string) => never,
  fit: (n: Node, values: readonly number[], what: string) => SymDim,
): ConstForm | undefined {
  const datas = peers.map((m) => (m.data === undefined || isElided(m.data) ? undefined : numbersOf(m.data)));
  if (datas.some((d) => d === undefined)) {
    if (shape.every(isStatic)) return undefined;
    fail(n, 'changes shape with the binding and its data is not available');
  }
  const ds = datas as number[][];
  const sameData = ds.every((d) => d.length === ds[0]!.length && d.every((v, i) => Object.is(v, ds[0]![i])));
  if (shape.every(isStatic)) {
    if (sameData) return undefined;
    const intLike = n.type.elem.startsWith('i') || n.type.elem.startsWith('u');
    if (!intLike || n.type.shape.length > 1) fail(n, 'its values change with the binding (only integer vectors of dimension sizes can be rebuilt)');
    return { kind: 'ints', values: ds[0]!.map((_, j) => fit(n, ds.map((d) => d[j]!), `element ${j}`)) };
  }
  const first = ds[0]![0];
  if (ds.every((d) => d.length > 0 && d.every((v) => Object.is(v, first)))) return { kind: 'fill', value: first! };
  const ps = peers[0]!.type.shape;
  const varying = shape.flatMap((d, k) => (isStatic(d) ? [] : [k]));
  const base = broadcastBase(ds[0]!, ps, varying);
  if (base !== undefined && peers.every((m, p) => sameNumbers(broadcastBase(ds[p]!, m.type.shape, varying), base))) {
    return { kind: 'broadcast', base, baseShape: ps.map((v, k) => (varying.includes(k) ? 1 : v)) };
  }
  for (const [p, m] of peers.entries()) {
    if (p === 0) continue;
    const ms = m.type.shape;
    if (ms.some((v, k) => v > ps[k]!)) {
      fail(n, `its shape grows with the binding and the primary binding ${JSON.stringify(bindings[0])} is not the largest, so its data cannot be cut from it (export at the largest size, e.g. --seq at its maximum)`);
    }
    if (!isPrefix(ds[p]!, ms, ds[0]!, ps)) fail(n, `its data at a smaller binding is not the leading part of its data at ${JSON.stringify(bindings[0])}`);
  }
  return { kind: 'prefix' };
}
