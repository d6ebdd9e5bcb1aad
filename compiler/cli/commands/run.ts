// `ig3dc run CIRCUIT|MODEL --inputs FILE`: secure inference. Runs a circuit (or an ONNX / .ir
// model compiled on the fly) on every case of an inputs file with two parties and a dealer,
// then prints the outputs, their error against the plaintext evaluator (or the cases file's
// expected outputs), the argmax agreement, and the measured cost next to the static one.

import { networkOf, NETWORK_SPEC } from '../../backend/report/latency.ts';
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import cliProgress from 'cli-progress';
import type { Circuit } from '../../../ir/circuit/circuit.ts';
import { circuitCost, costSummary, type CostSummary } from '../../../ir/circuit/cost.ts';
import { decodeCircuitFile, encodeCircuit } from '../../../ir/circuit/file.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { coerceInput, evaluate } from '../../../ir/evaluate.ts';
import type { Graph } from '../../../ir/graph.ts';
import { readCasesFile, readTensorBundle, tensorToJson, type Case, type TensorJson } from '../../../ir/tensor-json.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { readDevSet } from '../../tune/dev-set.ts';
import { admitCircuit } from '../../../runtime/admit.ts';
import { weakSecret } from '../../../runtime/keys.ts';
import { quote } from '../../../ir/limits.ts';
import { meanTruncationReport, runCircuit, runCircuitWorkers, type RunPhases, type RunResult, type Step, type TruncationReport } from '../../../runtime/index.ts';
import { mallocSetting } from '../../../runtime/malloc-tuning.ts';
import { loadModel, type DimBinding } from '../../load.ts';
import { writeOut } from '../run-command.ts';

export interface RunCommandOptions extends DimBinding {
  /** Cases file or JSON object of tensors (or give `data`). */
  readonly inputs?: string;
  /** A labelled tensor bundle (input_ids, attention_mask, token_type_ids?, labels; or pixel_values, labels): every row is a case. */
  readonly data?: string;
  /** With `data`: the first N rows. */
  readonly examples?: number;
  /** Run only the case of this name. */
  readonly case?: string;
  /** The server's weights bundle (default: CIRCUIT.weights.json next to a circuit). */
  readonly weights?: string;
  /** Master seed as hex (default: fresh randomness); the CLI reads it from --seed-file or IG3DC_SEED, never the command line. */
  readonly seed?: string;
  /** A file holding the master seed as hex. */
  readonly seedFile?: string;
  readonly json?: boolean;
  /** 2 (default): one worker thread per party; 1: both parties in this thread. */
  readonly threads?: number;
  /** The plaintext model to compare a circuit's outputs with (.onnx or .ir). */
  readonly model?: string;
  /** Protocol preset when compiling a model on the fly. */
  readonly protocols?: string;
  /** Passes when compiling a model on the fly. */
  readonly passes?: string;
  /** Show the progress bar even when stderr is not a terminal (never with --json on a pipe). */
  readonly progress?: boolean;
  /** With prune-tokens in --passes: run the model in segments (default true); false runs the static pruned circuit at full length. */
  readonly segments?: boolean;
  /** Measure the expected local-truncation failures per inference (runs both parties in this thread). */
  readonly truncationReport?: boolean;
  /** The dealer's phase first (every word made and posted), then the online phase, timed apart (worker threads only). */
  readonly preprocessFirst?: boolean;
  /** The parties' messages over an emulated network (lan, wan or <MB/s>,<RTT ms>; worker threads only). */
  readonly link?: string;
}

export interface Target {
  readonly circuit: Circuit;
  readonly weights: ReadonlyMap<string, Tensor>;
  /** The plaintext graph to compare against, when known. */
  readonly graph?: Graph;
  readonly source: 'circuit' | 'model';
}

