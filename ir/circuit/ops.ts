// The circuit instruction set as data: one CircuitOpDef per op (input kinds, attributes,
// class, a kind/shape/scale rule, and its meaning on shares, dealer material or wire bytes),
// in the manner of ir/op.ts. Each family of ops is defined completely in one file of gates/.
//
// Classes: `source` (input, const), `local` (each party works on its own share), `dealer`
// (correlated randomness, no P0-P1 traffic), `comm` (open, open_b, output: the only
// communication between the parties).

import { attrMatches, describeKind, typeError } from '../op.ts';
import type { CircuitOpDef } from './gate.ts';
import { ARITH_GATES } from './gates/arith.ts';
import { BITWISE_GATES } from './gates/bitwise.ts';
import { COMM_GATES } from './gates/comm.ts';
import { CROSS_GATES } from './gates/cross.ts';
import { FSS_GATES } from './gates/fss.ts';
import { FSS_SPLINE_GATES } from './gates/fss-spline.ts';
import { MOVEMENT_GATES } from './gates/movement.ts';
import { SEGMENT_GATES } from './gates/segment.ts';
import { SOURCE_GATES } from './gates/source.ts';
import { TRIPLE_GATES } from './gates/triples.ts';
import { TRUNCATION_GATES } from './gates/truncation.ts';
import type { CAttrs, CAttrValue, RegType } from './types.ts';

export type { CircuitOpDef, KindSet, OpClass } from './gate.ts';

const DEFS: readonly CircuitOpDef[] = [...SOURCE_GATES, ...ARITH_GATES, ...MOVEMENT_GATES, ...BITWISE_GATES, ...TRIPLE_GATES, ...CROSS_GATES, ...TRUNCATION_GATES, ...FSS_GATES, ...FSS_SPLINE_GATES, ...COMM_GATES, ...SEGMENT_GATES];

const TABLE = new Map<string, CircuitOpDef>(DEFS.map((d) => [d.name, d]));
if (TABLE.size !== DEFS.length) throw new Error('two circuit ops share a name');

export function findCircuitOp(name: string): CircuitOpDef | undefined {
  return TABLE.get(name);
}

/** The definition of an op the circuit verifier has accepted (throws on an unknown op: a bug). */
export function circuitOp(name: string): CircuitOpDef {
  const d = TABLE.get(name);
  if (d === undefined) throw new Error(`unknown circuit op '${name}'`);
  return d;
}

export function allCircuitOps(): readonly CircuitOpDef[] {
  return DEFS;
}

export function isComm(op: string): boolean {
  return TABLE.get(op)?.cls === 'comm';
}

export function isDealer(op: string): boolean {
  return TABLE.get(op)?.cls === 'dealer';
}

/** Checks attributes against the spec and returns them with defaults filled in (typeError otherwise). */
export function completeCircuitAttrs(def: CircuitOpDef, attrs: CAttrs): CAttrs {
  const out: Record<string, CAttrValue> = {};
  for (const [key, value] of Object.entries(attrs)) {
    const spec = def.attrs[key];
    if (spec === undefined) typeError(`${def.name} has no attribute '${key}'`);
    if (!attrMatches(spec.kind, value)) typeError(`${def.name} attribute '${key}' must be ${describeKind(spec.kind)}, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  for (const [key, spec] of Object.entries(def.attrs)) {
    if (key in out) continue;
    if (spec.default === undefined) typeError(`${def.name} requires attribute '${key}' (${describeKind(spec.kind)})`);
    out[key] = spec.default;
  }
  return out;
}

/** Checks input arity and kinds, then applies the op's rule. Throws typeError on failure. */
export function inferInstruction(def: CircuitOpDef, inputs: readonly RegType[], attrs: CAttrs, f: number): RegType[] {
  if (def.variadic) {
    if (inputs.length < 1) typeError(`${def.name} needs at least one input`);
  } else if (inputs.length !== def.inputs.length) {
    typeError(`${def.name} takes ${def.inputs.length} input(s), got ${inputs.length}`);
  }
  inputs.forEach((t, i) => {
    const allowed = def.variadic ? def.inputs[0]! : def.inputs[i]!;
    if (!allowed.includes(t.kind)) typeError(`${def.name} input ${i} must be ${allowed.join(' or ')}, got ${t.kind}`);
  });
  return def.infer(inputs, attrs, f);
}
