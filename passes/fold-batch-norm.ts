// fold-batch-norm: a per-channel affine of constants, y = x * a + c (BatchNormalization in
// inference mode as the frontend imports it), folded into the neighbouring Linear:
//   forward   (x a + c) W + b  =  x (diag(a) W) + (c W + b)
//   backward  (x W + b) a + c  =  x (W diag(a)) + (b a + c)
// Under MPC, x * a with x shared and a the server's is a Beaver product per element (a round
// and bytes); the folded Linear costs what the Linear alone did.
//
// Not a canonicalize rule: canonicalize's rewrites are bit-exact, and these are not. The
// folded constants are computed in float64 and stored in the weight's element type, so the
// outputs move by the rounding of the new weights: float64 rounding in an f64 model, float32
// rounding (relative 2^-24 per weight, far below fixed point's 2^-16) in an f32 one, whose
// constants are float32 like the ONNX initializers they came from. Moving an affine below a
// Transpose (BatchNorm1d on tokens is exported as Transpose -> BatchNormalization over axis 1
// -> Transpose) is exact.
//
// When it folds:
// - forward: every user of the affine is a Linear, or a MatMul by a rank-2 weight (with its
//   bias Add), reading it as x, and the affine varies only along the last axis (the one the
//   Linear contracts), possibly after moving it below a Transpose;
// - backward: the affine's input is a Linear / MatMul (+ bias) used by nothing else, possibly
//   through a Transpose, and the affine varies only along the Linear's output axis;
// - the folded constants have one owner: the server's statistics with the server's weights
//   stay the server's, a public affine takes the weight's owner, and client data is never
//   mixed with the server's.
// An affine that stays (a residual Add also reads it, constants per token instead of per
// channel, mixed owners, no Linear next to it) is named in a note.
//
// Run it after raise-bert (the default raising pipeline does): before raising, the gamma and
// beta tail of a decomposed LayerNorm is a per-channel affine too, and folding it would leave
// a LayerNorm that no rule recognizes.

import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { usersOf } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { CONST_OP, constNode, constValue } from '../ir/node.ts';
import { permOf } from '../ir/ops/transpose.ts';
import { Tensor } from '../ir/tensor.ts';
import { formatVisibility, isFloatType, joinVisibility, shapesEqual, type Visibility } from '../ir/types.ts';
import { registerPass, type Pass } from './pass.ts';
import { any, constant, either, match, op, type Captures, type Pattern } from './pattern.ts';
import { type RewriteContext, type Rule, rewriteGraph, rule } from './rewrite.ts';

export const FOLD_BATCH_NORM_PASS_NAME = 'fold-batch-norm';

// ---------------------------------------------------------------------------------------
// Who uses what.

/**
 * The users of every node of one graph snapshot. A node built since (by a rule of this round)
 * is unknown, and no fold decides on an unknown node: the pass counts again and reruns.
 */
export class Uses {
  readonly #users: ReadonlyMap<Node, readonly Node[]>;
  readonly #known: ReadonlySet<Node>;
  readonly #outputs: ReadonlySet<Node>;

  private constructor(users: ReadonlyMap<Node, readonly Node[]>, known: ReadonlySet<Node>, outputs: ReadonlySet<Node>) {
    this.#users = users;
    this.#known = known;
    this.#outputs = outputs;
  }

  static of(graph: Graph): Uses {
    return new Uses(usersOf(graph), new Set(graph.nodes()), new Set(graph.outputs.map((o) => o.node)));
  }

  /** Knows no node: the rules as `ig3dc passes` lists them. */
  static readonly none = new Uses(new Map(), new Set(), new Set());

