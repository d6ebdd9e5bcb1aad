// FSS circuits, whose dealer sends key words to both parties, in every mode: two worker threads
// and three processes' roles over TLS on loopback give the in-process run's outputs bit for bit
// (same seeds), its counts (dealer bytes per party included) and its transcript; P0 talks to the
// dealer exactly when the circuit needs it to; a P0 without the dealer's address is a clear error.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as P from '../compiler/backend/protocols/index.ts';
import { compileModel } from '../compiler/backend/compile.ts';
import { loadModel } from '../compiler/load.ts';
import { CircuitBuilder, beaverMul, circuitCost, costSummary, type Circuit } from '../ir/circuit/index.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { Tensor } from '../ir/tensor.ts';
import { dealerSendsP0 } from '../runtime/dealer-stream.ts';
import { prgRing } from '../runtime/prg.ts';
import { runCircuit, runCircuitWorkers, runPartyTcp, simulatedSessionSeeds, type RunResult } from '../runtime/index.ts';
import { decodeCircuitFile } from '../ir/circuit/index.ts';
import { allPairKeys, freshKeys, hashOf, reason, smallCircuit, threeRoles, value } from './deploy-helpers.ts';
import { ig3dc, killAll, tempDir, writeCases, writeCircuitWithWeights } from './process-helpers.ts';

const FIX = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveTiny = existsSync(join(FIX, 'bert-tiny.onnx')) && existsSync(join(FIX, 'bert-tiny.cases.json'));

/** Comparisons under fss (keys to both parties) next to a Beaver product (a correction to P1 only). */
function fssCircuit(): Circuit {
  const fss = P.protocolConfig('fss');
  const b = new CircuitBuilder({ name: 'fss-modes' });
  const x = b.input('x', 1, [8]);
  const w = b.input('w', 0, [8]);
  const y = beaverMul(b, x, w);
  b.output(P.toFixed(b, P.ltz(b, x, fss)), 'ltz');
  b.output(P.relu(b, y, fss), 'relu');
  b.output(P.max(b, b.reshape(x, [2, 4]), 1, fss), 'max');
  return b.build();
}
const xs = [0, -1.5, 2.25, -1000, 1000, 3, -(2 ** -16), 2 ** -16];
const ws = [1, 2, -0.5, 0.25, -3, 1.5, 4, -1];
const fssInputs = new Map([['x', Tensor.from('f64', [8], xs)]]);
const fssWeights = new Map([['w', Tensor.from('f64', [8], ws)]]);

function expectSameOutputs(a: ReadonlyMap<string, Tensor>, b: ReadonlyMap<string, Tensor>): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [k, t] of a) expect(b.get(k)!.toNumbers(), k).toEqual(t.toNumbers());
}

/** Checks a three-role run against the in-process run with the session's seeds; returns that run. */
function expectSameAsInProcess(c: Circuit, run: Awaited<ReturnType<typeof threeRoles>>, keys: ReturnType<typeof freshKeys>, inputs: ReadonlyMap<string, Tensor>, weights: ReadonlyMap<string, Tensor>): RunResult {
  const r0 = value(run.p0);
  const r1 = value(run.p1);
  const rd = value(run.dealer);
  expect(r0.sessionId).toBe(r1.sessionId);
  expect(rd.sessionId).toBe(r1.sessionId);
  const a = runCircuit(c, { inputs, weights, seeds: simulatedSessionSeeds(allPairKeys(keys), r1.sessionId, hashOf(c)) });
  expectSameOutputs(a.outputs, r1.outputs);
  expect(r0.outputs.size).toBe(0);
  expect(r1.transcriptHash).toBe(a.transcriptHash);
  const stat = circuitCost(c);
  // Each party measures what it sent, received and got from the dealer; together they are the static cost.
  for (const r of [r0, r1]) {
    expect(r.cost.byRound).toEqual(a.cost.byRound);
    expect([r.cost.rounds, r.cost.preprocessingRounds, r.cost.bytesTotal]).toEqual([stat.rounds, stat.preprocessingRounds, stat.bytesTotal]);
  }
  expect(r0.cost.dealerBytesPerParty).toEqual([stat.dealerBytesPerParty[0], 0]);
  expect(r1.cost.dealerBytesPerParty).toEqual([0, stat.dealerBytesPerParty[1]]);
  expect(rd.bytesPerParty).toEqual(stat.dealerBytesPerParty);
  expect(rd.bytes).toBe(stat.dealerBytes);
  return a;
}

