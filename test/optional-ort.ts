// onnxruntime-node is an optional dependency: the tests that use it as an oracle load it here,
// dynamically, and are reported skipped (`skipIf(!haveOrt)`) where it is absent. Outside a
// guarded test the module is a stand-in that throws, so an unguarded use fails loudly.

import type * as OrtModule from 'onnxruntime-node';

export type Ort = typeof OrtModule;
export type OrtTensor = OrtModule.Tensor;
export type OrtTensorType = OrtModule.Tensor.Type;
export type OrtSession = OrtModule.InferenceSession;

const loaded: Ort | undefined = await import('onnxruntime-node').then(
  (m) => {
    const mod = m as unknown as Ort & { default?: Ort };
    return mod.InferenceSession !== undefined ? mod : mod.default!;
  },
  () => undefined,
);

/** Whether onnxruntime-node loads here. */
export const haveOrt = loaded !== undefined;

const absent = new Proxy({} as Ort, {
  get(_, key) {
    throw new Error(`onnxruntime-node is not installed (used ort.${String(key)} in a test not guarded by skipIf(!haveOrt))`);
  },
});

/** The onnxruntime-node module (a stand-in that throws where it is not installed). */
export const ort: Ort = loaded ?? absent;
