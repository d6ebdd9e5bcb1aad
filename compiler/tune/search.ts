// Algorithm 1 of IG-3D: a serial search, structure -> operator -> activation. Stage k may
// lose at most budget_k accuracy (eps/3, 2eps/3, eps, counted from the baseline), and among
// the moves that stay within it takes the one with the largest speedup.
//
// A stage looks at its moves from the previous stage's choice in order of speedup (from the
// cost model, cheap) and measures accuracy (expensive) only until the first move within the
// budget: that move is the best feasible one. Moves no faster than the stage's starting point
// are not worth taking. When every faster move is over the budget the stage has no feasible
// point, and the search backtracks: it relaxes the previous stage's choice (its next less
// aggressive moves, then undoing it) and retries the stage from there, keeping a relaxed
// choice only if the two stages together end up faster than the unrelaxed choice alone.
//
// The search is generic over the point type so that it can be tested with synthetic costs.

export interface SearchPoint {
  /** Identity of the point's decisions. */
  readonly key: string;
  /** Baseline latency / this point's latency. */
  readonly speedup: number;
  /** What the move does, for the trace. */
  readonly label: string;
}

export interface SearchStage<P extends SearchPoint> {
  readonly name: string;
  /** Accuracy loss (percentage points vs the baseline) allowed after this stage. */
  readonly budget: number;
  /** The stage's moves from `from` (each also carries the decisions of `from`). */
  moves(from: P): Promise<readonly P[]>;
}

/** Whether the point's accuracy loss is within `budget` percentage points. */
export type FeasibilityOracle<P extends SearchPoint> = (point: P, budget: number, stage: string) => Promise<boolean>;

export type TraceEvent =
  | { readonly stage: string; readonly event: 'chosen'; readonly from: string; readonly point: string; readonly speedup: number; readonly rejected: number }
  | { readonly stage: string; readonly event: 'no-gain'; readonly from: string; readonly moves: number }
  | { readonly stage: string; readonly event: 'infeasible'; readonly from: string; readonly rejected: number }
  | { readonly stage: string; readonly event: 'backtrack'; readonly previous: string; readonly relaxed: string; readonly success: boolean; readonly speedup?: number }
  | { readonly stage: string; readonly event: 'skipped'; readonly reason: string };

export interface SearchOptions {
  /** How many relaxed choices of the previous stage to try when a stage is infeasible (default 4). */
  readonly maxBacktrack?: number;
}

export interface SearchResult<P extends SearchPoint> {
  /** The point after each stage; [0] is the start (the baseline). */
  readonly points: readonly P[];
  readonly trace: readonly TraceEvent[];
}

type StageOutcome<P> = { kind: 'chosen'; point: P; rejected: number } | { kind: 'no-gain'; moves: number } | { kind: 'infeasible'; rejected: number };

const EPS = 1e-12;

async function searchStage<P extends SearchPoint>(stage: SearchStage<P>, from: P, feasible: FeasibilityOracle<P>): Promise<StageOutcome<P>> {
  const moves = [...(await stage.moves(from))].sort((a, b) => b.speedup - a.speedup);
  const faster = moves.filter((m) => m.speedup > from.speedup + EPS && m.key !== from.key);
  let rejected = 0;
  for (const m of faster) {
    if (await feasible(m, stage.budget, stage.name)) return { kind: 'chosen', point: m, rejected };
    rejected++;
  }
  return faster.length === 0 ? { kind: 'no-gain', moves: moves.length } : { kind: 'infeasible', rejected };
}

export async function serialSearch<P extends SearchPoint>(start: P, stages: readonly SearchStage<P>[], feasible: FeasibilityOracle<P>, options: SearchOptions = {}): Promise<SearchResult<P>> {
  const maxBacktrack = options.maxBacktrack ?? 4;
  const points: P[] = [start];
  const trace: TraceEvent[] = [];
  for (let k = 0; k < stages.length; k++) {
    const stage = stages[k]!;
    const from = points[k]!;
    const out = await searchStage(stage, from, feasible);
    if (out.kind === 'chosen') {
      trace.push({ stage: stage.name, event: 'chosen', from: from.label, point: out.point.label, speedup: out.point.speedup, rejected: out.rejected });
      points.push(out.point);
      continue;
    }
    if (out.kind === 'no-gain') {
      trace.push({ stage: stage.name, event: 'no-gain', from: from.label, moves: out.moves });
      points.push(from);
      continue;
    }
    trace.push({ stage: stage.name, event: 'infeasible', from: from.label, rejected: out.rejected });
    const relaxed = k === 0 ? undefined : await backtrack(stages[k - 1]!, stage, points[k - 1]!, from, feasible, maxBacktrack, trace);
    if (relaxed === undefined) {
      trace.push({ stage: stage.name, event: 'skipped', reason: k === 0 ? 'no move within the budget' : 'no feasible point, even after relaxing the previous stage' });
      points.push(from);
    } else {
      points[k] = relaxed[0];
      points.push(relaxed[1]);
    }
  }
  return { points, trace };
}

/**
 * Relaxations of the previous stage's choice `current` (made from `base`): its moves that are
 * slower than `current`, fastest first, then `base` itself (the previous stage undone). The
 * first whose retried stage beats `current` alone wins: [relaxed choice, stage's choice].
 */
async function backtrack<P extends SearchPoint>(
  previous: SearchStage<P>,
  stage: SearchStage<P>,
  base: P,
  current: P,
  feasible: FeasibilityOracle<P>,
  maxBacktrack: number,
  trace: TraceEvent[],
): Promise<[P, P] | undefined> {
  const slower = [...(await previous.moves(base))].filter((m) => m.speedup < current.speedup - EPS && m.key !== current.key).sort((a, b) => b.speedup - a.speedup);
  const options = [...slower.slice(0, Math.max(0, maxBacktrack - 1)), ...(base.key !== current.key ? [base] : [])];
  for (const alt of options) {
    if (alt !== base && !(await feasible(alt, previous.budget, previous.name))) continue;
    const out = await searchStage(stage, alt, feasible);
    const success = out.kind === 'chosen' && out.point.speedup > current.speedup + EPS;
    trace.push({ stage: stage.name, event: 'backtrack', previous: current.label, relaxed: alt.label, success, ...(out.kind === 'chosen' ? { speedup: out.point.speedup } : {}) });
    if (success) {
      trace.push({ stage: stage.name, event: 'chosen', from: alt.label, point: out.point.label, speedup: out.point.speedup, rejected: out.rejected });
      return [alt, out.point];
    }
  }
  return undefined;
}