  /** The nodes that read `n`, or undefined when `n` is unknown or a graph output (which must stay). */
  consumers(n: Node): readonly Node[] | undefined {
    if (!this.#known.has(n) || this.#outputs.has(n)) return undefined;
    return this.#users.get(n) ?? [];
  }

  /** Whether `user` is the only reader of `n` (and `n` no graph output). */
  soleUser(n: Node, user: Node): boolean {
    const us = this.consumers(n);
    return us !== undefined && us.length === 1 && us[0] === user;
  }

  isOutput(n: Node): boolean {
    return this.#outputs.has(n);
  }
}

// ---------------------------------------------------------------------------------------
// The affine and its constants.

/** Add(Mul(x, a), c) with a and c constants with data, either operand order. */
const AFFINE: Pattern = op('Add', [op('Mul', [any('x'), constant('a')], { commutative: true, capture: 'mul' }), constant('c')], { commutative: true, capture: 'affine' });

interface Affine {
  readonly node: Node;
  readonly mul: Node;
  readonly x: Node;
  readonly a: Node;
  readonly c: Node;
  /** The one axis of x along which a and c vary; 'all' when both are single values. */
  readonly axis: number | 'all';
}

/** The affine a match captured, or undefined when its constants are not per one axis of x. */
function affineOf(c: Captures): Affine | undefined {
  const [node, mul, x, a, cc] = [c['affine'], c['mul'], c['x'], c['a'], c['c']];
  if (node === undefined || mul === undefined || x === undefined || a === undefined || cc === undefined) return undefined;
  if (!isFloatType(x.type.elem) || a.type.elem !== x.type.elem || cc.type.elem !== x.type.elem) return undefined;
  // x keeps its shape: the constants broadcast along x, never x along them
  if (!shapesEqual(node.type.shape, x.type.shape)) return undefined;
  const rank = x.type.shape.length;
  let axis: number | 'all' = 'all';
  for (const k of [a, cc]) {
    const s = k.type.shape;
    if (s.length > rank) return undefined;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === 1) continue;
      const at = rank - s.length + i;
      if (axis !== 'all' && axis !== at) return undefined;
      axis = at;
    }
  }
  return { node, mul, x, a, c: cc, axis };
}

/** The affine at `n` (an Add), if it is one. */
function affineAt(n: Node): Affine | undefined {
  const caps = match(AFFINE, n);
  return caps === undefined ? undefined : affineOf(caps);
}

/** A constant's elements as `len` per-channel values (a single value repeats). */
function perChannel(k: Node, len: number): Float64Array {
  const t = constValue(k)!;
  if (t.size === 1) return new Float64Array(len).fill(t.at(0));
  return Float64Array.from(t.toFloat64());
}

/** The owner of data computed from these constants, or undefined when it would mix client and server data. */
function ownerOf(...nodes: readonly Node[]): Visibility | undefined {
  let v: Visibility = 'public';
  for (const n of nodes) v = joinVisibility(v, n.type.vis);
  return v === 'shared' ? undefined : v;
}

/** A constant of `like`'s element type (stored as that type holds it: f32 rounds to float32). */
function folded(like: Node, shape: readonly number[], values: Float64Array, vis: Visibility, name: string | undefined): Node {
  return constNode(Tensor.from(like.type.elem, shape, values), { elem: like.type.elem, shape, vis }, name !== undefined ? { name } : {});
}

/** A float constant with data of the given rank: a weight or a bias. */
const isWeight =
  (rank: number) =>
  (t: Tensor, n: Node): boolean =>
    isFloatType(n.type.elem) && t.shape.length === rank;

// ---------------------------------------------------------------------------------------
// Linear consumers (forward) and producers (backward).

/** How a node applies a weight to its first input: W [K, N], bias b [N] or none. */
interface LinearUse {
  readonly node: Node;
  readonly w: Node;
  readonly b: Node | undefined;
}

/** `u` reads `x` as the x of a Linear or of a MatMul by a rank-2 weight (else why not). */
function linearUse(u: Node, x: Node): LinearUse | string {
  const w = u.inputs[1];
  const isW = w !== undefined && w.op === CONST_OP && constValue(w) !== undefined && isFloatType(w.type.elem) && w.type.shape.length === 2;
  if ((u.op !== 'Linear' && u.op !== 'MatMul') || !isW) return `${describe(u)}, which is not a Linear or a MatMul by a weight`;
  if (u.inputs[0] !== x || u.inputs.slice(1).includes(x)) return `${describe(u)}, which does not read it as its x`;
  if (u.op === 'MatMul' && x.type.shape.length < 2) return `${describe(u)}, which reads a vector`;
  const b = u.inputs[2];
  if (b !== undefined && (b.op !== CONST_OP || constValue(b) === undefined)) return `${describe(u)}, whose bias is not a constant`;
  return { node: u, w, b };
}

