// Communication between the parties: opening masked values (arithmetic or XOR shares) and
// revealing a declared output to the client. Each party sends 8 bytes per element it
// reveals (16 per element on the wire for an open, as CrypTen counts an exchange); an
// output has P0 send its share to P1 only.

import * as K from '../../ring/kernels.ts';
import { numel } from '../../types.ts';
import { A, B, BYTES_PER_ELEMENT, reg, type CircuitOpDef, type CommGate, type KindSet, type Ring } from '../gate.ts';
import type { Instruction, RegType } from '../types.ts';

function inputBytes(ins: Instruction, regs: readonly RegType[]): number {
  let n = 0;
  for (const r of ins.inputs) n += numel(regs[r]!.shape);
  return n * BYTES_PER_ELEMENT;
}

function openGate(name: string, summary: string, kinds: KindSet, maskedBy: string, combine: (own: Ring, theirs: Ring) => Ring): CircuitOpDef {
  const comm: CommGate = {
    bytes: (ins, regs) => {
      const b = inputBytes(ins, regs);
      return [b, b];
    },
    sends: () => true,
    combine,
    maskedBy,
  };
  return { name, summary, cls: 'comm', inputs: [kinds], variadic: true, attrs: {}, infer: (xs) => xs.map((x) => reg('pub', x.shape, x.scale)), comm };
}

export const COMM_GATES: readonly CircuitOpDef[] = [
  openGate('open', 'reveal arithmetic shares to both parties (each party sends 8 bytes per element)', A, 'sub', K.ringAdd),
  openGate('open_b', 'reveal XOR shares to both parties (each party sends 8 bytes per element)', B, 'xor', K.ringXor),
  {
    name: 'output',
    summary: 'reveal a declared output to the client only (P0 sends its share: 8 bytes per element)',
    cls: 'comm',
    inputs: [A],
    attrs: { name: { kind: 'string' } },
    infer: () => [],
    comm: { bytes: (ins, regs) => [inputBytes(ins, regs), 0], sends: (from) => from === 0 },
  },
];
