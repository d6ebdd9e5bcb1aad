// The backend driver: IR graph -> scheduled, leakage-checked circuit with its static cost.
//
// An ONNX-level graph is raised first (`raise-bert,fold-batch-norm,canonicalize`, configurable), then the
// user's passes run, then range analysis, lowering with the chosen protocols, scheduling,
// the cost model and the leakage checker.

import type { Circuit } from '../../ir/circuit/circuit.ts';
import { circuitCost, type CircuitCost } from '../../ir/circuit/cost.ts';
import { checkLeakage } from '../../ir/circuit/leakage.ts';
import { schedule, type Schedule } from '../../ir/circuit/schedule.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { parsePipeline, runPipeline, type PipelineStep } from '../../passes/index.ts';
import '../../passes/raise/index.ts';
import '../../passes/ig3d/index.ts';
import { lowerGraph, type SegmentBoundary } from './lower/index.ts';
import { PRESETS, protocolConfig, type ProtocolConfig } from './protocols/index.ts';
import { checkFssBits } from './fss-bits.ts';
import { checkRanges } from './range.ts';

/** Ops that only exist after raising: a graph holding one is already transformer level. */
const RAISED_OPS: ReadonlySet<string> = new Set([
  'LayerNorm',
  'Gelu',
  'GeluMix',
  'Linear',
  'Embedding',
  'AttentionMask',
  'SplitHeads',
  'AttentionScores',
  'AttentionSoftmax',
  'AttentionContext',
  'MergeHeads',
  'Pooler',
]);

/**
 * Raising, then folding inference BatchNorms into their Linears (after raise-bert, so that a
 * LayerNorm's gamma/beta tail is already part of a LayerNorm and never mistaken for one).
 */
export const DEFAULT_RAISE = 'raise-bert,fold-batch-norm,canonicalize';

export interface CompileOptions {
  /** `crypten` (default), `best`, a preset with overrides (`crypten,maxMethod=tree`), or a config. */
  readonly protocols?: string | ProtocolConfig;
  /** Passes after raising (a pipeline string or parsed steps). */
  readonly passes?: string | readonly PipelineStep[];
  /**
   * Raising of an ONNX-level graph: 'auto' (default) runs DEFAULT_RAISE when the
   * graph has no transformer-level op; true always; false never; or the steps to run.
   */
  readonly raise?: 'auto' | boolean | string | readonly PipelineStep[];
  /** Fractional bits (default 16). */
  readonly f?: number;
  /** Verify the IR after every pass (default true). */
  readonly verify?: boolean;
  /** Pass resources, e.g. the importance annotation. */
  readonly resources?: ReadonlyMap<string, unknown>;
  readonly onNote?: (pass: string, message: string) => void;
  /** The graph is a segment ending at a token-pruning boundary (lower/index.ts). */
  readonly boundary?: SegmentBoundary;
}

export interface CompileTimings {
  readonly passes: number;
  readonly range: number;
  readonly lower: number;
  readonly schedule: number;
  readonly cost: number;
  readonly leakage: number;
  readonly total: number;
}

export interface Compiled {
  /** The IR that was lowered (after raising and the passes). */
  readonly graph: Graph;
  readonly circuit: Circuit;
  readonly schedule: Schedule;
  readonly cost: CircuitCost;
  /** The server's weights by input name (write them with writeWeightsBundle). */
  readonly weights: Map<string, Tensor>;
  readonly protocols: ProtocolConfig;
  /** The pipeline that ran, as text. */
  readonly pipeline: readonly string[];
  readonly warnings: readonly string[];
  /** Seconds per stage. */
  readonly timings: CompileTimings;
}

/**
 * Under FSS comparisons with the spline inverse square root, range analysis also bounds the
 * values past LayerNorm (secure-range.ts): the spline start (1.1%) and its Newton step are
 * within 2^-5 relative wherever the sum of squares is in the spline's range (the rule covers
 * the clamped range below it apart). Other inverse square roots have no such analysis here:
 * their comparisons past LayerNorm stay on 64 bits.
 */
function secureRangeOptions(p: ProtocolConfig): { layerNormError?: number } {
  return p.compare === 'fss' && p.invSqrtMethod === 'spline' ? { layerNormError: 2 ** -5 } : {};
}

/** A protocol configuration from a name (with optional overrides) or as given. */
export function resolveProtocols(p: string | ProtocolConfig | undefined): ProtocolConfig {
  if (p === undefined) return PRESETS['crypten']!;
  if (typeof p !== 'string') return p;
  try {
    return protocolConfig(p);
  } catch (e) {
    if (e instanceof Ig3dcError) throw new Ig3dcError('usage', `--protocols: ${e.detail}`);
    throw e;
  }
}

function steps(p: string | readonly PipelineStep[] | undefined, what: string): readonly PipelineStep[] {
  if (p === undefined) return [];
  return typeof p === 'string' ? (p.trim() === '' ? [] : parsePipeline(p, what)) : p;
}

export function isRaised(graph: Graph): boolean {
  return graph.nodes().some((n) => RAISED_OPS.has(n.op));
}

/** The raising steps `compileModel` runs on this graph. */
export function raiseSteps(graph: Graph, raise: CompileOptions['raise'] = 'auto'): readonly PipelineStep[] {
  if (raise === false) return [];
  if (raise === 'auto') return isRaised(graph) ? [] : parsePipeline(DEFAULT_RAISE, 'raise');
  if (raise === true) return parsePipeline(DEFAULT_RAISE, 'raise');
  return steps(raise, 'raise');
}

export function compileModel(input: Graph, options: CompileOptions = {}): Compiled {
  const t0 = performance.now();
  const protocols = resolveProtocols(options.protocols);
  const f = options.f ?? 16;
  const pipeline = [...raiseSteps(input, options.raise), ...steps(options.passes, '--passes')];
  const graph =
    pipeline.length === 0
      ? input
      : runPipeline(input, pipeline, {
          verify: options.verify ?? true,
          ...(options.resources !== undefined ? { resources: options.resources } : {}),
          ...(options.onNote !== undefined ? { onNote: options.onNote } : {}),
        }).graph;
  const t1 = performance.now();
  const range = checkRanges(graph, { f, ...secureRangeOptions(protocols) });
  const t2 = performance.now();
  const { circuit, weights, fssBits } = lowerGraph(graph, { config: protocols, f, known: range.known, bounds: range.bounds, ...(options.boundary !== undefined ? { boundary: options.boundary } : {}) });
  if (protocols.compare === 'fss') checkFssBits(graph, fssBits, protocols.fssBits, f);
  const t3 = performance.now();
  const sched = schedule(circuit);
  const t4 = performance.now();
  const cost = circuitCost(circuit, sched);
  const t5 = performance.now();
  checkLeakage(circuit);
  const t6 = performance.now();
  const s = (a: number, b: number): number => (b - a) / 1000;
  return {
    graph,
    circuit,
    schedule: sched,
    cost,
    weights,
    protocols,
    pipeline: pipeline.map((p) => p.text),
    warnings: range.warnings,
    timings: { passes: s(t0, t1), range: s(t1, t2), lower: s(t2, t3), schedule: s(t3, t4), cost: s(t4, t5), leakage: s(t5, t6), total: s(t0, t6) },
  };
}
