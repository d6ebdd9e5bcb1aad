// The circuit value: registers, instructions in topological order, inputs, outputs and the
// fixed-point fractional bits f. Produced by CircuitBuilder, the text parser or the file
// reader; consumed by the scheduler, the cost model, the leakage checker and the runtime.

import type { Shape } from '../types.ts';
import type { InputEncoding, Instruction, Party, RegType } from './types.ts';

export interface CircuitInput {
  readonly name: string;
  readonly party: Party;
  /** The register the input instruction defines. */
  readonly reg: number;
  readonly encoding: InputEncoding;
  /** The shape of the tensor the party supplies (before a onehot's class axis). */
  readonly shape: Shape;
  readonly classes: number;
}

/** A declared output: the client learns register `reg` under `name` (both parties do when a `reveal` instruction reveals it). */
export interface CircuitOutput {
  readonly name: string;
  readonly reg: number;
}

export interface Circuit {
  readonly name: string;
  /** Fractional bits of the fixed-point encoding (16 by default, as CrypTen). */
  readonly f: number;
  /** Register types, indexed by register id. */
  readonly registers: readonly RegType[];
  readonly instructions: readonly Instruction[];
  readonly inputs: readonly CircuitInput[];
  readonly outputs: readonly CircuitOutput[];
}

export const DEFAULT_FRACTIONAL_BITS = 16;

/** The inputs of a circuit, read off its `input` instructions in order. */
export function inputsOf(instructions: readonly Instruction[]): CircuitInput[] {
  const out: CircuitInput[] = [];
  for (const ins of instructions) {
    if (ins.op !== 'input') continue;
    out.push({
      name: ins.attrs['name'] as string,
      party: ins.attrs['party'] as Party,
      reg: ins.outputs[0]!,
      encoding: ins.attrs['encoding'] as InputEncoding,
      shape: [...(ins.attrs['shape'] as readonly number[])],
      classes: ins.attrs['classes'] as number,
    });
  }
  return out;
}

/** Declared outputs paired with the register their `output` instruction reveals (-1 when missing). */
export function outputsOf(names: readonly string[], instructions: readonly Instruction[]): CircuitOutput[] {
  const regOf = new Map<string, number>();
  for (const ins of instructions) if (ins.op === 'output' || ins.op === 'reveal') regOf.set(ins.attrs['name'] as string, ins.inputs[0]!);
  return names.map((name) => ({ name, reg: regOf.get(name) ?? -1 }));
}

/** Whether an instruction brings in a value that depends on the client: its input, or shares a previous segment left. */
export function isClientSource(ins: Instruction): boolean {
  return (ins.op === 'input' && ins.attrs['party'] === 1) || ins.op === 'shared_input';
}

/** Register id -> index of the instruction that defines it. */
export function definingInstruction(c: Circuit): Int32Array {
  const def = new Int32Array(c.registers.length).fill(-1);
  c.instructions.forEach((ins, i) => {
    for (const r of ins.outputs) def[r] = i;
  });
  return def;
}
