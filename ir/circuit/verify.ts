// The circuit verifier: SSA order, kinds, shapes, scales and attributes of every
// instruction against the op table, and the consistency of inputs and outputs.

import { Ig3dcError, type SourcePlace } from '../diagnostics.ts';
import { numel, shapesEqual } from '../types.ts';
import type { Circuit } from './circuit.ts';
import { completeCircuitAttrs, findCircuitOp, inferInstruction } from './ops.ts';
import { formatRegType, type Instruction, type RegType } from './types.ts';

function where(i: number, ins: Instruction, file?: string): SourcePlace {
  const name = ins.outputs.length > 0 ? `%${ins.outputs[0]}` : `instruction ${i} (${ins.op})`;
  return file === undefined ? { node: name } : { file, node: name };
}

function fail(detail: string, place: SourcePlace): never {
  throw new Ig3dcError('verify', detail, place);
}

/** Throws an Ig3dcError('verify') naming the first bad instruction. */
export function verifyCircuit(c: Circuit, file?: string): void {
  const filePlace: SourcePlace = file === undefined ? {} : { file };
  if (!Number.isInteger(c.f) || c.f < 0 || c.f > 62) fail(`fractional bits f must be in 0..62, got ${c.f}`, filePlace);
  const defined = new Uint8Array(c.registers.length);
  const inputNames = new Set<string>();
  const outputNames = new Set<string>();
  c.instructions.forEach((ins, i) => {
    const place = where(i, ins, file);
    const def = findCircuitOp(ins.op);
    if (def === undefined) fail(`unknown circuit op '${ins.op}'`, place);
    for (const r of ins.inputs) {
      if (!Number.isInteger(r) || r < 0 || r >= c.registers.length) fail(`${ins.op} reads unknown register %${r}`, place);
      if (!defined[r]) fail(`${ins.op} reads %${r} before it is defined`, place);
    }
    let attrs;
    let types: RegType[];
    try {
      attrs = completeCircuitAttrs(def, ins.attrs);
      types = inferInstruction(def, ins.inputs.map((r) => c.registers[r]!), attrs, c.f);
    } catch (e) {
      if (e instanceof Ig3dcError) fail(e.detail, place);
      throw e;
    }
    if (types.length !== ins.outputs.length) fail(`${ins.op} defines ${types.length} register(s), the instruction lists ${ins.outputs.length}`, place);
    ins.outputs.forEach((r, j) => {
      if (!Number.isInteger(r) || r < 0 || r >= c.registers.length) fail(`${ins.op} defines unknown register %${r}`, place);
      if (defined[r]) fail(`register %${r} is defined twice`, place);
      defined[r] = 1;
      const want = types[j]!;
      const got = c.registers[r]!;
      if (got.kind !== want.kind || got.scale !== want.scale || !shapesEqual(got.shape, want.shape)) {
        fail(`%${r} is declared ${formatRegType(got)} but ${ins.op} gives ${formatRegType(want)}`, place);
      }
    });
    if (ins.op === 'const') {
      const n = numel(c.registers[ins.outputs[0]!]!.shape);
      if (ins.data === undefined || ins.data.length !== n) fail(`const needs ${n} elements, has ${ins.data?.length ?? 0}`, place);
    } else if (ins.data !== undefined) {
      fail(`${ins.op} carries constant data`, place);
    }
    if (ins.op === 'input') {
      const key = `${attrs['party'] as number}:${attrs['name'] as string}`;
      if (inputNames.has(key)) fail(`input '${attrs['name'] as string}' of party ${attrs['party'] as number} is defined twice`, place);
      inputNames.add(key);
    }
    if (ins.op === 'shared_input' || ins.op === 'handoff') {
      const key = `${ins.op}:${attrs['name'] as string}`;
      if (inputNames.has(key)) fail(`${ins.op} '${attrs['name'] as string}' appears twice`, place);
      inputNames.add(key);
    }
    if (ins.op === 'output' || ins.op === 'reveal') {
      const name = attrs['name'] as string;
      if (outputNames.has(name)) fail(`output '${name}' is revealed twice`, place);
      outputNames.add(name);
    }
  });
  defined.forEach((d, r) => {
    if (!d) fail(`register %${r} is never defined`, filePlace);
  });
  const declared = new Set<string>();
  for (const o of c.outputs) {
    if (declared.has(o.name)) fail(`output '${o.name}' is declared twice`, filePlace);
    declared.add(o.name);
    const ins = c.instructions.find((x) => (x.op === 'output' || x.op === 'reveal') && x.attrs['name'] === o.name);
    if (ins === undefined) fail(`declared output '${o.name}' is never revealed by an output or reveal instruction`, filePlace);
    if (ins.inputs[0] !== o.reg) fail(`declared output '${o.name}' names %${o.reg} but its output instruction reveals %${ins.inputs[0]}`, filePlace);
  }
  const inputRegs = c.instructions.filter((x) => x.op === 'input').map((x) => x.outputs[0]);
  if (inputRegs.length !== c.inputs.length || c.inputs.some((inp, i) => inp.reg !== inputRegs[i])) {
    fail('the circuit input list does not match its input instructions', filePlace);
  }
}
