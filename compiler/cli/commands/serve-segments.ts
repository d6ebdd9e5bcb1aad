// `ig3dc serve FILE.segments ...` and `ig3dc dealer FILE.segments ...`: the three processes of a
// deployment run a token-pruned model in segments (runtime/segments-tcp.ts). The `.segments`
// file (`ig3dc compile ... -o FILE.segments`) holds every bucket's circuit; each segment is a
// session of its own on the same addresses: P0 and the dealer listen again on the port they
// bound first, P1 connects again. Each party picks the next segment from the count its
// boundary revealed; the dealer serves the bucket circuit P1 names (and so learns the bucket).

import { existsSync } from 'node:fs';
import { circuitCost, costSummary, type CostSummary } from '../../../ir/circuit/cost.ts';
import { bundleEntry, readSegmentBundle, segmentLabel, type SegmentBundle } from '../../../ir/circuit/segment-bundle.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { readTensorBundle, tensorToJson } from '../../../ir/tensor-json.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { admitCircuit } from '../../../runtime/admit.ts';
import type { RoleKeys } from '../../../runtime/keys.ts';
import { bundleSource } from '../../../runtime/segments.ts';
import { runDealerSegmentsTcp, runPartySegmentsTcp, type TcpSegmentStep } from '../../../runtime/segments-tcp.ts';
import type { HostPort } from '../../../runtime/tcp.ts';
import { writeOut } from '../run-command.ts';
import { clientInputs, defaultWeightsPath } from './run.ts';
import { clientCase, parseHostPort, partyCountsMatch, timeoutMs, type ServeCommandOptions } from './serve.ts';

const MB = (b: number): string => `${(b / 1e6).toFixed(2)} MB`;
const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

/** Reads a bundle and checks every circuit in it (verifier and leakage checker), as each role does with a `.circuit`. */
export function loadSegmentBundle(path: string): SegmentBundle {
  const b = readSegmentBundle(path);
  for (const e of b.circuits) admitCircuit(e.circuit, `${path} (${segmentLabel(e.segment, e.tokens)})`);
  return b;
}

/** A listener that binds the given port once and, for every later session, the port it got (port 0: the OS picks it the first time). */
function stickyListen(at: HostPort, announce: (port: number) => void): { at: () => HostPort; onListening: (port: number) => void } {
  let bound: number | undefined;
  return {
    at: () => ({ host: at.host, port: bound ?? at.port }),
    onListening: (port) => {
      if (bound === undefined) announce(port);
      bound = port;
    },
  };
}

interface SegmentCost {
  readonly rounds: number;
  readonly preprocessingRounds: number;
  readonly bytesPerParty: readonly [number, number];
  readonly bytesTotal: number;
  readonly dealerBytes: number;
}

export interface ServeSegmentReport {
  readonly segment: number;
  readonly tokens: number;
  readonly counts?: readonly number[];
  readonly sessionId: string;
  /** This party's measurement (dealer bytes: those it received) and the static cost of the bucket's circuit. */
  readonly measured: SegmentCost;
  readonly static: SegmentCost;
  readonly match: boolean;
}

const cost = (c: CostSummary, dealerBytes: number): SegmentCost => ({ rounds: c.rounds, preprocessingRounds: c.preprocessingRounds, bytesPerParty: c.bytesPerParty, bytesTotal: c.bytesTotal, dealerBytes });

function segmentReport(step: TcpSegmentStep, party: 0 | 1): ServeSegmentReport {
  const { byRound: _, ...m } = step.cost;
  const s = costSummary(circuitCost(step.circuit));
  const match = partyCountsMatch(m, s, party);
  return {
    segment: step.segment,
    tokens: step.tokens,
    ...(step.counts !== undefined ? { counts: step.counts } : {}),
    sessionId: step.sessionId,
    measured: cost(m as CostSummary, m.dealerBytesPerParty[party]),
    static: cost(s, s.dealerBytesPerParty[party]),
    match,
  };
}

