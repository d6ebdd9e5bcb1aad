// What a circuit op is: its type rule and, by class, its meaning on the parties' shares (local
// ops), the material the dealer makes for it (dealer ops) or what it puts on the wire (comm
// ops), with the byte cost beside the code that sends the bytes. One file per op family under
// gates/ defines its ops completely; the runtime and the cost report only look ops up by name,
// so a new gate is added in one place and the static cost cannot drift from the runtime.

import { typeError, type AttrSpec } from '../op.ts';
import { numel, type Shape } from '../types.ts';
import type { CAttrs, Instruction, RegKind, RegType } from './types.ts';

export type Ring = BigUint64Array;

export type OpClass = 'source' | 'local' | 'dealer' | 'comm';

/** Allowed kinds of one input. */
export type KindSet = readonly RegKind[];

/** A party's view while it runs one local instruction. */
export interface LocalEnv {
  readonly ins: Instruction;
  readonly party: 0 | 1;
  readonly regs: readonly RegType[];
  /** The party's value of a register. */
  readonly get: (r: number) => Ring;
}

/**
 * The dealer's material for one instruction, a pure function of the instruction and the two
 * seeds the dealer shares with P0 and P1: each party derives what it can from its own seed
 * (no bytes) and the dealer sends it the rest.
 */
export interface DealerGate {
  /** Party `party`'s seed-derived values (the part no one sends). */
  own(ins: Instruction, regs: readonly RegType[], party: 0 | 1, seed: Uint8Array): Ring[];
  /**
   * The words the dealer sends [P0, P1] (undefined: none), from both seeds, made together
   * (one key generation gives both parties' keys). `p1Own`, when given, is P1's seed-derived
   * values (reused where P1 hosts the dealer). Each party's words are an array of their own;
   * a lent one (pool.ts allocLent) may come back to the dealer's thread for later words.
   */
  send(ins: Instruction, regs: readonly RegType[], seeds: DealerSeeds, p1Own?: readonly Ring[]): readonly [Ring | undefined, Ring | undefined];
  /** Bytes the dealer sends to [P0, P1]. */
  bytes(ins: Instruction, regs: readonly RegType[]): [number, number];
  /** The party's outputs from its own values and the words it received. */
  assemble(ins: Instruction, regs: readonly RegType[], party: 0 | 1, own: readonly Ring[], received: Ring | undefined): Ring[];
  /** Output positions that are uniformly random, so may mask an open (leakage rule). */
  readonly masks: readonly number[];
}

export interface DealerSeeds {
  readonly s0d: Uint8Array;
  readonly s1d: Uint8Array;
}

/** A communication op: who sends what, and what the receiver makes of it. */
export interface CommGate {
  /** Bytes each party sends: [P0, P1]. */
  bytes(ins: Instruction, regs: readonly RegType[]): [number, number];
  /** Whether party `from` sends its shares of the inputs. */
  sends(from: 0 | 1): boolean;
  /**
   * The receiver's result for input j from its own share and the peer's: a register of the
   * public value (opens), or undefined (declared outputs, decoded by the runtime).
   */
  combine?(own: Ring, theirs: Ring): Ring;
  /** The op that must define each opened input, with a dealer mask as its second operand (leakage rule). */
  readonly maskedBy?: string;
  /**
   * A one-directional send of a masked value: its inputs are (value, mask), both held by the
   * sender, and the mask must be a fresh random dealer output (leakage rule). The fields below
   * replace `sends` / `combine` for it.
   */
  readonly sendsMasked?: boolean;
  /** The words party `party` sends (a fresh array, recycled once copied; undefined: it sends none). Default: its shares of the inputs. */
  message?(ins: Instruction, regs: readonly RegType[], party: 0 | 1, get: (r: number) => Ring): Ring | undefined;
  /** The party's outputs once the round is done, from the peer's words (undefined where the peer sent none; the words are the message's, so copied if kept). */
  deliver?(ins: Instruction, regs: readonly RegType[], party: 0 | 1, theirs: Ring | undefined): Ring[];
}

export interface CircuitOpDef {
  readonly name: string;
  readonly summary: string;
  readonly cls: OpClass;
  /** Kinds of the inputs, position by position; `variadic` repeats the single entry (at least one input). */
  readonly inputs: readonly KindSet[];
  readonly variadic?: boolean;
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  /** Result types (kinds, shapes, scales), or a typeError saying what was expected. `f` is the circuit's fractional bits. */
  infer(inputs: readonly RegType[], attrs: CAttrs, f: number): RegType[];
  /** Local ops: this party's values of the outputs. */
  readonly evaluate?: (env: LocalEnv) => Ring[];
  readonly dealer?: DealerGate;
  readonly comm?: CommGate;
}

export const BYTES_PER_ELEMENT = 8;

export const ANY: KindSet = ['pub', 'ashr', 'bshr'];
export const A: KindSet = ['ashr'];
export const P: KindSet = ['pub'];
export const B: KindSet = ['bshr'];

export const ints = (a: CAttrs, k: string): readonly number[] => a[k] as readonly number[];
export const int = (a: CAttrs, k: string): number => a[k] as number;

export function reg(kind: RegKind, shape: Shape, scale: number): RegType {
  return { kind, shape: [...shape], scale };
}

export function sameScale(op: string, a: RegType, b: RegType): number {
  if (a.scale !== b.scale) typeError(`${op} needs equal scales, got @${a.scale} and @${b.scale}`);
  return a.scale;
}

export function checkShape(op: string, shape: readonly number[]): void {
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) typeError(`${op}: bad shape [${shape.join(',')}]`);
}

/** Elements of output j of an instruction. */
export function outputSize(ins: Instruction, regs: readonly RegType[], j: number): number {
  return numel(regs[ins.outputs[j]!]!.shape);
}

/** A local op's input i: the party's value, and its shape. */
export const inputValue = (e: LocalEnv, i: number): Ring => e.get(e.ins.inputs[i]!);
export const inputShape = (e: LocalEnv, i: number): Shape => e.regs[e.ins.inputs[i]!]!.shape;
export const outputShape = (e: LocalEnv): Shape => e.regs[e.ins.outputs[0]!]!.shape;
