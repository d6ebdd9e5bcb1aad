// Export that keeps the model's dynamic dimensions: the model is loaded (and optimized) at
// the primary binding and at two probe bindings, the graphs are matched (dynamic-axes.ts),
// and the primary graph is written with its shape-dependent numbers computed from the
// inputs' shapes. A dimension that cannot be generalized stays at its primary value, with a
// note naming the node that prevents it; the others stay dynamic.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { analyzeDynamicAxes, CannotGeneralize, type Probe } from './dynamic-axes.ts';
import { exportOnnx, type ExportOptions } from './export.ts';

export interface DynamicExportResult {
  readonly bytes: Uint8Array;
  /** The graph written (loaded at the primary binding). */
  readonly graph: Graph;
  /** The dynamic dimensions the written model keeps. */
  readonly dynamic: readonly string[];
  /** Why a dimension stayed static (one line each). */
  readonly notes: readonly string[];
}

/** Smaller sizes first, so shape-growing constants can be cut from the primary binding. */
const PROBE_SIZES = [7, 5, 3, 2, 11, 13, 17, 19];

/**
 * Two probe bindings: each symbol takes two sizes other than its primary one, smaller than it
 * when possible, and distinct from the other symbols' sizes in the same probe (so a batch
 * and a sequence dimension are told apart).
 */
export function probeBindings(primary: Readonly<Record<string, number>>, symbols: readonly string[]): Record<string, number>[] {
  const probes: Record<string, number>[] = [{ ...primary }, { ...primary }];
  const used = [new Set<number>(), new Set<number>()];
  for (const s of symbols) {
    const u = primary[s]!;
    const candidates = [...PROBE_SIZES.filter((v) => v < u), ...PROBE_SIZES.filter((v) => v > u)];
    for (const [p, probe] of probes.entries()) {
      const v = candidates.find((c) => !used[p]!.has(c) && (p === 0 || c !== probes[0]![s]))!;
      used[p]!.add(v);
      probe[s] = v;
    }
  }
  return probes;
}

/** Subsets of `symbols`, largest first (all of them, then each without one, ...). */
function subsets(symbols: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let mask = (1 << symbols.length) - 1; mask >= 0; mask--) out.push(symbols.filter((_, i) => (mask >> i) & 1));
  return out.sort((a, b) => b.length - a.length);
}

/**
 * Exports the model `load` gives at `primary` (the bound value of each dynamic dimension),
 * keeping as many of those dimensions dynamic as the graph allows. Shape-growing constants
 * (position embeddings) are cut from the primary binding, so the written model accepts
 * sizes up to the primary ones along those axes.
 */
export function exportWithDynamicAxes(
  load: (values: Readonly<Record<string, number>>) => Graph,
  primary: Readonly<Record<string, number>>,
  options: Omit<ExportOptions, 'dynamic'> = {},
): DynamicExportResult {
  const cache = new Map<string, Graph>();
  const at = (values: Readonly<Record<string, number>>): Graph => {
    const key = JSON.stringify(Object.entries(values).sort(([a], [b]) => a.localeCompare(b)));
    let g = cache.get(key);
    if (g === undefined) cache.set(key, (g = load(values)));
    return g;
  };
  const graph = at(primary);
  // a model that does not load (or whose passes refuse it) at another size keeps its sizes
  const probe = (values: Readonly<Record<string, number>>): Graph => {
    try {
      return at(values);
    } catch (e) {
      if (!(e instanceof Ig3dcError)) throw e;
      throw new CannotGeneralize(`the model at ${Object.entries(values).map(([k, v]) => `${k}=${v}`).join(', ')}`, e.message, Object.keys(values));
    }
  };
  const notes: string[] = [];
  const all = Object.keys(primary);
  for (const symbols of subsets(all)) {
    if (symbols.length === 0) break;
    try {
      const probes: Probe[] = probeBindings(primary, symbols).map((values) => ({ values, graph: probe(values) }));
      const dynamic = analyzeDynamicAxes({ graph, values: primary }, probes, symbols);
      const bytes = exportOnnx(graph, { ...options, dynamic });
      return { bytes, graph, dynamic: symbols, notes };
    } catch (e) {
      if (!(e instanceof CannotGeneralize)) throw e;
      notes.push(`${symbols.length > 1 ? 'dimensions' : 'dimension'} '${symbols.join("', '")}' cannot stay dynamic: ${e.message}`);
    }
  }
  if (all.length > 0) notes.push(`every dimension is written at its bound size (${all.map((s) => `${s}=${primary[s]}`).join(', ')})`);
  return { bytes: exportOnnx(graph, options), graph, dynamic: [], notes };
}
