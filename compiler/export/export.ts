// Writing any IR stage back to an ONNX model (IR version 8, default-domain ops only), so an
// imported, raised or optimized graph runs in onnxruntime and opens in Netron.
//
// Graph inputs and outputs keep their names, element types and static shapes; constants
// become initializers named after their source when that name is unique; node names come
// from the IR locations. Visibility has no ONNX counterpart and goes into doc strings.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { CONST_OP, INPUT_OP, isElided, type AttrValue, type Node } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { formatVisibility, type ValueType } from '../../ir/types.ts';
import { onnxProto, OPSET_RANGE, type NodeProto, type ValueInfoProto } from '../frontend/decode.ts';
import { onnxFromElem } from '../frontend/tensor-proto.ts';
import { CannotGeneralize, formatDim, isStatic, staticDim, type ConstForm, type DynamicAxes, type SymDim } from './dynamic-axes.ts';
import { findExportRule } from './export-table.ts';
import type { ExportContext, ExportRule } from './export-rule.ts';
import { onnxInt, OnnxWriter } from './onnx-writer.ts';

export interface ExportOptions {
  /** Default-domain opset to write (11 to 18; default 17). */
  readonly opset?: number;
  /** producer_name of the model (default "ig3dc"). */
  readonly producer?: string;
  /**
   * The dynamic dimensions to keep (see dynamic-axes.ts); without it every shape is the
   * bound one. Throws CannotGeneralize when a node cannot be written shape-computed.
   */
  readonly dynamic?: DynamicAxes;
}

export const DEFAULT_EXPORT_OPSET = 17;
export const EXPORT_IR_VERSION = 8;

/** The graph as an encoded ONNX ModelProto. */
export function exportOnnx(graph: Graph, options: ExportOptions = {}): Uint8Array {
  return onnxProto.ModelProto.encode(exportModelProto(graph, options)).finish();
}

/** A name ONNX tools show and accept as is: non-empty, no control characters, no outer blanks. */
function isCleanName(s: string | undefined): s is string {
  return s !== undefined && s !== '' && !/[\u0000-\u001f\u007f]/.test(s) && s.trim() === s;
}

function placeOf(node: Node): { node?: string } {
  const name = node.op === INPUT_OP ? node.name : node.loc.name;
  return name !== undefined ? { node: name } : {};
}

function label(node: Node): string {
  if (node.op === INPUT_OP) return `input '${node.name}'`;
  if (node.op === CONST_OP) return `constant${node.loc.name !== undefined ? ` '${node.loc.name}'` : ''}`;
  return `${node.op} node${node.loc.name !== undefined ? ` '${node.loc.name}'` : ''}`;
}

function valueInfo(name: string, t: ValueType, sym?: readonly SymDim[]): ValueInfoProto {
  const dim = t.shape.map((d, i) => (sym === undefined || isStatic(sym[i]!) ? { dimValue: d } : { dimParam: formatDim(sym[i]!) }));
  return {
    name,
    type: { tensorType: { elemType: onnxFromElem(t.elem)!, shape: { dim } } },
    docString: formatVisibility(t.vis),
  };
}

