// How every command ends: a typed error becomes one paragraph on stderr and exit code 1;
// anything else is an internal bug, reported without a stack trace unless IG3DC_DEBUG is set.

import { isIg3dcError } from '../../ir/diagnostics.ts';

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
export function writeOut(text: string): Promise<void> {
  return new Promise((resolveWrite) => {
    if (process.stdout.write(text)) resolveWrite();
    else process.stdout.once('drain', () => resolveWrite());
  });
}