describe('an FSS circuit in every mode', () => {
  const c = fssCircuit();
  const stat = circuitCost(c);

  it('the dealer sends both parties words (keys to P0, keys and a Beaver correction to P1)', () => {
    expect(dealerSendsP0(c)).toBe(true);
    expect(dealerSendsP0(smallCircuit())).toBe(false);
    expect(stat.dealerBytesPerParty[0]).toBeGreaterThan(0);
    expect(stat.dealerBytesPerParty[1]).toBeGreaterThan(stat.dealerBytesPerParty[0]);
  });

  it('in process: the plaintext functions, measured == static with dealer bytes per party', () => {
    const a = runCircuit(c, { inputs: fssInputs, weights: fssWeights, seed: new Uint8Array(16).fill(3) });
    expect(a.outputs.get('ltz')!.toNumbers()).toEqual(xs.map((x) => (x < 0 ? 1 : 0)));
    expect(a.outputs.get('relu')!.toNumbers()).toEqual(xs.map((x, i) => Math.max(x * ws[i]!, 0)));
    expect(a.outputs.get('max')!.toNumbers()).toEqual([Math.max(...xs.slice(0, 4)), Math.max(...xs.slice(4))]);
    const { byRound: _, ...measured } = a.cost;
    expect(measured).toEqual(costSummary(stat));
  });

  it('two worker threads: the same outputs, counts (dealer bytes per party) and transcript as in process', async () => {
    const seed = new Uint8Array(16).fill(9);
    const a = runCircuit(c, { inputs: fssInputs, weights: fssWeights, seed });
    const w = await runCircuitWorkers(c, { inputs: fssInputs, weights: fssWeights, seed });
    expectSameOutputs(a.outputs, w.outputs);
    expect(w.cost).toEqual(a.cost);
    expect(w.transcriptHash).toBe(a.transcriptHash);
  }, 60_000);

  it('three roles over TLS: P0 gets its keys from the dealer; outputs, counts and transcript of the in-process run', async () => {
    const keys = freshKeys();
    const run = await threeRoles(c, { keys, inputs: fssInputs, weights: fssWeights });
    expectSameAsInProcess(c, run, keys, fssInputs, fssWeights);
    // P0 read its words through a bounded window, as P1 does.
    const r0 = value(run.p0);
    expect(r0.corrections!.peakQueuedBytes).toBeGreaterThan(0);
    expect(r0.corrections!.peakQueuedBytes).toBeLessThanOrEqual(r0.corrections!.windowBytes);
  }, 60_000);

  it("each party's view holds its own key halves only: not the other party's dealer key, seed, root seeds or mask shares", async () => {
    const keys = freshKeys();
    const got: Record<0 | 1, { from: string; payload: Uint8Array }[]> = { 0: [], 1: [] };
    const run = await threeRoles(c, {
      keys,
      inputs: fssInputs,
      weights: fssWeights,
      p0: { onReceive: (from, _t, payload) => void got[0].push({ from, payload: payload.slice() }) },
      p1: { onReceive: (from, _t, payload) => void got[1].push({ from, payload: payload.slice() }) },
    });
    const sid = value(run.p1).sessionId;
    const truth = simulatedSessionSeeds(allPairKeys(keys), sid, hashOf(c));
    const keyIns = c.instructions.filter((i) => i.op === 'fss_key');
    expect(keyIns.length).toBeGreaterThan(0);
    // What each party derives from its own dealer seed for every key: its share of the mask and its root seeds.
    const own = (seed: Uint8Array): Uint8Array[] =>
      keyIns.flatMap((i) => {
        const n = c.registers[i.outputs[0]!]!.shape.reduce((a, b) => a * b, 1);
        return [prgRing(seed, i.outputs[0]!, n), prgRing(seed, i.outputs[1]!, 2 * n, 0)].map((r) => new Uint8Array(r.buffer, r.byteOffset, r.byteLength).slice(0, 16));
      });
    const secretOf = { 0: [keys.party1.keys.get('p1-dealer')!, truth.s1d, ...own(truth.s1d)], 1: [keys.party0.keys.get('p0-dealer')!, truth.s0d, ...own(truth.s0d)] } as const;
    for (const p of [0, 1] as const) {
      // P0 does receive dealer frames now: exactly its static share of the dealer's bytes.
      const fromDealer = got[p].filter((m) => m.from === 'dealer').slice(1); // after the dealer's hello
      expect(fromDealer.reduce((a, m) => a + m.payload.byteLength, 0)).toBe(circuitCost(c).dealerBytesPerParty[p]);
      for (const m of got[p]) {
        const bytes = Buffer.from(m.payload);
        for (const secret of secretOf[p]) {
          expect(bytes.indexOf(Buffer.from(secret))).toBe(-1);
          expect(bytes.toString('latin1')).not.toContain(Buffer.from(secret).toString('hex'));
        }
      }
    }
  }, 60_000);

  it('a small read-ahead window at both parties still runs', async () => {
    const run = await threeRoles(c, { inputs: fssInputs, weights: fssWeights, p0: { windowBytes: 1 }, p1: { windowBytes: 1 } });
    for (const r of [value(run.p0), value(run.p1)]) {
      expect(r.corrections!.windowBytes).toBeLessThan(stat.dealerBytes);
      expect(r.corrections!.peakQueuedBytes).toBeLessThanOrEqual(r.corrections!.windowBytes);
    }
  }, 60_000);

  it("P0 without the dealer's address is a usage error before any connection; with it on a circuit without FSS gates, too", async () => {
    const keys = freshKeys();
    const base = { circuitHash: hashOf(c), party: 0 as const, listen: { host: '127.0.0.1', port: 0 }, tensors: fssWeights, keys: keys.party0, timeoutMs: 1000 };
    await expect(runPartyTcp({ ...base, circuit: c })).rejects.toThrow(/this circuit has FSS gates, whose dealer sends party 0 key words: party 0 needs the dealer's address too \(--dealer HOST:PORT\)/);
    const s = smallCircuit();
    await expect(runPartyTcp({ ...base, circuit: s, circuitHash: hashOf(s), dealer: { host: '127.0.0.1', port: 1 } })).rejects.toThrow(/party 0 talks to the dealer only for circuits whose dealer sends it words/);
  });

  it('a P0 given a wrong dealer address: P0 cannot reach it, the dealer times out waiting for party0, P1 is told; all within the time-outs', async () => {
    const t0 = performance.now();
    const run = await threeRoles(c, { inputs: fssInputs, weights: fssWeights, p0: { dealer: { host: '127.0.0.1', port: 9 } }, timeoutMs: 1500 });
    expect(reason(run.p0)).toMatch(/cannot connect to dealer at 127.0.0.1:9: nobody listens there/);
    expect(reason(run.dealer)).toMatch(/timed out after 1.5 s waiting for party0 to connect/);
    expect(reason(run.p1)).toMatch(/the dealer stopped: timed out after 1.5 s waiting for party0 to connect/);
    expect(performance.now() - t0).toBeLessThan(10_000);
  }, 30_000);
});

describe('ig3dc run --preprocess-first on an FSS circuit', () => {
  afterEach(killAll);

  /** The FSS circuit with its weights, its inputs and a seed file, in a fresh directory. */
  const fssRunFiles = (): { circuit: string; inputs: string; seedFile: string } => {
    const dir = tempDir();
    const seedFile = join(dir, 'seed.hex');
    writeFileSync(seedFile, '3b9f02c4d7e1a6580f2c94b7e3d1a0c6');
    return { circuit: writeCircuitWithWeights(dir, 'fss', fssCircuit(), { w: { shape: [8], data: ws } }), inputs: writeCases(dir, { x: { shape: [8], data: xs } }), seedFile };
  };

  it("the same outputs and counts as a plain run with the same seed, the dealer's phase and the online phase reported apart; a clear error with --threads 1", async () => {
    const { circuit, inputs, seedFile } = fssRunFiles();
    type RunJson = { outputs: Record<string, { data: number[] }>; countsMatch: boolean; measured: unknown; phases?: Record<string, number> };
    const plain = await ig3dc(['run', circuit, '--inputs', inputs, '--seed-file', seedFile, '--json']).done;
    const first = await ig3dc(['run', circuit, '--inputs', inputs, '--seed-file', seedFile, '--json', '--preprocess-first']).done;
    for (const r of [plain, first]) expect(r.code, r.stderr).toBe(0);
    const [jp, jf] = [JSON.parse(plain.stdout) as RunJson, JSON.parse(first.stdout) as RunJson];
    expect(jf.outputs).toEqual(jp.outputs);
    expect(jf.measured).toEqual(jp.measured);
    expect(jf.countsMatch).toBe(true);
    expect(jp.phases).toBeUndefined();
    for (const k of ['preprocessingSeconds', 'preprocessingCpuSeconds', 'onlineSeconds', 'onlineCpuSeconds']) expect(jf.phases![k]).toBeGreaterThan(0);
    const text = await ig3dc(['run', circuit, '--inputs', inputs, '--preprocess-first']).done;
    expect(text.stdout).toMatch(/preprocessing first: dealer's phase \d+\.\d\d s \(\d+\.\d\d CPU s\), online \d+\.\d\d s/);
    const one = await ig3dc(['run', circuit, '--inputs', inputs, '--preprocess-first', '--threads', '1']).done;
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/--preprocess-first .* needs --threads 2/);
  }, 60_000);

  it('--link: the same outputs and counts over an emulated network, its online phase at least half an RTT per round; clear errors for a bad network or one thread', async () => {
    const { circuit, inputs, seedFile } = fssRunFiles();
    type RunJson = { outputs: unknown; measured: { rounds: number }; countsMatch: boolean; phases: Record<string, number>; link?: string };
    const plain = await ig3dc(['run', circuit, '--inputs', inputs, '--seed-file', seedFile, '--json', '--preprocess-first']).done;
    const linked = await ig3dc(['run', circuit, '--inputs', inputs, '--seed-file', seedFile, '--json', '--preprocess-first', '--link', '100,400']).done;
    for (const r of [plain, linked]) expect(r.code, r.stderr).toBe(0);
    const [jp, jl] = [JSON.parse(plain.stdout) as RunJson, JSON.parse(linked.stdout) as RunJson];
    expect(jl.outputs).toEqual(jp.outputs);
    expect(jl.measured).toEqual(jp.measured);
    expect(jl.countsMatch).toBe(true);
    expect(jl.link).toBe('100 MB/s, 400 ms RTT');
    expect(jl.measured.rounds).toBeGreaterThan(1);
    expect(jl.phases['onlineSeconds']!).toBeGreaterThanOrEqual(jl.measured.rounds * 0.2);
    const text = await ig3dc(['run', circuit, '--inputs', inputs, '--link', 'wan']).done;
    expect(text.stdout).toMatch(/the parties' messages over an emulated network: 44 MB\/s, 40 ms RTT/);
    const bad = await ig3dc(['run', circuit, '--inputs', inputs, '--link', 'moon']).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--link moon: expected lan, wan or <MB\/s>,<RTT ms>/);
    const one = await ig3dc(['run', circuit, '--inputs', inputs, '--link', 'lan', '--threads', '1']).done;
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/--link .* needs --threads 2/);
  }, 60_000);
});

