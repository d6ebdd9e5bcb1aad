// `ig3dc compile MODEL --passes '...,prune-tokens{..}' -o FILE.segments`: a token-pruned model
// compiled ahead for a deployment in segments. Every (segment, bucket) a run can take is
// compiled (1 + (L-1)·S/bucket circuits) into one `.segments` file for the three roles (the
// dealer holds no weights, so it cannot compile on demand), with the server's weights beside it
// (FILE.weights.json, each tensor once per segment). Prints each bucket's static cost.

import { circuitCost, costSummary } from '../../../ir/circuit/cost.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { encodeSegmentBundle, segmentLabel } from '../../../ir/circuit/segment-bundle.ts';
import { writeFileSync } from 'node:fs';
import { parsePipeline, runPipeline } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { raiseSteps, resolveProtocols } from '../../backend/compile.ts';
import { weightsPathFor, writeWeightsBundle } from '../../backend/lower/weights.ts';
import { loadModel } from '../../load.ts';
import { SegmentCircuits } from '../../tokens/segment-circuits.ts';
import { writeOut } from '../run-command.ts';
import { modelSummaryLine, type CompileCommandOptions } from './compile.ts';
import { loadPassModules } from './opt.ts';

const MB = (b: number): string => `${(b / 1e6).toFixed(2)} MB`;

export async function bundleSegmentsCommand(model: string, opts: CompileCommandOptions & { output: string }): Promise<void> {
  for (const [flag, given] of [['--compare', opts.compare === true], ['--compare-protocols', opts.compareProtocols !== undefined], ['--report', opts.report !== undefined], ['--report-html', opts.reportHtml !== undefined]] as const) {
    if (given) throw new Ig3dcError('usage', `${flag} does not go with a segments file (-o ${opts.output}): it prints each bucket's cost itself`);
  }
  if (opts.passes === undefined || !/\bprune-tokens\b/.test(opts.passes)) throw new Ig3dcError('usage', `-o ${opts.output}: a .segments file is a token-pruned model's circuits for every bucket; give --passes with prune-tokens{..} (or write a .circuit)`);
  await loadPassModules(opts.loadPass ?? []);
  const passes = parsePipeline(opts.passes, '--passes');
  const protocols = resolveProtocols(opts.protocols ?? 'crypten');
  const graph = loadModel(model, opts);
  const resources = new Map<string, unknown>();
  if (opts.importance !== undefined) resources.set(IMPORTANCE_RESOURCE, opts.importance);
  const t0 = performance.now();
  let src: SegmentCircuits;
  let built: ReturnType<SegmentCircuits['bundle']>;
  try {
    const pruned = runPipeline(graph, [...raiseSteps(graph, opts.raise === false ? false : 'auto'), ...passes], {
      verify: opts.verify !== false,
      resources,
      onNote: (pass, message) => process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`),
    }).graph;
    src = new SegmentCircuits(pruned, { protocols, ...(opts.fracBits !== undefined ? { f: opts.fracBits } : {}) });
    built = src.bundle();
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within({ file: model });
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  const { bundle, weights } = built;
  const bytes = encodeSegmentBundle(bundle.name, bundle.tokens, bundle.buckets, bundle.circuits);
  try {
    writeFileSync(opts.output, bytes);
  } catch (e) {
    throw new Ig3dcError('io', `cannot write the segments file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: opts.output });
  }
  const wpath = weightsPathFor(opts.output);
  const w = writeWeightsBundle(wpath, weights, { segments: opts.output, model });
  const rows = bundle.circuits.map((e) => {
    const c = costSummary(circuitCost(e.circuit));
    return { segment: e.segment, tokens: e.tokens, hash: e.hash, rounds: c.rounds, preprocessingRounds: c.preprocessingRounds, bytesTotal: c.bytesTotal, dealerBytes: c.dealerBytes };
  });
  if (opts.json === true) {
    await writeOut(`${JSON.stringify({ model: graph.name, protocols: protocols.name, output: opts.output, weights: wpath, bytes: bytes.length, buckets: bundle.buckets, tokens: bundle.tokens, compileSeconds: seconds, circuits: rows }, null, 1)}\n`);
    return;
  }
  const lines = [modelSummaryLine(graph), `token pruning in ${bundle.buckets.length + 1} segments, buckets of ${bundle.buckets.join(', ')} tokens; protocols ${protocols.name}; every bucket compiled ahead (${rows.length} circuits, ${seconds.toFixed(2)} s)`];
  lines.push(`  ${'circuit'.padEnd(28)} ${'rounds'.padStart(7)} ${'online'.padStart(12)} ${'dealer'.padStart(12)}`);
  for (const r of rows) lines.push(`  ${segmentLabel(r.segment, r.tokens).padEnd(28)} ${String(r.rounds).padStart(7)} ${MB(r.bytesTotal).padStart(12)} ${MB(r.dealerBytes).padStart(12)}`);
  lines.push(`a run's cost is the sum over the buckets it takes; each boundary reveals its survivor count (and the dealer learns the bucket taken)`);
  lines.push(`wrote ${opts.output} (${MB(bytes.length)}, no weights: give it to the client and the dealer) and the server's weights ${wpath} (+ ${w.bin}, ${MB(w.bytes)})`);
  await writeOut(`${lines.join('\n')}\n`);
}
