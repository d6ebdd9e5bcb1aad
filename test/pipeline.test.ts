// Pass pipelines: the text syntax, its errors (each an Ig3dcError pointing at the token), the
// pass manager's options, and the same through `ig3dc opt`.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { parseGraph, readIrFile } from '../ir/parser.ts';
import { printGraph } from '../ir/printer.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { Graph } from '../ir/graph.ts';
import { parsePipeline, registerPass, rewritePass, runPipeline, type Pass } from '../passes/index.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'ig3dc.js');
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-pipeline-'));

// a pass with every option kind, to check option parsing against
const probe: Pass = {
  ...rewritePass({ name: 'probe-pass', summary: 'does nothing; has options of every kind', rules: [] }),
  options: {
    tau: { kind: 'number', default: 0.5, min: 0, max: 1, doc: 'a threshold' },
    keep: { kind: 'int', min: 1, doc: 'a count' },
    fast: { kind: 'bool', default: false, doc: 'a flag' },
    file: { kind: 'string', doc: 'a name' },
    mode: { kind: 'enum', values: ['exact', 'poly'], default: 'exact', doc: 'a choice' },
    scales: { kind: 'numbers', doc: 'a list' },
  },
};
registerPass(probe);

function errorOf(text: string): Ig3dcError {
  try {
    parsePipeline(text, '--passes');
  } catch (e) {
    expect(e).toBeInstanceOf(Ig3dcError);
    return e as Ig3dcError;
  }
  throw new Error(`'${text}' parsed`);
}

/** The error points at line:column, which is where `token` starts in `text`. */
function expectAt(text: string, token: string, message: RegExp, occurrence = 0): void {
  const e = errorOf(text);
  let offset = -1;
  for (let k = 0; k <= occurrence; k++) offset = text.indexOf(token, offset + 1);
  expect(offset, `'${token}' in '${text}'`).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, offset).split('\n');
  expect(e.kind).toBe('syntax');
  expect({ line: e.place.line, column: e.place.column }).toEqual({ line: before.length, column: before[before.length - 1]!.length + 1 });
  expect(e.message).toMatch(message);
  expect(e.message.startsWith(`--passes:${before.length}:${before[before.length - 1]!.length + 1}: `)).toBe(true);
}

describe('pipeline syntax', () => {
  it('parses names, options of every kind, defaults and canonical text', () => {
    const steps = parsePipeline(' canonicalize , probe-pass{tau=0.25, keep=3, fast=true, file="a b.json", mode=poly, scales=[1,-2.5e-1]},probe-pass ');
    expect(steps.map((s) => s.pass.name)).toEqual(['canonicalize', 'probe-pass', 'probe-pass']);
    expect(steps[1]!.options).toEqual({ tau: 0.25, keep: 3, fast: true, file: 'a b.json', mode: 'poly', scales: [1, -0.25] });
    expect(steps[1]!.text).toBe('probe-pass{tau=0.25,keep=3,fast=true,file="a b.json",mode=poly,scales=[1,-0.25]}');
    // defaults filled, options without one stay absent
    expect(steps[2]!.options).toEqual({ tau: 0.5, fast: false, mode: 'exact' });
    expect(steps[2]!.text).toBe('probe-pass');
    // the canonical text parses to the same options
    expect(parsePipeline(steps[1]!.text)[0]!.options).toEqual(steps[1]!.options);
  });

  it('an empty pipeline is no passes', () => {
    expect(parsePipeline('')).toEqual([]);
    expect(parsePipeline('  \n ')).toEqual([]);
  });

  it('unknown pass: did you mean, known passes, at the name', () => {
    expectAt('canonicalise', 'canonicalise', /unknown pass 'canonicalise' \(did you mean 'canonicalize'\?\); known passes: .*canonicalize/);
    expectAt('canonicalize,probe-pas{tau=1}', 'probe-pas', /unknown pass 'probe-pas' \(did you mean 'probe-pass'\?\)/);
    const far = errorOf('zzzzzzzz');
    expect(far.message).not.toMatch(/did you mean/);
    expect(far.message).toMatch(/known passes: /);
  });

  it('unknown option: at the option name, with the options the pass has', () => {
    expectAt('probe-pass{tua=0.5}', 'tua', /pass 'probe-pass' has no option 'tua' \(did you mean 'tau'\?\); its options: tau, keep, fast, file, mode, scales/);
    expectAt('canonicalize{x=1}', 'x', /pass 'canonicalize' has no option 'x' \(it takes no options\)/);
    expectAt('probe-pass{tau=0.5,tau=0.6}', 'tau', /option 'tau' is given twice/, 1);
  });

  it('ill-typed option values: at the value', () => {
    expectAt('probe-pass{tau=high}', 'high', /option 'tau' of pass 'probe-pass' must be a number, got 'high'/);
    expectAt('probe-pass{keep=2.5}', '2.5', /option 'keep' of pass 'probe-pass' must be an integer, got 2.5/);
    expectAt('probe-pass{fast=1}', '1', /must be true or false, got 1/);
    expectAt('probe-pass{file=[1]}', '[', /must be a name or a quoted string, got a list/);
    expectAt('probe-pass{mode=cubic}', 'cubic', /must be one of exact, poly, got 'cubic'/);
    expectAt('probe-pass{scales=[1,x]}', 'x', /must be a list of finite numbers, got 'x' in it/);
    expectAt('probe-pass{tau=1e999}', '1e999', /must be a finite number/);
  });

  it('out-of-range option values: at the value', () => {
    expectAt('probe-pass{tau=1.5}', '1.5', /option 'tau' of pass 'probe-pass' must be in \[0, 1\], got 1.5/);
    expectAt('probe-pass{tau=-0.1}', '-0.1', /must be in \[0, 1\], got -0.1/);
    expectAt('probe-pass{keep=0}', '0', /must be in \[1, inf\], got 0/);
  });

  it('malformed syntax: at the offending token, saying what was expected', () => {
    expectAt('canonicalize,,canonicalize', ',', /expected a pass name, found ','/, 1);
    expectAt('canonicalize canonicalize', 'canonicalize', /expected ',' between passes or the end of the pipeline, found 'canonicalize'/, 1);
    expectAt('probe-pass{tau 0.5}', '0.5', /expected '=' after the option name, found '0.5'/);
    expectAt('probe-pass{tau=}', '}', /expected an option value \(a number, a name, a quoted string or a \[list\]\), found '}'/);
    expectAt('probe-pass{=1}', '=', /expected an option name or '}', found '='/);
    expectAt('probe-pass{tau=0.5 keep=2}', 'keep', /expected ',' or '}' after an option, found 'keep'/);
    expectAt('probe-pass{file="unterminated}', '"', /unterminated or malformed string/);
    expectAt('canonicalize;probe-pass', ';', /unexpected character ";"/);
    expectAt('probe-pass{scales=[1,2}', '}', /expected ',' or '\]' in the list, found '}'/);
    // at the end of the text
    const e = errorOf('probe-pass{tau=0.5');
    expect(e.message).toMatch(/^--passes:1:19: expected ',' or '}' after an option, found the end of the pipeline/);
  });

  it('counts lines and columns in a multi-line pipeline', () => {
    expectAt('canonicalize,\n  probe-pass{\n    tau = 7\n  }', '7', /must be in \[0, 1\], got 7/);
    expectAt('canonicalize,\n\tcanonicalise', 'canonicalise', /unknown pass/);
  });
});

