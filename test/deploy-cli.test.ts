// `ig3dc keygen`, `ig3dc dealer` and `ig3dc serve` as three real processes on 127.0.0.1, and
// the fault matrix: every fault ends every process in bounded time with a clear error, frees
// its port and prints no secret.

import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Tensor } from '../ir/tensor.ts';
import { decodeCircuitFile } from '../ir/circuit/index.ts';
import { parseKeyFile, runCircuit, simulatedSessionSeeds, type Pair } from '../runtime/index.ts';
import { ig3dc, killAll, longCircuit, quickCircuit, quickW, quickX, tempDir, writeCases, writeCircuitWithWeights, type Exited } from './process-helpers.ts';

afterEach(killAll);

interface Deployment {
  readonly dir: string;
  readonly circuit: string;
  readonly inputs: string;
  readonly keyDir: string;
  /** Every secret in the key files, as hex (none may ever be printed). */
  readonly secrets: readonly string[];
  readonly pairKeys: Record<Pair, Uint8Array>;
}

async function deployment(kind: 'quick' | 'long' = 'quick'): Promise<Deployment> {
  const dir = tempDir();
  const keyDir = join(dir, 'keys');
  const kg = await ig3dc(['keygen', '--out', keyDir]).done;
  expect(kg.code, kg.stderr).toBe(0);
  const read = (r: string): Record<string, string> => (JSON.parse(readFileSync(join(keyDir, `${r}.key`), 'utf8')) as { keys: Record<string, string> }).keys;
  const [k0, k1] = [read('party0'), read('party1')];
  const pairKeys = { 'p0-p1': Buffer.from(k0['p0-p1']!, 'hex'), 'p0-dealer': Buffer.from(k0['p0-dealer']!, 'hex'), 'p1-dealer': Buffer.from(k1['p1-dealer']!, 'hex') };
  const secrets = Object.values(pairKeys).map((b) => b.toString('hex'));
  if (kind === 'quick') {
    return { dir, keyDir, secrets, pairKeys, circuit: writeCircuitWithWeights(dir, 'quick', quickCircuit(), { w: quickW }), inputs: writeCases(dir, { x: quickX }) };
  }
  const W = 50_000;
  const vec = (f: (i: number) => number): { shape: number[]; data: number[] } => ({ shape: [W], data: Array.from({ length: W }, (_, i) => f(i)) });
  return {
    dir,
    keyDir,
    secrets,
    pairKeys,
    circuit: writeCircuitWithWeights(dir, 'long', longCircuit(60, W), { w: vec((i) => Math.cos(i) * 0.9) }),
    inputs: writeCases(dir, { x: vec((i) => Math.sin(i) * 0.9) }),
  };
}

interface Started {
  readonly p0: ReturnType<typeof ig3dc>;
  readonly dealer: ReturnType<typeof ig3dc>;
  readonly p1: ReturnType<typeof ig3dc>;
  readonly ports: readonly number[];
}

/** Starts the dealer and P0 (listening on port 0), then P1 connecting to both. */
async function start(d: Deployment, o: { timeout?: number; window?: number; p1Circuit?: string; p1Key?: string } = {}): Promise<Started> {
  const t = String(o.timeout ?? 30);
  // Processes start slowly on a loaded machine: connecting gets its own, generous time-out.
  const ct = ['--connect-timeout', '60'];
  const dealer = ig3dc(['dealer', d.circuit, '--key', join(d.keyDir, 'dealer.key'), '--listen', '127.0.0.1:0', '--timeout', t, ...ct, '--json']);
  const p0 = ig3dc(['serve', d.circuit, '--party', '0', '--key', join(d.keyDir, 'party0.key'), '--listen', '127.0.0.1:0', '--timeout', t, ...ct, '--json']);
  const [dp, pp] = await Promise.all([dealer.port, p0.port]);
  const p1 = ig3dc([
    'serve',
    o.p1Circuit ?? d.circuit,
    '--party',
    '1',
    '--key',
    o.p1Key ?? join(d.keyDir, 'party1.key'),
    '--connect',
    `127.0.0.1:${pp}`,
    '--dealer',
    `127.0.0.1:${dp}`,
    '--inputs',
    d.inputs,
    '--timeout',
    t,
    ...ct,
    ...(o.window !== undefined ? ['--window', String(o.window)] : []),
    '--json',
  ]);
  return { p0, dealer, p1, ports: [dp, pp] };
}