describe('ig3dc dealer and serve as three processes on an FSS circuit', () => {
  afterEach(killAll);

  it('P0 connects to the dealer too (--dealer); outputs equal the in-process run with the session seeds; measured == static at each party', async () => {
    const dir = tempDir();
    const keys = join(dir, 'keys');
    expect((await ig3dc(['keygen', '--out', keys]).done).code).toBe(0);
    const circuit = writeCircuitWithWeights(dir, 'fss', fssCircuit(), { w: { shape: [8], data: ws } });
    const inputs = writeCases(dir, { x: { shape: [8], data: xs } });
    const ct = ['--timeout', '30', '--connect-timeout', '60', '--json'];
    // Without --dealer, P0 refuses the FSS circuit at once.
    const bare = await ig3dc(['serve', circuit, '--party', '0', '--key', join(keys, 'party0.key'), '--listen', '127.0.0.1:0', ...ct]).done;
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/party 0 needs the dealer's address too \(--dealer HOST:PORT\)/);
    const dealer = ig3dc(['dealer', circuit, '--key', join(keys, 'dealer.key'), '--listen', '127.0.0.1:0', ...ct]);
    const dp = await dealer.port;
    const p0 = ig3dc(['serve', circuit, '--party', '0', '--key', join(keys, 'party0.key'), '--listen', '127.0.0.1:0', '--dealer', `127.0.0.1:${dp}`, ...ct]);
    const pp = await p0.port;
    const p1 = ig3dc(['serve', circuit, '--party', '1', '--key', join(keys, 'party1.key'), '--connect', `127.0.0.1:${pp}`, '--dealer', `127.0.0.1:${dp}`, '--inputs', inputs, ...ct]);
    const [r0, rd, r1] = await Promise.all([p0.done, dealer.done, p1.done]);
    for (const r of [r0, rd, r1]) expect(r.code, r.stderr).toBe(0);
    expect(rd.stderr).toMatch(/serving session [0-9a-f]+ to party 0 and party 1/);
    type PartyJson = { sessionId: string; outputs: Record<string, { data: number[] }>; countsMatch: boolean; transcriptHash: string; measured: { dealerBytesPerParty: number[] } };
    const [j0, j1] = [JSON.parse(r0.stdout) as PartyJson, JSON.parse(r1.stdout) as PartyJson];
    const jd = JSON.parse(rd.stdout) as { sessionId: string; dealerBytesPerParty: number[] };
    expect(j0.countsMatch).toBe(true);
    expect(j1.countsMatch).toBe(true);
    const { circuit: c, header } = decodeCircuitFile(readFileSync(circuit));
    const pairKey = (role: string, pair: string): Uint8Array => Buffer.from((JSON.parse(readFileSync(join(keys, `${role}.key`), 'utf8')) as { keys: Record<string, string> }).keys[pair]!, 'hex');
    const seeds = simulatedSessionSeeds({ 'p0-p1': pairKey('party0', 'p0-p1'), 'p0-dealer': pairKey('party0', 'p0-dealer'), 'p1-dealer': pairKey('party1', 'p1-dealer') }, j1.sessionId, header.hash);
    const local = runCircuit(c, { inputs: fssInputs, weights: new Map([['w', Tensor.from('f32', [8], ws)]]), seeds });
    for (const [k, t] of local.outputs) expect(j1.outputs[k]!.data, k).toEqual(t.toNumbers());
    expect(j1.transcriptHash).toBe(local.transcriptHash);
    const stat = circuitCost(c).dealerBytesPerParty;
    expect(j0.measured.dealerBytesPerParty[0]).toBe(stat[0]);
    expect(j1.measured.dealerBytesPerParty[1]).toBe(stat[1]);
    expect(jd.dealerBytesPerParty).toEqual(stat);
  }, 300_000);
});

