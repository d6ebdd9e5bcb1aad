// `ig3dc compare-methods`: on one model and one labelled dev set, the configuration of each
// method within the same accuracy budget, measured on every row of the dev set: IG-3D (its
// joint threshold search, `tune`), the related systems' attention (methods.ts) with their knob
// searched, and the unmodified model. Each row has its accuracy (onnxruntime on the exported
// variant, or the plaintext evaluator), its loss against the baseline, whether that is within
// the budget, and the backend's static cost (rounds, bytes, LAN/WAN latency).
//
// A method's configurations are costed first (cheap), then measured fastest first until one
// stays within the budget (a measurement stops once it has more wrong rows than the budget
// allows); that one is the method's row. When none does, the least aggressive configuration
// is measured on every row and shown, marked over the budget.

import { basename } from 'node:path';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { parsePipeline, runPipeline } from '../../passes/index.ts';
import { type ImportanceAnnotation, IMPORTANCE_RESOURCE, checkAnnotationFits, headName, modelShape, readImportanceFile } from '../../passes/ig3d/index.ts';
import { compileModel, resolveProtocols } from '../backend/compile.ts';
import { estimateLatency, findProfile } from '../backend/report/index.ts';
import { isIrFile } from '../load.ts';
import {
  AccuracyMeter,
  accuracyBackend,
  checkLabelledDevSetFits,
  devSetShape,
  loadAt,
  percent,
  raise,
  readLabelledDevSet,
  SILENT,
  staticBatch,
  tune,
  type ConfigCost,
  type Measured,
  type TuneProgress,
  wrongOf,
} from '../tune/index.ts';
import { IG3D_METHOD, type MethodConfig, parseMethods, RELATED_METHODS } from './methods.ts';

export interface CompareOptions {
  /** Head importance file (ranks heads for every method). */
  readonly importance: string;
  /** The labelled dev set: token ids, or images for a vision model. */
  readonly data: string;
  /** eps: accuracy loss allowed, percentage points vs the baseline, in (0, 100]. */
  readonly maxAccLoss: number;
  /** Comma-separated methods (default: all). */
  readonly methods?: string;
  /** Protocol set of the cost model (default best). */
  readonly protocols?: string;
  /** Use the first N rows of the dev set. */
  readonly examples?: number;
  /** Measure accuracy with the plaintext evaluator even if onnxruntime-node is available. */
  readonly evaluator?: boolean;
  readonly progress?: TuneProgress;
  readonly onNote?: (message: string) => void;
}

export type MethodCost = ConfigCost;

/** One method's row: its best configuration within the budget (or why there is none). */
export interface MethodRow extends Measured {
  /** baseline, ig3d, mpcvit, ... */
  readonly method: string;
  readonly system: string;
  /** The knob's setting. */
  readonly knob: string;
  /** Attention heads by method after the passes, e.g. `exact 12, poly 2, pruned 2`. */
  readonly heads: string;
  /** The passes that build the row's model from the raised one, given `annotation` as --importance. */
  readonly pipeline: string;
  /** The importance file the pipeline reads: the given one, or IG-3D's pinning annotation (text). */
  readonly annotationText?: string;
  readonly withinBudget: boolean;
  /** Configurations costed / measured (some stop early, once over the budget). */
  readonly configs: { readonly costed: number; readonly measured: number };
  /** Why the row is what it is when no configuration fits, or what was skipped. */
  readonly note?: string;
}

export interface CompareResult {
  readonly model: string;
  readonly data: string;
  readonly rows: number;
  readonly rowShape: string;
  readonly maxAccLoss: number;
  readonly protocols: string;
  readonly importance: string;
  readonly accuracyBackend: 'onnxruntime' | 'evaluator';
  readonly accuracyBackendNote?: string;
  readonly costBatch: number;
  readonly methods: readonly MethodRow[];
  readonly seconds: number;
}

function usage(detail: string): Ig3dcError {
  return new Ig3dcError('usage', detail);
}

/** `exact 12, poly 2, pruned 2`: the heads of every AttentionSoftmax by method, and those gone. */
export function headCensus(graph: Graph, total: number): string {
  const by = new Map<string, string[]>();
  let present = 0;
  for (const n of graph.nodes()) {
    if (n.op !== 'AttentionSoftmax' || n.loc.layer === undefined) continue;
    const heads = n.attrs['heads'] as readonly number[];
    const methods = n.attrs['methods'] as readonly string[];
    heads.forEach((h, i) => {
      const m = methods[i] ?? 'exact';
      by.set(m, [...(by.get(m) ?? []), headName(n.loc.layer!, h)]);
      present++;
    });
  }
  const parts = [...by].sort((a, b) => b[1].length - a[1].length).map(([m, hs]) => `${m} ${hs.length}`);
  if (present < total) parts.push(`pruned ${total - present}`);
  return parts.join(', ');
}

