// `ig3dc serve --party 0|1 --key FILE (--listen HOST:PORT | --connect HOST:PORT) CIRCUIT ...`:
// one party of a secure inference per process, over TLS (runtime/tcp.ts). Party 0 (server)
// supplies the weights (--weights, default CIRCUIT.weights.json); party 1 (client) supplies
// one case of --inputs, receives the dealer's corrections from `ig3dc dealer` (--dealer
// HOST:PORT) and learns the outputs. For a circuit with FSS gates the dealer sends party 0 key
// words too, and party 0 also takes --dealer. Each reads its own key file (`ig3dc keygen`). An ONNX /
// .ir model may be given instead of a circuit: both sides compile it the same way, and the
// handshake checks that the circuits agree.

import { circuitCost, costSummary, type CostSummary } from '../../../ir/circuit/cost.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { readCasesFile, tensorToJson, type Case } from '../../../ir/tensor-json.ts';
import { readKeyFile, runPartyTcp, type HostPort } from '../../../runtime/index.ts';
import { writeOut } from '../run-command.ts';
import { clientInputs, isSegmentsFile, loadTarget, type RunCommandOptions } from './run.ts';

/** The client's case (--inputs, --case; the first when no name is given); none for the server. */
export function clientCase(opts: ServeCommandOptions, party: 0 | 1): Case | undefined {
  if (party === 0) return undefined;
  if (opts.inputs === undefined) throw new Ig3dcError('usage', 'party 1 (the client) needs --inputs FILE');
  const cases = readCasesFile(opts.inputs);
  const cs = opts.case === undefined ? cases[0] : cases.find((c) => c.name === opts.case);
  if (cs === undefined) throw new Ig3dcError('input', opts.case === undefined ? 'the inputs file has no cases' : `no case named '${opts.case.slice(0, 80)}'`, { file: opts.inputs });
  return cs;
}

/**
 * Whether one party's measurement is the circuit's static cost: rounds and bytes on the wire,
 * and the dealer bytes this party received (all of them go to party 1 unless the circuit has
 * FSS gates).
 */
export function partyCountsMatch(measured: CostSummary, stat: CostSummary, party: 0 | 1): boolean {
  return (
    measured.rounds === stat.rounds &&
    measured.preprocessingRounds === stat.preprocessingRounds &&
    measured.bytesTotal === stat.bytesTotal &&
    measured.bytesPerParty[0] === stat.bytesPerParty[0] &&
    measured.dealerBytesPerParty[party] === stat.dealerBytesPerParty[party]
  );
}

