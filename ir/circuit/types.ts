// Registers, instructions and provenance of the circuit IR: ops on shares over Z_2^64.
//
// A register is an SSA value with a kind (who knows what), a static shape and a scale (the
// number of fractional bits its fixed-point value carries). Scales are part of the type so a
// missing truncation is a verifier error, not a wrong number at run time.

import type { Shape } from '../types.ts';

/**
 * `pub`: known to both parties; `ashr`: additive shares (s0 + s1); `bshr`: XOR shares of 64-bit
 * words; `key`: each party's own key words; `own0` / `own1`: a value party 0 / party 1 holds
 * alone, in the clear (the other party's array is empty): an operand of a cross product
 * (gates/cross.ts), never shared.
 */
export const REG_KINDS = ['pub', 'ashr', 'bshr', 'key', 'own0', 'own1'] as const;
export type RegKind = (typeof REG_KINDS)[number];

export function isRegKind(s: string): s is RegKind {
  return (REG_KINDS as readonly string[]).includes(s);
}

export interface RegType {
  readonly kind: RegKind;
  readonly shape: Shape;
  /** Fractional bits of the fixed-point value (0 for integers and bits). */
  readonly scale: number;
}

/** A register handle as the builder returns it: its id and its type. */
export interface Reg extends RegType {
  readonly id: number;
}

/** Op kinds for cost reporting: which part of the model an instruction belongs to. */
export const OP_KINDS = [
  'embedding',
  'linear',
  'attention-matmul',
  'softmax',
  'layernorm',
  'activation',
  'pooler',
  'other',
] as const;
export type OpKind = (typeof OP_KINDS)[number];

export function isOpKind(s: string): s is OpKind {
  return (OP_KINDS as readonly string[]).includes(s);
}

/** Where an instruction came from: the IR node, its layer, its op kind and the protocol that emitted it. */
export interface Provenance {
  /** The IR node's loc name ('' when unknown). */
  readonly irNode: string;
  /** Encoder layer, when the node belongs to one. */
  readonly layer?: number;
  readonly opKind: OpKind;
  /** Protocol name, e.g. `beaver-mul` ('' when unknown). */
  readonly protocol: string;
}

export const NO_PROVENANCE: Provenance = Object.freeze({ irNode: '', opKind: 'other', protocol: '' });

export type CAttrValue = number | string | boolean | readonly number[] | readonly string[];
export type CAttrs = Readonly<Record<string, CAttrValue>>;

export interface Instruction {
  readonly op: string;
  /** Register ids read. */
  readonly inputs: readonly number[];
  /** Register ids defined (in the order of the op's outputs). */
  readonly outputs: readonly number[];
  readonly attrs: CAttrs;
  readonly prov: Provenance;
  /** `const` only: the ring elements (fixed-point encoded at the output's scale). */
  readonly data?: BigUint64Array;
}

/** Who owns a circuit input: party 0 is the server (weights), party 1 the client (model inputs). */
export type Party = 0 | 1;

export const INPUT_ENCODINGS = ['fixed', 'int', 'onehot', 'keepmask'] as const;
export type InputEncoding = (typeof INPUT_ENCODINGS)[number];

export function formatRegType(t: RegType): string {
  return `${t.kind}[${t.shape.join(',')}]@${t.scale}`;
}
