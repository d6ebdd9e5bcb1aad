// A token-pruned model as a chain of segments whose shapes are decided at run time.
//
// Segment k runs encoder layer k on n_k tokens and ends at boundary k (after layer k) with
// the compacted hidden state, keep mask and reduction mask. The survivor count c_k is the
// only value the boundary reveals; segment k+1 runs on n_{k+1} = c_k rounded up to a
// multiple of `bucket` (padding rows are masked, so they have no influence), taking the first
// n_{k+1} rows of the compacted values as its jointly secret inputs. The last segment ends
// at the graph outputs. Segment graphs are cut out of the static pruned graph and re-typed
// for n tokens, so every segment means exactly what the static graph means.

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
}

/** Names of a segment's boundary inputs and outputs. */
export const SEGMENT_VALUES = { hidden: 'hidden', keep: 'keep', reduce: 'reduce' } as const;

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
    out.push({ layer: k.loc.layer, hidden, keep, reduce, bucket: k.attrs['bucket'] as number });
  }
  return out.sort((a, b) => a.layer - b.layer);
}

/** A cut point: the node replaced by a graph input, and the token axis its shape carries. */
export interface Cut {
  readonly node: Node;
  readonly name: string;
  readonly axis: number;
}

/**
 * The part of `graph` between `cuts` and `roots`, with every cut a graph input of `tokens`
 * tokens on its axis, and every op re-typed for that length. Without cuts (segment 0) the
 * graph inputs it reaches stay inputs; with cuts, reaching one is an error.
 */
export function cutGraph(graph: Graph, name: string, cuts: readonly Cut[], roots: readonly GraphOutput[], tokens: number, vis: Visibility = 'shared'): Graph {
  const done = new Map<Node, Node>();
  const inputs: Node[] = [];
  for (const c of cuts) {
    const shape = [...c.node.type.shape];
    shape[c.axis] = tokens;
    const input = inputNode(c.name, { elem: c.node.type.elem, shape, vis }, { name: c.name });
    done.set(c.node, input);
    inputs.push(input);
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
  const roots: GraphOutput[] = [
    { name: SEGMENT_VALUES.hidden, node: b.hidden },
    { name: SEGMENT_VALUES.keep, node: b.keep },
  ];
  if (b.reduce !== undefined) roots.push({ name: SEGMENT_VALUES.reduce, node: b.reduce });
  return roots;
}

/** Segment k (0 .. boundaries) of a pruned graph, for n tokens (segment 0: the graph's own length). */
export function segmentGraph(graph: Graph, bounds: readonly Boundary[], k: number, n: number): Graph {
  const roots = k < bounds.length ? boundaryRoots(bounds[k]!) : [...graph.outputs];
  if (k === 0) return cutGraph(graph, `${graph.name}/segment-0`, [], roots, n);
  const prev = bounds[k - 1]!;
  const cuts = [hiddenCut(prev.hidden), maskCut(prev.keep, SEGMENT_VALUES.keep)];
  if (prev.reduce !== undefined) cuts.push(maskCut(prev.reduce, SEGMENT_VALUES.reduce));
  return cutGraph(graph, `${graph.name}/segment-${k}@${n}`, cuts, roots, n);
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
  /** Tokens each segment ran on: S, then the bucketed counts. */
  readonly tokens: readonly number[];
}

/** Caches segment graphs by (segment, tokens): a bucket is compiled once, on first use. */
export class SegmentCache {
  readonly #graphs = new Map<string, Graph>();
  readonly bounds: readonly Boundary[];
  constructor(readonly graph: Graph) {
    this.bounds = boundariesOf(graph);
  }
  get(k: number, n: number): Graph {
    const key = `${k}@${n}`;
    let g = this.#graphs.get(key);
    if (g === undefined) this.#graphs.set(key, (g = segmentGraph(this.graph, this.bounds, k, n)));
    return g;
  }
}

/**
 * Runs a pruned graph segment by segment in the plaintext evaluator, as the parties do:
 * open the count, bucket it, hand the first rows on. `pad` fills the padding rows of the
 * hand-off (zeros as the compaction leaves them; tests put garbage there).
 */
export function runSegments(cache: SegmentCache, feeds: ReadonlyMap<string, Tensor>, pad?: (t: Tensor, from: number, axis: number) => Tensor): SegmentedRun {
  const S = cache.graph.inputs[0]!.type.shape[1]!;
  const counts: number[] = [];
  const tokens: number[] = [S];
  let values = evaluate(cache.get(0, S), feeds);
  for (let k = 1; k <= cache.bounds.length; k++) {
    const prevTokens = tokens[tokens.length - 1]!;
    const keep = float64Data(values.get(SEGMENT_VALUES.keep)!);
    const B = values.get(SEGMENT_VALUES.keep)!.shape[0]!;
    let count = 0;
    for (let b = 0; b < B; b++) {
      let c = 0;
      for (let j = 0; j < prevTokens; j++) c += keep[b * prevTokens + j]!;
      count = Math.max(count, c);
    }
    counts.push(count);
    const n = bucketOf(count, cache.bounds[k - 1]!.bucket, prevTokens);
    tokens.push(n);
    const next = new Map<string, Tensor>();
    for (const [name, t] of values) {
      const axis = name === SEGMENT_VALUES.hidden ? 1 : 3;
      let cut = takeTokens(t, axis, n);
      if (pad !== undefined) cut = pad(cut, count, axis);
      next.set(name, cut);
    }
    values = evaluate(cache.get(k, n), next);
  }
  return { outputs: values, counts, tokens };
}
