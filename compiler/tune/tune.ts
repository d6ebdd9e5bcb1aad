// `ig3dc tune`: the IG-3D joint threshold search (Algorithm 1) on a model, an importance
// annotation and a labelled dev set, with the paper's ablation (Table 7: each stage's effect;
// Table 6: accuracy retention at 40% of heads pruned by each importance method).
//
// Two copies of the raised model are kept: one at the cost model's binding (batch 1 by
// default, the dev set's sequence length) that every candidate is compiled from for its
// rounds, bytes and estimated latency, and one at the accuracy batch that candidates are
// exported from and run on the dev set. Both get the candidate through the same passes.

import { basename } from 'node:path';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { parsePipeline, runPipeline } from '../../passes/index.ts';
import {
  type Granularity,
  type ImportanceAnnotation,
  checkAnnotationFits,
  choosePrunedHeads,
  importanceOf,
  modelShape,
  readImportanceFile,
  writeImportanceText,
} from '../../passes/ig3d/index.ts';
import { compileModel, DEFAULT_RAISE, isRaised, resolveProtocols } from '../backend/compile.ts';
import { estimateLatency, findProfile } from '../backend/report/index.ts';
import { isIrFile, loadModel } from '../load.ts';
import { type AccuracyCount, AccuracyMeter, accuracyBackend, percent, wrongOf } from './accuracy.ts';
import { type Candidate, applyCandidate, baselineCandidate, candidateAnnotation, candidateKey, candidatePipeline, names, sortedKeys } from './candidate.ts';
import { checkDevSetFits, checkLabelledDevSetFits, type DevSet, devSetShape, isImageDevSet, type LabelledDevSet, modelLimits, readLabelledDevSet } from './dev-set.ts';
import { SILENT, type TuneProgress } from './progress.ts';
import { type SearchStage, type TraceEvent, serialSearch } from './search.ts';
import { activationMoves, NO_THRESHOLDS, operatorMoves, type PointCost, type SpaceContext, structureMoves, type Thresholds, thresholdPipeline, type TunePoint } from './space.ts';

export interface TuneOptions {
  /** Importance files; the first drives the search, all of them enter Table 6. */
  readonly importance: readonly string[];
  /** More importance files for Table 6 only. */
  readonly compareImportance?: readonly string[];
  /** The labelled dev set (ig3dc-tensor-bundle/1): token ids, or images for a vision model. */
  readonly data: string;
  /** eps: accuracy loss allowed in total, percentage points vs the baseline, in (0, 100]. */
  readonly maxAccLoss: number;
  /** Use the first N rows of the dev set. */
  readonly examples?: number;
  /** Protocol set for the cost model (both baseline and candidates): crypten (default) or best. */
  readonly protocols?: string;
  /** Restrict stage 2 to one granularity (default: both). */
  readonly granularity?: string;
  /** Also measure Table 6 (importance methods at 40% pruned). */
  readonly ablation?: boolean;
  /** At least this fraction of heads is kept (default 0.3). */
  readonly minKeep?: number;
  /** PolySoftmax degree (default 2). */
  readonly degree?: number;
  /** Batch of the cost model's binding (default 1). */
  readonly batch?: number;
  /** Measure accuracy with the plaintext evaluator even if onnxruntime-node is available. */
  readonly evaluator?: boolean;
  /** Relaxed choices tried when a stage is infeasible (default 4). */
  readonly maxBacktrack?: number;
  readonly progress?: TuneProgress;
  readonly onNote?: (message: string) => void;
  /** Costs by candidate, shared between runs on the same model (tests). */
  readonly costCache?: Map<string, PointCost>;
}

/** A configuration's static cost under the protocols it was compiled with. */
export interface ConfigCost {
  readonly rounds: number;
  readonly bytesTotal: number;
  readonly onlineBytes: number;
  readonly latencySeconds: { readonly lan: number; readonly wan: number };
}

/** A configuration's cost with its accuracy measured on the dev set, against the baseline. */
export interface Measured extends ConfigCost {
  /** Percent of the dev rows classified correctly. */
  readonly accuracy: number;
  readonly correct: number;
  readonly rows: number;
  /** Baseline accuracy minus this one, percentage points. */
  readonly accuracyLoss: number;
  /** Baseline latency / this latency. */
  readonly speedup: { readonly lan: number; readonly wan: number };
}