const IR = `graph g {
  input %x : f32[2,3] secret(client)
  %i = Identity(%x) : f32[2,3] secret(client)
  %one = Const : f32[] public = dense<1.0>
  %m = Mul(%i, %one) : f32[2,3] secret(client)
  %w = Const : f32[3,2] secret(server) = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]>
  %wt = Transpose(%w) {perm = [1, 0]} : f32[2,3] secret(server)
  %y = Add(%m, %wt) : f32[2,3] secret
  output y = %y
}
`;

describe('runPipeline', () => {
  it('runs the passes in order, verifies, prints the stages asked for', () => {
    const printed: string[] = [];
    const run = runPipeline(parseGraph(IR), parsePipeline('canonicalize,probe-pass'), { printAfter: 'all', print: (t) => printed.push(t) });
    expect(run.stages.map((s) => s.step)).toEqual(['canonicalize', 'probe-pass']);
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatch(/^\/\/ ----- IR after canonicalize -----\n/);
    expect(printed[1]).toMatch(/^\/\/ ----- IR after probe-pass -----\n/);
    const only: string[] = [];
    runPipeline(parseGraph(IR), parsePipeline('canonicalize,probe-pass'), { printAfter: 'probe-pass', print: (t) => only.push(t) });
    expect(only).toHaveLength(1);
    expect(only[0]).toContain('IR after probe-pass');
  });

  it('--print-ir-after must name a pass of the pipeline', () => {
    expect(() => runPipeline(parseGraph(IR), parsePipeline('canonicalize'), { printAfter: 'canonicalise', print: () => {} })).toThrow(
      /--print-ir-after 'canonicalise' names no pass of the pipeline \(it runs: canonicalize; or use 'all'\)/,
    );
  });

  it('a pass that breaks the IR is caught by the verifier, naming the pass', () => {
    const breaker: Pass = {
      name: 'break-it',
      summary: 'renames an output to collide',
      options: {},
      run: (g) => new Graph(g.name, g.inputs, [...g.outputs, g.outputs[0]!]),
    };
    registerPass(breaker);
    expect(() => runPipeline(parseGraph(IR), parsePipeline('break-it'))).toThrow(/the IR after pass break-it is invalid: output name 'y' is used twice/);
    expect(runPipeline(parseGraph(IR), parsePipeline('break-it'), { verify: false }).graph.outputs).toHaveLength(2);
  });

  it('registering a pass name twice is an error', () => {
    expect(() => registerPass(probe)).toThrow(Ig3dcError);
    expect(() => registerPass(probe)).toThrow(/pass 'probe-pass' is registered twice/);
  });

  it('--dump-dir writes numbered stages that parse back', () => {
    const out = join(dir, 'stages');
    runPipeline(parseGraph(IR), parsePipeline('canonicalize,probe-pass'), { dumpDir: out });
    expect(readdirSync(out).sort()).toEqual(['00-input.ir', '01-canonicalize.ir', '02-probe-pass.ir']);
    for (const f of readdirSync(out)) verifyGraph(readIrFile(join(out, f)));
    expect(readFileSync(join(out, '01-canonicalize.ir'), 'utf8')).not.toContain('Identity');
    expect(readFileSync(join(out, '00-input.ir'), 'utf8')).toContain('Identity');
  });
});

