// `ig3dc dealer CIRCUIT --key dealer.key --listen HOST:PORT`: the third role of a secure
// inference (runtime/dealer-server.ts). It takes a .circuit file (or a .segments file: every
// bucket circuit of a token-pruned model, served one session per segment) only: a model file would
// hand it the server's weights.

import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { readKeyFile, runDealerTcp } from '../../../runtime/index.ts';
import { writeOut } from '../run-command.ts';
import { isCircuitFile, isSegmentsFile, loadTarget } from './run.ts';
import { parseHostPort, timeoutMs } from './serve.ts';

export interface DealerCommandOptions {
  readonly key?: string;
  readonly listen?: string;
  readonly timeout?: number;
  readonly connectTimeout?: number;
  readonly json?: boolean;
}

const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

export async function dealerCommand(circuitPath: string, opts: DealerCommandOptions): Promise<void> {
  if (!isCircuitFile(circuitPath) && !isSegmentsFile(circuitPath)) throw new Ig3dcError('usage', 'the dealer takes a .circuit file (compile one with `ig3dc compile MODEL -o FILE.circuit`) or, for a token-pruned model, a .segments file (`-o FILE.segments`); a model file holds the server\'s weights');
  if (opts.key === undefined) throw new Ig3dcError('usage', 'give the dealer key file with --key FILE (write the three with `ig3dc keygen --out DIR`)');
  if (opts.listen === undefined) throw new Ig3dcError('usage', 'give the address to wait for the parties on: --listen HOST:PORT');
  const keys = readKeyFile(opts.key, 'dealer');
  const listen = parseHostPort(opts.listen, '--listen');
  const wait = timeoutMs(opts.timeout);
  if (isSegmentsFile(circuitPath)) {
    const { dealerSegmentsCommand } = await import('./serve-segments.ts');
    return dealerSegmentsCommand(circuitPath, { listen, keys, timeoutMs: wait, connectTimeoutMs: opts.connectTimeout !== undefined ? timeoutMs(opts.connectTimeout) : wait, ...(opts.json !== undefined ? { json: opts.json } : {}) });
  }
  const target = await loadTarget(circuitPath, { inputs: '' }, undefined, true);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const r = await runDealerTcp({
    circuit: target.circuit,
    circuitHash: target.hash,
    listen,
    keys,
    timeoutMs: wait,
    connectTimeoutMs: opts.connectTimeout !== undefined ? timeoutMs(opts.connectTimeout) : wait,
    onListening: (port) => process.stderr.write(`ig3dc dealer: listening on ${listen.host}:${port}\n`),
    onRefused: (why) => process.stderr.write(`ig3dc dealer: ${why}\n`),
    onSession: (sid, parties) => process.stderr.write(`ig3dc dealer: serving session ${sid.slice(0, 16)} to party ${parties.join(' and party ')}\n`),
  });
  const report = { role: 'dealer', sessionId: r.sessionId, corrections: r.corrections, dealerBytes: r.bytes, dealerBytesPerParty: r.bytesPerParty, wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds(process.cpuUsage(cpu0)), peakRssBytes: process.resourceUsage().maxRSS * 1024 };
  const split = r.bytesPerParty[0] > 0 ? ` (P0 ${r.bytesPerParty[0]}, P1 ${r.bytesPerParty[1]})` : '';
  await writeOut(opts.json ? `${JSON.stringify(report)}\n` : `dealer: sent ${r.corrections} corrections, ${r.bytes} bytes${split}, in ${report.wallSeconds.toFixed(2)} s (session ${r.sessionId.slice(0, 16)})\n`);
}