export interface CaseReport {
  readonly name: string;
  readonly outputs: Record<string, TensorJson>;
  /** Max |secure - reference| per output (absent without a reference). */
  readonly maxAbsError: Record<string, number>;
  /** Rows whose argmax over the last axis agrees with the reference / rows. */
  readonly argmax: { readonly agree: number; readonly rows: number };
  readonly wallSeconds: number;
  /** This case's measured cost (cases of other shapes compile to other circuits). */
  readonly measured: CostJson;
  readonly countsMatch: boolean;
  /** Argmax over the last axis of the first output, per row: secure, and the reference's. */
  readonly predicted: readonly number[];
  readonly referencePredicted?: readonly number[];
  /** With --truncation-report: this case's expected truncation failures. */
  readonly truncation?: TruncationReport;
  /** With --preprocess-first: the dealer's phase and the online phase, wall and CPU seconds. */
  readonly phases?: RunPhases;
}

/** With --data: accuracy against the labels, and agreement with the plaintext model. */
export interface LabelledSummary {
  readonly file: string;
  readonly rows: number;
  /** Percent of rows whose secure prediction is the label. */
  readonly secureAccuracy: number;
  /** Percent of rows whose plaintext prediction is the label (null without a plaintext model). */
  readonly plaintextAccuracy: number | null;
  /** Percent of rows where secure and plaintext predictions agree. */
  readonly agreement: number | null;
}

export interface RunReport {
  readonly circuit: string;
  readonly mode: 'workers' | 'in-process';
  readonly reference: 'evaluator' | 'cases-file' | null;
  /** The first case's outputs (every case is in `cases`). */
  readonly outputs: Record<string, TensorJson>;
  readonly maxAbsError: number | null;
  readonly argmaxAgreement: number | null;
  readonly measured: CostJson;
  readonly static: CostJson;
  readonly countsMatch: boolean;
  readonly wallSeconds: number;
  readonly plaintextSeconds: number | null;
  readonly peakRssBytes: number;
  /** The process's glibc malloc tunables (runtime/malloc-tuning.ts), or 'glibc defaults'. */
  readonly malloc: string;
  readonly cases: readonly CaseReport[];
  readonly labelled?: LabelledSummary;
  /** With --truncation-report: the mean over the cases of the expected failures per inference (observed: the total). */
  readonly truncation?: TruncationReport;
  /** With --preprocess-first: both phases summed over the cases. */
  readonly phases?: RunPhases;
  /** With --link: the emulated network the parties' messages crossed. */
  readonly link?: string;
}

interface CostJson {
  readonly rounds: number;
  readonly preprocessingRounds: number;
  readonly bytesPerParty: readonly [number, number];
  readonly bytesTotal: number;
  readonly dealerBytes: number;
  readonly dealerBytesPerParty: readonly [number, number];
}

function costJson(c: CostSummary): CostJson {
  const s = costSummary(c);
  return { rounds: s.rounds, preprocessingRounds: s.preprocessingRounds, bytesPerParty: s.bytesPerParty, bytesTotal: s.bytesTotal, dealerBytes: s.dealerBytes, dealerBytesPerParty: s.dealerBytesPerParty };
}

/**
 * The master seed of an in-process run (all three roles simulated here): hex from `seed`, a
 * --seed-file or the IG3DC_SEED variable. At least 128 bits that look random; never echoed.
 */
export function parseSeed(hex: string | undefined, from = 'the seed'): Uint8Array | undefined {
  if (hex === undefined) return undefined;
  const h = hex.trim().replace(/^0x/, '');
  if (!/^[0-9a-fA-F]*$/.test(h) || h.length % 2 !== 0) throw new Ig3dcError('usage', `${from}: expected an even number of hex digits`);
  const bytes = new Uint8Array(Buffer.from(h, 'hex'));
  const weak = weakSecret(bytes);
  if (weak !== undefined) throw new Ig3dcError('usage', `${from} is refused: ${weak}`);
  return bytes;
}

/** The seed of `run`: --seed-file FILE, else IG3DC_SEED, else (API) opts.seed. */
export function runSeed(opts: RunCommandOptions): Uint8Array | undefined {
  if (opts.seedFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.seedFile, 'utf8');
    } catch (e) {
      throw new Ig3dcError('io', `cannot read the seed file: ${(e as NodeJS.ErrnoException).code ?? 'unknown error'}`, { file: opts.seedFile });
    }
    return parseSeed(text, `the seed file ${opts.seedFile}`);
  }
  const env = process.env['IG3DC_SEED'];
  if (opts.seed === undefined && env !== undefined && env !== '') return parseSeed(env, 'IG3DC_SEED');
  return parseSeed(opts.seed);
}