function ig3dc(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function expectOneParagraph(r: { code: number; stderr: string }, code: number, ...mentions: RegExp[]): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.startsWith('ig3dc: error: ')).toBe(true);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
  for (const m of mentions) expect(r.stderr).toMatch(m);
}

describe('ig3dc opt', () => {
  const file = join(dir, 'g.ir');
  writeFileSync(file, IR);

  it('prints the canonicalized IR', () => {
    const r = ig3dc('opt', file, '--passes', 'canonicalize');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/Identity|Mul|Transpose/);
    expect(r.stdout).toMatch(/Const : f32\[2,3\] secret\(server\) = dense<\[1\.0, 3\.0, 5\.0, 2\.0, 4\.0, 6\.0\]>/);
    verifyGraph(parseGraph(r.stdout));
  });

  it('pipeline errors: exit 1, one paragraph with the column, no stack trace', () => {
    expectOneParagraph(ig3dc('opt', file, '--passes', 'canonicalise'), 1, /^ig3dc: error: --passes:1:1: unknown pass 'canonicalise' \(did you mean 'canonicalize'\?\)/);
    expectOneParagraph(ig3dc('opt', file, '--passes', 'canonicalize{x=1}'), 1, /--passes:1:14: pass 'canonicalize' has no option 'x'/);
    expectOneParagraph(ig3dc('opt', file, '--passes', 'canonicalize,'), 1, /--passes:1:14: expected a pass name, found the end of the pipeline/);
  });

  it('--print-ir-after prints stages to stderr; the result goes to stdout', () => {
    const all = ig3dc('opt', file, '--passes', 'canonicalize,canonicalize', '--print-ir-after=all');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stderr.match(/\/\/ ----- IR after canonicalize -----/g)).toHaveLength(2);
    expect(all.stdout).not.toContain('IR after');
    const one = ig3dc('opt', file, '--passes', 'canonicalize', '--print-ir-after', 'canonicalize');
    expect(one.stderr.match(/IR after canonicalize/g)).toHaveLength(1);
    expectOneParagraph(ig3dc('opt', file, '--passes', 'canonicalize', '--print-ir-after', 'nope'), 2, /--print-ir-after 'nope' names no pass/);
  });

  it('--dump-dir writes 00-input.ir, 01-canonicalize.ir that parse back', () => {
    const out = join(dir, 'cli-stages');
    const r = ig3dc('opt', file, '--passes', 'canonicalize', '--dump-dir', out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['00-input.ir', '01-canonicalize.ir']);
    for (const f of readdirSync(out)) expect(ig3dc('parse', join(out, f), '-q').code).toBe(0);
    expect(readFileSync(join(out, '01-canonicalize.ir'), 'utf8')).toBe(r.stdout);
  });

  it('--load-pass: a missing or broken module is a clear error naming the file', () => {
    expectOneParagraph(ig3dc('opt', file, '--load-pass', 'no/such/pass.ts', '--passes', 'canonicalize'), 1, /^ig3dc: error: no\/such\/pass\.ts: pass module not found/);
    const broken = join(dir, 'broken-pass.ts');
    writeFileSync(broken, "throw new Error('this pass module is broken');\n");
    expectOneParagraph(ig3dc('opt', file, '--load-pass', broken, '--passes', 'canonicalize'), 1, /broken-pass\.ts: cannot load pass module: this pass module is broken/);
    const twice = join(dir, 'twice-pass.mts');
    writeFileSync(twice, `import { registerPass, rewritePass } from '${join(ROOT, 'passes', 'index.ts')}';\nregisterPass(rewritePass({ name: 'canonicalize', summary: 'again', rules: [] }));\n`);
    expectOneParagraph(ig3dc('opt', file, '--load-pass', twice, '--passes', 'canonicalize'), 2, /twice-pass\.mts: while loading this pass module: pass 'canonicalize' is registered twice/);
  });

  it('ig3dc passes lists the passes, their options and with --rules the rules', () => {
    const r = ig3dc('passes', '--rules');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^canonicalize\n {4}fold constant ops/m);
    expect(r.stdout).toMatch(/rule ConstantOpToConst: /);
    expect(r.stdout).toMatch(/rule MulOneToInput: x \* 1 -> x/);
  });
});

it('the example model is there for the CLI tests', () => {
  expect(existsSync(join(ROOT, 'examples', 'bert-tiny.onnx'))).toBe(true);
});

// keep printGraph imported for debugging failed runs
void printGraph;
