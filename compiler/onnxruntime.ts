// onnxruntime-node, loaded only when a command needs a fast float engine (dev-set accuracy in
// tune, the batched gradients of importance). It is an optional engine: when it cannot be
// loaded, callers fall back to the plaintext evaluator and say why.

export type Ort = typeof import('onnxruntime-node');

/** How to get the engine: its install script would download GPU binaries, which npm 10 lets fail the install. */
export const ONNXRUNTIME_FIX = "to install it, run 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node' in the ig3dc directory (the CPU binaries ship in the package)";

let loaded: Promise<Ort | string> | undefined;

/** The onnxruntime-node module, or the reason it could not be loaded. */
export function loadOnnxRuntime(): Promise<Ort | string> {
  loaded ??= import('onnxruntime-node').then(
    (m) => {
      const ort = m as Ort & { default?: Ort };
      return ort.InferenceSession !== undefined ? ort : ort.default!;
    },
    (e: unknown) => `onnxruntime-node could not be loaded (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); ${ONNXRUNTIME_FIX}`,
  );
  return loaded;
}
