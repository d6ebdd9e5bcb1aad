// `ig3dc MODEL [--passes P] [--protocols crypten|best] [-o out.circuit] [--report cost.json]
// [--report-html F] [--compare]`: compile a model to a scheduled secret-sharing circuit, print
// the model summary line and the cost table, and write the circuit, the server's weights and
// the reports.

import { writeCircuitFile } from '../../../ir/circuit/file.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import type { Graph } from '../../../ir/graph.ts';
import { parsePipeline } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { compileModel, resolveProtocols, type Compiled } from '../../backend/compile.ts';
import { weightsPathFor, writeWeightsBundle } from '../../backend/lower/weights.ts';
import { costJson, familyRows, formatComparison, formatCostTable, formatFamilies, renderHtmlReport } from '../../backend/report/index.ts';
import { loadModel, type DimBinding } from '../../load.ts';
import { modelInfo } from '../../model-info.ts';
import { checkOneStdout, textStream, writeOut, writeOutput } from '../run-command.ts';
import { loadPassModules } from './opt.ts';

export interface CompileCommandOptions extends DimBinding {
  /** Passes after raise-bert (which runs first on an ONNX-level model). */
  passes?: string;
  /** `crypten` (default), `best`, or a preset with overrides `crypten,maxMethod=tree`. */
  protocols?: string;
  /** The circuit file to write (its weights go beside it: NAME.weights.json + .bin). */
  output?: string;
  /** cost.json to write. */
  report?: string;
  /** Self-contained HTML report to write. */
  reportHtml?: string;
  /** Also compile the baseline (the default raising only, crypten protocols) and compare. */
  compare?: boolean;
  /** Protocol families to compile side by side, e.g. `crypten,best,fss` (a `key=value` after a name overrides that preset). */
  compareProtocols?: string;
  /** Importance annotation file for the IG-3D passes. */
  importance?: string;
  /** Commander's --no-raise: false skips raise-bert,fold-batch-norm,canonicalize. */
  raise?: boolean;
  /** Fractional bits (default 16). */
  fracBits?: number;
  verify?: boolean;
  loadPass?: readonly string[];
  /** Print one JSON object (the cost report, and the baseline's with --compare) instead of the table. */
  json?: boolean;
  /** With prune-tokens: a labelled dev set, for the expected cost over its rows (--examples: the first N). */
  data?: string;
  examples?: number;
  /** With prune-tokens: false compiles the static pruned graph at full length instead of reporting the segments. */
  segments?: boolean;
}

/** One line: what the model is and how it is bound. */
export function modelSummaryLine(graph: Graph): string {
  const info = modelInfo(graph);
  const q = (v: number | undefined): string => (v === undefined ? '?' : String(v));
  const ids = graph.inputs[0]?.type.shape;
  const binding = ids !== undefined && ids.length === 2 ? `batch ${ids[0]}, seq ${ids[1]}` : `inputs ${graph.inputs.map((i) => `${i.name}[${i.type.shape.join(',')}]`).join(' ')}`;
  const params = info.parameters >= 1e6 ? `${(info.parameters / 1e6).toFixed(2)} M` : `${(info.parameters / 1e3).toFixed(1)} k`;
  return `model ${info.name}: ${q(info.layers)} layers x ${q(info.heads)} heads, hidden ${q(info.hidden)}, intermediate ${q(info.intermediate)}, vocab ${q(info.vocab)}; ${params} parameters; ${binding}`;
}

export interface CompileCommandResult {
  readonly optimized: Compiled;
  readonly baseline?: Compiled;
  /** What was printed. */
  readonly text: string;
}

/**
 * The presets of --compare-protocols: names separated by '/' or ',' where a ',' starts a new
 * preset only before a preset name (so `best,fss` is two, `fss,fssBits=64` one with an override).
 */
export function familySpecs(list: string | undefined): string[] {
  if (list === undefined) return [];
  const specs: string[] = [];
  for (const part of list.split(',').map((s) => s.trim())) {
    if (part.includes('=') && specs.length > 0) specs[specs.length - 1] += `,${part}`;
    else specs.push(part);
  }
  if (specs.length === 0 || specs.some((s) => s === '')) throw new Ig3dcError('usage', `--compare-protocols needs preset names, e.g. crypten,best,fss; got '${list}'`, {});
  return specs;
}

/**
 * `ig3dc compile`: a model pruned by prune-tokens (unless --no-segments) gets the static cost
 * of its segments (compile-segments.ts); any other, one circuit and its cost report.
 */