export function isCircuitFile(path: string): boolean {
  return extname(path).toLowerCase() === '.circuit';
}

/** A segments bundle (`compile ... -o FILE.segments`): a token-pruned model's circuits for every bucket. */
export function isSegmentsFile(path: string): boolean {
  return extname(path).toLowerCase() === '.segments';
}

/** The default weights bundle of a circuit file: `out.circuit` -> `out.weights.json` (as the compile driver writes it), else `out.circuit.weights.json`. */
export function defaultWeightsPath(circuitPath: string): string {
  const stripped = `${circuitPath.replace(/\.(circuit|segments)$/i, '')}.weights.json`;
  const appended = `${circuitPath}.weights.json`;
  return existsSync(stripped) || !existsSync(appended) ? stripped : appended;
}

/**
 * The batch/seq binding of a model for a case: the case's own input shapes bind every dynamic
 * dimension they determine (each case compiles at its own shape); --batch/--seq/--dim bind
 * the rest.
 */
export function bindingFor(c: Case | undefined, opts: DimBinding): DimBinding {
  if (c === undefined || c.inputs.size === 0) return opts;
  return { ...opts, inputShapes: Object.fromEntries([...c.inputs].map(([k, t]) => [k, [...t.shape]])) };
}

/** One case per image of an image bundle (pixel_values [N, C, H, W] float, labels [N], as `ig3dc data` writes). */
function imageCases(file: string, examples?: number): { cases: Case[]; labels: Int32Array } {
  const bundle = readTensorBundle(file);
  const pixels = bundle.tensors.get('pixel_values')!;
  const labels = bundle.tensors.get('labels');
  if (pixels.shape.length !== 4 || !(pixels.dtype === 'f32' || pixels.dtype === 'f64')) {
    throw new Ig3dcError('input', `image dev set: 'pixel_values' must be float [N, C, H, W], got ${pixels.dtype}[${pixels.shape.join(', ')}]`, { file });
  }
  const n = pixels.shape[0]!;
  if (labels === undefined || labels.shape.length !== 1 || labels.shape[0] !== n) {
    throw new Ig3dcError('input', `image dev set: needs 'labels' [${n}] next to 'pixel_values' (it has: ${[...bundle.tensors.keys()].join(', ')})`, { file });
  }
  if (examples !== undefined && (examples < 1 || examples > n)) throw new Ig3dcError('usage', `--examples: expected an integer from 1 to ${n} (the rows of the dev set ${file}), got ${examples}`);
  const rows = examples ?? n;
  const per = pixels.size / n;
  const all = pixels.toFloat64();
  const cases = Array.from({ length: rows }, (_, r) => ({
    name: `row${r}`,
    inputs: new Map([['pixel_values', new Tensor('f32', [1, ...pixels.shape.slice(1)], Float32Array.from(all.subarray(r * per, (r + 1) * per)))]]),
  }));
  return { cases, labels: Int32Array.from({ length: rows }, (_, i) => labels.at(i)) };
}

/** The cases to run: from --inputs, or one per row of a --data bundle (with the labels); --case picks one. */
export function readCases(opts: RunCommandOptions): { cases: Case[]; file: string; labels?: Int32Array } {
  if ((opts.inputs === undefined) === (opts.data === undefined)) throw new Ig3dcError('usage', 'run needs exactly one of --inputs FILE (cases) and --data DEV (a labelled tensor bundle)');
  if (opts.examples !== undefined && opts.data === undefined) throw new Ig3dcError('usage', '--examples goes with --data');
  let cases: Case[];
  let labels: Int32Array | undefined;
  const file = (opts.inputs ?? opts.data)!;
  if (opts.inputs !== undefined) cases = readCasesFile(opts.inputs);
  else if (readTensorBundle(file).tensors.has('pixel_values')) ({ cases, labels } = imageCases(file, opts.examples));
  else {
    const dev = readDevSet(file, opts.examples);
    const row = (a: Int32Array, r: number): Tensor => new Tensor('i64', [1, dev.seq], BigInt64Array.from(a.subarray(r * dev.seq, (r + 1) * dev.seq), (v) => BigInt(v)));
    cases = Array.from({ length: dev.rows }, (_, r) => ({
      name: `row${r}`,
      inputs: new Map([
        ['input_ids', row(dev.inputIds, r)],
        ['attention_mask', row(dev.attentionMask, r)],
        ['token_type_ids', row(dev.tokenTypeIds, r)],
      ]),
    }));
    labels = dev.labels;
  }
  if (opts.case !== undefined) {
    const picked = cases.filter((c) => c.name === opts.case);
    if (picked.length === 0) throw new Ig3dcError('usage', `--case: no case named '${opts.case}' (the cases are: ${cases.slice(0, 20).map((c) => c.name).join(', ')}${cases.length > 20 ? ', ...' : ''})`, { file });
    if (labels !== undefined) labels = Int32Array.of(labels[cases.indexOf(picked[0]!)]!);
    cases = picked;
  }
  return { cases, file, ...(labels !== undefined ? { labels } : {}) };
}

