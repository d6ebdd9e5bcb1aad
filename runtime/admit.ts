// What every role checks on a circuit before running it: the verifier (well-formed, types
// agree) and the leakage checker (every open is freshly masked, every output declared). A
// circuit file's hash is unkeyed, so an edited file is only caught here.

import type { Circuit } from '../ir/circuit/circuit.ts';
import { checkLeakage } from '../ir/circuit/leakage.ts';
import { verifyCircuit } from '../ir/circuit/verify.ts';

/** `leakage: false` only for protocol tests that open a value on purpose. */
export function admitCircuit(c: Circuit, file?: string, leakage = true): void {
  verifyCircuit(c, file);
  if (leakage) checkLeakage(c, file);
}
