// The `ig3dc` command as a user runs it: subprocesses, exit codes, one-paragraph errors.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onnxProto } from '../compiler/frontend/decode.ts';
import { encodeModel } from './frontend-model-builder.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'ig3dc.js');
const FIXTURES = join(ROOT, '..', 'shared', 'fixtures');
const TINY = join(FIXTURES, 'bert-tiny.onnx');
const haveFixtures = existsSync(TINY);
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-cli-'));

function ig3dc(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: non-zero exit, one `ig3dc: error:` paragraph naming the place, no stack trace. */
function expectUserError(r: { code: number; stdout: string; stderr: string }, ...mentions: (string | RegExp)[]): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr.startsWith('ig3dc: error: ')).toBe(true);
  expect(r.stderr.trim().split('\n\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
  for (const m of mentions) expect(r.stderr).toMatch(m);
}

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe.skipIf(!haveFixtures)('ig3dc on good input', () => {
  it('prints a model summary with bound shapes', () => {
    const r = ig3dc('summary', TINY, '--batch', '2', '--seq', '16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/layers 2, heads 2 \(head size 64\), hidden 128, intermediate 512, vocab 2000/);
    expect(r.stdout).toMatch(/input_ids: i64\[2,16\] secret\(client\)/);
    expect(r.stdout).toMatch(/logits: f32\[2,2\]/);
    expect(r.stdout).toMatch(/MatMul\s+16/);
  });

  it('compiles by default and prints the cost of private inference', () => {
    const r = ig3dc(TINY, '--seq', '16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/model bert-tiny: 2 layers x 2 heads/);
    const rounds = /online rounds \(scheduled, merged\)\s+(\d+)/.exec(r.stdout);
    const bound = /critical-path bound\s+(\d+)/.exec(r.stdout);
    expect(rounds).not.toBeNull();
    expect(rounds![1]).toBe(bound![1]);
  });

  it('summary --json has the architecture and the op histogram', () => {
    const r = ig3dc('summary', TINY, '--json');
    const info = JSON.parse(r.stdout) as { layers: number; heads: number; hidden: number; opCounts: Record<string, number>; inputs: { shape: number[] }[] };
    expect(info.layers).toBe(2);
    expect(info.heads).toBe(2);
    expect(info.hidden).toBe(128);
    expect(info.opCounts['Softmax']).toBe(2);
    expect(info.inputs[0]!.shape).toEqual([1, 128]);
  });

  it('dump -o writes IR plus weights that parse back and evaluate like the ONNX model', () => {
    const out = join(dir, 'tiny.ir');
    expect(ig3dc('dump', TINY, '--seq', '8', '-o', out).code).toBe(0);
    expect(existsSync(`${out}.weights`)).toBe(true);
    expect(ig3dc('parse', out, '--quiet').code).toBe(0);
    // a second dump of the dump is the same text and the same weights
    const again = join(dir, 'tiny-again.ir');
    expect(ig3dc('dump', out, '-o', again).code).toBe(0);
    expect(readFileSync(again, 'utf8').replace('tiny-again.ir.weights', 'tiny.ir.weights')).toBe(readFileSync(out, 'utf8'));
    expect(Buffer.compare(readFileSync(`${again}.weights`), readFileSync(`${out}.weights`))).toBe(0);
    const cases = JSON.parse(readFileSync(join(FIXTURES, 'bert-tiny.cases.json'), 'utf8')) as { cases: unknown[] };
    const first = file('case0.json', JSON.stringify({ ...cases, cases: [cases.cases[0]] }));
    const fromIr = JSON.parse(ig3dc('eval', out, '--inputs', first, '--json').stdout) as { cases: { maxAbsError: { logits: number } }[] };
    const fromOnnx = JSON.parse(ig3dc('eval', TINY, '--inputs', first, '--json').stdout) as { cases: { outputs: unknown; maxAbsError: { logits: number } }[] };
    expect(fromIr.cases[0]!.maxAbsError.logits).toBeLessThan(1e-6);
    expect(fromIr).toEqual(fromOnnx);
  });

  it('eval --json reports every case with its outputs and max abs error', () => {
    const r = ig3dc('eval', TINY, '--inputs', join(FIXTURES, 'bert-tiny.cases.json'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { cases: { name: string; outputs: { logits: { shape: number[] } }; maxAbsError: { logits: number } }[] };
    expect(j.cases.map((c) => c.name)).toEqual(['b1_s8', 'b2_s32', 'b2_s128']);
    expect(j.cases.map((c) => c.outputs.logits.shape)).toEqual([[1, 2], [2, 2], [2, 2]]);
    for (const c of j.cases) expect(c.maxAbsError.logits).toBeLessThan(1e-4);
  });

  it('eval takes a plain JSON object of named tensors', () => {
    const inputs = file('plain.json', JSON.stringify({
      input_ids: { dtype: 'int64', shape: [1, 4], data: [2, 17, 33, 3] },
      attention_mask: { dtype: 'int64', shape: [1, 4], data: [1, 1, 1, 1] },
      token_type_ids: { dtype: 'int64', shape: [1, 4], data: [0, 0, 0, 0] },
    }));
    const r = ig3dc('eval', TINY, '--inputs', inputs);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/logits = \{"dtype":"float32","shape":\[1,2\]/);
  });

  it('ops lists the supported ONNX operators with their opsets', () => {
    const r = ig3dc('ops');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/LayerNormalization\s+opset 17-18/);
    expect(r.stdout).toMatch(/MatMul\s+opset 11-18/);
  });

  it('--help works on every command', () => {
    for (const cmd of [[], ['summary'], ['dump'], ['parse'], ['eval'], ['ops'], ['opt'], ['passes']]) {
      const r = ig3dc(...cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: ig3dc/);
    }
  });
});

describe.skipIf(!haveFixtures)('ig3dc on bad input', () => {
  it('an empty file', () => expectUserError(ig3dc(file('empty.onnx', '')), /empty\.onnx/, /empty file/));

  it('random bytes', () => {
    const bytes = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    expectUserError(ig3dc(file('random.onnx', bytes)), /random\.onnx/, /not a valid ONNX model/);
  });

  it('a truncated model', () => {
    const bytes = readFileSync(TINY).subarray(0, 200_000);
    expectUserError(ig3dc(file('truncated.onnx', bytes)), /truncated\.onnx/, /truncated|not a valid ONNX/);
  });

  it('a missing file', () => expectUserError(ig3dc(join(dir, 'nope.onnx')), /nope\.onnx/, /no such file/));

  it('unsupported ops are all listed at once with node names and opset', () => {
    const bytes = encodeModel({
      inputs: [{ name: 'x', elem: 'f32', dims: [1, 4] }],
      outputs: [{ name: 'z', elem: 'f32', dims: [1, 4] }],
      nodes: [
        onnxProto.NodeProto.create({ name: 'hard1', opType: 'HardSwish', input: ['x'], output: ['y'] }),
        onnxProto.NodeProto.create({ name: 'sel1', opType: 'Selu', input: ['y'], output: ['z'] }),
      ],
    });
    expectUserError(ig3dc(file('unsupported.onnx', bytes)), /HardSwish \(node 'hard1', opset 14\)/, /Selu \(node 'sel1', opset 14\)/);
  });

  it('a dynamic dimension that cannot be bound', () => {
    const bytes = encodeModel({
      inputs: [{ name: 'x', elem: 'f32', dims: ['width', 4] }],
      outputs: [{ name: 'y', elem: 'f32', dims: ['width', 4] }],
      nodes: [onnxProto.NodeProto.create({ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] })],
    });
    const path = file('dynamic.onnx', bytes);
    expectUserError(ig3dc(path), /'width'/, /--dim width=/);
    expect(ig3dc(path, '--dim', 'width=3').code).toBe(0);
  });

  it('a malformed cases file', () => {
    expectUserError(ig3dc('eval', TINY, '--inputs', file('bad.json', '{"format": "ig3dc-cases/1", "cases": [{"inputs": {"input_ids": {"dtype": "int64", "shape": [1,2], "data": [1]}}}]}')), /bad\.json/, /cases\[0\]\.inputs\.input_ids\.data/);
    expectUserError(ig3dc('eval', TINY, '--inputs', file('broken.json', '{"cases": [\n  {"inputs": }\n]}')), /broken\.json:2:\d+/, /not valid JSON/);
    expectUserError(ig3dc('eval', TINY, '--inputs', file('wrong.json', '{"input_ids": {"dtype": "int64", "shape": [1,2], "data": [1, 2]}}')), /attention_mask/);
  });

  it('an IR text with a syntax error gives line:column', () => {
    const ir = file('bad.ir', 'graph g {\n  input %x : f32[2] secret(client)\n  %0 = Relu(%x : f32[2] secret(client)\n  output y = %0\n}\n');
    expectUserError(ig3dc('parse', ir), /bad\.ir:3:\d+/);
  });

  it('an IR text that fails the verifier names the value and the rule', () => {
    const ir = file('mistyped.ir', 'graph g {\n  input %x : f32[2] secret(client)\n  %0 = Relu(%x) : f32[3] secret(client)\n  output y = %0\n}\n');
    expectUserError(ig3dc('parse', ir), /mistyped\.ir:3:\d+/, /%0/, /f32\[2\]/);
  });

  it('a bad option value is a usage error', () => {
    const r = ig3dc(TINY, '--seq', 'zero');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/positive integer/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe.skipIf(haveFixtures)('ig3dc without fixtures', () => {
  it('still reports a missing file cleanly', () => expectUserError(ig3dc(join(dir, 'nope.onnx')), /no such file/));
});

describe('README', () => {
  it('carries the current table of supported ONNX operators (regenerate with `ig3dc ops --markdown`)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = /<!-- onnx-ops:begin -->\n([\s\S]*?)\n<!-- onnx-ops:end -->/.exec(readme);
    expect(table).not.toBeNull();
    expect(table![1]).toBe(ig3dc('ops', '--markdown').stdout.trim());
  });
});
