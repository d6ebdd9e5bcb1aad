// The textual test runner itself: a broken expectation must fail, with a message naming it.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCheckText } from './check-runner.ts';

const GRAPH = `graph g {
  input %x : f32[3] secret(client)
  %i = Identity(%x) : f32[3] secret(client)
  %r = Relu(%i) : f32[3] secret(client)
  %n = Neg(%r) : f32[3] secret(client)
  output y = %n
}
`;
// canonicalize prints:  input %x / %0 = Relu(%x) / %1 = Neg(%0) / output y = %1

async function run(header: string): Promise<{ ok: boolean; text: string }> {
  const r = await runCheckText(`// RUN: opt --passes=canonicalize\n${header}\n${GRAPH}`, 'test.ir');
  return { ok: r.ok, text: r.failures.join('\n') };
}

describe('check runner', () => {
  it('passes when every check holds', async () => {
    const r = await run(['// CHECK-LABEL: graph g', '// CHECK: input %x', '// CHECK-NEXT: %0 = Relu(%x)', '// CHECK-NOT: Identity', '// CHECK: Neg(%0)', '// CHECK-NEXT: output y = %1'].join('\n'));
    expect(r.text).toBe('');
    expect(r.ok).toBe(true);
  });

  it('fails on a CHECK whose text is not in the output', async () => {
    const r = await run('// CHECK: Sigmoid(%x)');
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/test\.ir:2: CHECK: Sigmoid\(%x\)/);
    expect(r.text).toMatch(/not found/);
  });

  it('fails on checks out of order', async () => {
    const r = await run('// CHECK: Neg(\n// CHECK: Relu(');
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/test\.ir:3: CHECK: Relu\(.*\n.*out of order/);
  });

  it('fails on a CHECK-NEXT that is not on the next line', async () => {
    const r = await run('// CHECK: input %x\n// CHECK-NEXT: Neg(');
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/CHECK-NEXT: Neg\(\n.*not on the line after the previous match/);
  });

  it('fails on a CHECK-NEXT with nothing before it', async () => {
    expect((await run('// CHECK-NEXT: input %x')).ok).toBe(false);
  });

  it('fails on a CHECK-NOT that is found between its neighbours, and only there', async () => {
    const bad = await run('// CHECK: input %x\n// CHECK-NOT: Relu\n// CHECK: Neg(');
    expect(bad.ok).toBe(false);
    expect(bad.text).toMatch(/CHECK-NOT: Relu\n.*found where it must not be/);
    // the same text outside the range is fine
    expect((await run('// CHECK: Relu\n// CHECK-NOT: Relu\n// CHECK: Neg(')).ok).toBe(true);
    // a trailing CHECK-NOT covers the rest of the output
    expect((await run('// CHECK: input %x\n// CHECK-NOT: output')).ok).toBe(false);
  });

  it('fails on a missing CHECK-LABEL, and keeps checks inside their label block', async () => {
    expect((await run('// CHECK-LABEL: graph h')).ok).toBe(false);
    // Relu is before the label: a CHECK after the label cannot find it
    const r = await run('// CHECK-LABEL: Neg(\n// CHECK: Relu(');
    expect(r.ok).toBe(false);
    expect((await run('// CHECK-LABEL: Relu(\n// CHECK-NOT: Identity\n// CHECK-LABEL: output y\n// CHECK-NOT: Neg')).ok).toBe(true);
  });

  it('treats {{...}} as a regex and the rest literally', async () => {
    expect((await run('// CHECK: %{{[0-9]+}} = Relu(%x)')).ok).toBe(true);
    expect((await run('// CHECK: %{{[a-z]+}} = Relu(%x)')).ok).toBe(false);
    // '.' and '(' outside {{ }} are literal
    expect((await run('// CHECK: Relu.%x.')).ok).toBe(false);
    expect((await run('// CHECK: %0 = {{Relu|Neg}}(')).ok).toBe(true);
    const bad = await run('// CHECK: {{[}}');
    expect(bad.ok).toBe(false);
    expect(bad.text).toMatch(/malformed test: .*bad regex/);
  });

  it('matches any run of whitespace for a space', async () => {
    expect((await run('// CHECK: %0   =    Relu(%x)')).ok).toBe(true);
  });

  it('checks EXPECT-ERROR against the error message', async () => {
    const good = await runCheckText(`// RUN: opt --passes=canonicalise\n// EXPECT-ERROR: did you mean 'canonicalize'?\n${GRAPH}`, 't.ir');
    expect(good.failures).toEqual([]);
    const wrong = await runCheckText(`// RUN: opt --passes=canonicalise\n// EXPECT-ERROR: no such words\n${GRAPH}`, 't.ir');
    expect(wrong.ok).toBe(false);
    expect(wrong.failures.join('\n')).toMatch(/t\.ir:2: EXPECT-ERROR: no such words\n {2}the error was: --passes:1:1: unknown pass/);
    const succeeded = await runCheckText(`// RUN: opt --passes=canonicalize\n// EXPECT-ERROR: unknown pass\n${GRAPH}`, 't.ir');
    expect(succeeded.ok).toBe(false);
    expect(succeeded.failures.join('\n')).toMatch(/succeeded/);
  });

  it('fails when a RUN fails without EXPECT-ERROR', async () => {
    const r = await runCheckText(`// RUN: opt --passes=nope\n// CHECK: graph\n${GRAPH}`, 't.ir');
    expect(r.ok).toBe(false);
    expect(r.failures.join('\n')).toMatch(/RUN failed: --passes:1:1: unknown pass 'nope'/);
  });

  it('rejects malformed test files: no RUN, no checks, a misspelt directive, an unknown flag', async () => {
    for (const text of [`// CHECK: graph\n${GRAPH}`, `// RUN: opt --passes=canonicalize\n${GRAPH}`, `// RUN: opt --passes=canonicalize\n// CHECK-NXT: graph\n${GRAPH}`, `// RUN: opt --passes=canonicalize --fast\n// CHECK: graph\n${GRAPH}`]) {
      const r = await runCheckText(text, 't.ir');
      expect(r.ok, text).toBe(false);
      expect(r.failures.join('\n')).toMatch(/malformed test/);
    }
  });

  it('runs every RUN line, each with its own prefix', async () => {
    const text = `// RUN: opt --passes=canonicalize\n// RUN: opt --passes=canonicalize --no-verify --check-prefix=RAW\n// CHECK: Relu(%x)\n// RAW: Neg(\n// RAW-NOT: Identity\n${GRAPH}`;
    const r = await runCheckText(text, 't.ir');
    expect(r.failures).toEqual([]);
    expect(r.outputs).toHaveLength(2);
    const broken = await runCheckText(text.replace('// RAW: Neg(', '// RAW: Sigmoid('), 't.ir');
    expect(broken.ok).toBe(false);
    expect(broken.failures).toHaveLength(1);
    expect(broken.failures[0]).toMatch(/RUN on line 2/);
  });

  // Every real test file, with its first positive check made wrong, must fail: the checks
  // of the suite are live.
  const dir = join(import.meta.dirname, 'passes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ir'));
  it.each(files)('a broken check in %s fails it', async (name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    const broken = text.replace(/^(\/\/ (?!RUN:)(?:[A-Z]+(?:-NEXT|-LABEL)?|EXPECT-ERROR): ).*$/m, '$1no-such-text-in-any-output');
    expect(broken).not.toBe(text);
    expect((await runCheckText(text, name)).ok).toBe(true);
    const r = await runCheckText(broken, name);
    expect(r.ok).toBe(false);
    expect(r.failures.join('\n')).not.toMatch(/malformed test/);
  });
});
