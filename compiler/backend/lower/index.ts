// Lowering an IR graph to a circuit: every node, in graph order, becomes circuit
// instructions through the lowering table, stamped with its provenance (IR node, layer, op
// kind; protocols add their names). Values that depend on no graph input are folded at
// compile time (public ones become constants where used; the server's become its weights);
// client inputs are shared with the encoding their first use asks for; graph outputs are
// revealed to the client.

import { CircuitBuilder } from '../../../ir/circuit/builder.ts';
import type { Circuit } from '../../../ir/circuit/circuit.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { evaluateNode } from '../../../ir/evaluate.ts';
import { usersOf, type Graph } from '../../../ir/graph.ts';
import { CONST_OP, INPUT_OP, isElided, type Node } from '../../../ir/node.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { numel, shapesEqual } from '../../../ir/types.ts';
import type { ProtocolConfig } from '../protocols/index.ts';
import { fssBitsFindings, type FssBitsFinding } from '../fss-bits.ts';
import { LowerContext, secretValue, shapeOf, type LValue } from './context.ts';
import { findLowering, opKindOf } from './table.ts';

export { LOWERINGS, findLowering, registerLowering, loweredOps, opKindOf, indexInputsOf } from './table.ts';
export type { OpLowering, LoweringTable } from './lowering.ts';
export type { LValue } from './context.ts';
export { LowerContext } from './context.ts';

export interface LowerOptions {
  readonly config: ProtocolConfig;
  /** Fractional bits (default 16). */
  readonly f?: number;
  /** Values already folded (by range analysis), reused instead of evaluating again. */
  readonly known?: ReadonlyMap<Node, Tensor>;
  /** The graph is a segment that ends at a boundary (token pruning): see SegmentBoundary. */
  readonly boundary?: SegmentBoundary;
  /**
   * Range analysis's bounds of input-dependent values (reals), stamped on their registers so
   * that FSS comparisons inside later ops' protocols can narrow their width (fss-bits.ts).
   */
  readonly bounds?: ReadonlyMap<Node, readonly [number, number]>;
}

/**
 * How a segment ends: the named graph outputs stay secret and are handed off to the next
 * segment (each party keeps its share), and the one value revealed, to both parties, is the
 * survivor count: the sum of the `countOf` output's flags per example, as `count` [B]. With
 * `reducedOf` (prune-tokens{reduce=reveal-count}: survivors split by degree, `countOf` the
 * full-degree ones) the number of reduced tokens is revealed too, as `reduced` [B], and
 * `count` is the sum of both.
 */
export interface SegmentBoundary {
  readonly handoff: readonly string[];
  readonly countOf: string;
  readonly reducedOf?: string;
}

/** The name of the survivor count a segment boundary reveals. */
export const SEGMENT_COUNT = 'count';
/** The name of the reduced count a boundary that splits the survivors by degree reveals. */
export const SEGMENT_REDUCED = 'reduced';

export interface Lowered {
  readonly circuit: Circuit;
  /** The server's inputs: weights (and server-derived values) by input name. */
  readonly weights: Map<string, Tensor>;
  /** Every FSS comparison's proven bound and width (fss-bits.ts). */
  readonly fssBits: readonly FssBitsFinding[];
}

/** Nodes whose value depends on a graph input (so they cannot be folded at compile time). */
export function inputDependent(graph: Graph): Set<Node> {
  const dep = new Set<Node>();
  for (const n of graph.nodes()) {
    if (n.op === INPUT_OP || n.inputs.some((i) => dep.has(i))) dep.add(n);
  }
  return dep;
}

function describeNode(n: Node): string {
  const where = n.loc.name !== undefined && n.loc.name !== '' ? `node '${n.loc.name}'` : `an unnamed ${n.op} node`;
  return `${n.op} at ${where}${n.loc.layer !== undefined ? ` (layer ${n.loc.layer})` : ''}`;
}

