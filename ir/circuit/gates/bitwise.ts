// Binary (XOR) shares: bitwise ops on 64-bit words, shifts, and a party's arithmetic share
// taken as a binary sharing.

import { typeError } from '../../op.ts';
import * as K from '../../ring/kernels.ts';
import { A, B, inputValue as x, int, P, reg, type CircuitOpDef } from '../gate.ts';
import { allocZeros } from '../../ring/pool.ts';
import { binary, binaryGate, p0Only } from './arith.ts';

function shiftGate(name: string, summary: string, shift: (v: BigUint64Array, bits: number) => BigUint64Array): CircuitOpDef {
  return {
    name,
    summary,
    cls: 'local',
    inputs: [['bshr', 'pub']],
    attrs: { bits: { kind: 'int' } },
    infer([a], at) {
      const bits = int(at, 'bits');
      if (bits < 0 || bits > 63) typeError(`${name}: bits must be in 0..63, got ${bits}`);
      return [reg(a!.kind, a!.shape, a!.scale)];
    },
    evaluate: (e) => [shift(x(e, 0), int(e.ins.attrs, 'bits'))],
  };
}

export const BITWISE_GATES: readonly CircuitOpDef[] = [
  binaryGate('xor', 'x ^ y (XOR shares)', [B, B], 'bshr', 'first', binary('xor')),
  binaryGate('and_pub', 'x & p', [B, P], 'bshr', 'first', binary('and')),
  binaryGate('xor_pub', 'x ^ p (only P0 applies p)', [B, P], 'bshr', 'first', p0Only('xor')),
  binaryGate('and_pp', 'p & q (public)', [P, P], 'pub', 'first', binary('and')),
  binaryGate('xor_pp', 'p ^ q (public)', [P, P], 'pub', 'first', binary('xor')),
  shiftGate('shl', 'shift left per 64-bit word', K.ringShl),
  shiftGate('shr', 'logical shift right per 64-bit word', K.ringShr),
  {
    name: 'a2b_own',
    summary: "party p's arithmetic share as a binary sharing (p's word = its share, the other's = 0)",
    cls: 'local',
    inputs: [A],
    attrs: { party: { kind: 'int' } },
    infer([a], at) {
      const p = int(at, 'party');
      if (p !== 0 && p !== 1) typeError(`a2b_own: party must be 0 or 1, got ${p}`);
      return [reg('bshr', a!.shape, a!.scale)];
    },
    evaluate: (e) => [e.party === int(e.ins.attrs, 'party') ? x(e, 0) : allocZeros(x(e, 0).length)],
  },
];
