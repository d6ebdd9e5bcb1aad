// A token-pruned model as a chain of segments whose shapes are decided at run time.
//
// Segment k runs encoder layer k on n_k tokens and ends at boundary k (after layer k) with
// the compacted hidden state, keep mask and reduction mask. The survivor count c_k is the
// only value the boundary reveals; segment k+1 runs on n_{k+1} = c_k rounded up to a
// multiple of `bucket` (padding rows are masked, so they have no influence), taking the first
// n_{k+1} rows of the compacted values as its jointly secret inputs. The last segment ends
// at the graph outputs. Segment graphs are cut out of the static pruned graph and re-typed
// for n tokens, so every segment means exactly what the static graph means.
//
// A boundary whose TokenReduce has reveal (prune-tokens{reduce=reveal-count}) splits the
// survivors instead: it compacts the full-degree ones (token 0 first) and the reduced ones
// apart and reveals both counts; segment k+1 runs on [f full rows | r reduced rows], f and r the
// counts each rounded up to the bucket (r = 0 when none is reduced), and computes its softmax
// rows and GELU at full degree on the first f rows and at low degree on the last r only, where
// the static graph computes both for every token and selects (TokenSelect). Tokens then come
// in another order than in the static graph; every op after the embeddings treats tokens alike
// (attention is equivariant under a permutation of query and key rows with the keep mask, the
// rest is per token; positions are added before layer 0), and [CLS] stays at row 0, so the
// logits are the same.

import { build } from '../../ir/build.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { evaluate } from '../../ir/evaluate.ts';
import { Graph, type GraphOutput } from '../../ir/graph.ts';
import { CONST_OP, INPUT_OP, inputNode, type Node } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import type { Visibility } from '../../ir/types.ts';
import { float64Data } from '../../ir/ops/broadcast.ts';
import { bucketOf } from '../../ir/circuit/segment-bundle.ts';

/** The values a boundary hands to the next segment (compacted). */
export interface Boundary {
  readonly layer: number;
  readonly hidden: Node;
  readonly keep: Node;
  readonly reduce: Node | undefined;
  readonly bucket: number;
  /** The boundary reveals the number of reduced tokens and splits the survivors by degree (see the header). */
  readonly revealReduced: boolean;
}

/** Names of a segment's boundary inputs and outputs. */
export const SEGMENT_VALUES = { hidden: 'hidden', keep: 'keep', reduce: 'reduce', hiddenReduced: 'hidden-reduced', keepReduced: 'keep-reduced' } as const;

/**
 * The token rows a segment runs on: [n]; or, after a boundary that reveals its reduced count,
 * [f, r]: f full-degree rows, then r reduced rows.
 */
export type SegmentShape = readonly number[];

/** Total token rows of a shape. */
export const shapeTokens = (shape: SegmentShape): number => shape.reduce((a, b) => a + b, 0);

/** The boundaries of a graph that prune-tokens rewrote, in layer order. */
export function boundariesOf(graph: Graph): Boundary[] {
  const out: Boundary[] = [];
  const keeps = graph.nodes().filter((n) => n.op === 'TokenKeep');
  for (const k of keeps) {
    const users = graph.nodes().filter((n) => n.op === 'CompactTokens' && n.inputs[1] === k);
    const hidden = users.find((n) => n.attrs['axis'] === 1);
    const keep = users.find((n) => n.inputs[0] === k);
    const reduce = users.find((n) => n.inputs[0]!.op === 'TokenReduce');
    if (hidden === undefined || keep === undefined || k.loc.layer === undefined) {
      throw new Ig3dcError('usage', `TokenKeep${k.loc.name !== undefined ? ` '${k.loc.name}'` : ''} is not a prune-tokens boundary (no compacted hidden state and mask)`);
    }
    const revealReduced = reduce !== undefined && reduce.inputs[0]!.attrs['reveal'] === true;
    out.push({ layer: k.loc.layer, hidden, keep, reduce, bucket: k.attrs['bucket'] as number, revealReduced });
  }
  return out.sort((a, b) => a.layer - b.layer);
}

/** A cut point: the node replaced by a graph input, and the token axis its shape carries. */
export interface Cut {
  readonly node: Node;
  readonly name: string;
  readonly axis: number;
  /** The input's tokens, when not the segment's own (the parts of a split boundary). */
  readonly tokens?: number;
  /** A second input concatenated after the first along the axis: the node is both joined. */
  readonly then?: { readonly name: string; readonly tokens: number };
}

/** How a segment gives each degree its own rows: TokenSelect becomes the two computations on row slices. */
export type NodeRewrite = (n: Node, clone: (n: Node) => Node) => Node | undefined;