/** Loads what `run` and `serve` execute (`skipWeights`: the client side, which never reads the server's weights). */
export async function loadTarget(path: string, opts: RunCommandOptions, firstCase?: Case, skipWeights = false): Promise<Target & { hash: string }> {
  if (isCircuitFile(path)) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new Ig3dcError('io', `cannot read the circuit file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
    }
    const { circuit, header } = decodeCircuitFile(bytes, path);
    // The file's hash is unkeyed: an edited file is caught by checking what it does.
    admitCircuit(circuit, path);
    const wpath = opts.weights ?? defaultWeightsPath(path);
    const needsWeights = !skipWeights && circuit.inputs.some((i) => i.party === 0);
    let weights: ReadonlyMap<string, Tensor> = new Map();
    if (needsWeights) {
      if (!existsSync(wpath)) {
        throw new Ig3dcError('io', `the circuit needs the server's weights: no weights bundle at ${wpath} (give one with --weights FILE)`, { file: path });
      }
      weights = readTensorBundle(wpath).tensors;
    }
    const graph = opts.model !== undefined ? loadModel(opts.model, bindingFor(firstCase, opts)) : undefined;
    return { circuit, weights, ...(graph !== undefined ? { graph } : {}), source: 'circuit', hash: header.hash };
  }
  // A model: compile it now (the compiler's backend is only reached from the CLI).
  const { compileModel } = await import('../../backend/compile.ts');
  const g = loadModel(path, bindingFor(firstCase, opts));
  const compiled = compileModel(g, {
    ...(opts.protocols !== undefined ? { protocols: opts.protocols } : {}),
    ...(opts.passes !== undefined ? { passes: opts.passes } : {}),
  });
  const hash = decodeCircuitFile(encodeCircuit(compiled.circuit)).header.hash;
  return { circuit: compiled.circuit, weights: compiled.weights, graph: compiled.graph, source: 'model', hash };
}

/** The client's inputs of a case, checked against the circuit's party-1 inputs. */
export function clientInputs(c: Circuit, cs: Case, file?: string): Map<string, Tensor> {
  const wanted = c.inputs.filter((i) => i.party === 1);
  const place = file !== undefined ? { file } : {};
  for (const name of cs.inputs.keys()) {
    if (!wanted.some((i) => i.name === name)) {
      throw new Ig3dcError('input', `case '${quote(cs.name)}' has an input '${quote(name)}' that the circuit does not take (it takes: ${wanted.map((i) => i.name).join(', ') || 'none'})`, place);
    }
  }
  for (const i of wanted) {
    if (!cs.inputs.has(i.name)) throw new Ig3dcError('input', `case '${quote(cs.name)}' lacks the input '${i.name}' the circuit needs`, place);
  }
  return new Map(cs.inputs);
}

/** Plaintext outputs of the graph on a case (inputs coerced to the graph's types). */
function plaintext(graph: Graph, cs: Case): Map<string, Tensor> {
  const inputs = new Map<string, Tensor>();
  for (const input of graph.inputs) {
    const t = cs.inputs.get(input.name!);
    if (t !== undefined) inputs.set(input.name!, coerceInput(t, input.type, input.name));
  }
  return evaluate(graph, inputs);
}