/** The bias Add that a MatMul's only user is, when it adds a rank-1 constant [N] (ONNX's Linear). */
function biasAdd(mm: Node, uses: Uses): { add: Node; b: Node } | undefined {
  const us = uses.consumers(mm);
  if (us === undefined || us.length !== 1) return undefined;
  const add = us[0]!;
  if (add.op !== 'Add') return undefined;
  const b = add.inputs[0] === mm ? add.inputs[1] : add.inputs[1] === mm ? add.inputs[0] : undefined;
  if (b === undefined || b === mm || b.op !== CONST_OP || constValue(b) === undefined) return undefined;
  const N = mm.type.shape[mm.type.shape.length - 1];
  return b.type.shape.length === 1 && b.type.shape[0] === N && b.type.elem === mm.type.elem ? { add, b } : undefined;
}

/**
 * Why the affine cannot fold forward into every reader, or undefined when it can: the affine
 * is used only by its readers (no graph output, its Mul only by it), and `readersBlocker`.
 */
function forwardBlocker(f: Affine, uses: Uses): string | undefined {
  if (uses.isOutput(f.node)) return 'it is a graph output';
  const products = uses.consumers(f.mul);
  if (uses.consumers(f.node) === undefined || products === undefined) return uses.isOutput(f.mul) ? 'its product x * a is a graph output' : 'it changed in this round';
  const other = products.find((u) => u !== f.node);
  if (other !== undefined) return `its product x * a is also read by ${describe(other)}`;
  return readersBlocker(f.node, f, f.axis, uses);
}

/**
 * Why the readers of `node` (the affine, or the Transpose it would move below) cannot all
 * absorb the affine `f` varying along `axis` of `node`, or undefined when they can: each is a
 * Linear or a MatMul by a weight reading it as x (a MatMul's bias Add absorbs the shift),
 * `axis` is the last one (the axis the Linear contracts), and no folded constant mixes owners.
 */
function readersBlocker(node: Node, f: Pick<Affine, 'a' | 'c'>, axis: number | 'all', uses: Uses): string | undefined {
  const readers = uses.consumers(node);
  if (readers === undefined) return uses.isOutput(node) ? `${describe(node)} is a graph output` : 'it changed in this round';
  if (readers.length === 0) return 'nothing reads it';
  const last = node.type.shape.length - 1;
  for (const u of readers) {
    const lu = linearUse(u, node);
    if (typeof lu === 'string') return `it also feeds ${lu}`;
    if (axis !== 'all' && axis !== last) {
      return `its constants vary along axis ${axis} of ${node.type.shape.length} (not per channel), while ${describe(u)} contracts the last axis`;
    }
    const bias = lu.b ?? (u.op === 'MatMul' ? biasAdd(u, uses)?.b : undefined);
    if (ownerOf(f.a, lu.w) === undefined || ownerOf(f.c, lu.w, ...(bias !== undefined ? [bias] : [])) === undefined) {
      return `folding into ${describe(u)} would mix owners (scale ${formatVisibility(f.a.type.vis)}, shift ${formatVisibility(f.c.type.vis)}, weight ${formatVisibility(lu.w.type.vis)})`;
    }
  }
  return undefined;
}

/** diag(a) W and c W + b for W [K, N]: the forward fold's weight and bias. */
function foldForward(f: Affine, w: Node, b: Node | undefined): { w: Node; b: Node } | undefined {
  const [K, N] = w.type.shape as [number, number];
  const wv = ownerOf(f.a, w);
  const bv = ownerOf(f.c, w, ...(b !== undefined ? [b] : []));
  if (wv === undefined || bv === undefined) return undefined;
  const a = perChannel(f.a, K);
  const c = perChannel(f.c, K);
  const W = constValue(w)!.toFloat64();
  const w2 = new Float64Array(K * N);
  const b2 = b !== undefined ? Float64Array.from(constValue(b)!.toFloat64()) : new Float64Array(N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const wkn = W[k * N + n]!;
      w2[k * N + n] = a[k]! * wkn;
      b2[n] = b2[n]! + c[k]! * wkn;
    }
  }
  return { w: folded(w, [K, N], w2, wv, w.loc.name), b: folded(w, [N], b2, bv, (b ?? f.c).loc.name) };
}