export async function compareMethods(model: string, opts: CompareOptions): Promise<CompareResult> {
  const t0 = performance.now();
  const eps = opts.maxAccLoss;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0 || eps > 100) {
    throw usage(`--max-acc-loss: expected an accuracy loss in percentage points, in (0, 100], got ${String(eps)}`);
  }
  const methods = parseMethods(opts.methods);
  const protocolsName = opts.protocols ?? 'best';
  const protocols = resolveProtocols(protocolsName);
  const progress = opts.progress ?? SILENT;
  const note = opts.onNote ?? (() => {});
  const annotation = readImportanceFile(opts.importance);
  const dev = readLabelledDevSet(opts.data, opts.examples);
  const backend = await accuracyBackend(opts.evaluator === true);
  if (backend.fallbackReason !== undefined) note(`${backend.fallbackReason}; measuring accuracy with the plaintext evaluator instead (much slower)`);

  // the model at the cost binding (batch 1) and at the accuracy batch, both raised
  const ir = isIrFile(model);
  const costGraph = raise(loadAt(model, 1, dev));
  const costBatch = ir ? staticBatch(costGraph, dev, model) : 1;
  checkLabelledDevSetFits(dev, costGraph, basename(model));
  const shape = modelShape(costGraph, 'compare-methods');
  checkAnnotationFits(annotation, shape);
  const totalHeads = [...shape.attention.values()].reduce((s, a) => s + a.heads.length, 0);
  const accBatch = ir ? costBatch : Math.min(dev.rows, backend.name === 'onnxruntime' ? 50 : 8);
  const accGraph = ir ? costGraph : raise(loadAt(model, accBatch, dev));
  const meter = new AccuracyMeter(backend, dev, accBatch, accGraph.inputs.map((i) => i.name!));

  const lan = findProfile('lan')!;
  const wan = findProfile('wan')!;
  const apply = (g: Graph, pipeline: string, a: ImportanceAnnotation): Graph =>
    pipeline === '' ? g : runPipeline(g, parsePipeline(pipeline, 'compare-methods'), { verify: false, resources: new Map([[IMPORTANCE_RESOURCE, a]]) }).graph;
  const costOf = (pipeline: string, a: ImportanceAnnotation): MethodCost & { heads: string } => {
    const g = apply(costGraph, pipeline, a);
    const c = compileModel(g, { protocols, raise: false, verify: false }).cost;
    return {
      rounds: c.rounds,
      bytesTotal: c.bytesTotal,
      onlineBytes: c.onlineBytes,
      latencySeconds: { lan: estimateLatency(c, lan).seconds, wan: estimateLatency(c, wan).seconds },
      heads: headCensus(g, totalHeads),
    };
  };
  const measure = (key: string, label: string, pipeline: string, a: ImportanceAnnotation, maxWrong: number) => {
    if (meter.cached(key)?.complete !== true) progress.begin(`${label}: accuracy`, dev.rows);
    return meter.measure(key, () => apply(accGraph, pipeline, a), maxWrong, (done) => progress.update(done, label));
  };

  const base = costOf('', annotation);
  const baseCount = await measure('baseline', 'baseline', '', annotation, Infinity);
  const baseAcc = percent(baseCount);
  const maxWrong = Math.floor(dev.rows - baseCount.correct + (eps * dev.rows) / 100 + 1e-9);
  const row = (
    method: string,
    system: string,
    cfg: MethodConfig,
    cost: MethodCost & { heads: string },
    count: { correct: number; seen: number },
    configs: MethodRow['configs'],
    extra: { annotationText?: string; note?: string } = {},
  ): MethodRow => {
    const accuracy = (100 * count.correct) / count.seen;
    return {
      method,
      system,
      knob: cfg.knob,
      heads: cost.heads,
      pipeline: cfg.pipeline,
      ...(extra.annotationText !== undefined ? { annotationText: extra.annotationText } : {}),
      accuracy,
      correct: count.correct,
      rows: count.seen,
      accuracyLoss: baseAcc - accuracy,
      withinBudget: count.seen - count.correct <= maxWrong,
      rounds: cost.rounds,
      bytesTotal: cost.bytesTotal,
      onlineBytes: cost.onlineBytes,
      latencySeconds: cost.latencySeconds,
      speedup: { lan: base.latencySeconds.lan / cost.latencySeconds.lan, wan: base.latencySeconds.wan / cost.latencySeconds.wan },
      configs,
      ...(extra.note !== undefined ? { note: extra.note } : {}),
    };
  };
  const rows: MethodRow[] = [row('baseline', 'unmodified', { knob: 'none', pipeline: '' }, base, baseCount, { costed: 1, measured: 1 })];

  for (const name of methods) {
    if (name === IG3D_METHOD) {
      const t = await tune(model, {
        importance: [opts.importance],
        data: opts.data,
        maxAccLoss: eps,
        protocols: protocolsName,
        ...(opts.examples !== undefined ? { examples: opts.examples } : {}),
        evaluator: opts.evaluator === true,
        progress,
        onNote: note,
      });
      const cfg: MethodConfig = { knob: describeTune(t.chosen.decisions, t.chosen.thresholds.activation?.schedule), pipeline: t.chosen.pipeline };
      const count = await measure(`ig3d|${cfg.pipeline}|${t.annotationText}`, 'IG-3D', cfg.pipeline, t.annotation, Infinity);
      rows.push(row(IG3D_METHOD, 'IG-3D', cfg, costOf(cfg.pipeline, t.annotation), count, { costed: t.stats.candidatesCosted, measured: t.stats.accuracyRuns }, { annotationText: t.annotationText }));
      continue;
    }
    const spec = RELATED_METHODS.find((m) => m.name === name)!;
    const configs = spec.configs(totalHeads);
    const costed: { cfg: MethodConfig; cost: MethodCost & { heads: string }; order: number }[] = [];
    const skipped: string[] = [];
    configs.forEach((cfg, order) => {
      try {
        costed.push({ cfg, cost: costOf(cfg.pipeline, annotation), order });
      } catch (e) {
        if (!(e instanceof Ig3dcError)) throw e;
        skipped.push(`${cfg.knob}: ${e.detail}`);
      }
    });
    if (skipped.length > 0) note(`${spec.system}: skipping ${skipped.length} configuration(s) that do not compile: ${skipped.join('; ')}`);
    if (costed.length === 0) throw new Ig3dcError('unsupported', `${spec.system}: none of its ${configs.length} configurations compiles for ${basename(model)}`);
    let measured = 0;
    let chosen: MethodRow | undefined;
    for (const c of [...costed].sort((a, b) => a.cost.latencySeconds.lan - b.cost.latencySeconds.lan || a.order - b.order)) {
      measured++;
      const count = await measure(`${name}|${c.cfg.pipeline}`, `${spec.system} ${c.cfg.knob}`, c.cfg.pipeline, annotation, maxWrong);
      if (count.complete && wrongOf(count) <= maxWrong) {
        chosen = row(name, spec.system, c.cfg, c.cost, count, { costed: costed.length, measured });
        break;
      }
    }
    if (chosen === undefined) {
      const least = costed[0]!;
      const count = await measure(`${name}|${least.cfg.pipeline}`, `${spec.system} ${least.cfg.knob}`, least.cfg.pipeline, annotation, Infinity);
      const what = costed.length === 1 ? 'its configuration loses' : `none of its ${costed.length} configurations stays within the budget; the least aggressive loses`;
      chosen = row(name, spec.system, least.cfg, least.cost, count, { costed: costed.length, measured }, { note: `${what} ${(baseAcc - percent(count)).toFixed(2)} pp (budget ${eps})` });
    }
    rows.push(chosen);
  }
  progress.stop();
  return {
    model,
    data: opts.data,
    rows: dev.rows,
    rowShape: devSetShape(dev),
    maxAccLoss: eps,
    protocols: protocolsName,
    importance: opts.importance,
    accuracyBackend: backend.name,
    ...(backend.fallbackReason !== undefined ? { accuracyBackendNote: backend.fallbackReason } : {}),
    costBatch,
    methods: rows,
    seconds: (performance.now() - t0) / 1000,
  };
}

function describeTune(d: { prunedHeads: readonly string[]; polyHeads: readonly string[]; lambdas: readonly number[] }, schedule: string | undefined): string {
  const parts: string[] = [];
  if (d.prunedHeads.length > 0) parts.push(`prune ${d.prunedHeads.length}`);
  if (d.polyHeads.length > 0) parts.push(`poly ${d.polyHeads.length}`);
  if (d.lambdas.some((l) => l !== 1)) parts.push(`lambdas [${d.lambdas.map((l) => Number(l.toFixed(3))).join(',')}]${schedule !== undefined ? ` (${schedule})` : ''}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing within the budget (baseline)';
}