export interface Decisions {
  readonly prunedHeads: readonly string[];
  readonly polyHeads: readonly string[];
  readonly degree: number;
  readonly shift: boolean;
  readonly clip: number;
  readonly lambdas: readonly number[];
}

export interface ChosenPoint extends Measured {
  readonly thresholds: Thresholds;
  readonly decisions: Decisions;
  /** Passes that apply the choice given the emitted annotation (its pins). */
  readonly pipeline: string;
  /** Passes with thresholds that make the same choice from the importance file's scores. */
  readonly thresholdPipeline: string;
}

export interface AblationRow extends Measured {
  readonly step: string;
  readonly pipeline: string;
}

export interface ImportanceMethodRow {
  readonly method: string;
  readonly file: string;
  readonly prunedHeads: readonly string[];
  readonly accuracy: number;
  /** accuracy / baseline accuracy, percent. */
  readonly accuracyRetention: number;
}

export interface EvaluationRecord {
  readonly stage: string;
  readonly label: string;
  readonly speedup: number;
  readonly budget: number;
  readonly feasible: boolean;
  readonly rowsRun: number;
  /** Accuracy when every row ran, else undefined (stopped once over the budget). */
  readonly accuracy?: number;
}

export interface TuneResult {
  readonly model: string;
  readonly data: string;
  readonly rows: number;
  /** Sequence length of a text dev set. */
  readonly seq?: number;
  /** What a row is: `seq 128` or `images [1, 8, 8]`. */
  readonly rowShape: string;
  readonly costBatch: number;
  readonly maxAccLoss: number;
  /** Budgets of the three stages: eps/3, 2eps/3, eps. */
  readonly budgets: readonly [number, number, number];
  readonly accuracyBackend: 'onnxruntime' | 'evaluator';
  readonly accuracyBackendNote?: string;
  readonly protocols: string;
  readonly importance: { readonly file: string; readonly method: string };
  readonly baseline: Measured;
  readonly chosen: ChosenPoint;
  /** The choice after each stage (structure, operator, activation). */
  readonly stages: readonly (Measured & { readonly stage: string; readonly label: string; readonly thresholds: Thresholds })[];
  readonly trace: readonly TraceEvent[];
  readonly evaluations: readonly EvaluationRecord[];
  /** The annotation that reproduces the choice (scores + pins). */
  readonly annotation: ImportanceAnnotation;
  readonly annotationText: string;
  readonly ablation?: readonly AblationRow[];
  readonly importanceMethods?: readonly ImportanceMethodRow[];
  readonly stats: { readonly candidatesCosted: number; readonly accuracyRuns: number; readonly seconds: number };
}

export const STAGE_NAMES = ['structure', 'operator', 'activation'] as const;
export const ABLATION_STEPS = ['baseline', '+ structural pruning', '+ operator approximation', '+ activation replacement'] as const;
/** Table 6 prunes this fraction of the heads. */
export const TABLE6_RATIO = 0.4;
/** Clip bounds stage 2 tries besides none (the clamp costs comparisons, so unclipped comes first by cost). */
export const STAGE2_CLIPS: readonly number[] = [0, 4];

function usage(detail: string): Ig3dcError {
  return new Ig3dcError('usage', detail);
}

function checkOptions(opts: TuneOptions): void {
  const eps = opts.maxAccLoss;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0 || eps > 100) {
    throw usage(`--max-acc-loss: expected an accuracy loss in percentage points, in (0, 100], got ${String(eps)}`);
  }
  if (opts.minKeep !== undefined && !(opts.minKeep >= 0 && opts.minKeep <= 1)) throw usage(`--min-keep: expected a fraction of heads in [0, 1], got ${opts.minKeep}`);
  if (opts.degree !== undefined && !(Number.isInteger(opts.degree) && opts.degree >= 2 && opts.degree <= 8)) throw usage(`--degree: expected an integer from 2 to 8, got ${opts.degree}`);
  if (opts.granularity !== undefined && opts.granularity !== 'head' && opts.granularity !== 'layer') throw usage(`--granularity: expected head or layer, got '${opts.granularity}'`);
  if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch >= 1)) throw usage(`--batch: expected a positive integer, got ${opts.batch}`);
  if (opts.importance.length === 0) throw usage('--importance: give the head importance file the search ranks heads by');
}

