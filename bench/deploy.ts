// Deployment benchmark: bert-tiny and spam-bert as three processes (`ig3dc dealer`, `ig3dc
// serve --party 0`, `ig3dc serve --party 1`) on 127.0.0.1 over TLS-PSK, checked against the
// in-process run with the same session seeds (outputs and transcript bit for bit, measured ==
// static), then what TLS costs: the run's own bytes pushed through a TLS-PSK socket pair and
// through a plain TCP socket pair on loopback, in the run's round sizes, side by side. The
// tiny-fss case is bert-tiny under `--protocols fss`, where the dealer streams key words to both
// parties (P0 connects to it too). Each case also runs in two worker threads (the same seeds):
// wall and CPU seconds of the three modes side by side.
//
//   npx tsx bench/deploy.ts [tiny] [tiny-fss] [spam]      or      npm run bench -- deploy

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect as netConnect, createServer as netServer, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCasesFile, readTensorBundle } from '../ir/tensor-json.ts';
import { decodeCircuitFile } from '../ir/circuit/index.ts';
import { tlsPair } from '../test/deploy-helpers.ts';
import { runCircuit, runCircuitWorkers, simulatedSessionSeeds, type Pair } from '../runtime/index.ts';
import { dealerSendsP0 } from '../runtime/dealer-stream.ts';
import { clientInputs } from '../compiler/cli/commands/run.ts';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin/ig3dc.js');
const MODELS: Record<string, { onnx: string; cases: string; protocols?: string }> = {
  tiny: { onnx: join(ROOT, 'examples/bert-tiny.onnx'), cases: join(ROOT, 'examples/bert-tiny.cases.json') },
  'tiny-fss': { onnx: join(ROOT, 'examples/bert-tiny.onnx'), cases: join(ROOT, 'examples/bert-tiny.cases.json'), protocols: 'fss' },
  spam: { onnx: join(ROOT, '../shared/fixtures/spam-bert.onnx'), cases: join(ROOT, '../shared/fixtures/spam-bert.cases.json') },
};

interface RoleReport {
  readonly code: number | null;
  readonly json: Record<string, unknown>;
  readonly stderr: string;
}

function role(args: string[], onStderr?: (s: string) => void): Promise<RoleReport> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    onStderr?.(err);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(out) as Record<string, unknown>;
      } catch {
        // reported through code and stderr
      }
      resolve({ code, json, stderr: err });
    }),
  );
}

const cpuSeconds = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

function portFrom(re: RegExp): { seen: (s: string) => void; port: Promise<number> } {
  let got!: (n: number) => void;
  const port = new Promise<number>((r) => (got = r));
  return { seen: (s) => void (re.exec(s) && got(Number(re.exec(s)![1]))), port };
}

/** Seconds to push `rounds` (bytes each way per round) through a connected socket pair, ping-pong per round. */
async function pushRounds(a: Socket, b: Socket, rounds: readonly number[]): Promise<number> {
  const recv = (s: Socket, n: number): Promise<void> =>
    new Promise((resolve) => {
      let have = 0;
      if (n === 0) return resolve();
      const on = (d: Buffer): void => {
        have += d.length;
        if (have >= n) {
          s.off('data', on);
          resolve();
        }
      };
      s.on('data', on);
    });
  const t0 = performance.now();
  for (const n of rounds) {
    const buf = Buffer.alloc(n, 7);
    const both = Promise.all([recv(a, n), recv(b, n)]);
    a.write(buf);
    b.write(buf);
    await both;
  }
  return (performance.now() - t0) / 1000;
}

async function tlsVersusTcp(rounds: readonly number[]): Promise<{ tls: number; tcp: number }> {
  const [srv, client] = await tlsPair('p0-p1', 30_000);
  const tls = await pushRounds(srv, client, rounds);
  client.destroy();
  srv.destroy();
  const ts = netServer();
  await new Promise<void>((r) => ts.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => ts.once('connection', r));
  const c2 = netConnect({ host: '127.0.0.1', port: (ts.address() as { port: number }).port });
  const s2 = await accepted;
  ts.close();
  c2.setNoDelay(true);
  s2.setNoDelay(true);
  const tcp = await pushRounds(s2, c2, rounds);
  c2.destroy();
  s2.destroy();
  return { tls, tcp };
}

