// `ig3dc serve --party 0|1 (--listen HOST:PORT | --connect HOST:PORT) CIRCUIT ...`: one party
// of a secure inference per process, over TCP (runtime/tcp.ts has the wire format).
//
// Party 0 (server) supplies the weights (--weights, default CIRCUIT.weights.json); party 1
// (client) supplies one case of --inputs and learns the outputs. Both read the same seed
// (--seed HEX or --seed-file FILE): trusted-dealer setting, party 1's process hosts the dealer
// (see runtime/tcp.ts). An ONNX / .ir model may be given instead of a circuit: both sides
// compile it the same way, and the handshake checks that the circuits agree.

import { readFileSync } from 'node:fs';
import { circuitCost, costSummary } from '../../../ir/circuit/cost.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { readCasesFile, tensorToJson, type Case } from '../../../ir/tensor-json.ts';
import { runPartyTcp, type HostPort } from '../../../runtime/index.ts';
import { writeOut } from '../run-command.ts';
import { clientInputs, loadTarget, parseSeed, type RunCommandOptions } from './run.ts';

export interface ServeCommandOptions {
  readonly party: string;
  readonly listen?: string;
  readonly connect?: string;
  readonly weights?: string;
  /** Party 1: the inputs file (the case given by --case, else the first). */
  readonly inputs?: string;
  readonly case?: string;
  readonly seed?: string;
  readonly seedFile?: string;
  /** Seconds to wait for the peer (connecting, and each message). */
  readonly timeout?: number;
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
  if (m === null || m[1] === '' || !(port >= 0 && port <= 65535)) throw new Ig3dcError('usage', `${what}: expected HOST:PORT, got '${s}'`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

function readSeed(opts: ServeCommandOptions): Uint8Array {
  if ((opts.seed === undefined) === (opts.seedFile === undefined)) {
    throw new Ig3dcError('usage', 'give the shared seed with exactly one of --seed HEX and --seed-file FILE (both parties must use the same one)');
  }
  if (opts.seed !== undefined) return parseSeed(opts.seed)!;
  let text: string;
  try {
    text = readFileSync(opts.seedFile!, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read the seed file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: opts.seedFile! });
  }
  try {
    return parseSeed(text.trim())!;
  } catch (e) {
    throw new Ig3dcError('input', `the seed file must hold hex digits: ${(e as Ig3dcError).detail}`, { file: opts.seedFile! });
  }
}

export async function serveCommand(circuitPath: string, opts: ServeCommandOptions): Promise<void> {
  if (opts.party !== '0' && opts.party !== '1') throw new Ig3dcError('usage', `--party: expected 0 or 1, got '${opts.party}'`);
  const party = Number(opts.party) as 0 | 1;
  if ((opts.listen === undefined) === (opts.connect === undefined)) throw new Ig3dcError('usage', 'give exactly one of --listen HOST:PORT and --connect HOST:PORT');
  const seed = readSeed(opts);
  const timeout = opts.timeout ?? 60;
  if (!(timeout > 0)) throw new Ig3dcError('usage', `--timeout: expected a positive number of seconds, got ${String(opts.timeout)}`);
  let cs: Case | undefined;
  if (party === 1) {
    if (opts.inputs === undefined) throw new Ig3dcError('usage', 'party 1 (the client) needs --inputs FILE');
    const cases = readCasesFile(opts.inputs);
    cs = opts.case === undefined ? cases[0] : cases.find((c) => c.name === opts.case);
    if (cs === undefined) throw new Ig3dcError('input', opts.case === undefined ? 'the inputs file has no cases' : `no case named '${opts.case}'`, { file: opts.inputs });
  }
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
  const result = await runPartyTcp({
    circuit: target.circuit,
    circuitHash: target.hash,
    party,
    ...(opts.listen !== undefined ? { listen: parseHostPort(opts.listen, '--listen') } : { connect: parseHostPort(opts.connect!, '--connect') }),
    tensors,
    seed,
    timeoutMs: timeout * 1000,
    onListening: (port) => process.stderr.write(`ig3dc serve: party ${party} listening on ${parseHostPort(opts.listen!, '--listen').host}:${port}\n`),
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  const { byRound: _, ...measured } = result.cost;
  const stat = costSummary(circuitCost(target.circuit));
  // Party 0 cannot see the dealer's bytes (party 1's process hosts the dealer).
  const countsMatch =
    measured.rounds === stat.rounds &&
    measured.preprocessingRounds === stat.preprocessingRounds &&
    measured.bytesTotal === stat.bytesTotal &&
    measured.bytesPerParty[0] === stat.bytesPerParty[0] &&
    (party === 0 || measured.dealerBytes === stat.dealerBytes);
  const report = {
    party,
    outputs: Object.fromEntries([...result.outputs].map(([k, t]) => [k, tensorToJson(t)])),
    measured: costSummary(measured),
    static: stat,
    countsMatch,
    wallSeconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  if (opts.json) await writeOut(`${JSON.stringify(report)}\n`);
  else {
    const lines = [`party ${party}: done in ${wallSeconds.toFixed(2)} s`];
    for (const [k, t] of Object.entries(report.outputs)) lines.push(`  ${k} = [${t.shape.join(',')}] ${JSON.stringify(t.data)}`);
    lines.push(
      `  measured: ${measured.rounds} online rounds, ${measured.preprocessingRounds} preprocessing rounds, ${measured.bytesTotal} bytes on the wire (P0 ${measured.bytesPerParty[0]}, P1 ${measured.bytesPerParty[1]})${party === 1 ? `, dealer ${measured.dealerBytes} bytes` : ''}`,
    );
    lines.push(`  measured ${countsMatch ? '==' : '!='} static`);
    await writeOut(`${lines.join('\n')}\n`);
  }
  if (!countsMatch) process.exitCode = 1;
}