export async function serveSegmentsCommand(path: string, opts: ServeCommandOptions, party: 0 | 1, keys: RoleKeys): Promise<void> {
  for (const [flag, given] of [['--protocols', opts.protocols], ['--passes', opts.passes]] as const) {
    if (given !== undefined) throw new Ig3dcError('usage', `${flag} is for compiling a model on the fly; a .segments file is compiled already`);
  }
  const wait = timeoutMs(opts.timeout);
  const cs = clientCase(opts, party);
  const bundle = loadSegmentBundle(path);
  let weights: ReadonlyMap<string, Tensor> = new Map();
  if (party === 0) {
    const wpath = opts.weights ?? defaultWeightsPath(path);
    if (!existsSync(wpath)) throw new Ig3dcError('io', `the segments need the server's weights: no weights bundle at ${wpath} (give one with --weights FILE)`, { file: path });
    weights = readTensorBundle(wpath).tensors;
  }
  const src = bundleSource(bundle, path, weights);
  const inputs = party === 1 ? clientInputs(bundleEntry(bundle, 0, bundle.tokens, path).circuit, cs!, opts.inputs) : undefined;
  const listen = opts.listen !== undefined ? stickyListen(parseHostPort(opts.listen, '--listen'), (port) => process.stderr.write(`ig3dc serve: party ${party} listening on ${parseHostPort(opts.listen!, '--listen').host}:${port}\n`)) : undefined;
  const connect = opts.connect !== undefined ? parseHostPort(opts.connect, '--connect') : undefined;
  const dealer = opts.dealer !== undefined ? parseHostPort(opts.dealer, '--dealer') : undefined;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await runPartySegmentsTcp({
    src,
    party,
    ...(inputs !== undefined ? { inputs } : {}),
    keys,
    hashOf: (k, n) => src.hashOf(k, n),
    session: () => ({
      ...(listen !== undefined ? { listen: listen.at(), onListening: listen.onListening } : { connect: connect! }),
      ...(dealer !== undefined ? { dealer } : {}),
    }),
    timeoutMs: wait,
    connectTimeoutMs: opts.connectTimeout !== undefined ? timeoutMs(opts.connectTimeout) : wait,
    ...(opts.window !== undefined ? { windowBytes: opts.window * 1024 * 1024 } : {}),
    onRefused: (why) => process.stderr.write(`ig3dc serve: party ${party} ${why}\n`),
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  const segments = result.steps.map((s) => segmentReport(s, party));
  const countsMatch = segments.every((s) => s.match);
  const report = {
    party,
    segments,
    outputs: Object.fromEntries([...result.outputs].map(([k, t]) => [k, tensorToJson(t)])),
    countsMatch,
    wallSeconds,
    cpuSeconds: cpuSeconds(process.cpuUsage(cpu0)),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  if (opts.json) await writeOut(`${JSON.stringify(report)}\n`);
  else {
    const lines = [`party ${party}: ${segments.length} segments in ${wallSeconds.toFixed(2)} s (${report.cpuSeconds.toFixed(2)} s CPU), one session each`];
    for (const s of segments) {
      const revealed = s.counts !== undefined ? `, reveals count ${s.counts.join(',')}` : '';
      lines.push(
        `  segment ${s.segment} on ${String(s.tokens).padStart(4)} tokens${revealed.padEnd(20)} measured ${String(s.measured.rounds).padStart(5)} rounds ${MB(s.measured.bytesTotal).padStart(12)}   static ${String(s.static.rounds).padStart(5)} rounds ${MB(s.static.bytesTotal).padStart(12)}  ${s.match ? '==' : '!= MISMATCH'}  (session ${s.sessionId.slice(0, 16)})`,
      );
    }
    for (const [k, t] of Object.entries(report.outputs)) lines.push(`  ${k} = [${t.shape.join(',')}] ${JSON.stringify(t.data)}`);
    lines.push(`  measured ${countsMatch ? '==' : '!='} static on every segment`);
    await writeOut(`${lines.join('\n')}\n`);
  }
  if (!countsMatch) process.exitCode = 1;
}

export interface DealerSegmentsOptions {
  readonly listen: HostPort;
  readonly keys: RoleKeys;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly json?: boolean;
}

export async function dealerSegmentsCommand(path: string, o: DealerSegmentsOptions): Promise<void> {
  const bundle = loadSegmentBundle(path);
  const listen = stickyListen(o.listen, (port) => process.stderr.write(`ig3dc dealer: listening on ${o.listen.host}:${port}\n`));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const rs = await runDealerSegmentsTcp(bundle, {
    listen: () => listen.at(),
    keys: o.keys,
    timeoutMs: o.timeoutMs,
    connectTimeoutMs: o.connectTimeoutMs,
    onListening: listen.onListening,
    onRefused: (why) => process.stderr.write(`ig3dc dealer: ${why}\n`),
  });
  const segments = rs.map((r) => ({ segment: r.segment, tokens: r.tokens, sessionId: r.sessionId, corrections: r.corrections, dealerBytes: r.bytes, dealerBytesPerParty: r.bytesPerParty }));
  const report = { role: 'dealer', segments, wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds(process.cpuUsage(cpu0)), peakRssBytes: process.resourceUsage().maxRSS * 1024 };
  if (o.json === true) await writeOut(`${JSON.stringify(report)}\n`);
  else {
    const lines = segments.map((s) => `dealer: ${segmentLabel(s.segment, s.tokens)} (the bucket taken): sent ${s.corrections} corrections, ${s.dealerBytes} bytes (session ${s.sessionId.slice(0, 16)})`);
    lines.push(`dealer: ${segments.length} sessions in ${report.wallSeconds.toFixed(2)} s (${report.cpuSeconds.toFixed(2)} s CPU)`);
    await writeOut(`${lines.join('\n')}\n`);
  }
}
