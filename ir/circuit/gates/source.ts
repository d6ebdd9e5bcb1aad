// Sources: a party's private input and public constants. Their values come from outside the
// circuit (a party's tensors, the circuit file), so the runtime makes them where they enter.

import { typeError } from '../../op.ts';
import { checkShape, int, ints, reg, type CircuitOpDef } from '../gate.ts';
import { INPUT_ENCODINGS } from '../types.ts';

export const SOURCE_GATES: readonly CircuitOpDef[] = [
  {
    name: 'input',
    summary: "a party's private input, shared without communication (P0: server weights, P1: client inputs); `held`: kept by its owner alone, unshared (own0 / own1; a held one-hot at scale 0)",
    cls: 'source',
    inputs: [],
    attrs: {
      party: { kind: 'int' },
      name: { kind: 'string' },
      encoding: { kind: 'string', default: 'fixed' },
      shape: { kind: 'ints' },
      classes: { kind: 'int', default: 0 },
      held: { kind: 'bool', default: false },
    },
    infer(_, a, f) {
      const party = int(a, 'party');
      const enc = a['encoding'] as string;
      const shape = ints(a, 'shape');
      checkShape('input', shape);
      if (party !== 0 && party !== 1) typeError(`input: party must be 0 or 1, got ${party}`);
      const held = a['held'] === true;
      const own = party === 0 ? 'own0' : 'own1';
      if (!(INPUT_ENCODINGS as readonly string[]).includes(enc)) {
        typeError(`input: encoding must be one of ${INPUT_ENCODINGS.join(', ')}, got '${enc}'`);
      }
      if (enc === 'onehot') {
        const classes = int(a, 'classes');
        if (classes < 1) typeError('input: a onehot encoding needs classes >= 1');
        // A held one-hot is an exact 0/1 indicator: its products need no truncation.
        return [held ? reg(own, [...shape, classes], 0) : reg('ashr', [...shape, classes], f)];
      }
      return [reg(held ? own : 'ashr', shape, enc === 'int' ? 0 : f)];
    },
  },
  {
    name: 'const',
    summary: 'a public constant embedded in the circuit (ring elements at the given scale)',
    cls: 'source',
    inputs: [],
    attrs: { shape: { kind: 'ints' }, scale: { kind: 'int' } },
    infer(_, a) {
      checkShape('const', ints(a, 'shape'));
      if (int(a, 'scale') < 0) typeError('const: scale must be >= 0');
      return [reg('pub', ints(a, 'shape'), int(a, 'scale'))];
    },
  },
];