export function maxAbs(got: Tensor, want: Tensor): number {
  if (got.size !== want.size) return Number.NaN;
  let m = 0;
  for (let i = 0; i < got.size; i++) {
    const d = Math.abs(got.at(i) - want.at(i));
    if (Number.isNaN(d)) return Number.NaN;
    if (d > m) m = d;
  }
  return m;
}

export function argmaxRows(t: Tensor): number[] {
  const last = t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!;
  const rows = last === 0 ? 0 : t.size / last;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < last; j++) if (t.at(r * last + j) > t.at(r * last + best)) best = j;
    out.push(best);
  }
  return out;
}

export function progressBar(enabled: boolean): { onRound: (done: number, total: number, st: Extract<Step, { kind: 'round' }>, layer?: number) => void; stop: () => void } {
  if (!enabled) return { onRound: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: 'secure inference |{bar}| round {value}/{total} {phase} {layer}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onRound: (done, total, st, layer) => {
      const payload = { phase: st.phase === 'pre' ? '(preprocessing)' : '', layer: layer === undefined ? '' : `layer ${layer}` };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else bar.update(done, payload);
    },
    stop: () => started && bar.stop(),
  };
}

/** Runs every case; returns the report (what --json prints). */
export async function runCases(path: string, opts: RunCommandOptions): Promise<RunReport> {
  const { cases, file, labels } = readCases(opts);
  if (cases.length === 0) throw new Ig3dcError('input', 'the inputs file has no cases', { file });
  // A circuit has fixed shapes; a model is compiled once per distinct set of input shapes.
  const targets = new Map<string, Target & { hash: string }>();
  const shapeKey = (cs: Case): string => (isCircuitFile(path) ? '' : JSON.stringify([...cs.inputs].map(([k, t]) => [k, t.shape])));
  const targetFor = async (cs: Case): Promise<Target & { hash: string }> => {
    let t = targets.get(shapeKey(cs));
    if (t === undefined) targets.set(shapeKey(cs), (t = await loadTarget(path, opts, cs)));
    return t;
  };
  const first = await targetFor(cases[0]!);
  const staticCost = circuitCost(first.circuit);
  const seed = runSeed(opts);
  const threads = opts.threads ?? (opts.truncationReport === true ? 1 : 2);
  if (threads !== 1 && threads !== 2) throw new Ig3dcError('usage', `--threads: expected 1 or 2, got ${threads}`);
  // Only a run that holds both parties' shares in one thread can reconstruct what is truncated.
  if (opts.truncationReport === true && threads !== 1) throw new Ig3dcError('usage', '--truncation-report runs both parties in this thread: it cannot go with --threads 2');
  if (opts.preprocessFirst === true && threads !== 2) throw new Ig3dcError('usage', "--preprocess-first times the dealer's thread apart from the parties': it needs --threads 2");
  const net = opts.link !== undefined ? networkOf(opts.link) : undefined;
  if (opts.link !== undefined && net === undefined) throw new Ig3dcError('usage', `--link ${opts.link}: expected ${NETWORK_SPEC}`);
  if (net !== undefined && threads !== 2) throw new Ig3dcError('usage', "--link emulates the network between the parties' threads: it needs --threads 2");
  const bar = progressBar(opts.progress ?? process.stderr.isTTY === true);
  const reports: CaseReport[] = [];
  let measured: CostSummary | undefined;
  let countsMatch = true;
  let wall = 0;
  let plainSeconds: number | null = first.graph !== undefined ? 0 : null;
  let reference: RunReport['reference'] = first.graph !== undefined ? 'evaluator' : null;
  try {
    for (const cs of cases) {
      const target = await targetFor(cs);
      const c = target.circuit;
      const layerOf = (st: Extract<Step, { kind: 'round' }>): number | undefined => (st.comms.length > 0 ? c.instructions[st.comms[0]!]!.prov.layer : undefined);
      const inputs = clientInputs(c, cs, file);
      const caseCost = target === first ? staticCost : circuitCost(c);
      const t0 = performance.now();
      const runOpts = { inputs, weights: target.weights, transcript: false, truncationReport: opts.truncationReport === true, preprocessFirst: opts.preprocessFirst === true, ...(net !== undefined ? { link: net } : {}), ...(seed !== undefined ? { seed } : {}), onRound: (d: number, t: number, st: Extract<Step, { kind: 'round' }>, layer?: number) => bar.onRound(d, t, st, layer ?? layerOf(st)) };
      let r: RunResult;
      try {
        r = threads === 2 ? await runCircuitWorkers(c, runOpts) : runCircuit(c, runOpts);
      } catch (e) {
        if (e instanceof Ig3dcError && e.kind === 'input') throw new Ig3dcError('input', `case '${cs.name}': ${e.detail}`, { file });
        throw e;
      }
      const seconds = (performance.now() - t0) / 1000;
      wall += seconds;
      const m = costSummary(r.cost);
      const caseMatch = JSON.stringify(m) === JSON.stringify(costSummary(caseCost));
      if (!caseMatch) countsMatch = false;
      measured ??= m;
      let ref: Map<string, Tensor> | undefined;
      if (target.graph !== undefined) {
        const p0 = performance.now();
        ref = plaintext(target.graph, cs);
        plainSeconds! += (performance.now() - p0) / 1000;
      } else if (cs.expected !== undefined) {
        ref = cs.expected;
        reference = 'cases-file';
      }
      const outputs: Record<string, TensorJson> = {};
      const err: Record<string, number> = {};
      let agree = 0;
      let rows = 0;
      const [firstName, firstOut] = [...r.outputs][0]!;
      const predicted = argmaxRows(firstOut);
      const refFirst = ref?.get(firstName);
      for (const [name, t] of r.outputs) {
        outputs[name] = tensorToJson(t);
        const want = ref?.get(name);
        if (want === undefined) continue;
        err[name] = maxAbs(t, want);
        const a = argmaxRows(t);
        const b = argmaxRows(want);
        rows += a.length;
        a.forEach((v, i) => (agree += v === b[i] ? 1 : 0));
      }
      reports.push({
        name: cs.name,
        outputs,
        maxAbsError: err,
        argmax: { agree, rows },
        wallSeconds: seconds,
        measured: costJson(m),
        countsMatch: caseMatch,
        predicted,
        ...(refFirst !== undefined ? { referencePredicted: argmaxRows(refFirst) } : {}),
        ...(r.truncation !== undefined ? { truncation: r.truncation } : {}),
        ...(r.phases !== undefined ? { phases: r.phases } : {}),
      });
    }
  } finally {
    bar.stop();
  }
  const errs = reports.flatMap((r) => Object.values(r.maxAbsError));
  const rows = reports.reduce((a, r) => a + r.argmax.rows, 0);
  return {
    circuit: first.source === 'circuit' ? path : `${path} (compiled)`,
    mode: threads === 2 ? 'workers' : 'in-process',
    reference: errs.length > 0 ? reference : null,
    outputs: reports[0]!.outputs,
    maxAbsError: errs.length > 0 ? Math.max(...errs) : null,
    argmaxAgreement: rows > 0 ? reports.reduce((a, r) => a + r.argmax.agree, 0) / rows : null,
    measured: costJson(measured!),
    static: costJson(staticCost),
    countsMatch,
    wallSeconds: wall,
    plaintextSeconds: plainSeconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    malloc: mallocSetting(),
    cases: reports,
    ...(labels !== undefined ? { labelled: labelledSummary(file, reports, labels) } : {}),
    ...(opts.truncationReport === true ? { truncation: meanTruncationReport(reports.map((r) => r.truncation!)) } : {}),
    ...(opts.preprocessFirst === true ? { phases: sumPhases(reports.map((r) => r.phases!)) } : {}),
    ...(net !== undefined ? { link: net.description } : {}),
  };
}

