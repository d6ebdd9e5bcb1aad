// The circuits of a token-pruned model's segments, compiled on demand and cached per
// (segment, tokens): a run compiles only the buckets it takes, each once (at most
// 1 + (L-1) S / bucket circuits for L layers and S tokens). Segment k < L-1 ends at boundary k:
// its compacted hidden state and masks are handed off (they stay secret) and the survivor
// count is revealed to both parties, who pick segment k+1 compiled for that count's bucket.

import type { Graph } from '../../ir/graph.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { checkLeakage } from '../../ir/circuit/leakage.ts';
import { SEGMENT_VALUES, SegmentCache } from '../../passes/tokens/segments.ts';
import { bundleWeights, nextSegmentTokens, type SegmentBundle } from '../../ir/circuit/segment-bundle.ts';
import { circuitContentHash } from '../../ir/circuit/file.ts';
import { compileModel, type CompileOptions, type Compiled } from '../backend/compile.ts';
import type { Circuit } from '../../ir/circuit/circuit.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { checkBoundaryLeaks } from './boundary.ts';

export interface SegmentCompile {
  readonly segment: number;
  readonly tokens: number;
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

  next(k: number, counts: readonly number[], tokens: number): number {
    return nextSegmentTokens(this.graphs.bounds[k]!.bucket, counts, tokens);
  }

  /** The bucket of each boundary (what a segments bundle records for the parties' choice). */
  bucketSizes(): number[] {
    return this.graphs.bounds.map((b) => b.bucket);
  }

  /** Segment k at n tokens, compiled (with its static cost) on first use. */
  compiled(k: number, n: number): Compiled {
    const key = `${k}@${n}`;
    let c = this.#compiled.get(key);
    if (c === undefined) {
      const t0 = performance.now();
      const b = this.graphs.bounds[k];
      const handoff = b === undefined ? undefined : [SEGMENT_VALUES.hidden, SEGMENT_VALUES.keep, ...(b.reduce !== undefined ? [SEGMENT_VALUES.reduce] : [])];
      c = compileModel(this.graphs.get(k, n), { ...this.options, raise: false, ...(handoff !== undefined ? { boundary: { handoff, countOf: SEGMENT_VALUES.keep } } : {}) });
      if (handoff !== undefined) checkBoundaryLeaks(c.circuit);
      else checkLeakage(c.circuit);
      this.#compiled.set(key, c);
      this.compiles.push({ segment: k, tokens: n, seconds: (performance.now() - t0) / 1000 });
    }
    return c;
  }

  /**
   * Every (segment, tokens) a run can take: segment 0 at the sequence length, segment k > 0 at
   * each multiple of its boundary's bucket up to the sequence length (what compiling ahead costs).
   */
  buckets(): { segment: number; tokens: number }[] {
    const out = [{ segment: 0, tokens: this.tokens }];
    this.graphs.bounds.forEach((b, i) => {
      for (let n = b.bucket; n <= this.tokens; n += b.bucket) out.push({ segment: i + 1, tokens: n });
    });
    return out;
  }

  /**
   * Every bucket compiled (ahead), as the bundle the three roles of a deployment load, and the
   * server's weights of all of them (bundleWeights' names).
   */
  bundle(): { bundle: SegmentBundle; weights: Map<string, Tensor> } {
    const all = this.buckets().map((b) => ({ ...b, ...this.get(b.segment, b.tokens) }));
    return {
      bundle: { name: this.graphs.graph.name, tokens: this.tokens, buckets: this.bucketSizes(), circuits: all.map((b) => ({ segment: b.segment, tokens: b.tokens, circuit: b.circuit, hash: circuitContentHash(b.circuit) })) },
      weights: bundleWeights(all),
    };
  }

  get(k: number, n: number): { circuit: Circuit; weights: ReadonlyMap<string, Tensor> } {
    const c = this.compiled(k, n);
    return { circuit: c.circuit, weights: c.weights };
  }
}