async function deployCase(name: string): Promise<string[] | undefined> {
  const m = MODELS[name]!;
  if (!existsSync(m.onnx)) {
    console.log(`deploy/${name}: skipped (${m.onnx} not found)`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ig3dc-bench-deploy-'));
  const circuit = join(dir, `${name}.circuit`);
  const shape = [...readCasesFile(m.cases)[0]!.inputs.values()][0]!.shape;
  const protocols = m.protocols !== undefined ? ['--protocols', m.protocols] : [];
  execFileSync(process.execPath, [BIN, 'compile', m.onnx, '--batch', String(shape[0]), '--seq', String(shape[1]), ...protocols, '-o', circuit], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const { circuit: c, header } = decodeCircuitFile(readFileSync(circuit), circuit);
  execFileSync(process.execPath, [BIN, 'keygen', '--out', join(dir, 'keys')], { cwd: ROOT, stdio: 'ignore' });
  const key = (r: string): string => join(dir, 'keys', `${r}.key`);
  const dp = portFrom(/listening on [^\n]*:(\d+)/);
  const pp = portFrom(/listening on [^\n]*:(\d+)/);
  const t = ['--timeout', '600', '--json'];
  const dealer = role(['dealer', circuit, '--key', key('dealer'), '--listen', '127.0.0.1:0', ...t], dp.seen);
  // P0 names the dealer only when the circuit's dealer sends it words (FSS keys).
  const dport = await dp.port;
  const p0Dealer = dealerSendsP0(c) ? ['--dealer', `127.0.0.1:${dport}`] : [];
  const p0 = role(['serve', circuit, '--party', '0', '--key', key('party0'), '--listen', '127.0.0.1:0', ...p0Dealer, ...t], pp.seen);
  const pport = await pp.port;
  const t0 = performance.now();
  const p1 = role(['serve', circuit, '--party', '1', '--key', key('party1'), '--connect', `127.0.0.1:${pport}`, '--dealer', `127.0.0.1:${dport}`, '--inputs', m.cases, ...t]);
  const [r0, rd, r1] = await Promise.all([p0, dealer, p1]);
  const wall3 = (performance.now() - t0) / 1000;
  const failed = ([['party 0', r0], ['dealer', rd], ['party 1', r1]] as const).filter(([, r]) => r.code !== 0);
  for (const [who, r] of failed) console.log(`deploy/${name}: ${who} failed: ${r.stderr.trim().slice(0, 400)}`);
  if (failed.length > 0) return undefined;
  const j1 = r1.json as { sessionId: string; outputs: Record<string, { data: number[] }>; transcriptHash: string; countsMatch: boolean; wallSeconds: number; cpuSeconds: number; measured: { bytesTotal: number; dealerBytes: number; byRound?: unknown } };
  const j0 = r0.json as { countsMatch: boolean; cpuSeconds: number };
  const jd = rd.json as { cpuSeconds: number; peakRssBytes: number };
  // The same session in one process, and in two worker threads.
  const keys = (r: string): Record<string, string> => (JSON.parse(readFileSync(key(r), 'utf8')) as { keys: Record<string, string> }).keys;
  const pairKeys: Record<Pair, Uint8Array> = {
    'p0-p1': Buffer.from(keys('party0')['p0-p1']!, 'hex'),
    'p0-dealer': Buffer.from(keys('party0')['p0-dealer']!, 'hex'),
    'p1-dealer': Buffer.from(keys('party1')['p1-dealer']!, 'hex'),
  };
  const cs = readCasesFile(m.cases)[0]!;
  const weights = readTensorBundle(join(dir, `${name}.weights.json`)).tensors;
  const seeds = simulatedSessionSeeds(pairKeys, j1.sessionId, header.hash);
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  const local = runCircuit(c, { inputs: clientInputs(c, cs), weights, seeds });
  const wall1 = (performance.now() - t1) / 1000;
  const cpuLocal = cpuSeconds(process.cpuUsage(cpu1));
  const t2 = performance.now();
  const cpu2 = process.cpuUsage();
  const workers = await runCircuitWorkers(c, { inputs: clientInputs(c, cs), weights, seeds });
  const wall2 = (performance.now() - t2) / 1000;
  const cpuWorkers = cpuSeconds(process.cpuUsage(cpu2));
  let same = local.transcriptHash === j1.transcriptHash && local.transcriptHash === workers.transcriptHash;
  for (const [k, v] of local.outputs) {
    same &&= JSON.stringify(v.toNumbers()) === JSON.stringify(j1.outputs[k]?.data);
    same &&= JSON.stringify(v.toNumbers()) === JSON.stringify(workers.outputs.get(k)?.toNumbers());
  }
  same &&= JSON.stringify(workers.cost) === JSON.stringify(local.cost);
  // What TLS costs on the run's own traffic: every round's bytes each way, and the corrections.
  const rounds = local.cost.byRound.map((r) => Math.max(r.bytesP0, r.bytesP1));
  const { tls, tcp } = await tlsVersusTcp([...rounds, local.cost.dealerBytes]);
  return [
    name,
    wall3.toFixed(2),
    j1.wallSeconds.toFixed(2),
    (j1.cpuSeconds + j0.cpuSeconds + (jd.cpuSeconds ?? 0)).toFixed(1),
    ((jd.peakRssBytes ?? 0) / 1e6).toFixed(0),
    `${wall1.toFixed(2)} / ${cpuLocal.toFixed(1)}`,
    `${wall2.toFixed(2)} / ${cpuWorkers.toFixed(1)}`,
    same ? 'equal' : 'DIFFER',
    j1.countsMatch && j0.countsMatch ? '==' : '!=',
    ((local.cost.bytesTotal + local.cost.dealerBytes) / 1e6).toFixed(1),
    `${(local.cost.dealerBytesPerParty[0] / 1e6).toFixed(1)} / ${(local.cost.dealerBytesPerParty[1] / 1e6).toFixed(1)}`,
    tls.toFixed(2),
    tcp.toFixed(2),
    `${(((tls - tcp) / j1.wallSeconds) * 100).toFixed(1)}%`,
  ];
}

export const deployBenchmark: Benchmark = {
  name: 'deploy',
  summary: 'three processes over TLS on loopback vs the in-process run (same seeds); TLS vs plain TCP on the run\'s traffic',
  cases: ['tiny', 'tiny-fss', 'spam'],
  async run(cases) {
    const rows: string[][] = [];
    for (const c of cases) {
      const r = await deployCase(c);
      if (r !== undefined) rows.push(r);
    }
    const header = [
      'model',
      '3-proc wall s',
      'P1 run s',
      '3-proc CPU s',
      'dealer peak MB',
      'in-proc wall / CPU s',
      'workers wall / CPU s',
      'outputs+transcript',
      'measured vs static',
      'MB moved',
      'dealer MB P0 / P1',
      'TLS s',
      'TCP s',
      'TLS share of P1 run',
    ];
    console.log(table([header, ...rows]));
    console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const want = process.argv.slice(2);
  await deployBenchmark.run(want.length > 0 ? want : deployBenchmark.cases);
}