function formatAttr(v: AttrValue): string {
  return Array.isArray(v) ? `[${v.map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(',')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** "AttentionSoftmax {heads=[0,2], ...} layer 1": what an expanded group of nodes came from. */
function describe(node: Node): string {
  const attrs = Object.entries(node.attrs).map(([k, v]) => `${k}=${formatAttr(v)}`);
  return `ig3dc ${node.op}${attrs.length ? ` {${attrs.join(', ')}}` : ''}${node.loc.layer !== undefined ? ` layer ${node.loc.layer}` : ''}`;
}

export function exportModelProto(graph: Graph, options: ExportOptions = {}): InstanceType<typeof onnxProto.ModelProto> {
  const opset = options.opset ?? DEFAULT_EXPORT_OPSET;
  const [lo, hi] = OPSET_RANGE;
  if (!Number.isInteger(opset) || opset < lo || opset > hi) {
    throw new Ig3dcError('unsupported', `cannot export at opset ${opset}: expected an opset from ${lo} to ${hi}`);
  }
  const nodes = graph.nodes();
  for (const n of nodes) {
    if (n.type.elem === 'ring64') {
      throw new Ig3dcError(
        'unsupported',
        `${label(n)} has type ring64: fixed-point ring values have no ONNX type, so this graph cannot be exported (export a stage before lowering)`,
        placeOf(n),
      );
    }
  }

  const w = new OnnxWriter();
  const names = new Map<Node, string>();
  const inputNames = new Set<string>();
  for (const i of graph.inputs) {
    const name = i.name!;
    if (name === '') throw new Ig3dcError('unsupported', "a graph input has an empty name, which ONNX reserves for omitted values; rename it");
    if (inputNames.has(name)) throw new Ig3dcError('unsupported', `two graph inputs are named '${name}'`, { node: name });
    inputNames.add(name);
    w.reserveTensor(name);
    names.set(i, name);
  }
  // the node each output name should be written by directly (the first output of an op node)
  const outputNames = new Set<string>();
  const directOutput = new Map<Node, string>();
  for (const o of graph.outputs) {
    if (o.name === '') throw new Ig3dcError('unsupported', "a graph output has an empty name, which ONNX reserves for omitted values; rename it", placeOf(o.node));
    if (outputNames.has(o.name)) throw new Ig3dcError('unsupported', `two graph outputs are named '${o.name}'`, { node: o.name });
    outputNames.add(o.name);
    if (inputNames.has(o.name) && o.node.name !== o.name) {
      throw new Ig3dcError('unsupported', `graph output '${o.name}' has the name of a graph input but another value; ONNX needs distinct names`, { node: o.name });
    }
    w.reserveTensor(o.name);
    if (o.node.op !== INPUT_OP && o.node.op !== CONST_OP && !directOutput.has(o.node)) directOutput.set(o.node, o.name);
  }
  const constLocs = new Map<string, number>();
  for (const n of nodes) if (n.op === CONST_OP && n.loc.name !== undefined) constLocs.set(n.loc.name, (constLocs.get(n.loc.name) ?? 0) + 1);

  const dyn = options.dynamic;
  const symShape = (n: Node): readonly SymDim[] => (dyn !== undefined ? dyn.shapeOf(n) : n.type.shape.map(staticDim));
  const symbolTensors = emitSymbolSources(w, dyn);

  const valueInfos: ValueInfoProto[] = [];
  let generatedConsts = 0;
  let placeholders = 0;
  for (const node of nodes) {
    if (node.op === INPUT_OP) continue;
    const form = node.op === CONST_OP ? dyn?.constant(node) : undefined;
    if (node.op === CONST_OP && form === undefined) {
      if (node.data === undefined || isElided(node.data)) {
        throw new Ig3dcError(
          'unsupported',
          `${label(node)} (${node.type.elem}[${node.type.shape.join(',')}]) has elided data, so its initializer cannot be written; load the model with its weights (an .ir file with a weights file, or the .onnx)`,
          placeOf(node),
        );
      }
      const loc = node.loc.name;
      const base = isCleanName(loc) && constLocs.get(loc) === 1 ? loc : `const_${generatedConsts++}`;
      names.set(node, w.addInitializer(node.data, base));
      continue;
    }
    const rule = form !== undefined ? constRule(form) : findExportRule(node.op);
    if (rule === undefined) {
      throw new Ig3dcError('unsupported', `cannot export ${label(node)}: IR op ${node.op} has no ONNX export rule`, placeOf(node));
    }
    const base = isCleanName(node.loc.name) ? node.loc.name : node.op;
    const first = w.nodes.length;
    const fail = (message: string): never => {
      throw new Ig3dcError('unsupported', `cannot export ${label(node)}: ${message}`, placeOf(node));
    };
    if (dyn !== undefined && rule.staticShapes === true && [node, ...node.inputs].some((n) => !symShape(n).every(isStatic))) {
      throw new CannotGeneralize(label(node), `the ${node.op} export rule writes its shapes as constants`, [...dyn.symbols.keys()]);
    }
    const consumed = new Set<string>();
    const ctx: ExportContext = {
      node,
      attrs: node.attrs,
      opset,
      inputCount: node.inputs.length,
      input: (i) => names.get(node.inputs[i]!)!,
      inputType: (i) => node.inputs[i]!.type,
      emit(opType, inputs, attrs = {}) {
        // a placeholder until the rule is done and the nodes get their names
        return w.addNode(opType, inputs, attrs, '', `\u0000${placeholders++}`);
      },
      ints: (values, what) => w.addInitializer(int64(values), `${base}/${what}`),
      scalar: (value, elem) => w.scalar(value, elem),
      constant: (t, what) => w.addInitializer(t, `${base}/${what}`),
      fail,
      symShape: (i) => symShape(i === undefined ? node : node.inputs[i]!),
      symInts(name) {
        consumed.add(name);
        const v = dyn?.attr(node, name);
        if (v !== undefined) return v;
        const a = node.attrs[name];
        return (typeof a === 'number' ? [a] : Array.isArray(a) ? (a as number[]) : []).map(staticDim);
      },
      shapeTensor(dims, what) {
        if (dims.every(isStatic)) return w.addInitializer(int64(dims.map((d) => d.c)), `${base}/${what}`);
        const parts = dims.map((d) => (isStatic(d) ? w.addInitializer(int64([d.c]), `${base}/${what}_dim`) : dimTensor(ctx, d, symbolTensors)));
        return parts.length === 1 ? parts[0]! : ctx.emit('Concat', parts, { axis: onnxInt(0) });
      },
    };
    let result: string;
    try {
      result = rule.export(ctx);
    } catch (e) {
      if (e instanceof Ig3dcError) throw e.within(placeOf(node));
      throw e;
    }
    for (const a of dyn?.varyingAttrs(node) ?? []) {
      if (!consumed.has(a)) {
        throw new CannotGeneralize(label(node), `attribute ${a} depends on the dynamic dimensions and the ${node.op} export rule writes it as a constant`, [...dyn!.symbols.keys()]);
      }
    }
    const finalName = directOutput.get(node) ?? w.claimTensor(`${base}_output_0`);
    if (!w.nodes.slice(first).some((n) => n.output![0] === result)) result = ctx.emit('Identity', [result]);
    nameEmitted(w, first, node, base, result, finalName);
    names.set(node, finalName);
    if (!directOutput.has(node)) valueInfos.push(valueInfo(finalName, node.type, symShape(node)));
  }

  // outputs written by an input, a constant, or a node already named by another output
  for (const o of graph.outputs) {
    const have = names.get(o.node)!;
    if (have === o.name) continue;
    w.addNode('Identity', [have], {}, w.claimNode(`${o.name}/Identity`), o.name);
  }

  return onnxProto.ModelProto.create({
    irVersion: EXPORT_IR_VERSION,
    producerName: options.producer ?? 'ig3dc',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: graph.name,
      node: w.nodes,
      input: graph.inputs.map((i) => valueInfo(i.name!, i.type, symShape(i))),
      output: graph.outputs.map((o) => valueInfo(o.name, o.node.type, symShape(o.node))),
      initializer: w.initializers,
      valueInfo: valueInfos,
      ...(graph.meta.source !== undefined ? { docString: `exported by ig3dc from ${graph.meta.source}` } : {}),
    },
  });
}

/**
 * Each kept dynamic dimension as a [1] int64 tensor, read from the graph input axis that
 * has it: Gather(Shape(input), [axis]). Written before any other node.
 */
function emitSymbolSources(w: OnnxWriter, dyn: DynamicAxes | undefined): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (dyn === undefined) return out;
  const shapes = new Map<string, string>();
  for (const [sym, { input, axis }] of dyn.symbols) {
    let shape = shapes.get(input);
    if (shape === undefined) {
      shape = w.addNode('Shape', [input], {}, w.claimNode(`${input}/Shape`), w.claimTensor(`${input}/shape`));
      shapes.set(input, shape);
    }
    const index = w.addInitializer(int64([axis]), `${input}/axis_${axis}`);
    out.set(sym, w.addNode('Gather', [shape, index], { axis: onnxInt(0) }, w.claimNode(`${sym}/Gather`), w.claimTensor(sym)));
  }
  return out;
}

/** c * prod(sym^e) + a as a [1] int64 tensor. */
function dimTensor(ctx: ExportContext, d: SymDim, symbols: ReadonlyMap<string, string>): string {
  let t: string | undefined;
  for (const [s, e] of Object.entries(d.pow).sort(([p], [q]) => p.localeCompare(q))) {
    for (let k = 0; k < e; k++) t = t === undefined ? symbols.get(s)! : ctx.emit('Mul', [t, symbols.get(s)!]);
  }
  if (d.c !== 1) t = ctx.emit('Mul', [t!, ctx.ints([d.c], 'factor')]);
  if (d.a !== 0) t = ctx.emit('Add', [t!, ctx.ints([d.a], 'offset')]);
  return t!;
}

/** A constant that changes with the binding, rebuilt from the dynamic dimensions. */
function constRule(form: ConstForm): ExportRule {
  return {
    op: CONST_OP,
    onnx: 'fill: Expand(value, shape); broadcast: Expand(data at index 0 of the changing axes, shape); prefix: Slice(data at the largest binding, 0, shape); ints: Concat of dimensions',
    export(ctx) {
      const elem = ctx.node.type.elem;
      const shape = ctx.symShape();
      if (form.kind === 'fill') return ctx.emit('Expand', [ctx.scalar(form.value, elem), ctx.shapeTensor(shape, 'shape')]);
      if (form.kind === 'broadcast') {
        const base = ctx.constant(Tensor.from(elem, form.baseShape, form.base), 'data');
        return ctx.emit('Expand', [base, ctx.shapeTensor(shape, 'shape')]);
      }
      if (form.kind === 'prefix') {
        const axes = shape.flatMap((d, i) => (isStatic(d) ? [] : [i]));
        const data = ctx.constant(ctx.node.data as Tensor, 'data');
        const ends = ctx.shapeTensor(axes.map((i) => shape[i]!), 'ends');
        return ctx.emit('Slice', [data, ctx.ints(axes.map(() => 0), 'starts'), ends, ctx.ints(axes, 'axes')]);
      }
      let t = ctx.shapeTensor(form.values, 'values');
      if (elem !== 'i64') t = ctx.emit('Cast', [t], { to: onnxInt(onnxFromElem(elem)!) });
      return ctx.node.type.shape.length === 0 ? ctx.emit('Reshape', [t, ctx.ints([], 'scalar')]) : t;
    },
  };
}

function int64(values: readonly number[]): Tensor {
  return Tensor.from('i64', [values.length], values);
}

/**
 * Gives the nodes one IR node produced their names: the node's own name when it is one
 * ONNX node, `name/OpType` otherwise; intermediate tensors `nodeName_output_0`, the result
 * `finalName`.
 */
function nameEmitted(w: OnnxWriter, first: number, node: Node, base: string, result: string, finalName: string): void {
  const emitted: NodeProto[] = w.nodes.slice(first);
  const single = emitted.length === 1;
  const nodeBase = w.claimNode(base);
  const doc = single && emitted[0]!.opType === node.op ? undefined : describe(node);
  for (const n of emitted) {
    n.name = single ? nodeBase : w.claimNode(`${nodeBase}/${n.opType}`);
    if (doc !== undefined) n.docString = doc;
    const tmp = n.output![0]!;
    const name = tmp === result ? finalName : w.claimTensor(`${n.name}_output_0`);
    w.renameTensor(first, tmp, name);
  }
}