/** Loads at [batch, seq] (images: at batch); a sequence longer than the model's positions is the dev set's fault. */
export function loadAt(model: string, batch: number, dev: LabelledDevSet): Graph {
  if (isImageDevSet(dev)) {
    const g = loadModel(model, { batch });
    checkLabelledDevSetFits(dev, g, basename(model));
    return g;
  }
  try {
    return loadModel(model, { batch, seq: dev.seq });
  } catch (e) {
    if (!(e instanceof Ig3dcError) || isIrFile(model) || e.kind === 'io' || e.kind === 'decode') throw e;
    let limits;
    try {
      limits = modelLimits(loadModel(model, { batch: 1, seq: 1 }));
    } catch {
      throw e;
    }
    checkDevSetFits(dev, limits, basename(model));
    throw e;
  }
}

export function raise(graph: Graph): Graph {
  return isRaised(graph) ? graph : runPipeline(graph, parsePipeline(DEFAULT_RAISE, 'raise')).graph;
}

/** The static batch of an IR file's input, checked against the dev set's rows. */
export function staticBatch(graph: Graph, dev: LabelledDevSet, model: string): number {
  if (!isImageDevSet(dev)) return staticSeq(graph, dev, model);
  const input = graph.inputs.find((i) => i.name === dev.input);
  if (input === undefined) throw new Ig3dcError('input', `image dev set: the model ${basename(model)} has no input '${dev.input}'`, { file: dev.file });
  return input.type.shape[0]!;
}

function staticSeq(graph: Graph, dev: DevSet, model: string): number {
  const ids = graph.inputs.find((i) => i.name === 'input_ids') ?? graph.inputs[0];
  const shape = ids?.type.shape ?? [];
  if (shape.length !== 2) throw new Ig3dcError('input', `model input '${ids?.name ?? '?'}' has shape [${shape.join(', ')}]; expected [batch, sequence]`, { file: model });
  if (shape[1] !== dev.seq) {
    throw new Ig3dcError('input', `dev set: tensor 'input_ids' has sequence length ${dev.seq}, but the model ${basename(model)} takes sequences of exactly ${shape[1]} (its input shape is static)`, { file: dev.file });
  }
  return shape[0]!;
}

