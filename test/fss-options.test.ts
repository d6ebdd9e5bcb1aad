// Bad `--protocols fss,...` options: an unknown option or value is a usage error (exit 2,
// message on stderr naming the option and what is known), and a comparison width `fssBits`
// that range analysis cannot prove safe is refused, naming the op, the proven bound and the
// width that would be accepted. A width that is proven compiles and computes the plaintext
// function. The CLI cases spawn the compiled binary (bin/ig3dc.js runs dist/).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../compiler/backend/compile.ts';
import { comparisonBits } from '../compiler/backend/fss-bits.ts';
import { loadModel } from '../compiler/load.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Tensor } from '../ir/tensor.ts';
import { runCircuit } from '../runtime/index.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'ig3dc.js');
const TINY = 'examples/bert-tiny.onnx';
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-fss-options-'));

function ig3dc(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 26 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// A Relu whose input range analysis bounds: a 0/1 input (bool) times server weights, shifted.
// Its input lies in [-2.25, 99.75]: 99.75 * 2^16 + 2 ring units need 24 bits.
const RELU = `graph relu_bounded {
  input %m : bool[6] secret(client)
  %c = Cast(%m) {to = "f32"} : f32[6] secret(client)
  %w = Const : f32[6] secret(server) = dense<[3.0, -2.0, 0.5, 100.0, 0.25, 0.0]>
  %p = Mul(%c, %w) : f32[6] secret
  %h = Const : f32[] public = dense<0.25>
  %s = Sub(%p, %h) : f32[6] secret loc("shift")
  %r = Relu(%s) : f32[6] secret loc("relu0")
  output y = %r
}
`;
const reluPath = join(dir, 'relu.ir');
writeFileSync(reluPath, RELU);

// The same Relu next to one on a client input range analysis cannot bound (any f32).
const UNBOUNDED = RELU.replace('graph relu_bounded {', 'graph relu_mixed {\n  input %x : f32[6] secret(client)')
  .replace('  output y = %r', '  %q = Relu(%x) : f32[6] secret(client) loc("relu_free")\n  output y = %r\n  output z = %q');
const unboundedPath = join(dir, 'unbounded.ir');
writeFileSync(unboundedPath, UNBOUNDED);

function refusal(protocols: string, path = reluPath): Ig3dcError {
  try {
    compileModel(loadModel(path), { protocols });
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw e;
  }
  throw new Error(`--protocols ${protocols} compiled; expected a refusal`);
}

describe('fss options: unknown names and values', () => {
  it('an unknown option names it and lists the known ones; exit 2, no stack trace', () => {
    const r = ig3dc('compile', TINY, '--seq', '8', '--protocols', 'fss,gelumethod=spline', '-o', join(dir, 'a.circuit'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^ig3dc: error: --protocols: unknown protocol option 'gelumethod' \(known: .*\bgeluMethod\b.*\bfssBits\b/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).toBe('');
  });

  it('an unknown value names the option and its values', () => {
    const r = ig3dc('compile', TINY, '--seq', '8', '--protocols', 'fss,geluMethod=fast', '-o', join(dir, 'b.circuit'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^ig3dc: error: --protocols: protocol option geluMethod must be one of poly, spline, cubic, got 'fast'/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const bits = ig3dc('compile', TINY, '--seq', '8', '--protocols', 'fss,fssBits=wide', '-o', join(dir, 'c.circuit'));
    expect(bits.code, bits.stderr).toBe(2);
    expect(bits.stderr).toMatch(/fssBits needs 'auto' or an integer in 2\.\.64, got 'wide'/);
  });
});

describe('fss options: comparison widths against range analysis', () => {
  it('the bound behind the refusal: 99.75 * 2^16 + 2 ring units need 24 bits', () => {
    expect(comparisonBits(-2.25, 99.75, 16)).toBe(24);
    expect(comparisonBits(-1, 1, 16)).toBe(18);
  });

  it('a width below the proven one is refused, naming the op, its bound, and the width to use', () => {
    const e = refusal('fss,fssBits=23');
    expect(e.kind).toBe('usage');
    expect(e.place.node).toBe('relu0');
    expect(e.message).toMatch(/fssBits=23: cannot prove a 23-bit comparison safe in the Relu \(protocol fss-relu\): range analysis bounds its input to \[-2\.25, 99\.75\]/);
    expect(e.message).toMatch(/needs 24 bits; use fssBits=24 or more/);
  });

  it('the proven width compiles and computes the plaintext Relu, the extremes of the bound included', () => {
    const r = compileModel(loadModel(reluPath), { protocols: 'fss,fssBits=24' });
    const keys = r.circuit.instructions.filter((i) => i.op === 'fss_key');
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((i) => i.attrs['bits'] === 24)).toBe(true);
    for (const bits of [[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0]]) {
      const inputs = new Map([['m', Tensor.from('bool', [6], bits)]]);
      const got = runCircuit(r.circuit, { inputs, weights: r.weights, seed: new Uint8Array(16).fill(7) }).outputs.get('y')!.toNumbers();
      const want = evaluate(r.graph, inputs).get('y')!.toNumbers();
      got.forEach((v, i) => expect(Math.abs(v - want[i]!), `element ${i} of ${bits.join('')}`).toBeLessThanOrEqual(2 ** -14));
    }
  });

  it('a comparison range analysis does not bound (an unbounded input) refuses any width below 64; auto puts it on 64 and the bounded one on 24', () => {
    const e = refusal('fss,fssBits=40', unboundedPath);
    expect(e.kind).toBe('usage');
    expect(e.place.node).toBe('relu_free');
    expect(e.message).toMatch(/fssBits=40: cannot prove a 40-bit comparison safe in the Relu \(protocol fss-relu\): range analysis proves no bound on the values it compares; use fssBits=auto .* or 64/);
    const auto = compileModel(loadModel(unboundedPath), { protocols: 'fss' });
    const widths = new Map(auto.circuit.instructions.filter((i) => i.op === 'fss_key').map((i) => [i.prov.irNode, i.attrs['bits']]));
    expect(widths).toEqual(new Map([['relu0', 24], ['relu_free', 64]]));
  });

  it('a transformer: a width below what its comparisons need is refused, naming the bound', () => {
    const e = refusal('fss,fssBits=30', join(ROOT, TINY));
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(/fssBits=30: cannot prove a 30-bit comparison safe in the \w+ \(protocol [\w-]+\): range analysis bounds its input to \[/);
    expect(e.message).toMatch(/more node\(s\) fail too; use fssBits=\d+ or more/);
  });

  it('through the CLI: exit 2 and the message on stderr', () => {
    const r = ig3dc('compile', reluPath, '--protocols', 'fss,fssBits=20', '-o', join(dir, 'd.circuit'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^ig3dc: error: .*relu\.ir: node 'relu0': fssBits=20: cannot prove a 20-bit comparison safe in the Relu .*\[-2\.25, 99\.75\].*needs 24 bits/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(ig3dc('compile', reluPath, '--protocols', 'fss,fssBits=24', '-o', join(dir, 'e.circuit')).code).toBe(0);
  });
});
