// How every command ends: a typed error becomes one paragraph on stderr and exit code 1;
// anything else is an internal bug, reported without a stack trace unless IG3DC_DEBUG is set.

import { writeFileSync } from 'node:fs';
import { Ig3dcError, isIg3dcError } from '../../ir/diagnostics.ts';

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

export function reportError(e: unknown): number {
  if (isIg3dcError(e)) {
    process.stderr.write(`ig3dc: error: ${e.message}\n`);
    return e.kind === 'usage' ? EXIT_USAGE : EXIT_ERROR;
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`ig3dc: internal error: ${msg}\nThis is a bug in ig3dc; rerun with IG3DC_DEBUG=1 for details.\n`);
  if (process.env['IG3DC_DEBUG'] && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT_INTERNAL;
}

/** Wraps a command action so that errors end the process with a clear message. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      process.exitCode = reportError(e);
    }
  };
}

/** Writes to stdout and waits for it to drain, so large dumps piped to `head` end cleanly. */
export function writeOut(text: string | Uint8Array): Promise<void> {
  return new Promise((resolveWrite) => {
    if (process.stdout.write(text)) resolveWrite();
    else process.stdout.once('drain', () => resolveWrite());
  });
}

/** Writes an output file; `-` means stdout. An unwritable path is an error naming it. */
export async function writeOutput(path: string, data: string | Uint8Array): Promise<void> {
  if (path === '-') {
    await writeOut(data);
    return;
  }
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new Ig3dcError('io', `cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: path });
  }
}

/**
 * Where a command's human-readable text goes: stdout, unless stdout carries data (`--json`,
 * or an output named `-`), then stderr.
 */
export function textStream(stdoutTaken: boolean): (text: string) => Promise<void> {
  if (!stdoutTaken) return writeOut;
  return async (text) => {
    process.stderr.write(text);
  };
}

/** At most one thing may be written to stdout: `--json` or one output named `-`. */
export function checkOneStdout(uses: Readonly<Record<string, boolean>>): void {
  const taken = Object.entries(uses).filter(([, used]) => used).map(([name]) => name);
  if (taken.length > 1) throw new Ig3dcError('usage', `${taken.join(' and ')} would all write to stdout; give files for all but one`);
}

/** Prints one JSON value on stdout. */
export function writeJson(value: unknown): Promise<void> {
  return writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

/** A numeric option (commander gives strings; programmatic callers numbers); a usage error when it is not one. */
export function numberOption(name: string, v: number | string | undefined, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new Ig3dcError('usage', `${name}: expected ${integer ? 'an integer' : 'a number'}, got '${String(v)}'`);
  return n;
}
