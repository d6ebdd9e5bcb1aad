// What an ONNX op's import rule sees: the node's inputs (as IR nodes), its attributes, the
// opset, and helpers that build IR nodes (folding public constants) and read constant
// shape-like inputs. Implemented by import.ts, used by the op table in onnx-ops.ts.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Attrs, Node } from '../../ir/node.ts';
import type { Tensor } from '../../ir/tensor.ts';
import type { Visibility } from '../../ir/types.ts';
import { longToNumber, type AttributeProto, type LongLike } from './decode.ts';
import { tensorFromProto } from './tensor-proto.ts';

export interface ImportContext {
  /** The ONNX op type, e.g. 'Reshape'. */
  readonly opType: string;
  /** The node's name for locations and errors (the ONNX name, or its first output). */
  readonly name: string;
  /** Opset version of the default domain. */
  readonly opset: number;
  /** The node's output names ('' for omitted optional outputs). */
  readonly outputs: readonly string[];
  /** The node's inputs; undefined where an optional input is omitted (empty name). */
  readonly inputs: readonly (Node | undefined)[];
  readonly attrs: OnnxAttrs;
  /** Input i, which must be present. */
  input(i: number): Node;
  /** Builds an IR node located at this ONNX node; folds it when every input is a public constant. */
  build(op: string, inputs: readonly Node[], attrs?: Attrs): Node;
  /** A constant node located at this ONNX node (or named `name`). */
  constant(t: Tensor, vis?: Visibility, name?: string): Node;
  /**
   * The tensor of input i when it is a constant (of any visibility: shapes are static, so a
   * shape-like input is public in effect); undefined when the input is omitted; an
   * 'unsupported' error naming the node when it is computed at run time.
   */
  constInput(i: number, what: string): Tensor | undefined;
  /** constInput as integers (for shapes, axes, starts/ends). */
  constInts(i: number, what: string): number[] | undefined;
  /** Throws an Ig3dcError naming this node. */
  fail(kind: 'unsupported' | 'shape' | 'decode', message: string): never;
}

type AttrKindOnnx = 'int' | 'float' | 'string' | 'tensor' | 'ints' | 'floats' | 'strings' | 'graph' | 'other';

/** ONNX AttributeProto.AttributeType codes. */
const ATTR_TYPES: Record<number, AttrKindOnnx> = {
  1: 'float',
  2: 'int',
  3: 'string',
  4: 'tensor',
  5: 'graph',
  6: 'floats',
  7: 'ints',
  8: 'strings',
};

/** A node's attributes with typed accessors; wrong kinds are errors naming the node. */
export class OnnxAttrs {
  readonly #byName = new Map<string, AttributeProto>();
  readonly #node: string;
  readonly #file: string | undefined;

  constructor(attrs: readonly AttributeProto[], node: string, file?: string) {
    for (const a of attrs) this.#byName.set(a.name!, a);
    this.#node = node;
    this.#file = file;
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** The attribute's kind: its declared type, or (old exporters leave it out) the field that is set. */
  kind(name: string): AttrKindOnnx | undefined {
    const a = this.#byName.get(name);
    if (a === undefined) return undefined;
    const declared = typeof a.type === 'number' ? ATTR_TYPES[a.type] : undefined;
    if (declared !== undefined) return declared;
    if (a.type !== undefined && a.type !== null && a.type !== 0) return 'other';
    if ((a.ints ?? []).length > 0) return 'ints';
    if ((a.floats ?? []).length > 0) return 'floats';
    if ((a.strings ?? []).length > 0) return 'strings';
    if (a.t !== undefined && a.t !== null) return 'tensor';
    if (a.s !== undefined && a.s !== null && a.s.length > 0) return 'string';
    if (a.f !== undefined && a.f !== null && a.f !== 0) return 'float';
    return 'int';
  }

  #get(name: string, kind: AttrKindOnnx): AttributeProto | undefined {
    const a = this.#byName.get(name);
    if (a === undefined) return undefined;
    const k = this.kind(name);
    // ints/floats accept each other's scalar forms only where ONNX allows (an int where a float is expected)
    if (k !== kind && !(kind === 'float' && k === 'int')) {
      throw new Ig3dcError('decode', `attribute '${name}' should be ${kind}, but it is ${k}`, this.#place());
    }
    return a;
  }

  #place(): { node: string; file?: string } {
    return this.#file !== undefined ? { node: this.#node, file: this.#file } : { node: this.#node };
  }

  int(name: string, dflt: number): number;
  int(name: string): number | undefined;
  int(name: string, dflt?: number): number | undefined {
    const a = this.#get(name, 'int');
    if (a === undefined) return dflt;
    return this.#safe(name, longToNumber(a.i as number | LongLike | null | undefined));
  }

  float(name: string, dflt: number): number;
  float(name: string): number | undefined;
  float(name: string, dflt?: number): number | undefined {
    const a = this.#get(name, 'float');
    if (a === undefined) return dflt;
    return this.kind(name) === 'int' ? longToNumber(a.i as number | LongLike | null | undefined) : (a.f ?? 0);
  }

  string(name: string, dflt: string): string;
  string(name: string): string | undefined;
  string(name: string, dflt?: string): string | undefined {
    const a = this.#get(name, 'string');
    if (a === undefined) return dflt;
    return new TextDecoder().decode(a.s ?? new Uint8Array());
  }

  ints(name: string): number[] | undefined {
    const a = this.#get(name, 'ints');
    if (a === undefined) return undefined;
    // INT64_MAX-style sentinels stay approximate numbers; callers clamp them
    return (a.ints ?? []).map((v) => longToNumber(v as number | LongLike));
  }

  floats(name: string): number[] | undefined {
    const a = this.#get(name, 'floats');
    if (a === undefined) return undefined;
    return [...(a.floats ?? [])];
  }

  tensor(name: string): Tensor | undefined {
    const a = this.#get(name, 'tensor');
    if (a === undefined || a.t === null || a.t === undefined) return undefined;
    return tensorFromProto(a.t, `attribute '${name}'`, this.#place());
  }

  #safe(name: string, v: number): number {
    if (!Number.isSafeInteger(v)) throw new Ig3dcError('decode', `attribute '${name}' is out of range (${v})`, this.#place());
    return v;
  }
}