/** W diag(a) and b a + c for W [K, N]: the backward fold's weight and bias. */
function foldBackward(f: Affine, w: Node, b: Node | undefined): { w: Node; b: Node } | undefined {
  const [K, N] = w.type.shape as [number, number];
  const wv = ownerOf(f.a, w);
  const bv = ownerOf(f.a, f.c, ...(b !== undefined ? [b] : []));
  if (wv === undefined || bv === undefined) return undefined;
  const a = perChannel(f.a, N);
  const c = perChannel(f.c, N);
  const W = constValue(w)!.toFloat64();
  const w2 = new Float64Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) w2[k * N + n] = W[k * N + n]! * a[n]!;
  const b0 = b !== undefined ? constValue(b)!.toFloat64() : undefined;
  const b2 = new Float64Array(N);
  for (let n = 0; n < N; n++) b2[n] = (b0 !== undefined ? b0[n]! * a[n]! : 0) + c[n]!;
  return { w: folded(w, [K, N], w2, wv, w.loc.name), b: folded(w, [N], b2, bv, (b ?? f.c).loc.name) };
}

/** The linear producer shapes the backward fold absorbs: Linear, MatMul + bias, MatMul. */
const PRODUCER: Pattern = either(
  op('Linear', [any('lx'), constant('W', isWeight(2))], { capture: 'lin' }),
  op('Linear', [any('lx'), constant('W', isWeight(2)), constant('b', isWeight(1))], { capture: 'lin' }),
  op('Add', [op('MatMul', [any('lx', (n) => n.type.shape.length >= 2), constant('W', isWeight(2))], { capture: 'mm' }), constant('b', isWeight(1))], { commutative: true, capture: 'lin' }),
  op('MatMul', [any('lx', (n) => n.type.shape.length >= 2), constant('W', isWeight(2))], { capture: 'lin' }),
);

/** x transposed by `perm`, composing with a Transpose x already is (and dropping an identity). */
function transposed(x: Node, perm: readonly number[], ctx: RewriteContext, loc: Node['loc']): Node {
  let src = x;
  let p = [...perm];
  if (x.op === 'Transpose') {
    const inner = permOf(x.attrs['perm'] as readonly number[], x.inputs[0]!.type.shape);
    p = p.map((i) => inner[i]!);
    src = x.inputs[0]!;
  }
  return p.every((a, i) => a === i) ? src : ctx.build('Transpose', [src], { perm: p }, loc);
}

/** A per-axis constant laid out for Transpose(x, perm): its broadcast shape permuted (same data). */
function permutedConst(k: Node, rank: number, perm: readonly number[]): Node {
  const t = constValue(k)!;
  const aligned = [...new Array<number>(rank - k.type.shape.length).fill(1), ...k.type.shape];
  const shape = perm.map((a) => aligned[a]!);
  return constNode(new Tensor(t.dtype, shape, t.data), { ...k.type, shape }, k.loc);
}

function describe(n: Node): string {
  return `${n.op}${n.loc.name !== undefined ? ` '${n.loc.name}'` : ''}`;
}

// ---------------------------------------------------------------------------------------
// The rules.

