// A worker's own tensors (P0's weights), handed over one at a time when the party program
// reaches their input instruction, instead of a copy of all of them when the worker starts:
// the worker then holds one weight's floats at a time (BERT-base's weights are 437 MB of
// float32, which the caller keeps anyway). The party program is synchronous, so the worker
// asks and blocks (Atomics.wait) until the thread that holds the tensors, which is idle
// waiting for the workers, has answered on a MessagePort.

import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { Tensor } from '../ir/tensor.ts';
import type { WireTensor } from './wire-tensor.ts';

/** Where a party program gets its own tensors by name (a Map is one). */
export interface TensorSource {
  get(name: string): Tensor | undefined;
}

/** What the worker needs to ask: its end of the channel and the shared flag the answer raises. */
export interface TensorRequests {
  readonly port: MessagePort;
  readonly signal: SharedArrayBuffer;
}

/** The holder's end: answers each request with a copy of one tensor (transferred, the exact size of its data). */
export function serveTensors(tensors: ReadonlyMap<string, Tensor>): { requests: TensorRequests; close(): void } {
  const { port1, port2 } = new MessageChannel();
  const signal = new SharedArrayBuffer(4);
  const flag = new Int32Array(signal);
  port1.on('message', (name: unknown) => {
    const t = typeof name === 'string' ? tensors.get(name) : undefined;
    if (t === undefined) port1.postMessage(null);
    else {
      // A copy of the view alone: a tensor's data can be a view into a larger buffer (a model file).
      const data = t.data.slice();
      const wire: WireTensor = { dtype: t.dtype, shape: [...t.shape], data };
      port1.postMessage(wire, [data.buffer as ArrayBuffer]);
    }
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
  return { requests: { port: port2, signal }, close: () => port1.close() };
}

/** The worker's end: a synchronous source that asks the holder for each tensor. */
export function requestTensors(r: TensorRequests): TensorSource {
  const flag = new Int32Array(r.signal);
  return {
    get(name: string): Tensor | undefined {
      Atomics.store(flag, 0, 0);
      r.port.postMessage(name);
      Atomics.wait(flag, 0, 0);
      const got = receiveMessageOnPort(r.port);
      if (got === undefined) throw new Error(`no answer for tensor '${name}'`);
      const w = got.message as WireTensor | null;
      return w === null ? undefined : new Tensor(w.dtype, w.shape, w.data);
    },
  };
}