function labelledSummary(file: string, reports: readonly CaseReport[], labels: Int32Array): LabelledSummary {
  const pct = (k: number): number => (100 * k) / reports.length;
  const plain = reports.every((r) => r.referencePredicted !== undefined);
  const count = (f: (r: CaseReport, i: number) => boolean): number => reports.filter(f).length;
  return {
    file,
    rows: reports.length,
    secureAccuracy: pct(count((r, i) => r.predicted[0] === labels[i])),
    plaintextAccuracy: plain ? pct(count((r, i) => r.referencePredicted![0] === labels[i])) : null,
    agreement: plain ? pct(count((r) => r.predicted[0] === r.referencePredicted![0])) : null,
  };
}

const MB = (b: number): string => `${(b / 1e6).toFixed(2)} MB`;

function formatTensor(t: TensorJson): string {
  const data = t.data.map((v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v));
  return `[${t.shape.join(',')}] ${JSON.stringify(data.length > 16 ? [...data.slice(0, 16), '...'] : data)}`;
}

export function formatRunReport(r: RunReport): string {
  const lines: string[] = [];
  lines.push(`secure inference of ${r.circuit} (${r.mode}), ${r.cases.length} case(s)`);
  // a labelled set: one line per row, not every logit
  const perCase = r.labelled === undefined ? r.cases : [];
  for (const cs of r.labelled === undefined ? [] : r.cases) {
    const e = Object.values(cs.maxAbsError)[0];
    lines.push(`  ${cs.name}: predicted ${cs.predicted[0]}${cs.referencePredicted !== undefined ? `, plaintext ${cs.referencePredicted[0]}` : ''}${e !== undefined ? `, max abs error ${e.toExponential(2)}` : ''} (${cs.wallSeconds.toFixed(2)} s)`);
  }
  for (const cs of perCase) {
    lines.push(`case ${cs.name}  (${cs.wallSeconds.toFixed(2)} s)`);
    for (const [name, t] of Object.entries(cs.outputs)) {
      const e = cs.maxAbsError[name];
      lines.push(`  ${name} = ${formatTensor(t)}${e !== undefined ? `   max abs error ${e.toExponential(2)}` : ''}`);
    }
    if (cs.argmax.rows > 0) lines.push(`  argmax agrees on ${cs.argmax.agree}/${cs.argmax.rows} row(s)`);
  }
  if (r.reference === null) lines.push('no plaintext reference (give --model, or expected outputs in the inputs file): error columns skipped');
  else {
    lines.push(`reference: ${r.reference === 'evaluator' ? 'plaintext evaluator' : 'expected outputs of the inputs file'}`);
    lines.push(`max abs error ${r.maxAbsError!.toExponential(3)}, argmax agreement ${(100 * r.argmaxAgreement!).toFixed(1)}%`);
  }
  if (r.labelled !== undefined) {
    const l = r.labelled;
    const pc = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(1)}%`);
    lines.push(`labelled set ${l.file}, ${l.rows} row(s): secure accuracy ${pc(l.secureAccuracy)}, plaintext accuracy ${pc(l.plaintextAccuracy)}, agreement ${pc(l.agreement)}`);
  }
  const row = (label: string, m: CostJson, s: CostJson, f: (c: CostJson) => string): string => `  ${label.padEnd(22)} ${f(m).padStart(16)} ${f(s).padStart(16)}`;
  lines.push(`cost of one inference (case ${r.cases[0]!.name}) ${'measured'.padStart(16)} ${'static'.padStart(16)}`);
  lines.push(row('online rounds', r.measured, r.static, (c) => String(c.rounds)));
  lines.push(row('preprocessing rounds', r.measured, r.static, (c) => String(c.preprocessingRounds)));
  lines.push(row('bytes sent by P0', r.measured, r.static, (c) => MB(c.bytesPerParty[0])));
  lines.push(row('bytes sent by P1', r.measured, r.static, (c) => MB(c.bytesPerParty[1])));
  lines.push(row('bytes total', r.measured, r.static, (c) => MB(c.bytesTotal)));
  lines.push(row('dealer bytes', r.measured, r.static, (c) => MB(c.dealerBytes)));
  // FSS keys go to both parties: then the split is worth a line each.
  if (r.static.dealerBytesPerParty[0] > 0) {
    lines.push(row('  to P0', r.measured, r.static, (c) => MB(c.dealerBytesPerParty[0])));
    lines.push(row('  to P1', r.measured, r.static, (c) => MB(c.dealerBytesPerParty[1])));
  }
  lines.push(`  measured ${r.countsMatch ? '==' : '!='} static${r.cases.length > 1 ? ' on every case' : ''}${r.countsMatch ? '' : '  (MISMATCH: a runtime or cost-model bug)'}`);
  if (r.truncation !== undefined) lines.push(...formatTruncationReport(r.truncation, r.cases.length));
  if (r.link !== undefined) lines.push(`the parties' messages over an emulated network: ${r.link} (the dealer's words not delayed)`);
  lines.push(`wall time ${r.wallSeconds.toFixed(2)} s${r.plaintextSeconds !== null ? ` (plaintext evaluator ${r.plaintextSeconds.toFixed(2)} s)` : ''}, peak memory ${MB(r.peakRssBytes)}, malloc ${r.malloc}`);
  if (r.phases !== undefined) {
    const p = r.phases;
    lines.push(`preprocessing first: dealer's phase ${p.preprocessingSeconds.toFixed(2)} s (${p.preprocessingCpuSeconds.toFixed(2)} CPU s), online ${p.onlineSeconds.toFixed(2)} s (${p.onlineCpuSeconds.toFixed(2)} CPU s)${r.cases.length > 1 ? ', summed over the cases' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Phases summed over cases. */
