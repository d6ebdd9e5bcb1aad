// The circuits of a token-pruned model's segments, compiled on demand and cached per
// (segment, tokens): a run compiles only the buckets it takes, each once (at most
// 1 + (L-1) S / bucket circuits for L layers and S tokens). Segment k < L-1 ends at boundary k:
// its compacted hidden state and masks are handed off (they stay secret) and the survivor
// count is revealed to both parties, who pick segment k+1 compiled for that count's bucket
// (with prune-tokens{reduce=reveal-count}, also the reduced count: segment k+1 is compiled for
// the pair [full rows, reduced rows]).

import type { Graph } from '../../ir/graph.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { checkLeakage } from '../../ir/circuit/leakage.ts';
import { nextShape, SEGMENT_VALUES, SegmentCache, shapeTokens, type SegmentShape } from '../../passes/tokens/segments.ts';
import { bundleWeights, type SegmentBundle } from '../../ir/circuit/segment-bundle.ts';
import { circuitContentHash } from '../../ir/circuit/file.ts';
import { compileModel, raiseSteps, type CompileOptions, type Compiled } from '../backend/compile.ts';
import { runPipeline, type PipelineStep } from '../../passes/index.ts';
import type { Circuit } from '../../ir/circuit/circuit.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { BOUNDARY_COUNT, BOUNDARY_REDUCED, checkBoundaryLeaks } from './boundary.ts';

export interface SegmentCompile {
  readonly segment: number;
  readonly tokens: number;
  readonly shape: SegmentShape;
  readonly seconds: number;
}

/** What the runtime's segmented run (runtime/segments.ts) asks of its segment source. */
export class SegmentCircuits {
  readonly graphs: SegmentCache;
  readonly #compiled = new Map<string, Compiled>();
  /** Every compilation made so far, in order (a cached segment is not compiled again). */
  readonly compiles: SegmentCompile[] = [];
  readonly segments: number;
  readonly tokens: number;

  /** `pruned`: a raised graph that prune-tokens rewrote; `options`: protocols and f (no passes: they ran already). */
  constructor(pruned: Graph, readonly options: Pick<CompileOptions, 'protocols' | 'f'> = {}) {
    this.graphs = new SegmentCache(pruned);
    if (this.graphs.bounds.length === 0) throw new Ig3dcError('usage', `'${pruned.name}' has no token-pruning boundary (run prune-tokens first)`);
    this.segments = this.graphs.bounds.length + 1;
    this.tokens = pruned.inputs[0]!.type.shape[1]!;
  }

  /**
   * The shape of segment k + 1 from what boundary k revealed (per example: the survivor count
   * `count` and, at a boundary of prune-tokens{reduce=reveal-count}, the reduced count `reduced`)
   * and segment k's shape: the largest over the batch, bucketed (nextShape).
   */
  next(k: number, revealed: ReadonlyMap<string, readonly number[]>, shape: SegmentShape): SegmentShape {
    const b = this.graphs.bounds[k]!;
    const count = revealed.get(BOUNDARY_COUNT)!;
    const reduced = revealed.get(BOUNDARY_REDUCED);
    const tokens = shapeTokens(shape);
    if (!b.revealReduced) return nextShape(b, Math.max(...count), undefined, tokens);
    if (reduced === undefined) throw new Ig3dcError('verify', `boundary ${k} splits the survivors by degree but revealed no '${BOUNDARY_REDUCED}' count`);
    const full = Math.max(...count.map((c, e) => c - reduced[e]!));
    const red = Math.max(...reduced);
    return nextShape(b, full + red, red, tokens);
  }

  /** The bucket of each boundary (what a segments bundle records for the parties' choice). */
  bucketSizes(): number[] {
    return this.graphs.bounds.map((b) => b.bucket);
  }