function expectNoSecret(d: Deployment, ...runs: Exited[]): void {
  for (const r of runs) for (const s of d.secrets) expect(r.stdout + r.stderr).not.toContain(s);
}

/** Whether a port is free again (we can listen on it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('ig3dc keygen', () => {
  it('writes three 0600 files, each with only its own pairs, >= 128-bit keys; refuses to overwrite', async () => {
    const d = tempDir();
    expect((await ig3dc(['keygen', '--out', d]).done).code).toBe(0);
    for (const [role, pairs] of [
      ['party0', ['p0-p1', 'p0-dealer']],
      ['party1', ['p0-p1', 'p1-dealer']],
      ['dealer', ['p0-dealer', 'p1-dealer']],
    ] as const) {
      const f = join(d, `${role}.key`);
      expect(statSync(f).mode & 0o777).toBe(0o600);
      const k = parseKeyFile(readFileSync(f, 'utf8'), f);
      expect(k.role).toBe(role);
      expect([...k.keys.keys()].sort()).toEqual([...pairs].sort());
      for (const v of k.keys.values()) expect(v.length).toBeGreaterThanOrEqual(16);
    }
    const again = await ig3dc(['keygen', '--out', d]).done;
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a key file is already here: refusing to overwrite it/);
  }, 60_000);
});

describe('three processes', () => {
  it('equal the in-process run with the same session seeds; measured == static; no secret on any command line or output', async () => {
    const d = await deployment();
    const s = await start(d);
    const [r0, rd, r1] = await Promise.all([s.p0.done, s.dealer.done, s.p1.done]);
    for (const r of [r0, rd, r1]) expect(r.code, r.stderr).toBe(0);
    const j1 = JSON.parse(r1.stdout) as { sessionId: string; outputs: Record<string, { data: number[] }>; countsMatch: boolean; transcriptHash: string; measured: object };
    const j0 = JSON.parse(r0.stdout) as { sessionId: string; outputs: object; countsMatch: boolean };
    const jd = JSON.parse(rd.stdout) as { sessionId: string; dealerBytes: number };
    expect(j0.sessionId).toBe(j1.sessionId);
    expect(jd.sessionId).toBe(j1.sessionId);
    const { circuit, header } = decodeCircuitFile(readFileSync(d.circuit));
    const local = runCircuit(circuit, {
      inputs: new Map([['x', Tensor.from('f64', quickX.shape, quickX.data)]]),
      weights: new Map([['w', Tensor.from('f32', quickW.shape, quickW.data)]]),
      seeds: simulatedSessionSeeds(d.pairKeys, j1.sessionId, header.hash),
    });
    expect(j1.outputs['y']!.data).toEqual(local.outputs.get('y')!.toNumbers());
    expect(j1.transcriptHash).toBe(local.transcriptHash);
    const { byRound: _, ...measured } = local.cost;
    expect(j1.measured).toEqual(measured);
    expect(j1.countsMatch).toBe(true);
    expect(j0.countsMatch).toBe(true);
    expect(j0.outputs).toEqual({});
    expect(jd.dealerBytes).toBe(measured.dealerBytes);
    // Nothing secret in what `ps` shows: the arguments are paths, addresses and numbers.
    for (const p of [s.p0, s.dealer, s.p1]) for (const sec of d.secrets) expect(p.child.spawnargs.join(' ')).not.toContain(sec);
    expectNoSecret(d, r0, rd, r1);
    for (const port of s.ports) expect(await portFree(port)).toBe(true);
  }, 300_000);

  it('key files: missing, readable by others, short, low-entropy, of another role: clear errors, exit 1, no key printed', async () => {
    const d = await deployment();
    const serve0 = (key: string): Promise<Exited> => ig3dc(['serve', d.circuit, '--party', '0', '--key', key, '--listen', '127.0.0.1:0', '--timeout', '2']).done;
    const missing = await serve0(join(d.dir, 'nope.key'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope.key: no key file here/);
    const open = join(d.dir, 'open.key');
    writeFileSync(open, readFileSync(join(d.keyDir, 'party0.key')));
    chmodSync(open, 0o644);
    expect((await serve0(open)).stderr).toMatch(/the key file is readable by others \(mode 0644\): run chmod 600 on it/);
    const k0 = JSON.parse(readFileSync(join(d.keyDir, 'party0.key'), 'utf8')) as { keys: Record<string, string> };
    const variant = (name: string, keys: Record<string, string>): string => {
      const f = join(d.dir, name);
      writeFileSync(f, JSON.stringify({ format: 'ig3dc-key/1', role: 'party0', keys }), { mode: 0o600 });
      return f;
    };
    const short = await serve0(variant('short.key', { ...k0.keys, 'p0-p1': 'a1b2c3d4' }));
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/the p0-p1 key is refused: 32 bits, at least 128 are required/);
    expect((await serve0(variant('zero.key', { ...k0.keys, 'p0-dealer': '00'.repeat(32) }))).stderr).toMatch(/the p0-dealer key is refused: only 1 distinct byte values/);
    const role = await serve0(join(d.keyDir, 'party1.key'));
    expect(role.stderr).toMatch(/this is the party1 key file, but this process runs as party0/);
    const dealerAsParty = await ig3dc(['dealer', d.circuit, '--key', join(d.keyDir, 'party0.key'), '--listen', '127.0.0.1:0']).done;
    expect(dealerAsParty.stderr).toMatch(/this is the party0 key file, but this process runs as dealer/);
    const noKey = await ig3dc(['serve', d.circuit, '--party', '1', '--connect', '127.0.0.1:1', '--dealer', '127.0.0.1:1', '--inputs', d.inputs]).done;
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toMatch(/--key/);
    const noDealer = await ig3dc(['serve', d.circuit, '--party', '1', '--key', join(d.keyDir, 'party1.key'), '--connect', '127.0.0.1:1', '--inputs', d.inputs]).done;
    expect(noDealer.code).toBe(2);
    expect(noDealer.stderr).toMatch(/party 1 needs the dealer's address/);
    expectNoSecret(d, missing, short, role, dealerAsParty);
  }, 300_000);
});

describe('fault matrix (three processes, 127.0.0.1)', () => {
  /** Starts a long run and applies `fault` once the dealer serves the session. */
  async function faulted(fault: (s: Started) => void, o: { timeout?: number } = {}): Promise<{ d: Deployment; s: Started; r0: Exited; rd: Exited; r1: Exited }> {
    const d = await deployment('long');
    const s = await start(d, { timeout: o.timeout ?? 20, window: 1 });
    await Promise.race([s.dealer.when(/serving session/), s.dealer.done]);
    await new Promise((r) => setTimeout(r, 100));
    fault(s);
    const [r0, rd, r1] = await Promise.all([s.p0.done, s.dealer.done, s.p1.done]);
    expectNoSecret(d, r0, rd, r1);
    for (const port of s.ports) expect(await portFree(port)).toBe(true);
    return { d, s, r0, rd, r1 };
  }

  it('P1 killed mid-run: P0 and the dealer stop with a clear error', async () => {
    const { r0, rd } = await faulted((s) => s.p1.child.kill('SIGKILL'));
    expect(r0.code).toBe(1);
    // On a loaded machine P0 may still be setting up when P1 dies: then no round is named.
    expect(r0.stderr).toMatch(/ig3dc: error: party 1 closed the connection( during round \d+ \(expected \d+ bytes\))?\n/);
    expect(rd.code).toBe(1);
    expect(rd.stderr).toMatch(/ig3dc: error: .*party 1 (closed the connection|stopped reading)|ig3dc: error: cannot send to party 1/);
  }, 300_000);

  it('the dealer killed mid-run: P1 stops with a clear error, and so does P0', async () => {
    const { r0, r1 } = await faulted((s) => s.dealer.child.kill('SIGKILL'));
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/ig3dc: error: the dealer closed the connection before correction \d+/);
    expect(r0.code).toBe(1);
    expect(r0.stderr).toMatch(/ig3dc: error: party 1 (stopped: a peer failed|closed the connection)/);
  }, 300_000);

  it('P0 stopped (SIGSTOP) past the time-out: P1 times out, the dealer follows; P0 resumed finds the session gone', async () => {
    const { r0, r1, rd } = await faulted(
      (s) => {
        s.p0.child.kill('SIGSTOP');
        setTimeout(() => s.p0.child.kill('SIGCONT'), 4000);
      },
      { timeout: 2 },
    );
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/ig3dc: error: timed out after 2 s waiting for party 0's (preprocessing|online) round \d+ message/);
    expect(r1.seconds).toBeLessThan(60);
    expect(rd.code).toBe(1);
    expect(r0.code).toBe(1);
    expect(r0.stderr).toMatch(/ig3dc: error: (party 1 (stopped|closed the connection)|timed out after 2 s waiting for party 1)/);
  }, 300_000);
});