/**
 * The part of `graph` between `cuts` and `roots`, with every cut a graph input of `tokens`
 * tokens on its axis, and every op re-typed for that length. Without cuts (segment 0) the
 * graph inputs it reaches stay inputs; with cuts, reaching one is an error.
 */
export function cutGraph(graph: Graph, name: string, cuts: readonly Cut[], roots: readonly GraphOutput[], tokens: number, vis: Visibility = 'shared', rewrite?: NodeRewrite): Graph {
  const done = new Map<Node, Node>();
  const inputs: Node[] = [];
  const inputOf = (c: Cut, at: string, n: number): Node => {
    const shape = [...c.node.type.shape];
    shape[c.axis] = n;
    const input = inputNode(at, { elem: c.node.type.elem, shape, vis }, { name: at });
    inputs.push(input);
    return input;
  };
  for (const c of cuts) {
    const first = inputOf(c, c.name, c.tokens ?? tokens);
    if (c.then === undefined) done.set(c.node, first);
    else done.set(c.node, build('Concat', [first, inputOf(c, c.then.name, c.then.tokens)], { axis: c.axis }, { ...c.node.loc, name: `${name}/${c.name}+${c.then.name}` }));
  }
  const clone = (root: Node): Node => {
    const stack: Node[] = [root];
    while (stack.length > 0) {
      const n = stack[stack.length - 1]!;
      if (done.has(n)) {
        stack.pop();
        continue;
      }
      if (n.op === INPUT_OP) {
        if (cuts.length > 0) throw new Ig3dcError('usage', `segment '${name}' reaches graph input '${n.name}' other than through its boundary inputs`);
        inputs.push(n);
        done.set(n, n);
        continue;
      }
      if (n.op === CONST_OP) {
        done.set(n, n);
        continue;
      }
      if (rewrite !== undefined) {
        stack.pop();
        const r = rewrite(n, clone);
        if (r !== undefined) {
          done.set(n, r);
          continue;
        }
        stack.push(n);
      }
      const pending = n.inputs.filter((i) => !done.has(i));
      if (pending.length > 0) {
        stack.push(...pending);
        continue;
      }
      stack.pop();
      done.set(n, build(n.op, n.inputs.map((i) => done.get(i)!), n.attrs, n.loc));
    }
    return done.get(root)!;
  };
  const outputs = roots.map((r) => ({ name: r.name, node: clone(r.node) }));
  return new Graph(name, inputs, outputs, graph.meta);
}

const hiddenCut = (node: Node): Cut => ({ node, name: SEGMENT_VALUES.hidden, axis: 1 });
const maskCut = (node: Node, name: string): Cut => ({ node, name, axis: 3 });

function boundaryRoots(b: Boundary): GraphOutput[] {
  if (b.revealReduced) return splitRoots(b);
  const roots: GraphOutput[] = [
    { name: SEGMENT_VALUES.hidden, node: b.hidden },
    { name: SEGMENT_VALUES.keep, node: b.keep },
  ];
  if (b.reduce !== undefined) roots.push({ name: SEGMENT_VALUES.reduce, node: b.reduce });
  return roots;
}

/**
 * A split boundary's hand-off: the hidden state and flags of the full-degree survivors
 * compacted by their flags ([CLS] first), and those of the reduced survivors by theirs, each in
 * token order. The full flags are the other part of the same TokenReduce, so the two groups
 * partition the survivors exactly.
 */
function splitRoots(b: Boundary): GraphOutput[] {
  const reduce = b.reduce!.inputs[0]!; // TokenReduce{part=reduced}
  const h = b.hidden.inputs[0]!;
  const full = build('TokenReduce', reduce.inputs, { ...reduce.attrs, part: 'full' }, { ...reduce.loc, name: `${reduce.loc.name ?? 'reduce'}/full` });
  const compact = (x: Node, flags: Node, axis: number, what: string): Node => build('CompactTokens', [x, flags], { axis }, { ...b.hidden.loc, name: `${b.hidden.loc.name ?? 'compact'}/${what}` });
  return [
    { name: SEGMENT_VALUES.hidden, node: compact(h, full, 1, 'full') },
    { name: SEGMENT_VALUES.keep, node: compact(full, full, 3, 'full-mask') },
    { name: SEGMENT_VALUES.hiddenReduced, node: compact(h, reduce, 1, 'reduced') },
    { name: SEGMENT_VALUES.keepReduced, node: compact(reduce, reduce, 3, 'reduced-mask') },
  ];
}

/**
 * TokenSelect(flags, low, full) on [f full rows | r reduced rows]: full's op on the first f
 * rows of its token input, low's op on the last r, concatenated (only full's when r = 0).
 */
