// glibc malloc settings for secure inference, and `ig3dc run` in a child process that has them.
//
// A run allocates and frees many GB of large buffers: every AES call's output, ring arrays per
// instruction, and with FSS gates the keys (12 GB for BERT-base). With glibc's defaults, big
// buffers are mmap'd and unmapped one by one, and the heap's top goes back to the kernel as soon
// as it shrinks. A fresh 4 KiB page then costs a page fault when first written, which on a VM that
// hands freed memory back to its host (a balloon with free page reporting) is 10-15 us: about
// 2.8 s per GB on the 2-core machine. Two tunables remove most of it:
// - glibc.malloc.hugetlb=1: malloc asks for transparent huge pages on what it maps (madvise), so
//   one fault maps 2 MiB, at about a third of the cost per byte;
// - trim_threshold 1 GiB and top_pad 64 MiB: freed memory at the heaps' top stays mapped for the
//   next allocations instead of going back and faulting in again.
// BERT-base with `--protocols fss`, two worker threads: 1.0 M page faults -> 0.13 M, 42 -> 33 s.
//
// glibc reads its tunables once, when the process starts, from GLIBC_TUNABLES: a running process
// cannot change them (and Node has no mallopt). So `ig3dc run` starts itself again, once, with
// them added, unless the environment already sets malloc tunables of its own or
// IG3DC_MALLOC_TUNING=off. Only `run`: it is a batch command. The deployment's long-running
// processes (`serve`, `dealer`) are not wrapped, so that signals (SIGSTOP included) reach the
// process itself; set GLIBC_TUNABLES=<MALLOC_TUNABLES> in their environment for the same effect.
// Other C libraries (musl) ignore the variable; off Linux nothing is done.

import { spawn } from 'node:child_process';
import os from 'node:os';

/** The tunables (GLIBC_TUNABLES syntax). Unknown ones are ignored by older glibc (hugetlb needs 2.35). */
export const MALLOC_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864';

/** The environment variable that marks the tuned child (`child`) or turns the re-start off (`off`). */
export const MALLOC_TUNING_VAR = 'IG3DC_MALLOC_TUNING';

/** The commands started again with the tunables. */
export const TUNED_COMMANDS: ReadonlySet<string> = new Set(['run']);

type Env = Readonly<Record<string, string | undefined>>;

/** The malloc tunables GLIBC_TUNABLES sets in `env`. */
const mallocTunablesOf = (env: Env): string[] => (env['GLIBC_TUNABLES'] ?? '').split(':').filter((t) => t.startsWith('glibc.malloc.'));

/**
 * The environment of a child process with the tunables, or undefined where none is needed: off
 * Linux, with IG3DC_MALLOC_TUNING set (the tuned child itself, or `off`), or where GLIBC_TUNABLES
 * already sets malloc tunables (the user's own win).
 */
export function tunedEnv(env: Env, platform: string = process.platform): Record<string, string | undefined> | undefined {
  if (platform !== 'linux' || env[MALLOC_TUNING_VAR] !== undefined) return undefined;
  if (mallocTunablesOf(env).length > 0) return undefined;
  const own = env['GLIBC_TUNABLES'] ?? '';
  return { ...env, GLIBC_TUNABLES: own === '' ? MALLOC_TUNABLES : `${own}:${MALLOC_TUNABLES}`, [MALLOC_TUNING_VAR]: 'child' };
}

/** This process's malloc tunables as it was started with them ('glibc defaults' when none). */
export function mallocSetting(env: Env = process.env): string {
  const t = mallocTunablesOf(env);
  return t.length === 0 ? 'glibc defaults' : t.join(':');
}

/**
 * For a tuned command (`argv`: the arguments after the script): runs this process's command line
 * again in a child with tunedEnv and resolves to the exit code to leave with (128 + n after a
 * signal). Resolves to undefined, doing nothing, where no child is needed. SIGINT, SIGTERM and
 * SIGHUP are passed on; the child leaves when this process goes away (watchParent).
 */
export async function runTuned(argv: readonly string[]): Promise<number | undefined> {
  const command = argv[0];
  if (command === undefined || !TUNED_COMMANDS.has(command)) return undefined;
  const env = tunedEnv(process.env);
  if (env === undefined) return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const pass = (s: NodeJS.Signals): void => void child.kill(s);
  for (const s of signals) process.on(s, pass);
  return new Promise<number>((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`ig3dc: error: could not start the run with malloc tunables (${e.message}); set ${MALLOC_TUNING_VAR}=off to run without them\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const s of signals) process.off(s, pass);
      resolve(code ?? 128 + (signal !== null ? os.constants.signals[signal] : 0));
    });
  });
}

/** In the tuned child: leave when the parent does (its end of the IPC channel closes, even on SIGKILL; seen once the event loop turns), without the channel keeping this process alive. */
export function watchParent(): void {
  if (process.env[MALLOC_TUNING_VAR] !== 'child' || process.channel === undefined) return;
  process.channel.unref();
  process.on('disconnect', () => process.exit(129));
}