/** The rules, deciding on users with `uses` (a snapshot of the graph they run on). */
export function foldBatchNormRules(uses: Uses): readonly Rule[] {
  /** The affine captured under a forward rule's root, when it folds into every reader. */
  const forwardAffine = (c: Captures): Affine | undefined => {
    const f = affineOf(c);
    return f !== undefined && forwardBlocker(f, uses) === undefined ? f : undefined;
  };

  return [
    // Linear(x a + c, W, b) -> Linear(x, diag(a) W, c W + b)
    rule(
      'AffineLinearToLinear',
      'Linear(x * a + c, W, b) with a, c per channel of x -> Linear(x, diag(a) W, c W + b)',
      either(op('Linear', [AFFINE, constant('W', isWeight(2))]), op('Linear', [AFFINE, constant('W', isWeight(2)), constant('b', isWeight(1))])),
      (c, ctx) => {
        const f = forwardAffine(c);
        const got = f !== undefined ? foldForward(f, c['W']!, c['b']) : undefined;
        return got === undefined ? undefined : ctx.build('Linear', [f!.x, got.w, got.b], ctx.root.attrs);
      },
    ),
    // MatMul(x a + c, W) + b -> MatMul(x, diag(a) W) + (c W + b)
    rule(
      'AffineMatMulBiasToMatMulBias',
      'MatMul(x * a + c, W) + b with a, c per channel of x -> MatMul(x, diag(a) W) + (c W + b)',
      op('Add', [op('MatMul', [AFFINE, constant('W', isWeight(2))], { capture: 'mm' }), constant('b', isWeight(1))], { commutative: true }),
      (c, ctx) => {
        const f = forwardAffine(c);
        const mm = c['mm']!;
        if (f === undefined || biasAdd(mm, uses)?.add !== ctx.root) return undefined;
        const got = foldForward(f, c['W']!, c['b']);
        return got === undefined ? undefined : ctx.build('Add', [ctx.build('MatMul', [f.x, got.w], {}, mm.loc), got.b]);
      },
    ),
    // MatMul(x a + c, W) -> MatMul(x, diag(a) W) + c W  (a MatMul whose bias Add folds it instead declines)
    rule(
      'AffineMatMulToMatMulBias',
      'MatMul(x * a + c, W) with a, c per channel of x and no bias Add -> MatMul(x, diag(a) W) + c W',
      op('MatMul', [AFFINE, constant('W', isWeight(2))]),
      (c, ctx) => {
        const f = forwardAffine(c);
        if (f === undefined || biasAdd(ctx.root, uses) !== undefined) return undefined;
        const got = foldForward(f, c['W']!, undefined);
        return got === undefined ? undefined : ctx.build('Add', [ctx.build('MatMul', [f.x, got.w]), got.b]);
      },
    ),
    // Transpose(x a + c) -> Transpose(x) a' + c'  when the Transpose only feeds Linears that then absorb it
    rule(
      'TransposeAffineToAffineTranspose',
      'Transpose(x * a + c, p) with a, c per one axis, feeding only Linears that contract that axis -> Transpose(x, p) * a^p + c^p',
      op('Transpose', [AFFINE]),
      (c, ctx) => {
        const f = affineOf(c);
        const t = ctx.root;
        if (f === undefined || !uses.soleUser(f.node, t) || !uses.soleUser(f.mul, f.node)) return undefined;
        const rank = f.x.type.shape.length;
        const perm = permOf(t.attrs['perm'] as readonly number[], f.x.type.shape);
        // below the Transpose the affine varies along the output axis its own axis lands on
        if (readersBlocker(t, f, movedAxis(f.axis, perm), uses) !== undefined) return undefined;
        const x = transposed(f.x, perm, ctx, t.loc);
        const scaled = ctx.build('Mul', [x, permutedConst(f.a, rank, perm)], {}, f.mul.loc);
        return ctx.build('Add', [scaled, permutedConst(f.c, rank, perm)], {}, f.node.loc);
      },
    ),
    // (Linear(x, W, b) a + c) -> Linear(x, W diag(a), b a + c), also through a Transpose
    rule(
      'LinearAffineToLinear',
      'Linear(x, W, b) * a + c (or MatMul(x, W) + b, optionally transposed) with a, c per output channel -> Linear(x, W diag(a), b a + c)',
      op('Add', [op('Mul', [either(op('Transpose', [PRODUCER], { capture: 't' }), PRODUCER), constant('a')], { commutative: true, capture: 'mul' }), constant('c')], { commutative: true, capture: 'affine' }),
      (c, ctx) => {
        const lin = c['lin']!;
        const t = c['t'];
        const y = t ?? lin;
        const f = affineOf({ ...c, x: y });
        if (f === undefined || !uses.soleUser(f.mul, f.node) || !uses.soleUser(y, f.mul)) return undefined;
        if (t !== undefined && !uses.soleUser(lin, t)) return undefined;
        const mm = c['mm'];
        if (mm !== undefined && !uses.soleUser(mm, lin)) return undefined;
        // the affine's axis must be the Linear's output axis (seen through the Transpose)
        const last = lin.type.shape.length - 1;
        const perm = t !== undefined ? permOf(t.attrs['perm'] as readonly number[], lin.type.shape) : undefined;
        if (f.axis !== 'all' && (perm !== undefined ? perm[f.axis] : f.axis) !== last) return undefined;
        const b = c['b'];
        if (b !== undefined && (b.type.shape[0] !== c['W']!.type.shape[1] || b.type.elem !== c['W']!.type.elem)) return undefined;
        const got = foldBackward(f, c['W']!, b);
        if (got === undefined) return undefined;
        const x = c['lx']!;
        const out =
          lin.op === 'Linear'
            ? ctx.build('Linear', [x, got.w, got.b], lin.attrs, lin.loc)
            : ctx.build('Add', [ctx.build('MatMul', [x, got.w], {}, (mm ?? lin).loc), got.b], {}, lin.loc);
        return t !== undefined ? transposed(out, perm!, ctx, t.loc) : out;
      },
    ),
  ];
}