export async function compileOrSegmentsCommand(model: string, opts: CompileCommandOptions = {}): Promise<void> {
  if (opts.output !== undefined && /\.segments$/i.test(opts.output)) {
    const { bundleSegmentsCommand } = await import('./bundle-segments.ts');
    await bundleSegmentsCommand(model, { ...opts, output: opts.output });
    return;
  }
  if (opts.segments !== false && opts.passes !== undefined) {
    await loadPassModules(opts.loadPass ?? []);
    const passes = parsePipeline(opts.passes, '--passes');
    if (passes.some((s) => s.pass.name === 'prune-tokens')) {
      const { compileSegmentsCommand } = await import('./compile-segments.ts');
      await compileSegmentsCommand(model, opts, passes);
      return;
    }
  }
  await compileCommand(model, opts);
}

/** One circuit (a model with prune-tokens: the static pruned graph at full length) and its cost report. */
export async function compileCommand(model: string, opts: CompileCommandOptions = {}): Promise<CompileCommandResult> {
  if (opts.output === '-') throw new Ig3dcError('usage', '-o needs a file name: the circuit is written with its weights next to it');
  checkOneStdout({ '--json': opts.json === true, '--report -': opts.report === '-', '--report-html -': opts.reportHtml === '-' });
  await loadPassModules(opts.loadPass ?? []);
  // check the cheap things before the (slow) load
  const passes = opts.passes !== undefined ? parsePipeline(opts.passes, '--passes') : [];
  if (opts.data !== undefined || opts.examples !== undefined) {
    throw new Ig3dcError('usage', `${opts.data !== undefined ? '--data' : '--examples'}: the expected cost over a dev set is for a model pruned in segments (--passes with prune-tokens)`);
  }
  const protocols = resolveProtocols(opts.protocols ?? 'crypten');
  const familyConfigs = familySpecs(opts.compareProtocols).map((spec) => resolveProtocols(spec));
  const graph = loadModel(model, opts);
  const resources = new Map<string, unknown>();
  if (opts.importance !== undefined) resources.set(IMPORTANCE_RESOURCE, opts.importance);
  const common = {
    raise: opts.raise === false ? false : ('auto' as const),
    ...(opts.fracBits !== undefined ? { f: opts.fracBits } : {}),
    verify: opts.verify !== false,
    resources,
    onNote: (pass: string, message: string) => process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`),
  };
  const run = (p: typeof protocols, steps: typeof passes): Compiled => {
    try {
      return compileModel(graph, { ...common, protocols: p, passes: steps });
    } catch (e) {
      if (e instanceof Ig3dcError) throw e.within({ file: model });
      throw e;
    }
  };
  const optimized = run(protocols, passes);
  const baseline = opts.compare ? run(resolveProtocols('crypten'), []) : undefined;
  const families = familyConfigs.map((p) => run(p, passes));

  const lines: string[] = [modelSummaryLine(graph), formatCostTable(optimized)];
  if (baseline !== undefined) lines.push(formatComparison(baseline, optimized));
  const report = (): object => ({
    ...costJson(optimized, graph.name),
    ...(baseline !== undefined ? { baseline: costJson(baseline, graph.name) } : {}),
    ...(families.length > 0 ? { protocolFamilies: familyRows(families) } : {}),
  });
  if (families.length > 0) lines.push(formatFamilies(families));
  if (opts.output !== undefined) {
    try {
      writeCircuitFile(opts.output, optimized.circuit);
    } catch (e) {
      if (e instanceof Ig3dcError) throw e;
      throw new Ig3dcError('io', `cannot write: ${String(e)}`, { file: opts.output });
    }
    const wpath = weightsPathFor(opts.output);
    const w = writeWeightsBundle(wpath, optimized.weights, { circuit: opts.output, model });
    lines.push(`wrote ${opts.output} and the server's weights ${wpath} (+ ${w.bin}, ${(w.bytes / 1e6).toFixed(1)} MB)`);
  }
  if (opts.report !== undefined) {
    await writeOutput(opts.report, `${JSON.stringify(report(), null, 1)}\n`);
    if (opts.report !== '-') lines.push(`wrote ${opts.report}`);
  }
  if (opts.reportHtml !== undefined) {
    await writeOutput(opts.reportHtml, renderHtmlReport({ model: graph.name, optimized, ...(baseline !== undefined ? { baseline } : {}), ...(families.length > 0 ? { families } : {}) }));
    if (opts.reportHtml !== '-') lines.push(`wrote ${opts.reportHtml}`);
  }
  const text = `${lines.join('\n')}\n`;
  if (opts.json === true) await writeOut(`${JSON.stringify(report(), null, 1)}\n`);
  else await textStream(opts.report === '-' || opts.reportHtml === '-')(text);
  return { optimized, ...(baseline !== undefined ? { baseline } : {}), text };
}
