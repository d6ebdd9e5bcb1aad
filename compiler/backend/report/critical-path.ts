// The critical-path lower bound on online rounds: the most online communications on any
// chain of data dependencies, computed from the instructions' def-use edges alone (not from
// the schedule's depths). No schedule can use fewer rounds; ours uses exactly this many,
// since it puts every communication in the round right after its last dependency.

import { isClientSource, type Circuit } from '../../../ir/circuit/circuit.ts';
import { isComm } from '../../../ir/circuit/ops.ts';

export function criticalPathRounds(c: Circuit): number {
  const n = c.registers.length;
  const client = new Uint8Array(n);
  // longest chain of online communications ending at each register
  const chain = new Int32Array(n);
  let best = 0;
  for (const ins of c.instructions) {
    const online = isClientSource(ins) || ins.op === 'output' || ins.op === 'reveal' || ins.inputs.some((r) => client[r] === 1);
    let d = 0;
    if (online) for (const r of ins.inputs) if (client[r] === 1 && chain[r]! > d) d = chain[r]!;
    if (online && isComm(ins.op)) d++;
    if (d > best) best = d;
    const dep = isClientSource(ins) || ins.inputs.some((r) => client[r] === 1) ? 1 : 0;
    for (const r of ins.outputs) {
      client[r] = dep;
      chain[r] = d;
    }
  }
  return best;
}
