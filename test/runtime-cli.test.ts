import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../ir/tensor.ts';
import { CircuitBuilder, beaverMatmul, beaverSquare, writeCircuitFile, type Circuit } from '../ir/circuit/index.ts';
import { runCases } from '../compiler/cli/commands/run.ts';
import { runCircuit } from '../runtime/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function circuit(): Circuit {
  const b = new CircuitBuilder({ name: 'cli' });
  const x = b.input('x', 1, [2, 3]);
  const w = b.input('w', 0, [3, 4]);
  b.output(beaverSquare(b, beaverMatmul(b, x, w)), 'y');
  return b.build();
}
const xs = [0.5, -1, 0.25, 2, 0, -0.75];
const ws = Array.from({ length: 12 }, (_, i) => ((i % 5) - 2) / 4);
/** y = (x @ w)^2, in float64. */
function reference(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 4; j++) {
      let acc = 0;
      for (let p = 0; p < 3; p++) acc += xs[i * 3 + p]! * ws[p * 4 + j]!;
      out.push(acc * acc);
    }
  return out;
}

/** A circuit file, its weights bundle (ig3dc-tensor-bundle/1) and a cases file with expected outputs. */
function files(): { dir: string; circuit: string; inputs: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ig3dc-run-'));
  const circuitPath = join(dir, 'out.circuit');
  writeCircuitFile(circuitPath, circuit());
  const bin = Buffer.from(new Float32Array(ws).buffer);
  writeFileSync(join(dir, 'out.circuit.weights.bin'), bin);
  writeFileSync(
    join(dir, 'out.circuit.weights.json'),
    JSON.stringify({ format: 'ig3dc-tensor-bundle/1', bin: 'out.circuit.weights.bin', tensors: { w: { dtype: 'float32', shape: [3, 4], offset: 0, nbytes: bin.length } } }),
  );
  const inputs = join(dir, 'cases.json');
  writeFileSync(
    inputs,
    JSON.stringify({
      format: 'ig3dc-cases/1',
      cases: [{ name: 'c0', inputs: { x: { dtype: 'float64', shape: [2, 3], data: xs } }, outputs: { y: { dtype: 'float64', shape: [2, 4], data: reference() } } }],
    }),
  );
  return { dir, circuit: circuitPath, inputs };
}

describe('ig3dc run', () => {
  it('runs a circuit file with its weights bundle; reports error, argmax and measured == static', async () => {
    const f = files();
    for (const threads of [1, 2]) {
      const r = await runCases(f.circuit, { inputs: f.inputs, threads, seed: '00112233' });
      expect(r.reference).toBe('cases-file');
      expect(r.maxAbsError!).toBeLessThan(1e-3);
      expect(r.argmaxAgreement).toBe(1);
      expect(r.countsMatch).toBe(true);
      expect(r.measured).toEqual(r.static);
      expect(Object.keys(r.outputs)).toEqual(['y']);
      expect(r.peakRssBytes).toBeGreaterThan(0);
      expect(r.wallSeconds).toBeGreaterThan(0);
    }
  }, 60_000);

  it('clear errors: missing weights bundle, an input the circuit does not take, a bad seed', async () => {
    const f = files();
    await expect(runCases(f.circuit, { inputs: f.inputs, weights: join(f.dir, 'nope.json'), threads: 1 })).rejects.toThrow(/no weights bundle at .*nope.json/);
    const bad = join(f.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ z: { dtype: 'float64', shape: [1], data: [1] } }));
    await expect(runCases(f.circuit, { inputs: bad, threads: 1 })).rejects.toThrow(/has an input 'z' that the circuit does not take/);
    const shape = join(f.dir, 'shape.json');
    writeFileSync(shape, JSON.stringify({ x: { dtype: 'float64', shape: [3, 2], data: xs } }));
    await expect(runCases(f.circuit, { inputs: shape, threads: 1 })).rejects.toThrow(/'x' has shape \[3,2\], the circuit expects \[2,3\]/);
    await expect(runCases(f.circuit, { inputs: f.inputs, threads: 1, seed: 'xyz' })).rejects.toThrow(/--seed: expected an even number of hex digits/);
  });
});

/** Runs `ig3dc serve` for one party in its own Node process (the serve command through tsx). */
function serveProcess(args: string[]): { done: Promise<{ code: number; stdout: string; stderr: string }>; port: Promise<number> } {
  const script = `import { serveCommand } from ${JSON.stringify(join(ROOT, 'compiler/cli/commands/serve.ts'))};
import { reportError } from ${JSON.stringify(join(ROOT, 'compiler/cli/run-command.ts'))};
const [circuit, opts] = JSON.parse(process.argv[1]);
try { await serveCommand(circuit, opts); } catch (e) { process.exitCode = reportError(e); }`;
  const [circuitPath, opts] = [args[0]!, JSON.parse(args[1]!) as object];
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify([circuitPath, opts])], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  let gotPort: (p: number) => void;
  const port = new Promise<number>((r) => (gotPort = r));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    const m = /listening on [^:]+:(\d+)/.exec(stderr);
    if (m) gotPort(Number(m[1]));
  });
  const timer = setTimeout(() => child.kill(), 60_000);
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  return { done, port };
}

describe('ig3dc serve: two processes on loopback', () => {
  it('give the same outputs and counts as the in-process run', async () => {
    const f = files();
    const seedFile = join(f.dir, 'seed.hex');
    writeFileSync(seedFile, '0123456789abcdef0123456789abcdef\n');
    const p0 = serveProcess([f.circuit, JSON.stringify({ party: '0', listen: '127.0.0.1:0', seedFile, timeout: 30, json: true })]);
    const port = await p0.port;
    const p1 = serveProcess([f.circuit, JSON.stringify({ party: '1', connect: `127.0.0.1:${port}`, inputs: f.inputs, seedFile, timeout: 30, json: true })]);
    const [r0, r1] = await Promise.all([p0.done, p1.done]);
    expect(r0.code, r0.stderr).toBe(0);
    expect(r1.code, r1.stderr).toBe(0);
    const j1 = JSON.parse(r1.stdout) as { outputs: Record<string, { data: number[] }>; measured: unknown; static: unknown; countsMatch: boolean };
    const j0 = JSON.parse(r0.stdout) as { outputs: Record<string, unknown>; measured: { bytesTotal: number }; countsMatch: boolean };
    const local = runCircuit(circuit(), {
      inputs: new Map([['x', Tensor.from('f64', [2, 3], xs)]]),
      weights: new Map([['w', Tensor.from('f32', [3, 4], ws)]]),
      seed: new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef', 'hex')),
    });
    expect(j1.outputs['y']!.data).toEqual(local.outputs.get('y')!.toNumbers());
    const { byRound: _, ...measured } = local.cost;
    expect(j1.measured).toEqual(measured);
    expect(j1.countsMatch).toBe(true);
    expect(j0.countsMatch).toBe(true);
    expect(j0.outputs).toEqual({});
    expect(j0.measured.bytesTotal).toBe(measured.bytesTotal);
  }, 90_000);

  it('a peer that goes away gives a clear error and a non-zero exit, no hang', async () => {
    const f = files();
    const p0 = serveProcess([f.circuit, JSON.stringify({ party: '0', listen: '127.0.0.1:0', seed: '01', timeout: 2 })]);
    await p0.port;
    const r0 = await p0.done; // nobody connects
    expect(r0.code).toBe(1);
    expect(r0.stderr).toMatch(/ig3dc: error: timed out after 2 s waiting for the peer to connect/);
  }, 60_000);
});
