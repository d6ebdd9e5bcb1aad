import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../ir/tensor.ts';
import { CircuitBuilder, beaverMatmul, beaverSquare, writeCircuitFile, type Circuit } from '../ir/circuit/index.ts';
import { runCases } from '../compiler/cli/commands/run.ts';
import { runCircuit } from '../runtime/index.ts';

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
      const r = await runCases(f.circuit, { inputs: f.inputs, threads, seed: '5f0c2a9e71d43b86e29a0f17c45db382' });
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
    await expect(runCases(f.circuit, { inputs: f.inputs, threads: 1, seed: 'xyz' })).rejects.toThrow(/the seed: expected an even number of hex digits/);
    await expect(runCases(f.circuit, { inputs: f.inputs, threads: 1, seed: '00112233' })).rejects.toThrow(/the seed is refused: 32 bits, at least 128 are required/);
    await expect(runCases(f.circuit, { inputs: f.inputs, threads: 1, seed: '00'.repeat(16) })).rejects.toThrow(/the seed is refused: only 1 distinct byte values/);
    await expect(runCases(f.circuit, { inputs: f.inputs, threads: 1, seed: '0123456789abcdef'.repeat(2) })).rejects.toThrow(/the seed is refused: a pattern of 8 bytes repeated/);
  });
});
