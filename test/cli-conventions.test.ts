// The command-line conventions every command follows: exit 1 for errors and 2 for usage errors,
// `--json` everywhere, `-` as stdout, diagnostics on stderr, did-you-mean for commands, help
// for a bare `ig3dc`. Spawns the compiled binary (bin/ig3dc.js runs dist/).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closestName, editDistance } from '../compiler/cli/did-you-mean.ts';
import { tinyBundle } from './tiny-bundle.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'ig3dc.js');
const TINY = 'examples/bert-tiny.onnx';
const CASES = 'examples/bert-tiny.cases.json';
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-conv-'));

function ig3dc(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function json(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('exit codes', () => {
  it('an unknown option is a usage error (2) on any command', () => {
    for (const args of [['summary', TINY, '--bogus'], [TINY, '--bogus'], ['ops', '--nope'], ['run', TINY, '--inputs', CASES, '--frobnicate']]) {
      const r = ig3dc(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^ig3dc: error: unknown option/);
      expect(r.stdout).toBe('');
    }
  });

  it('bad option values and missing required options are usage errors (2)', () => {
    for (const args of [
      ['run', TINY, '--inputs', CASES, '--threads', '3'],
      ['summary', TINY, '--seq', 'zero'],
      ['run', TINY],
      ['opt', TINY],
      ['compile', TINY, '--json', '--report', '-'],
    ]) {
      const r = ig3dc(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^ig3dc: error: /);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('an error in the input is 1', () => {
    const r = ig3dc('summary', join(dir, 'missing.onnx'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.onnx.*no such file/);
  });

  it('a mistyped command says which command was meant', () => {
    const r = ig3dc('compil', TINY);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'compil' \(did you mean 'compile'\?\)/);
    expect(r.stderr).not.toMatch(/too many arguments/);
    const s = ig3dc('sumary', TINY);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/did you mean 'summary'/);
    const far = ig3dc('frobnicate');
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/unknown command 'frobnicate'; the commands are compile, summary/);
  });

  it('bare ig3dc prints the help and succeeds', () => {
    const r = ig3dc();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ig3dc/);
    expect(r.stdout).toMatch(/Commands:/);
  });

  it('--version and --help exit 0', () => {
    expect(ig3dc('--version')).toMatchObject({ code: 0, stdout: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n` });
    expect(ig3dc('help', 'run')).toMatchObject({ code: 0 });
  });
});

describe('did-you-mean', () => {
  it('counts edits, a swap of neighbours as one', () => {
    expect(editDistance('compile', 'compile')).toBe(0);
    expect(editDistance('compil', 'compile')).toBe(1);
    expect(editDistance('comiple', 'compile')).toBe(1);
    expect(editDistance('abc', 'xyz')).toBe(3);
  });

  it('suggests only near names', () => {
    const names = ['compile', 'summary', 'dump', 'run', 'serve'];
    expect(closestName('sumary', names)).toBe('summary');
    expect(closestName('rnu', names)).toBe('run');
    expect(closestName('frobnicate', names)).toBeUndefined();
    expect(closestName('xyz', names)).toBeUndefined();
  });
});

describe('--json on every command', () => {
  it('compile, dump, opt, export, passes, ops and parse print one JSON object', () => {
    const compiled = ig3dc(TINY, '--seq', '8', '--json');
    expect(compiled.code, compiled.stderr).toBe(0);
    const cost = json(compiled.stdout);
    expect(cost['format']).toMatch(/cost/);
    expect(cost['model']).toBe('bert-tiny');

    const dumped = json(ig3dc('dump', TINY, '--seq', '8', '--json').stdout);
    expect(dumped['ir']).toMatch(/^\/\/|graph|func/);
    const irFile = join(dir, 'tiny.ir');
    expect(ig3dc('dump', TINY, '--seq', '8', '--weights', 'inline', '-o', irFile).code).toBe(0);
    const parsed = json(ig3dc('parse', irFile, '--json').stdout);
    expect(parsed['valid']).toBe(true);
    expect(parsed['nodes']).toBeGreaterThan(50);

    const opt = json(ig3dc('opt', TINY, '--seq', '8', '--passes', 'raise-bert', '--json').stdout);
    expect((opt['stages'] as { step: string }[]).map((s) => s.step)).toEqual(['raise-bert']);
    expect(opt['ir']).toMatch(/LayerNorm/);

    const onnx = join(dir, 'tiny.onnx');
    const exported = json(ig3dc('export', TINY, '--seq', '8', '-o', onnx, '--json').stdout);
    expect(exported).toMatchObject({ output: onnx, opset: 17 });
    expect(exported['bytes']).toBe(readFileSync(onnx).length);

    const passes = json(ig3dc('passes', '--json').stdout)['passes'] as { name: string }[];
    expect(passes.map((p) => p.name)).toEqual(expect.arrayContaining(['canonicalize', 'raise-bert', 'prune-heads', 'softmax-to-poly', 'gelu-mix']));
    const ops = json(ig3dc('ops', '--json').stdout);
    expect((ops['onnx'] as { name: string }[]).some((o) => o.name === 'MatMul')).toBe(true);
  });
});

describe("'-' means stdout", () => {
  it('--report - prints the JSON report on stdout and the table on stderr', () => {
    const r = ig3dc(TINY, '--seq', '8', '--report', '-');
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)['model']).toBe('bert-tiny');
    expect(r.stderr).toMatch(/model bert-tiny: 2 layers/);
  });

  it('export -o - writes the ONNX bytes to stdout', () => {
    const r = spawnSync(process.execPath, [BIN, 'export', TINY, '--seq', '8', '-o', '-'], { cwd: ROOT, maxBuffer: 1 << 28 });
    expect(r.status).toBe(0);
    const file = join(dir, 'same.onnx');
    expect(ig3dc('export', TINY, '--seq', '8', '-o', file).code).toBe(0);
    expect(Buffer.compare(r.stdout, readFileSync(file))).toBe(0);
  });

  it('dump -o - is the same text as dump', () => {
    const a = ig3dc('dump', TINY, '--seq', '8', '-o', '-', '--weights', 'elide');
    const b = ig3dc('dump', TINY, '--seq', '8');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });
});

describe('a missing optional engine', () => {
  // a resolve hook that makes onnxruntime-node unloadable, as on a machine without it
  const BLOCK_ORT = `data:text/javascript,import { register } from 'node:module'; register('data:text/javascript,export async function resolve(s, c, next) { if (s === "onnxruntime-node") throw new Error("not installed"); return next(s, c); }');`;

  it('importance says so when it starts, with the fix, and goes on with the evaluator', () => {
    const b = tinyBundle(dir, 1, 8, [1]);
    const out = join(dir, 'imp.json');
    const r = spawnSync(process.execPath, [`--import=${BLOCK_ORT}`, BIN, 'importance', TINY, '--data', b.file, '--examples', '1', '--steps', '2', '--threads', '1', '-o', out], { encoding: 'utf8', cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ig3dc: note: onnxruntime-node could not be loaded \(.*not installed\); to install it, run 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node'.*; integrated gradients run on the built-in evaluator instead/);
    expect(JSON.parse(readFileSync(out, 'utf8'))['examples']).toBe(1);
  });
});