function splitSelect(f: number, r: number): NodeRewrite {
  return (n, clone) => {
    if (n.op !== 'TokenSelect') return undefined;
    const axis = n.attrs['axis'] as number;
    const [, low, full] = n.inputs as [Node, Node, Node];
    if (low.inputs[0] !== full.inputs[0]) throw new Ig3dcError('usage', `TokenSelect '${n.loc.name ?? ''}': its two computations do not read one token input, so they cannot be split by rows`);
    const x = clone(full.inputs[0]!);
    const rest = (m: Node): Node[] => m.inputs.slice(1).map(clone);
    if (r === 0) return build(full.op, [x, ...rest(full)], full.attrs, full.loc);
    const rows = (from: number, to: number, what: string): Node => build('Slice', [x], { starts: [from], ends: [to], axes: [axis] }, { ...n.loc, name: `${n.loc.name ?? 'select'}/${what}-rows` });
    const top = build(full.op, [rows(0, f, 'full'), ...rest(full)], full.attrs, full.loc);
    const bottom = build(low.op, [rows(f, f + r, 'reduced'), ...rest(low)], low.attrs, low.loc);
    return build('Concat', [top, bottom], { axis }, { ...n.loc, name: `${n.loc.name ?? 'select'}/by-rows` });
  };
}

const shapeName = (shape: SegmentShape): string => shape.join('+');

/** Segment k (0 .. boundaries) of a pruned graph, for a shape (segment 0: [the graph's own length]). */
export function segmentGraph(graph: Graph, bounds: readonly Boundary[], k: number, shape: SegmentShape): Graph {
  const roots = k < bounds.length ? boundaryRoots(bounds[k]!) : [...graph.outputs];
  const n = shapeTokens(shape);
  if (k === 0) return cutGraph(graph, `${graph.name}/segment-0`, [], roots, n);
  const prev = bounds[k - 1]!;
  const name = `${graph.name}/segment-${k}@${shapeName(shape)}`;
  if (prev.revealReduced) {
    if (shape.length !== 2) throw new Ig3dcError('usage', `segment ${k} follows a boundary that splits the survivors by degree: its shape is [full, reduced] rows, got [${shape.join(', ')}]`);
    const [f, r] = shape as [number, number];
    const then = (name: string) => (r > 0 ? { then: { name, tokens: r } } : {});
    const cuts: Cut[] = [
      { ...hiddenCut(prev.hidden), tokens: f, ...then(SEGMENT_VALUES.hiddenReduced) },
      { ...maskCut(prev.keep, SEGMENT_VALUES.keep), tokens: f, ...then(SEGMENT_VALUES.keepReduced) },
    ];
    return cutGraph(graph, name, cuts, roots, n, 'shared', splitSelect(f, r));
  }
  if (shape.length !== 1) throw new Ig3dcError('usage', `segment ${k} runs on one group of token rows, got shape [${shape.join(', ')}]`);
  const cuts = [hiddenCut(prev.hidden), maskCut(prev.keep, SEGMENT_VALUES.keep)];
  if (prev.reduce !== undefined) cuts.push(maskCut(prev.reduce, SEGMENT_VALUES.reduce));
  return cutGraph(graph, name, cuts, roots, n);
}

/** Boundary values' token axis by name. */
export const tokenAxisOf = (name: string): number => (name === SEGMENT_VALUES.hidden || name === SEGMENT_VALUES.hiddenReduced ? 1 : 3);

/**
 * The shape segment k + 1 runs on, from boundary k's counts (the largest over the batch) and
 * segment k's tokens: the survivor count rounded up to the bucket; for a split boundary, the
 * full-degree and the reduced counts each rounded up (0 reduced rows when none is reduced).
 */
export function nextShape(b: Boundary, survivors: number, reduced: number | undefined, tokens: number): SegmentShape {
  if (!b.revealReduced) return [bucketOf(survivors, b.bucket, tokens)];
  if (reduced === undefined) throw new Ig3dcError('verify', `boundary ${b.layer} splits the survivors by degree but no reduced count was revealed`);
  return [bucketOf(survivors - reduced, b.bucket, tokens), reduced === 0 ? 0 : bucketOf(reduced, b.bucket, tokens)];
}

// The bucket rule is the circuits' (both parties apply it to the revealed count): one definition.
export { bucketOf };

/** The first n entries along `axis`. */
export function takeTokens(t: Tensor, axis: number, n: number): Tensor {
  const s = t.shape;
  const S = s[axis]!;
  const outer = s.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = s.slice(axis + 1).reduce((p, d) => p * d, 1);
  const X = float64Data(t);
  const Y = new Float64Array(outer * n * inner);
  for (let o = 0; o < outer; o++) Y.set(X.subarray(o * S * inner, (o * S + n) * inner), o * n * inner);
  const shape = [...s];
  shape[axis] = n;
  return new Tensor(t.dtype, shape, Y);
}

