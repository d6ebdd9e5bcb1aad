// The textual pass tests: every test/passes/**/*.ir file, run and checked by check-runner.ts.

import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCheckFile } from './check-runner.ts';

const DIR = join(import.meta.dirname, 'passes');

function irFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? irFiles(join(dir, e.name)) : e.name.endsWith('.ir') ? [join(dir, e.name)] : []))
    .sort();
}

const files = irFiles(DIR);

describe('pass tests (test/passes/*.ir)', () => {
  it('finds the test files', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(files.map((f) => [relative(DIR, f), f]))('%s', async (_name, file) => {
    const result = await runCheckFile(file);
    expect(result.failures.join('\n\n')).toBe('');
    expect(result.ok).toBe(true);
  });
});