export interface ServeCommandOptions {
  readonly party: string;
  readonly key?: string;
  readonly listen?: string;
  readonly connect?: string;
  /** The dealer's address (party 1; party 0 for circuits with FSS gates). */
  readonly dealer?: string;
  readonly weights?: string;
  /** Party 1: the inputs file (the case given by --case, else the first). */
  readonly inputs?: string;
  readonly case?: string;
  /** Seconds to wait for each message from a peer. */
  readonly timeout?: number;
  /** Seconds to wait for a peer to connect (default: --timeout). */
  readonly connectTimeout?: number;
  /** MiB of dealer words to read ahead. */
  readonly window?: number;
  readonly json?: boolean;
  readonly batch?: number;
  readonly seq?: number;
  readonly dim?: Record<string, number>;
  readonly protocols?: string;
  readonly passes?: string;
}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(.*):(\d+)$/.exec(s);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === '' || !(port >= 0 && port <= 65535)) throw new Ig3dcError('usage', `${what}: expected HOST:PORT, got '${s.slice(0, 80)}'`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export function timeoutMs(timeout: number | undefined): number {
  const t = timeout ?? 60;
  if (!(t > 0)) throw new Ig3dcError('usage', `--timeout: expected a positive number of seconds, got ${String(timeout)}`);
  return t * 1000;
}

export async function serveCommand(circuitPath: string, opts: ServeCommandOptions): Promise<void> {
  if (opts.party !== '0' && opts.party !== '1') throw new Ig3dcError('usage', `--party: expected 0 or 1, got '${String(opts.party).slice(0, 20)}'`);
  const party = Number(opts.party) as 0 | 1;
  if ((opts.listen === undefined) === (opts.connect === undefined)) throw new Ig3dcError('usage', 'give exactly one of --listen HOST:PORT and --connect HOST:PORT');
  if (opts.key === undefined) throw new Ig3dcError('usage', `give this party's key file with --key FILE (write the three with \`ig3dc keygen --out DIR\`)`);
  if (party === 1 && opts.dealer === undefined) throw new Ig3dcError('usage', "party 1 needs the dealer's address: --dealer HOST:PORT (start it with `ig3dc dealer`)");
  const keys = readKeyFile(opts.key, party === 0 ? 'party0' : 'party1');
  if (isSegmentsFile(circuitPath)) {
    const { serveSegmentsCommand } = await import('./serve-segments.ts');
    return serveSegmentsCommand(circuitPath, opts, party, keys);
  }
  const wait = timeoutMs(opts.timeout);
  const cs = clientCase(opts, party);
  const runOpts: RunCommandOptions = {
    inputs: opts.inputs ?? '',
    ...(party === 0 && opts.weights !== undefined ? { weights: opts.weights } : {}),
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    ...(opts.seq !== undefined ? { seq: opts.seq } : {}),
    ...(opts.dim !== undefined ? { dim: opts.dim } : {}),
    ...(opts.protocols !== undefined ? { protocols: opts.protocols } : {}),
    ...(opts.passes !== undefined ? { passes: opts.passes } : {}),
  };
  // Party 1 never reads the server's weights: load the circuit alone.
  const target = await loadTarget(circuitPath, runOpts, cs, party === 1);
  const tensors = party === 0 ? target.weights : clientInputs(target.circuit, cs!, opts.inputs);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await runPartyTcp({
    circuit: target.circuit,
    circuitHash: target.hash,
    party,
    ...(opts.listen !== undefined ? { listen: parseHostPort(opts.listen, '--listen') } : { connect: parseHostPort(opts.connect!, '--connect') }),
    ...(opts.dealer !== undefined ? { dealer: parseHostPort(opts.dealer, '--dealer') } : {}),
    ...(opts.window !== undefined ? { windowBytes: opts.window * 1024 * 1024 } : {}),
    tensors,
    keys,
    timeoutMs: wait,
    connectTimeoutMs: opts.connectTimeout !== undefined ? timeoutMs(opts.connectTimeout) : wait,
    onListening: (port) => process.stderr.write(`ig3dc serve: party ${party} listening on ${parseHostPort(opts.listen!, '--listen').host}:${port}\n`),
    onRefused: (why) => process.stderr.write(`ig3dc serve: party ${party} ${why}\n`),
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const { byRound: _, ...measured } = result.cost;
  const stat = costSummary(circuitCost(target.circuit));
  const countsMatch = partyCountsMatch(measured, stat, party);
  const report = {
    party,
    sessionId: result.sessionId,
    outputs: Object.fromEntries([...result.outputs].map(([k, t]) => [k, tensorToJson(t)])),
    measured: costSummary(measured),
    static: stat,
    countsMatch,
    transcriptHash: result.transcriptHash,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    ...(result.corrections !== undefined ? { corrections: result.corrections } : {}),
  };
  if (opts.json) await writeOut(`${JSON.stringify(report)}\n`);
  else {
    const lines = [`party ${party}: done in ${wallSeconds.toFixed(2)} s (session ${result.sessionId.slice(0, 16)})`];
    for (const [k, t] of Object.entries(report.outputs)) lines.push(`  ${k} = [${t.shape.join(',')}] ${JSON.stringify(t.data)}`);
    lines.push(
      `  measured: ${measured.rounds} online rounds, ${measured.preprocessingRounds} preprocessing rounds, ${measured.bytesTotal} bytes on the wire (P0 ${measured.bytesPerParty[0]}, P1 ${measured.bytesPerParty[1]})${measured.dealerBytes > 0 ? `, ${measured.dealerBytes} bytes from the dealer` : ''}`,
    );
    lines.push(`  measured ${countsMatch ? '==' : '!='} static`);
    await writeOut(`${lines.join('\n')}\n`);
  }
  if (!countsMatch) process.exitCode = 1;
}