/** Where axis `axis` of x lands in Transpose(x, perm). */
function movedAxis(axis: number | 'all', perm: readonly number[]): number | 'all' {
  return axis === 'all' ? 'all' : perm.indexOf(axis);
}

// ---------------------------------------------------------------------------------------
// The pass.

/** Why each per-channel affine left in `graph` was not folded, one line per affine. */
export function unfoldedAffines(graph: Graph): string[] {
  const uses = Uses.of(graph);
  const out: string[] = [];
  for (const n of graph.nodes()) {
    if (n.op !== 'Add') continue;
    const f = affineAt(n);
    // single values are no BatchNorm (and fold silently when they can)
    if (f === undefined || (constValue(f.a)!.size === 1 && constValue(f.c)!.size === 1)) continue;
    const readers = uses.consumers(n) ?? [];
    // BatchNorm1d on tokens: the affine's reader is the Transpose back to [B, N, C]
    const t = readers.length === 1 && readers[0]!.op === 'Transpose' && uses.soleUser(f.mul, n) ? readers[0]! : undefined;
    const why =
      t !== undefined
        ? readersBlocker(t, f, movedAxis(f.axis, permOf(t.attrs['perm'] as readonly number[], n.type.shape)), uses)
        : forwardBlocker(f, uses);
    if (why === undefined) continue;
    const via = t !== undefined ? ` (read through ${describe(t)})` : '';
    out.push(`per-channel affine x * a + c at ${describe(n)}${via} was not folded into a neighbouring Linear: ${why}`);
  }
  return out;
}

export const foldBatchNorm: Pass = {
  name: FOLD_BATCH_NORM_PASS_NAME,
  summary: 'fold per-channel affines of constants (inference BatchNormalization, also between Transposes) into the neighbouring Linear or MatMul; run after raise-bert',
  options: {},
  rules: foldBatchNormRules(Uses.none),
  run(graph, _options, ctx) {
    let g = graph;
    for (let round = 0; ; round++) {
      if (round === 64) throw new Ig3dcError('verify', `${FOLD_BATCH_NORM_PASS_NAME} did not reach a fixed point in 64 rounds`);
      const next = rewriteGraph(g, foldBatchNormRules(Uses.of(g))).graph;
      if (next === g) break;
      g = next;
    }
    for (const message of unfoldedAffines(g)) ctx.note(FOLD_BATCH_NORM_PASS_NAME, message);
    return g;
  },
};

registerPass(foldBatchNorm);
