// The ops that join the circuits of a model run in segments (token pruning: shapes decided at
// run time). A segment ends with its values still secret: `handoff` leaves a register's share
// with each party under a name, and the next segment's `shared_input` starts from those
// shares (each party supplies its own; nothing is reconstructed). The one value a boundary
// reveals, its survivor count, both parties must learn, since both pick the next segment by
// it: `reveal` has each party send its share to the other (a declared output of both).

import { numel } from '../../types.ts';
import { A, BYTES_PER_ELEMENT, checkShape, int, ints, reg, type CircuitOpDef } from '../gate.ts';
import { typeError } from '../../op.ts';

export const SEGMENT_GATES: readonly CircuitOpDef[] = [
  {
    name: 'shared_input',
    summary: "a value both parties already hold shares of (a previous segment's handoff): each party supplies its own share",
    cls: 'source',
    inputs: [],
    attrs: { name: { kind: 'string' }, shape: { kind: 'ints' }, scale: { kind: 'int' } },
    infer(_, a) {
      const shape = ints(a, 'shape');
      checkShape('shared_input', shape);
      if (int(a, 'scale') < 0) typeError('shared_input: scale must be >= 0');
      return [reg('ashr', shape, int(a, 'scale'))];
    },
  },
  {
    name: 'handoff',
    summary: "leaves each party's share of a register with that party under a name, for the next segment (no communication, nothing revealed)",
    cls: 'local',
    inputs: [A],
    attrs: { name: { kind: 'string' } },
    infer: () => [],
    evaluate: () => [],
  },
  {
    name: 'reveal',
    summary: 'reveals a declared output to both parties (each party sends its share: 8 bytes per element each way)',
    cls: 'comm',
    inputs: [A],
    attrs: { name: { kind: 'string' } },
    infer: () => [],
    comm: {
      bytes: (ins, regs) => {
        const b = numel(regs[ins.inputs[0]!]!.shape) * BYTES_PER_ELEMENT;
        return [b, b];
      },
      sends: () => true,
    },
  },
];

/** Whether an instruction reveals a declared output (to the client, or to both parties). */
export const isDeclaredReveal = (op: string): boolean => op === 'output' || op === 'reveal';