/** The first `seq` tokens of a case's first sequence. */
function firstTokens(inputs: ReadonlyMap<string, Tensor>, seq: number): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of inputs) out.set(name, Tensor.from(t.dtype, [1, seq], Array.from({ length: seq }, (_, i) => t.bigAt(i))));
  return out;
}

describe.skipIf(!haveTiny)('bert-tiny under --protocols fss in every mode', () => {
  const SEQ = 4;
  const r = compileModel(loadModel(join(FIX, 'bert-tiny.onnx'), { batch: 1, seq: SEQ }), { protocols: 'fss' });
  const inputs = firstTokens(readCasesFile(join(FIX, 'bert-tiny.cases.json'))[0]!.inputs, SEQ);

  it('workers and three roles give the in-process logits bit for bit; measured == static', async () => {
    expect(dealerSendsP0(r.circuit)).toBe(true);
    const seed = new Uint8Array(16).fill(5);
    const a = runCircuit(r.circuit, { inputs, weights: r.weights, seed });
    const { byRound: _, ...measured } = a.cost;
    expect(measured).toEqual(costSummary(r.cost));
    const w = await runCircuitWorkers(r.circuit, { inputs, weights: r.weights, seed });
    expectSameOutputs(a.outputs, w.outputs);
    expect(w.cost).toEqual(a.cost);
    expect(w.transcriptHash).toBe(a.transcriptHash);
    const keys = freshKeys();
    const run = await threeRoles(r.circuit, { keys, inputs, weights: r.weights, timeoutMs: 60_000 });
    expectSameAsInProcess(r.circuit, run, keys, inputs, r.weights);
  }, 180_000);
});
