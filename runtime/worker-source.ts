// The source a worker thread starts from. Compiled (dist/*.js), a worker imports its entry
// directly; run from the TypeScript sources (tsx, vitest), it first registers tsx's loader in
// the new thread, which costs about a second per worker.

import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Boot code for `new Worker(code, { eval: true })` that imports `entry`, the worker module
 * named by its TypeScript URL (e.g. `new URL('./party-worker.ts', import.meta.url)`); the
 * compiled sibling `.js` is used when the caller itself is compiled. A failed start posts
 * `{ type: 'error', detail }` to the parent.
 */
export function workerBootCode(entry: URL, callerUrl: string): string {
  const fail = `.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', detail: 'worker start failed: ' + (e && e.stack || e) }); });`;
  if (callerUrl.endsWith('.js')) {
    const compiled = entry.href.replace(/\.ts$/, '.js');
    return `import(${JSON.stringify(compiled)})${fail}`;
  }
  const api = createRequire(fileURLToPath(callerUrl)).resolve('tsx/esm/api').replace(/index\.cjs$/, 'index.mjs');
  return `import(${JSON.stringify(pathToFileURL(api).href)})
    .then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry.href)}); })${fail}`;
}