export interface SegmentedRun {
  readonly outputs: Map<string, Tensor>;
  /** Survivor count opened at each boundary (the largest over the batch). */
  readonly counts: readonly number[];
  /** Reduced count opened at each split boundary (the largest over the batch; undefined elsewhere). */
  readonly reduced: readonly (number | undefined)[];
  /** Tokens each segment ran on: S, then the bucketed counts (for a split: full + reduced rows). */
  readonly tokens: readonly number[];
  /** The shape each segment ran on. */
  readonly shapes: readonly SegmentShape[];
}

/** Caches segment graphs by (segment, shape): a bucket is compiled once, on first use. */
export class SegmentCache {
  readonly #graphs = new Map<string, Graph>();
  readonly bounds: readonly Boundary[];
  constructor(readonly graph: Graph) {
    this.bounds = boundariesOf(graph);
  }
  get(k: number, shape: SegmentShape | number): Graph {
    const sh = typeof shape === 'number' ? [shape] : shape;
    const key = `${k}@${shapeName(sh)}`;
    let g = this.#graphs.get(key);
    if (g === undefined) this.#graphs.set(key, (g = segmentGraph(this.graph, this.bounds, k, sh)));
    return g;
  }
}

/** Per example, the number of set flags of a [B,1,1,n] mask; the largest over the batch. */
function maxCount(t: Tensor): number {
  const [B, , , n] = t.shape as [number, number, number, number];
  const X = float64Data(t);
  let count = 0;
  for (let b = 0; b < B; b++) {
    let c = 0;
    for (let j = 0; j < n; j++) c += X[b * n + j]!;
    count = Math.max(count, c);
  }
  return count;
}

/**
 * Runs a pruned graph segment by segment in the plaintext evaluator, as the parties do:
 * open the count(s), bucket, hand the first rows on. `pad` fills the padding rows of the
 * hand-off (zeros as the compaction leaves them; tests put garbage there).
 */
export function runSegments(cache: SegmentCache, feeds: ReadonlyMap<string, Tensor>, pad?: (t: Tensor, from: number, axis: number) => Tensor): SegmentedRun {
  const S = cache.graph.inputs[0]!.type.shape[1]!;
  const counts: number[] = [];
  const reducedCounts: (number | undefined)[] = [];
  const shapes: SegmentShape[] = [[S]];
  let values = evaluate(cache.get(0, [S]), feeds);
  for (let k = 1; k <= cache.bounds.length; k++) {
    const b = cache.bounds[k - 1]!;
    const prevTokens = shapeTokens(shapes[shapes.length - 1]!);
    const full = maxCount(values.get(SEGMENT_VALUES.keep)!);
    const red = b.revealReduced ? maxCount(values.get(SEGMENT_VALUES.keepReduced)!) : undefined;
    // per example: survivors = full + reduced; the largest survivor count over the batch
    let count = full;
    if (red !== undefined) {
      const kf = float64Data(values.get(SEGMENT_VALUES.keep)!);
      const kr = float64Data(values.get(SEGMENT_VALUES.keepReduced)!);
      const [B, , , n] = values.get(SEGMENT_VALUES.keep)!.shape as [number, number, number, number];
      count = 0;
      for (let e = 0; e < B; e++) {
        let c = 0;
        for (let j = 0; j < n; j++) c += kf[e * n + j]! + kr[e * n + j]!;
        count = Math.max(count, c);
      }
    }
    counts.push(count);
    reducedCounts.push(red);
    const shape: SegmentShape = b.revealReduced ? [bucketOf(full, b.bucket, prevTokens), red === 0 ? 0 : bucketOf(red!, b.bucket, prevTokens)] : nextShape(b, count, undefined, prevTokens);
    shapes.push(shape);
    const next = new Map<string, Tensor>();
    for (const [name, t] of values) {
      const reducedPart = name === SEGMENT_VALUES.hiddenReduced || name === SEGMENT_VALUES.keepReduced;
      const n = b.revealReduced ? shape[reducedPart ? 1 : 0]! : shape[0]!;
      if (n === 0) continue;
      const axis = tokenAxisOf(name);
      let cut = takeTokens(t, axis, n);
      if (pad !== undefined) cut = pad(cut, b.revealReduced ? (reducedPart ? red! : full) : count, axis);
      next.set(name, cut);
    }
    values = evaluate(cache.get(k, shape), next);
  }
  return { outputs: values, counts, reduced: reducedCounts, tokens: shapes.map(shapeTokens), shapes };
}