  /** Segment k at a shape, compiled (with its static cost) on first use. */
  compiled(k: number, shape: SegmentShape | number): Compiled {
    const sh = typeof shape === 'number' ? [shape] : shape;
    const key = `${k}@${sh.join('+')}`;
    let c = this.#compiled.get(key);
    if (c === undefined) {
      const t0 = performance.now();
      const b = this.graphs.bounds[k];
      const split = b?.revealReduced === true;
      const handoff = b === undefined ? undefined : split ? [SEGMENT_VALUES.hidden, SEGMENT_VALUES.keep, SEGMENT_VALUES.hiddenReduced, SEGMENT_VALUES.keepReduced] : [SEGMENT_VALUES.hidden, SEGMENT_VALUES.keep, ...(b.reduce !== undefined ? [SEGMENT_VALUES.reduce] : [])];
      const boundary = handoff === undefined ? undefined : { handoff, countOf: SEGMENT_VALUES.keep, ...(split ? { reducedOf: SEGMENT_VALUES.keepReduced } : {}) };
      c = compileModel(this.graphs.get(k, sh), { ...this.options, raise: false, ...(boundary !== undefined ? { boundary } : {}) });
      if (handoff !== undefined) checkBoundaryLeaks(c.circuit, { reduced: split });
      else checkLeakage(c.circuit);
      this.#compiled.set(key, c);
      this.compiles.push({ segment: k, tokens: shapeTokens(sh), shape: sh, seconds: (performance.now() - t0) / 1000 });
    }
    return c;
  }

  /**
   * Every (segment, shape) a run can take: segment 0 at the sequence length, segment k > 0 at
   * each multiple of its boundary's bucket up to the sequence length; after a boundary that
   * splits by degree, each pair of full (>= bucket) and reduced (0 or >= bucket) rows up to the
   * sequence length each (what compiling ahead costs).
   */
  buckets(): { segment: number; tokens: number; shape: SegmentShape }[] {
    const out: { segment: number; tokens: number; shape: SegmentShape }[] = [{ segment: 0, tokens: this.tokens, shape: [this.tokens] }];
    this.graphs.bounds.forEach((b, i) => {
      for (let n = b.bucket; n <= this.tokens; n += b.bucket) {
        if (!b.revealReduced) out.push({ segment: i + 1, tokens: n, shape: [n] });
        else for (let r = 0; r <= this.tokens; r += b.bucket) out.push({ segment: i + 1, tokens: n + r, shape: [n, r] });
      }
    });
    return out;
  }

  /**
   * Every bucket compiled (ahead), as the bundle the three roles of a deployment load, and the
   * server's weights of all of them (bundleWeights' names).
   */
  bundle(): { bundle: SegmentBundle; weights: Map<string, Tensor> } {
    const split = this.graphs.bounds.findIndex((b) => b.revealReduced);
    if (split >= 0) throw new Ig3dcError('usage', `boundary ${split} splits the survivors by degree (prune-tokens{reduce=reveal-count}): a segments file for serve/dealer holds one token count per bucket, not [full, reduced] pairs; run it in process (ig3dc run) or drop reduce=reveal-count`);
    const all = this.buckets().map((b) => ({ ...b, ...this.get(b.segment, b.shape) }));
    return {
      bundle: { name: this.graphs.graph.name, tokens: this.tokens, buckets: this.bucketSizes(), circuits: all.map((b) => ({ segment: b.segment, tokens: b.tokens, circuit: b.circuit, hash: circuitContentHash(b.circuit) })) },
      weights: bundleWeights(all),
    };
  }

  get(k: number, shape: SegmentShape | number): { circuit: Circuit; weights: ReadonlyMap<string, Tensor> } {
    const c = this.compiled(k, shape);
    return { circuit: c.circuit, weights: c.weights };
  }
}

/**
 * The segment circuits of a model (ONNX-level or raised) after raising and `passes`, which
 * must prune tokens: what `ig3dc run` executes and `ig3dc compile` reports the cost of.
 */
export function segmentCircuitsOf(
  graph: Graph,
  passes: readonly PipelineStep[],
  options: Pick<CompileOptions, 'protocols' | 'f' | 'resources' | 'onNote' | 'verify'> = {},
): SegmentCircuits {
  const pruned = runPipeline(graph, [...raiseSteps(graph), ...passes], {
    ...(options.verify !== undefined ? { verify: options.verify } : {}),
    ...(options.resources !== undefined ? { resources: options.resources } : {}),
    ...(options.onNote !== undefined ? { onNote: options.onNote } : {}),
  }).graph;
  return new SegmentCircuits(pruned, { ...(options.protocols !== undefined ? { protocols: options.protocols } : {}), ...(options.f !== undefined ? { f: options.f } : {}) });
}
