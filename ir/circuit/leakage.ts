// The leakage checker: a structural proof that the parties learn nothing but masked values
// and declared outputs.
//
// Rule: every input of an `open` is `sub(x, a)` (of an `open_b`, `xor(x, a)`) where `a` is a
// uniformly random dealer output of the same shape (no broadcast, which would reuse mask
// elements), and no mask serves two opens or is opened itself. A one-directional `send` of
// (x, a) reveals x - a (the sender's share of x, when x is shared) to the other party: `a` must
// be such a mask too, held by the sender alone. Each comm op names the
// combination it requires, each dealer op which of its outputs are random. Every `output`
// reveals a declared output. rand_bit's outputs are random bits, so they hide only one-bit values:
// the checker accepts them as masks and trusts the protocol to open only bits with them.

import { Ig3dcError } from '../diagnostics.ts';
import { shapesEqual } from '../types.ts';
import { definingInstruction, type Circuit } from './circuit.ts';
import { holder } from './gates/cross.ts';
import { findCircuitOp } from './ops.ts';


export interface LeakageViolation {
  /** Index of the offending instruction. */
  readonly instruction: number;
  readonly message: string;
}

/** All violations of the leakage rule (empty when the circuit is safe). */
export function findLeaks(c: Circuit): LeakageViolation[] {
  const def = definingInstruction(c);
  const out: LeakageViolation[] = [];
  const maskUse = new Map<number, number>();
  const declared = new Set(c.outputs.map((o) => o.name));
  /** Whether `mask` is a random output of a dealer op (else the message's reason). */
  const notDealerMask = (mask: number): string | undefined => {
    const m = c.instructions[def[mask]!]!;
    return (findCircuitOp(m.op)?.dealer?.masks ?? []).includes(m.outputs.indexOf(mask)) ? undefined : `%${mask} (from ${m.op}) is not a random dealer mask`;
  };
  /** Counts a use of `mask` by instruction i; a second use is a violation. */
  const useMask = (i: number, mask: number): void => {
    maskUse.set(mask, (maskUse.get(mask) ?? 0) + 1);
    if (maskUse.get(mask) === 2) out.push({ instruction: i, message: `mask %${mask} is used by more than one open` });
  };
  // A one-directional send's inputs are (value, mask): the mask must be a random dealer output
  // of the value's shape, held by the sender alone (so the receiver cannot remove it), used once.
  const checkSend = (i: number): void => {
    const ins = c.instructions[i]!;
    const [x, mask] = [ins.inputs[0]!, ins.inputs[1]!];
    const notMask = notDealerMask(mask);
    if (notMask !== undefined) {
      out.push({ instruction: i, message: `${ins.op} reveals %${x} - %${mask} but ${notMask}` });
      return;
    }
    // The sender holds the mask alone, and the value too, or its own share of it (a share is
    // the sender's to reveal under a mask as much as a value it holds).
    const from = holder(c.registers[mask]!);
    const value = c.registers[x]!;
    if (from === undefined || (value.kind !== 'ashr' && holder(value) !== from)) {
      out.push({ instruction: i, message: `${ins.op} reveals %${x} - %${mask} but the mask is not held by the sender alone` });
      return;
    }
    if (!shapesEqual(c.registers[mask]!.shape, c.registers[x]!.shape)) {
      out.push({ instruction: i, message: `${ins.op} reveals %${x} with mask %${mask} of another shape (mask elements would be reused)` });
      return;
    }
    useMask(i, mask);
  };
  c.instructions.forEach((ins, i) => {
    if (ins.op === 'output' || ins.op === 'reveal') {
      const name = ins.attrs['name'] as string;
      if (!declared.has(name)) out.push({ instruction: i, message: `output '${name}' reveals %${ins.inputs[0]} but is not a declared output` });
      return;
    }
    const comm = findCircuitOp(ins.op)?.comm;
    if (comm?.sendsMasked === true) {
      checkSend(i);
      return;
    }
    const combine = comm?.maskedBy;
    if (combine === undefined) return;
    for (const r of ins.inputs) {
      const d = c.instructions[def[r]!]!;
      if (d.op !== combine) {
        out.push({ instruction: i, message: `${ins.op} reveals %${r}, defined by ${d.op}, not a ${combine} with a dealer mask` });
        continue;
      }
      const mask = d.inputs[1]!;
      const notMask = notDealerMask(mask);
      if (notMask !== undefined) {
        out.push({ instruction: i, message: `${ins.op} reveals %${r} = ${combine}(%${d.inputs[0]}, %${mask}) but ${notMask}` });
        continue;
      }
      if (!shapesEqual(c.registers[mask]!.shape, c.registers[r]!.shape)) {
        out.push({ instruction: i, message: `${ins.op} reveals %${r} with mask %${mask} broadcast over it (mask elements would be reused)` });
        continue;
      }
      useMask(i, mask);
    }
  });
  return out;
}

/** Throws an Ig3dcError('verify') listing every violation. */
export function checkLeakage(c: Circuit, file?: string): void {
  const leaks = findLeaks(c);
  if (leaks.length === 0) return;
  const lines = leaks.map((l) => `instruction ${l.instruction}: ${l.message}`);
  throw new Ig3dcError('verify', `leakage check failed (${leaks.length}):\n  ${lines.join('\n  ')}`, file === undefined ? {} : { file });
}
