// The state of lowering one graph: the circuit builder, the protocol configuration, what
// every IR node became, and the server weights collected on the way.
//
// An IR value lowers to one of three things, decided by its visibility:
// - `public`: known at compile time; the evaluator folds it (a float64 tensor), and it is
//   embedded as a `const` only where a secret op needs it;
// - `server`: computable by the server alone (its weights and anything derived only from
//   them); folded at compile time too, and turned into a party-0 `input` (a weight) on
//   first use by a secret op;
// - `secret`: a register of arithmetic shares at scale f.

import { Ig3dcError } from '../../../ir/diagnostics.ts';
import type { Node } from '../../../ir/node.ts';
import type { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { isFloatType, numel, shapesEqual, type Shape } from '../../../ir/types.ts';
import type { ProtocolConfig } from '../protocols/index.ts';
import { bindProtocols, type Protocols } from './protocols.ts';
import type { TokenFlags, TokenScores } from './tokens.ts';

export type LValue =
  | { readonly kind: 'public'; readonly value: Tensor }
  | { readonly kind: 'server'; readonly value: Tensor; readonly node: Node }
  /** A client graph input not shared yet: its encoding depends on its use. */
  | { readonly kind: 'input'; readonly node: Node }
  | { readonly kind: 'secret'; readonly reg: Reg };

export type PublicValue = { readonly kind: 'public'; readonly value: Tensor };

export function publicValue(value: Tensor): LValue {
  return { kind: 'public', value };
}
export function secretValue(reg: Reg): LValue {
  return { kind: 'secret', reg };
}

export function isPublic(v: LValue): v is PublicValue {
  return v.kind === 'public';
}

/** Known in the clear at compile time (public, or to the server). */
export function isKnown(v: LValue): v is PublicValue | { kind: 'server'; value: Tensor; node: Node } {
  return v.kind === 'public' || v.kind === 'server';
}

export function shapeOf(v: LValue): Shape {
  switch (v.kind) {
    case 'secret':
      return v.reg.shape;
    case 'input':
      return v.node.type.shape;
    default:
      return v.value.shape;
  }
}

export class LowerContext {
  readonly b: CircuitBuilder;
  readonly config: ProtocolConfig;
  readonly p: Protocols;
  /** Weights the server supplies, by the name of their `input` instruction. */
  readonly weights = new Map<string, Tensor>();
  /** Client inputs already shared, by `name:encoding`. */
  readonly clientInputs = new Map<string, Reg>();
  readonly #serverRegs = new Map<Node, Reg>();
  readonly #heldRegs = new Map<Node, Reg>();
  readonly #weightNames = new Set<string>();
  /** The node being lowered (for error places). */
  node: Node | undefined;
  /**
   * AttentionSoftmax nodes whose only use is the probabilities of an AttentionContext: with the
   * spline reciprocal they are lowered to numerators and a per-row reciprocal (`rowScaled`,
   * by the numerators' register), which AttentionContext applies after its matmul.
   */
  deferNormalization: ReadonlySet<Node> = new Set();
  /** Set while the node being lowered may defer its normalization (one method over all heads). */
  deferNow = false;
  readonly rowScaled = new Map<number, { readonly inv: Reg; readonly scale: number }>();
  /** Token pruning (tokens.ts): TokenImportance's scores and TokenKeep/TokenReduce's exact flags, by IR node. */
  readonly tokenScores = new Map<Node, TokenScores>();
  readonly tokenFlags = new Map<Node, TokenFlags>();
  /** A compaction's shift bits by `flags node id:example`, shared by the values compacted by the same flags. */
  readonly compactBits = new Map<string, Reg>();

  constructor(b: CircuitBuilder, config: ProtocolConfig) {
    this.b = b;
    this.config = config;
    this.p = bindProtocols(b, config);
  }

  /**
   * Any value as shares: a client input (fixed-point), a server value (a weight input), or a
   * public value (shared by the server as an input too, for ops that need shares on both sides).
   */
  share(v: LValue): Reg {
    switch (v.kind) {
      case 'secret':
        return v.reg;
      case 'input':
        return this.clientInput(v.node.name!, v.node.type.shape, 'fixed');
      case 'server':
        return this.shareServer(v.node, v.value);
      case 'public':
        return this.sharePublic(v.value);
    }
  }

  #publicCount = 0;
  /** A public tensor as shares (the server inputs it; costs nothing online). */
  sharePublic(t: Tensor): Reg {
    const name = `public:${this.node?.loc.name ?? ''}#${this.#publicCount++}`;
    this.weights.set(name, t);
    return this.b.input(name, 0, t.shape, { encoding: 'fixed' });
  }

  get f(): number {
    return this.b.f;
  }

  /** An Ig3dcError about the current node. */
  error(kind: 'unsupported' | 'shape' | 'input', detail: string): Ig3dcError {
    const n = this.node;
    const layer = n?.loc.layer !== undefined ? ` (layer ${n.loc.layer})` : '';
    return new Ig3dcError(kind, `${detail}${layer}`, n?.loc.name !== undefined ? { node: n.loc.name } : {});
  }

  /** A unique weight name derived from a node's loc name. */
  weightName(node: Node, fallback: string): string {
    const base = node.loc.name !== undefined && node.loc.name !== '' ? node.loc.name : fallback;
    let name = base;
    for (let k = 2; this.#weightNames.has(name); k++) name = `${base}#${k}`;
    this.#weightNames.add(name);
    return name;
  }

  /** The server-known value of `node` as a party-0 input (one per node). */
  shareServer(node: Node, value: Tensor): Reg {
    let r = this.#serverRegs.get(node);
    if (r === undefined) {
      const name = this.weightName(node, `weight_${node.id}`);
      this.weights.set(name, value);
      r = this.b.input(name, 0, value.shape, { encoding: 'fixed' });
      this.#serverRegs.set(node, r);
    }
    return r;
  }

  /**
   * The server-known value of `node` as a held party-0 input (own0: the server keeps it unshared,
   * for a cross product), once per node.
   */
  heldServer(node: Node, value: Tensor): Reg {
    let r = this.#heldRegs.get(node);
    if (r === undefined) {
      const name = this.weightName(node, `weight_${node.id}`);
      this.weights.set(name, value);
      r = this.b.input(name, 0, value.shape, { encoding: 'fixed', held: true });
      this.#heldRegs.set(node, r);
    }
    return r;
  }

  /**
   * A client graph input shared with the given encoding (once per name and encoding); `held`:
   * kept by the client unshared (own1; a held one-hot is at scale 0).
   */
  clientInput(name: string, shape: Shape, encoding: 'fixed' | 'int' | 'onehot' | 'keepmask', classes = 0, held = false): Reg {
    const key = `${name}:${encoding}${held ? ' (held)' : ''}`;
    let r = this.clientInputs.get(key);
    if (r === undefined) {
      for (const k of this.clientInputs.keys()) {
        if (k.startsWith(`${name}:`)) throw this.error('unsupported', `client input '${name}' is used both ${k.slice(name.length + 1)}-encoded and ${encoding}-encoded; a circuit shares each input once`);
      }
      r = this.b.input(name, 1, shape, { encoding, ...(encoding === 'onehot' ? { classes } : {}), ...(held ? { held } : {}) });
      this.clientInputs.set(key, r);
    }
    return r;
  }

  /**
   * A public tensor as a `const` register. Integer-valued tensors may go in at scale 0
   * (`exactInt`), so multiplying by them needs no truncation.
   */
  constReg(t: Tensor, scale: number = this.f): Reg {
    try {
      return this.b.constant(t, scale);
    } catch (e) {
      if (e instanceof Ig3dcError) throw this.error('input', e.detail);
      throw e;
    }
  }
}

/** True when every element is an integer of magnitude below 2^20 (safe to use at scale 0). */
export function isSmallIntTensor(t: Tensor): boolean {
  if (!isFloatType(t.dtype)) {
    for (let i = 0; i < t.size; i++) if (Math.abs(t.at(i)) >= 2 ** 20) return false;
    return true;
  }
  const d = t.toFloat64();
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (!Number.isInteger(v) || Math.abs(v) >= 2 ** 20) return false;
  }
  return true;
}

/** A float64 tensor filled with one value. */
export function filled(shape: Shape, v: number): Tensor {
  return new Tensor('f64', shape, new Float64Array(numel(shape)).fill(v));
}

export function sameShape(a: Shape, b: Shape): boolean {
  return shapesEqual(a, b);
}