export async function tune(model: string, opts: TuneOptions): Promise<TuneResult> {
  const t0 = performance.now();
  checkOptions(opts);
  const eps = opts.maxAccLoss;
  const minKeep = opts.minKeep ?? 0.3;
  const degree = opts.degree ?? 2;
  const protocols = resolveProtocols(opts.protocols ?? 'crypten');
  const protocolsName = opts.protocols ?? 'crypten';
  const progress = opts.progress ?? SILENT;
  const note = opts.onNote ?? (() => {});
  const annotations = new Map<string, ImportanceAnnotation>();
  for (const f of [...opts.importance, ...(opts.compareImportance ?? [])]) if (!annotations.has(f)) annotations.set(f, readImportanceFile(f));
  const annotation = annotations.get(opts.importance[0]!)!;
  const importance = importanceOf(annotation);
  if (importance === undefined) throw new Ig3dcError('input', 'the search ranks heads by importance, but this annotation has no scores section', annotation.shapePlace ?? {});
  const dev = readLabelledDevSet(opts.data, opts.examples);
  const backend = await accuracyBackend(opts.evaluator === true);
  if (backend.fallbackReason !== undefined) note(`${backend.fallbackReason}; measuring accuracy with the plaintext evaluator instead (much slower)`);

  // the model, at the cost binding and at the accuracy batch
  const costGraph = raise(loadAt(model, opts.batch ?? 1, dev));
  const ir = isIrFile(model);
  const costBatch = ir ? staticBatch(costGraph, dev, model) : (opts.batch ?? 1);
  checkLabelledDevSetFits(dev, costGraph, basename(model));
  const accBatch = ir ? costBatch : Math.min(dev.rows, backend.name === 'onnxruntime' ? 50 : 8);
  const accGraph = ir ? costGraph : raise(loadAt(model, accBatch, dev));
  const shape = modelShape(costGraph, 'tune');
  for (const a of annotations.values()) checkAnnotationFits(a, shape);
  const L = shape.layers;
  const meter = new AccuracyMeter(backend, dev, accBatch, accGraph.inputs.map((i) => i.name!));

  // costs
  const lan = findProfile('lan')!;
  const wan = findProfile('wan')!;
  const costCache = opts.costCache ?? new Map<string, PointCost>();
  const costPrefix = `${model}|${protocolsName}|${costBatch}x${devSetShape(dev)}|`;
  let costed = 0;
  const costOf = (c: Candidate): PointCost => {
    const key = costPrefix + candidateKey(c);
    let cost = costCache.get(key);
    if (cost === undefined) {
      const compiled = compileModel(applyCandidate(costGraph, annotation, c), { protocols, raise: false, verify: false });
      cost = {
        rounds: compiled.cost.rounds,
        bytesTotal: compiled.cost.bytesTotal,
        onlineBytes: compiled.cost.onlineBytes,
        latencySeconds: { lan: estimateLatency(compiled.cost, lan).seconds, wan: estimateLatency(compiled.cost, wan).seconds },
      };
      costCache.set(key, cost);
      costed++;
    }
    return cost;
  };
  const base = baselineCandidate(L);
  const baseCost = costOf(base);
  const mkPoint = (candidate: Candidate, label: string, thresholds: Thresholds, cost: PointCost): TunePoint => ({
    key: candidateKey(candidate),
    candidate,
    cost,
    label,
    thresholds,
    speedup: baseCost.latencySeconds.lan / cost.latencySeconds.lan,
  });
  const start = mkPoint(base, 'baseline', NO_THRESHOLDS, baseCost);

  // accuracy
  const build = (c: Candidate) => (): Graph => applyCandidate(accGraph, annotation, c);
  const measure = async (p: TunePoint, maxWrong: number, what: string): Promise<AccuracyCount> => {
    if (meter.cached(p.key)?.complete !== true) progress.begin(what, dev.rows);
    return meter.measure(p.key, build(p.candidate), maxWrong, (done) => progress.update(done, p.label));
  };
  const baseCount = await measure(start, Infinity, 'baseline accuracy');
  const baseAcc = percent(baseCount);
  const evaluations: EvaluationRecord[] = [];
  const feasible = async (p: TunePoint, budget: number, stage: string): Promise<boolean> => {
    const maxWrong = Math.floor(dev.rows - baseCount.correct + (budget * dev.rows) / 100 + 1e-9);
    const count = await measure(p, maxWrong, `${stage}: accuracy`);
    const ok = count.complete && wrongOf(count) <= maxWrong;
    evaluations.push({ stage, label: p.label, speedup: p.speedup, budget, feasible: ok, rowsRun: count.seen, ...(count.complete ? { accuracy: percent(count) } : {}) });
    return ok;
  };

  const ctx: SpaceContext = {
    importance,
    annotation,
    minKeep,
    granularities: opts.granularity !== undefined ? [opts.granularity as Granularity] : ['layer', 'head'],
    degree,
    clips: STAGE2_CLIPS,
    point: (c, label, t) => {
      try {
        return Promise.resolve(mkPoint(c, label, t, costOf(c)));
      } catch (e) {
        if (!(e instanceof Ig3dcError)) throw e;
        note(`skipping '${label}': it does not compile (${e.message})`);
        return Promise.resolve(undefined);
      }
    },
  };
  const costingStage = (name: string, moves: (c: SpaceContext, from: TunePoint) => Promise<TunePoint[]>) => async (from: TunePoint): Promise<TunePoint[]> => {
    let begun = false;
    const costing = (done: number, total: number): void => {
      if (!begun) progress.begin(`${name}: costing moves`, total);
      begun = true;
      progress.update(done);
    };
    return moves({ ...ctx, costing }, from);
  };
  const budgets: [number, number, number] = [eps / 3, (2 * eps) / 3, eps];
  const stages: SearchStage<TunePoint>[] = [
    { name: STAGE_NAMES[0], budget: budgets[0], moves: costingStage(STAGE_NAMES[0], structureMoves) },
    { name: STAGE_NAMES[1], budget: budgets[1], moves: costingStage(STAGE_NAMES[1], operatorMoves) },
    { name: STAGE_NAMES[2], budget: budgets[2], moves: costingStage(STAGE_NAMES[2], activationMoves) },
  ];
  const search = await serialSearch(start, stages, feasible, { maxBacktrack: opts.maxBacktrack ?? 4 });

  const measured = async (p: TunePoint, what: string): Promise<Measured> => {
    const count = await measure(p, Infinity, what);
    const accuracy = percent(count);
    return {
      accuracy,
      correct: count.correct,
      rows: count.seen,
      accuracyLoss: baseAcc - accuracy,
      rounds: p.cost.rounds,
      bytesTotal: p.cost.bytesTotal,
      onlineBytes: p.cost.onlineBytes,
      latencySeconds: p.cost.latencySeconds,
      speedup: { lan: baseCost.latencySeconds.lan / p.cost.latencySeconds.lan, wan: baseCost.latencySeconds.wan / p.cost.latencySeconds.wan },
    };
  };
  const baseline = await measured(start, 'baseline');
  const stageResults = [];
  for (let k = 1; k <= 3; k++) {
    const p = search.points[k]!;
    stageResults.push({ stage: STAGE_NAMES[k - 1]!, label: p.label, thresholds: p.thresholds, ...(await measured(p, STAGE_NAMES[k - 1]!)) });
  }
  const final = search.points[3]!;
  const c = final.candidate;
  const chosen: ChosenPoint = {
    ...stageResults[2]!,
    thresholds: final.thresholds,
    decisions: { prunedHeads: split(names(c.pruned)), polyHeads: split(names(c.poly.heads)), degree: c.poly.degree, shift: c.poly.shift, clip: c.poly.clip, lambdas: c.lambdas },
    pipeline: candidatePipeline(c),
    thresholdPipeline: thresholdPipeline(final.thresholds),
  };
  const outAnnotation = candidateAnnotation(annotation, c);
  const annotationText = writeImportanceText(outAnnotation, [
    `ig3dc tune: the choice for ${basename(model)} on ${dev.rows} rows of ${basename(opts.data)}, accuracy loss budget ${eps} percentage points`,
    `baseline ${baseAcc.toFixed(2)}% -> ${chosen.accuracy.toFixed(2)}%; estimated LAN latency ${chosen.speedup.lan.toFixed(2)}x faster (${protocolsName} protocols)`,
    `apply with: --importance THIS_FILE --passes '${chosen.pipeline}'`,
    ...(chosen.thresholdPipeline !== '' ? [`or, from the scores of ${basename(opts.importance[0]!)}: --passes '${chosen.thresholdPipeline}'`] : []),
  ]);

  let ablation: AblationRow[] | undefined;
  let importanceMethods: ImportanceMethodRow[] | undefined;
  if (opts.ablation === true) {
    const rows = [baseline, ...stageResults];
    const pts = search.points;
    ablation = rows.map((m, i) => ({ step: ABLATION_STEPS[i]!, pipeline: candidatePipeline(pts[i]!.candidate), ...stripStage(m) }));
    importanceMethods = [];
    for (const [file, a] of annotations) {
      const imp = importanceOf(a);
      if (imp === undefined) throw new Ig3dcError('input', 'Table 6 ranks heads by importance, but this annotation has no scores section', a.shapePlace ?? { file });
      const pruned = sortedKeys(choosePrunedHeads(imp, { kind: 'ratio', ratio: TABLE6_RATIO }, minKeep));
      const cand: Candidate = { ...base, pruned };
      const method = a.method ?? basename(file);
      const m = await measured(mkPoint(cand, `${method}: prune ${pruned.length} heads`, NO_THRESHOLDS, costOf(cand)), `importance ${method}`);
      importanceMethods.push({ method, file, prunedHeads: split(names(pruned)), accuracy: m.accuracy, accuracyRetention: (100 * m.accuracy) / baseAcc });
    }
  }
  progress.stop();
  return {
    model,
    data: opts.data,
    rows: dev.rows,
    ...(isImageDevSet(dev) ? {} : { seq: dev.seq }),
    rowShape: devSetShape(dev),
    costBatch,
    maxAccLoss: eps,
    budgets,
    accuracyBackend: backend.name,
    ...(backend.fallbackReason !== undefined ? { accuracyBackendNote: backend.fallbackReason } : {}),
    protocols: protocolsName,
    importance: { file: opts.importance[0]!, method: annotation.method ?? basename(opts.importance[0]!) },
    baseline,
    chosen,
    stages: stageResults,
    trace: search.trace,
    evaluations,
    annotation: outAnnotation,
    annotationText,
    ...(ablation !== undefined ? { ablation } : {}),
    ...(importanceMethods !== undefined ? { importanceMethods } : {}),
    stats: { candidatesCosted: costed, accuracyRuns: meter.runs, seconds: (performance.now() - t0) / 1000 },
  };
}

const split = (s: string): string[] => s.split(' ').filter(Boolean);

function stripStage<T extends Measured>(m: T): Measured {
  const { accuracy, correct, rows, accuracyLoss, rounds, bytesTotal, onlineBytes, latencySeconds, speedup } = m;
  return { accuracy, correct, rows, accuracyLoss, rounds, bytesTotal, onlineBytes, latencySeconds, speedup };
}