/** Throws one error listing every op of the graph that has no lowering. */
export function checkLowerable(graph: Graph, dep: ReadonlySet<Node> = inputDependent(graph)): void {
  const missing = graph.nodes().filter((n) => n.op !== INPUT_OP && n.op !== CONST_OP && dep.has(n) && findLowering(n.op) === undefined);
  if (missing.length === 0) return;
  const ops = [...new Set(missing.map((n) => n.op))];
  const first = missing[0]!;
  const list = missing.slice(0, 20).map(describeNode).join('; ');
  const more = missing.length > 20 ? `; and ${missing.length - 20} more` : '';
  throw new Ig3dcError(
    'unsupported',
    `no MPC protocol for op${ops.length === 1 ? '' : 's'} ${ops.map((o) => `'${o}'`).join(', ')} on secret values: ${list}${more}`,
    first.loc.name !== undefined ? { node: first.loc.name } : {},
  );
}

export function lowerGraph(graph: Graph, options: LowerOptions): Lowered {
  const b = new CircuitBuilder({ name: graph.name, exactTruncation: options.config.truncation === 'exact', ...(options.f !== undefined ? { f: options.f } : {}) });
  const ctx = new LowerContext(b, options.config);
  const dep = inputDependent(graph);
  checkLowerable(graph, dep);
  const values = new Map<Node, LValue>();
  const known = options.known;
  // free a value after its last user (graph outputs are kept)
  const remaining = new Map<Node, number>();
  for (const n of graph.nodes()) for (const i of new Set(n.inputs)) remaining.set(i, (remaining.get(i) ?? 0) + 1);
  const keep = new Set(graph.outputs.map((o) => o.node));
  if (options.config.reciprocalMethod === 'spline') {
    const users = usersOf(graph);
    ctx.deferNormalization = new Set(
      graph.nodes().filter((n) => {
        const us = users.get(n) ?? [];
        return n.op === 'AttentionSoftmax' && !keep.has(n) && us.length > 0 && us.every((u) => u.op === 'AttentionContext' && u.inputs[0] === n && u.inputs[1] !== n);
      }),
    );
  }

  for (const n of graph.nodes()) {
    ctx.node = n;
    const v = lowerNode(ctx, n, dep, known, values);
    const bound = options.bounds?.get(n);
    if (v.kind === 'secret' && bound !== undefined) b.bound(v.reg, bound[0], bound[1]);
    values.set(n, v);
    for (const i of new Set(n.inputs)) {
      const left = remaining.get(i)! - 1;
      remaining.set(i, left);
      if (left === 0 && !keep.has(i)) values.delete(i);
    }
  }
  ctx.node = undefined;
  const boundary = options.boundary;
  if (boundary !== undefined) {
    const names = new Set(graph.outputs.map((o) => o.name));
    const want = [...boundary.handoff, boundary.countOf, ...(boundary.reducedOf !== undefined ? [boundary.reducedOf] : [])];
    for (const n of want) if (!names.has(n)) throw new Ig3dcError('usage', `segment '${graph.name}' has no output '${n}' to hand off (outputs: ${[...names].join(', ')})`);
  }
  const flagCounts = new Map<string, Reg>();
  for (const o of graph.outputs) {
    const v = values.get(o.node)!;
    const handoff = boundary?.handoff.includes(o.name) === true;
    b.withProvenance({ irNode: o.node.loc.name ?? o.name, opKind: 'other', protocol: handoff ? 'handoff' : 'output', ...(o.node.loc.layer !== undefined ? { layer: o.node.loc.layer } : {}) }, () => {
      ctx.node = o.node;
      const r = ctx.share(v);
      if (handoff) b.handoff(r, o.name);
      else b.output(r, o.name);
      if (boundary?.countOf === o.name || boundary?.reducedOf === o.name) {
        flagCounts.set(o.name, b.withProtocol('local', () => b.reduceSum(r, r.shape.slice(1).map((_, i) => i + 1), false)));
      }
    });
  }
  if (boundary !== undefined) {
    const last = graph.outputs.find((o) => o.name === boundary.countOf)!.node;
    b.withProvenance({ irNode: last.loc.name ?? boundary.countOf, opKind: 'other', protocol: 'reveal-count', ...(last.loc.layer !== undefined ? { layer: last.loc.layer } : {}) }, () => {
      const full = flagCounts.get(boundary.countOf)!;
      const reduced = boundary.reducedOf !== undefined ? flagCounts.get(boundary.reducedOf)! : undefined;
      b.reveal(reduced === undefined ? full : b.withProtocol('local', () => b.add(full, reduced)), SEGMENT_COUNT);
      if (reduced !== undefined) b.reveal(reduced, SEGMENT_REDUCED);
    });
  }
  return { circuit: b.build(), weights: ctx.weights, fssBits: fssBitsFindings(b) };
}

