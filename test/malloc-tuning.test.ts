// `ig3dc run` starts itself again with glibc malloc tunables (runtime/malloc-tuning.ts): the
// environment it computes, that the run reports the tunables it ran with, that the user's own
// settings and the opt-out are respected, and that a signal to the command reaches the run.
// Spawns the compiled binary (bin/ig3dc.js runs dist/).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MALLOC_TUNABLES, MALLOC_TUNING_VAR, mallocSetting, tunedEnv } from '../runtime/malloc-tuning.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'ig3dc.js');
const linux = process.platform === 'linux';

/** process.env without the variables these tests set. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  if (!('GLIBC_TUNABLES' in extra)) delete env['GLIBC_TUNABLES'];
  if (!(MALLOC_TUNING_VAR in extra)) delete env[MALLOC_TUNING_VAR];
  return env;
}

describe('tunedEnv', () => {
  it('adds the tunables on Linux and marks the child', () => {
    const e = tunedEnv({ PATH: '/bin' }, 'linux')!;
    expect(e['GLIBC_TUNABLES']).toBe(MALLOC_TUNABLES);
    expect(e[MALLOC_TUNING_VAR]).toBe('child');
    expect(e['PATH']).toBe('/bin');
    expect(MALLOC_TUNABLES.split(':')).toContain('glibc.malloc.hugetlb=1');
  });

  it('keeps other tunables, and leaves the environment alone where it is not needed', () => {
    expect(tunedEnv({ GLIBC_TUNABLES: 'glibc.cpu.x86_ibt=on' }, 'linux')!['GLIBC_TUNABLES']).toBe(`glibc.cpu.x86_ibt=on:${MALLOC_TUNABLES}`);
    expect(tunedEnv({}, 'darwin')).toBeUndefined();
    expect(tunedEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, 'linux')).toBeUndefined(); // the user's own malloc settings win
    expect(tunedEnv({ [MALLOC_TUNING_VAR]: 'off' }, 'linux')).toBeUndefined();
    expect(tunedEnv({ [MALLOC_TUNING_VAR]: 'child' }, 'linux')).toBeUndefined(); // never twice
  });

  it('mallocSetting names the malloc tunables a process started with', () => {
    expect(mallocSetting({})).toBe('glibc defaults');
    expect(mallocSetting({ GLIBC_TUNABLES: 'glibc.cpu.x86_ibt=on' })).toBe('glibc defaults');
    expect(mallocSetting({ GLIBC_TUNABLES: `glibc.cpu.x86_ibt=on:${MALLOC_TUNABLES}` })).toBe(MALLOC_TUNABLES);
  });
});

function runJson(env: Record<string, string | undefined>): Record<string, unknown> {
  const r = spawnSync(process.execPath, [BIN, 'run', 'examples/bert-tiny.onnx', '--inputs', 'examples/bert-tiny.cases.json', '--case', 'b1_s8', '--threads', '1', '--json'], { encoding: 'utf8', cwd: ROOT, env, maxBuffer: 1 << 26 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe.skipIf(!linux)('ig3dc run with malloc tunables', () => {
  it('runs with the tunables and says so; the opt-out and the user\'s own settings are respected', () => {
    const tuned = runJson(cleanEnv());
    expect(tuned['malloc']).toBe(MALLOC_TUNABLES);
    expect(tuned['countsMatch']).toBe(true);
    expect(runJson(cleanEnv({ [MALLOC_TUNING_VAR]: 'off' }))['malloc']).toBe('glibc defaults');
    expect(runJson(cleanEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }))['malloc']).toBe('glibc.malloc.arena_max=2');
  }, 60_000);

  it('a SIGTERM to the command ends the run too, and the command leaves with 128 + 15', async () => {
    // The inputs are a FIFO nobody writes: the run blocks opening it, so it is alive until a signal ends it.
    const dir = mkdtempSync(join(tmpdir(), 'ig3dc-malloc-'));
    const fifo = join(dir, 'cases.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const parent = spawn(process.execPath, [BIN, 'run', 'examples/bert-tiny.onnx', '--inputs', fifo, '--threads', '1'], { cwd: ROOT, env: cleanEnv(), stdio: 'ignore' });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => parent.on('exit', (code, signal) => resolve([code, signal])));
    // The run: the process whose parent is the command.
    const childOf = (ppid: number): number | undefined => {
      for (const d of readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) return Number(d);
        } catch {
          // gone meanwhile
        }
      }
      return undefined;
    };
    let run: number | undefined;
    for (let i = 0; i < 200 && run === undefined; i++) {
      await new Promise((r) => setTimeout(r, 50));
      run = childOf(parent.pid!);
    }
    expect(run).toBeDefined();
    await new Promise((r) => setTimeout(r, 500)); // past its start-up, into the blocked open
    parent.kill('SIGTERM');
    const [code, signal] = await exited;
    const alive = (): boolean => {
      try {
        return !/\) [ZX] /.test(readFileSync(`/proc/${run}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 40 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    const left = alive();
    if (left) process.kill(run!, 'SIGKILL');
    expect(left).toBe(false);
    expect([code, signal]).toEqual([143, null]);
  }, 60_000);
});