function sumPhases(ps: readonly RunPhases[]): RunPhases {
  const sum = (k: keyof RunPhases): number => ps.reduce((a, p) => a + p[k], 0);
  return { preprocessingSeconds: sum('preprocessingSeconds'), preprocessingCpuSeconds: sum('preprocessingCpuSeconds'), onlineSeconds: sum('onlineSeconds'), onlineCpuSeconds: sum('onlineCpuSeconds'), onlineSystemSeconds: sum('onlineSystemSeconds') };
}

/** The --truncation-report table: expected local-truncation failures per inference, by protocol. */
export function formatTruncationReport(t: TruncationReport, cases: number): string[] {
  const e = (v: number): string => (v === 0 ? '0' : v.toExponential(2));
  const lines = [
    `local truncation (simulation diagnostic: both shares reconstructed in this process), mean over ${cases} inference(s)`,
    `  ${'protocol'.padEnd(28)} ${'op kind'.padEnd(16)} ${'elements'.padStart(10)} ${'max bits'.padStart(8)} ${'expected failures'.padStart(17)} ${'observed'.padStart(8)}  worst node`,
  ];
  for (const g of t.groups) {
    lines.push(`  ${g.protocol.padEnd(28)} ${g.opKind.padEnd(16)} ${String(g.elements).padStart(10)} ${String(g.maxBits).padStart(8)} ${e(g.expectedFailures).padStart(17)} ${String(g.observedFailures).padStart(8)}  ${g.worstNode}`);
  }
  lines.push(`  ${'total'.padEnd(28)} ${''.padEnd(16)} ${String(t.elements).padStart(10)} ${String(t.maxBits).padStart(8)} ${e(t.expectedFailures).padStart(17)} ${String(t.observedFailures).padStart(8)}`);
  lines.push(`  about 1 inference in ${t.expectedFailures > 0 ? Math.round(1 / t.expectedFailures).toLocaleString('en-US') : 'never'} has a wrapped truncation (a garbage value); p(x) = |x| / 2^64 per element`);
  return lines;
}

export async function runCommand(path: string, opts: RunCommandOptions): Promise<void> {
  if (!isCircuitFile(path) && opts.segments !== false && opts.passes !== undefined && /\bprune-tokens\b/.test(opts.passes)) {
    if (opts.preprocessFirst === true) throw new Ig3dcError('usage', '--preprocess-first: a model in segments learns each next segment at run time, so its dealer cannot deal them all first (use --no-segments for the static circuit)');
    if (opts.link !== undefined) throw new Ig3dcError('usage', '--link: a model in segments runs without the emulated network for now (use --no-segments for the static circuit)');
    const { runSegmentedCommand } = await import('./run-segments.ts');
    return runSegmentedCommand(path, opts);
  }
  const report = await runCases(path, opts);
  await writeOut(opts.json ? `${JSON.stringify(report)}\n` : formatRunReport(report));
  if (!report.countsMatch) process.exitCode = 1;
}
