// Worker thread: computes per-example importance for the examples the parent sends, one
// at a time, and reports progress per head. Model graphs are built and cached here.

import { parentPort, workerData } from 'node:worker_threads';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Example } from './dataset.ts';
import { ImportanceModel } from './model.ts';
import { exampleResult, type JobOptions } from './run.ts';

export type ToWorker = { readonly type: 'example'; readonly example: Example } | { readonly type: 'stop' };
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly units: number }
  | { readonly type: 'result'; readonly result: ReturnType<typeof exampleResult> }
  | { readonly type: 'error'; readonly kind?: string; readonly detail: string; readonly place?: object };

const port = parentPort!;
const opts = workerData as JobOptions;
const post = (m: FromWorker): void => port.postMessage(m);
try {
  const model = new ImportanceModel(opts.model);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stop') {
      port.close();
      return;
    }
    try {
      const ex: Example = { ...m.example, ids: Int32Array.from(m.example.ids), ...(m.example.pixels !== undefined ? { pixels: Float32Array.from(m.example.pixels) } : {}) };
      post({ type: 'result', result: exampleResult(model, ex, opts, (units) => post({ type: 'progress', units })) });
    } catch (e) {
      if (e instanceof Ig3dcError) post({ type: 'error', kind: e.kind, detail: e.detail, place: e.place });
      else post({ type: 'error', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
  post({ type: 'ready' });
} catch (e) {
  if (e instanceof Ig3dcError) post({ type: 'error', kind: e.kind, detail: e.detail, place: e.place });
  else post({ type: 'error', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