function lowerNode(ctx: LowerContext, n: Node, dep: ReadonlySet<Node>, known: ReadonlyMap<Node, Tensor> | undefined, values: ReadonlyMap<Node, LValue>): LValue {
  const place = n.loc.name !== undefined ? { node: n.loc.name } : {};
  if (n.op === INPUT_OP) {
    if (n.type.vis === 'server') return secretValue(ctx.b.withProvenance({ irNode: n.name!, opKind: 'other', protocol: 'input' }, () => ctx.b.input(n.name!, 0, n.type.shape)));
    // a value the parties hold shares of already (a segment's input, handed off by the previous one)
    if (n.type.vis === 'shared') return secretValue(ctx.b.withProvenance({ irNode: n.name!, opKind: 'other', protocol: 'shared-input' }, () => ctx.b.sharedInput(n.name!, n.type.shape)));
    return { kind: 'input', node: n };
  }
  if (n.op === CONST_OP) {
    if (n.data === undefined || isElided(n.data)) throw new Ig3dcError('input', 'constant has elided data; compile a model with its weights (an .onnx file, or an .ir file with its .weights)', place);
    return n.type.vis === 'public' ? { kind: 'public', value: n.data } : { kind: 'server', value: n.data, node: n };
  }
  const inputs = n.inputs.map((i) => values.get(i)!);
  if (!dep.has(n)) {
    // computable at compile time: by anyone (public) or by the server (its weights)
    const value = known?.get(n) ?? evaluateNode(n, inputs.map((v) => (v as { value: Tensor }).value));
    return inputs.every((v) => v.kind === 'public') && n.type.vis === 'public' ? { kind: 'public', value } : { kind: 'server', value, node: n };
  }
  const lowering = findLowering(n.op)!;
  const layer = n.loc.layer;
  const prov = { irNode: n.loc.name ?? '', opKind: opKindOf(n), protocol: '', ...(layer !== undefined ? { layer } : {}) };
  let v: LValue;
  try {
    v = ctx.b.withProvenance(prov, () => lowering.lower(ctx, n, inputs));
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.place.node === undefined ? e.within(place) : e;
    throw e;
  }
  if (v.kind === 'secret' && v.reg.scale !== ctx.f) {
    const r = v.reg;
    if (r.scale > ctx.f) throw new Error(`lowering of ${n.op} (${n.loc.name ?? ''}) left a value at scale ${r.scale}, above f = ${ctx.f}`);
    v = secretValue(ctx.b.withProvenance(prov, () => ctx.b.mulPub(r, ctx.b.constant(1, ctx.f - r.scale))));
  }
  const got = shapeOf(v);
  if (!shapesEqual(got, n.type.shape)) {
    if (v.kind !== 'secret' || numel(got) !== numel(n.type.shape)) {
      throw new Error(`lowering of ${n.op} (${n.loc.name ?? ''}) gave shape [${got.join(',')}], expected [${n.type.shape.join(',')}]`);
    }
    v = secretValue(ctx.b.withProvenance(prov, () => ctx.b.reshape(v.kind === 'secret' ? v.reg : ctx.share(v), n.type.shape)));
  }
  return v;
}
