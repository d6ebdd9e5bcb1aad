// ONNX model -> IR graph.
//
// Order of work: decode and validate the file; check every node's operator against the op
// table and report all unsupported ones at once; check names (missing inputs, duplicate
// outputs, cycles) and order the nodes; bind the dynamic dimensions of the graph inputs;
// then import the nodes reachable from the outputs in topological order, folding every
// node whose inputs are all public constants, so that shape arithmetic (Shape -> Gather ->
// Unsqueeze -> Concat -> Reshape) turns into constant attributes.

import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import { build } from '../../ir/build.ts';
import { Graph, type GraphOutput } from '../../ir/graph.ts';
import { CONST_OP, constNode, constValue, inputNode, type Node } from '../../ir/node.ts';
import { evaluateNode } from '../../ir/evaluate.ts';
import { Tensor, allocStorage, writeValues } from '../../ir/tensor.ts';
import { isFloatType, numel, type ElemType, type Visibility } from '../../ir/types.ts';
import { OnnxAttrs, type ImportContext } from './context.ts';
import {
  decodeModel,
  isDefaultDomain,
  longToNumber,
  OPSET_RANGE,
  type DecodedModel,
  type LongLike,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './decode.ts';
import { attrSpecAt, findOnnxOp, formatSupportedOps, type OnnxOpSpec } from './onnx-ops.ts';
import { elemFromOnnx, onnxDtypeName, SUPPORTED_ONNX_DTYPES, tensorFromProto } from './tensor-proto.ts';

export interface ImportOptions {
  /** The file name, for error messages and the graph name. */
  readonly file?: string;
  /** Values of named dynamic dimensions (dim_param), e.g. { sequence: 64 }; also `input.axis` keys for unnamed ones. */
  readonly dims?: Readonly<Record<string, number>>;
  /** Value of batch-like dynamic dimensions ("batch", "batch_size", "N", ...); default 1. */
  readonly batch?: number;
  /** Value of sequence-like dynamic dimensions ("sequence", "seq_len", ...); default 128. */
  readonly seq?: number;
  /**
   * Shapes of the inputs that will be fed (e.g. from a cases file): each dynamic dimension
   * takes its size from the input it appears in. Takes precedence over batch/seq/dims.
   */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Graph inputs bound to public constants (they stop being graph inputs). */
  readonly bindInputs?: ReadonlyMap<string, Tensor>;
  /** Visibility of the float initializers (weights): 'server' by default. Integer and bool initializers are always public. */
  readonly weightsVisibility?: 'server' | 'public';
}

export interface ImportResult {
  readonly graph: Graph;
  /** Default-domain opset of the model. */
  readonly opset: number;
  readonly irVersion: number;
  /** producer_name and producer_version, e.g. "pytorch 1.13.0". */
  readonly producer: string;
  /** Number of ONNX nodes in the file. */
  readonly onnxNodes: number;
  /** ONNX op histogram of the file. */
  readonly onnxOps: Readonly<Record<string, number>>;
  readonly initializerCount: number;
  /** Total number of initializer elements. */
  readonly parameterCount: number;
  /** The value each dynamic dimension name was bound to. */
  readonly dims: Readonly<Record<string, number>>;
}

export const DEFAULT_BATCH = 1;
export const DEFAULT_SEQ = 128;

/** Reads an ONNX file and imports it; file-system errors become Ig3dcError 'io'. */
export function loadOnnxFile(path: string, options: ImportOptions = {}): ImportResult {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory, not a file' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new Ig3dcError('io', `cannot read ONNX model: ${why}`, { file: path });
  }
  return importOnnx(bytes, { ...options, file: options.file ?? path });
}

/** Imports an ONNX model into an IR graph with static shapes. */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): ImportResult {
  const place = options.file !== undefined ? { file: options.file } : {};
  const decoded = decodeModel(bytes, options.file);
  try {
    return new Importer(decoded, options).run();
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within(place);
    throw e;
  }
}

const BATCH_NAMES = new Set(['n', 'b', 'bs', 'nbatch']);
const SEQ_NAMES = new Set(['s', 'l', 't', 'len', 'length', 'tokens', 'num_tokens', 'n_tokens', 'max_len', 'seqlen']);

/** 'batch' | 'seq' for the usual names of those dynamic dimensions. */
function dimRole(name: string): 'batch' | 'seq' | undefined {
  const n = name.toLowerCase();
  if (n.includes('batch') || BATCH_NAMES.has(n)) return 'batch';
  if (n.includes('seq') || SEQ_NAMES.has(n)) return 'seq';
  return undefined;
}

function has(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Unsupported-node entry for the one combined error. */
interface Unsupported {
  readonly node: string;
  readonly opType: string;
  readonly domain: string;
}

class Importer {
  readonly #m: DecodedModel;
  readonly #opt: ImportOptions;
  readonly #file: string | undefined;
  /** Value name -> IR node. */
  readonly #values = new Map<string, Node>();
  /** Outputs we do not produce (e.g. Dropout's mask) -> why. */
  readonly #unavailable = new Map<string, string>();
  readonly #initializers = new Map<string, TensorProto>();
  readonly #dimValues: Record<string, number> = {};

  constructor(m: DecodedModel, opt: ImportOptions) {
    this.#m = m;
    this.#opt = opt;
    this.#file = opt.file;
  }

  run(): ImportResult {
    const g = this.#m.graph;
    const nodes = g.node ?? [];
    const specs = this.#checkOperators(nodes);
    for (const t of g.initializer ?? []) {
      if (this.#initializers.has(t.name!)) throw new Ig3dcError('decode', `initializer '${t.name}' is defined twice`);
      this.#initializers.set(t.name!, t);
    }
    const inputs = this.#importInputs(g.input ?? []);
    const order = this.#order(nodes);
    const wanted = this.#reachable(nodes, (g.output ?? []).map((o) => o.name!));
    for (const k of order) {
      if (!wanted.has(k)) continue;
      this.#importNode(nodes[k]!, k, specs[k]!);
    }
    const outputs: GraphOutput[] = (g.output ?? []).map((o) => ({ name: o.name!, node: this.#checkOutput(o) }));
    const onnxOps: Record<string, number> = {};
    for (const n of nodes) onnxOps[n.opType!] = (onnxOps[n.opType!] ?? 0) + 1;
    let parameterCount = 0;
    for (const t of this.#initializers.values()) parameterCount += numel((t.dims ?? []).map((d) => longToNumber(d as number | LongLike)));
    const graph = new Graph(this.#graphName(), inputs, outputs, {
      ...(this.#file !== undefined ? { source: this.#file } : {}),
      ...(this.#m.producer !== '' ? { producer: this.#m.producer } : {}),
      opset: this.#m.opset,
    });
    return {
      graph,
      opset: this.#m.opset,
      irVersion: this.#m.irVersion,
      producer: this.#m.producer,
      onnxNodes: nodes.length,
      onnxOps,
      initializerCount: this.#initializers.size,
      parameterCount,
      dims: { ...this.#dimValues },
    };
  }

  #graphName(): string {
    const clean = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '');
    const fromGraph = clean(typeof this.#m.graph.name === 'string' ? this.#m.graph.name : '');
    // exporters' generic names say nothing about the model; the file name does
    const generic = /^(torch[-_]jit([-_]export)?|main[-_]graph|graph|tf2onnx|model)$/i.test(fromGraph);
    if (fromGraph !== '' && !(generic && this.#file !== undefined)) return fromGraph;
    const fromFile = this.#file !== undefined ? clean(basename(this.#file, extname(this.#file))) : '';
    return fromFile !== '' ? fromFile : 'model';
  }

  /** Every node's op must be in the table at the model's opset; lists all that are not. */
  #checkOperators(nodes: readonly NodeProto[]): OnnxOpSpec[] {
    const specs: OnnxOpSpec[] = [];
    const bad: Unsupported[] = [];
    nodes.forEach((n, k) => {
      const spec = isDefaultDomain(n.domain) ? findOnnxOp(n.opType!, this.#m.opset) : undefined;
      if (spec === undefined) bad.push({ node: nodeLabel(n, k), opType: n.opType!, domain: n.domain ?? '' });
      else specs.push(spec);
    });
    if (bad.length > 0) {
      const opset = this.#m.opset;
      const list = bad
        .map((b) => `${b.opType} (node '${b.node}', ${isDefaultDomain(b.domain) ? `opset ${opset}` : `domain '${b.domain}'`})`)
        .join(', ');
      const [lo, hi] = OPSET_RANGE;
      throw new Ig3dcError(
        'unsupported',
        `unsupported operators: ${list}; supported (default ONNX domain, opset ${lo}-${hi} unless noted): ${formatSupportedOps()}`,
      );
    }
    return specs;
  }

  /** Graph inputs that are not initializers become Input nodes (client) or bound public constants. */
  #importInputs(list: readonly ValueInfoProto[]): Node[] {
    const bind = this.#opt.bindInputs ?? new Map<string, Tensor>();
    const names = new Set(list.map((v) => v.name!));
    for (const name of bind.keys()) {
      if (!names.has(name) && !this.#initializers.has(name)) {
        throw new Ig3dcError('input', `cannot bind '${name}': the model has no graph input of that name (inputs: ${[...names].join(', ')})`);
      }
    }
    const inputs: Node[] = [];
    for (const vi of list) {
      const name = vi.name!;
      if (this.#values.has(name)) throw new Ig3dcError('decode', `graph input '${name}' is declared twice`);
      const bound = bind.get(name);
      if (bound !== undefined) {
        this.#checkBound(vi, bound);
        this.#values.set(name, constNode(bound, { elem: bound.dtype, shape: bound.shape, vis: 'public' }, { name }));
        continue;
      }
      // old exporters list initializers as graph inputs too: those are constants
      if (this.#initializers.has(name)) continue;
      const { elem, shape } = this.#inputType(vi);
      const node = inputNode(name, { elem, shape, vis: 'client' }, { name });
      this.#values.set(name, node);
      inputs.push(node);
    }
    for (const [name, t] of bind) {
      if (!this.#values.has(name)) this.#values.set(name, constNode(t, { elem: t.dtype, shape: t.shape, vis: 'public' }, { name }));
    }
    return inputs;
  }

  #tensorType(vi: ValueInfoProto, what: string): { elem: ElemType; dims: readonly { value?: number; param?: string }[] | undefined } {
    const tt = vi.type?.tensorType;
    if (tt === null || tt === undefined) {
      throw new Ig3dcError('unsupported', `${what} '${vi.name}' is not a tensor (sequence, map and optional values are not supported)`);
    }
    const code = typeof tt.elemType === 'number' ? tt.elemType : 0;
    const elem = elemFromOnnx(code);
    if (elem === undefined) {
      throw new Ig3dcError('unsupported', `${what} '${vi.name}' has element type ${onnxDtypeName(code)}, which is not supported (supported: ${SUPPORTED_ONNX_DTYPES})`);
    }
    if (tt.shape === null || tt.shape === undefined) return { elem, dims: undefined };
    const dims = (tt.shape.dim ?? []).map((d) => {
      if (d === null || typeof d !== 'object') return {};
      if (has(d, 'dimValue')) return { value: longToNumber(d.dimValue as number | LongLike) };
      if (typeof d.dimParam === 'string' && d.dimParam !== '') return { param: d.dimParam };
      return {};
    });
    return { elem, dims };
  }

  #inputType(vi: ValueInfoProto): { elem: ElemType; shape: number[] } {
    const name = vi.name!;
    const { elem, dims } = this.#tensorType(vi, 'graph input');
    if (dims === undefined) {
      throw new Ig3dcError('binding', `graph input '${name}' has no shape (not even its rank), so its dimensions cannot be bound; give the model a static input shape`, { node: name });
    }
    const shape = dims.map((d, axis) => {
      if (d.value !== undefined) {
        // an explicit 0 is an empty axis, not an unknown one
        if (!Number.isSafeInteger(d.value) || d.value < 0) throw new Ig3dcError('decode', `graph input '${name}' axis ${axis} has an invalid size ${d.value}`, { node: name });
        return d.value;
      }
      return this.#bindDim(name, axis, d.param);
    });
    return { elem, shape };
  }

  #bindDim(input: string, axis: number, param: string | undefined): number {
    const dims = this.#opt.dims ?? {};
    const check = (v: number, how: string): number => {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new Ig3dcError('binding', `graph input '${input}' axis ${axis}${param !== undefined ? ` ('${param}')` : ''}: ${how} = ${v} is not a positive integer`, { node: input });
      }
      return v;
    };
    const key = `${input}.${axis}`;
    const fed = this.#opt.inputShapes?.[input]?.[axis];
    if (fed !== undefined) {
      const v = check(fed, `the size of the given '${input}' on axis ${axis}`);
      if (param !== undefined) {
        const prev = this.#dimValues[param];
        if (prev !== undefined && prev !== v) {
          throw new Ig3dcError('input', `the given inputs disagree on the dynamic dimension '${param}': '${input}' has ${v} on axis ${axis}, another input has ${prev}`, { node: input });
        }
        this.#dimValues[param] = v;
      }
      return v;
    }
    // a name bound by an earlier input (e.g. from the shapes fed) keeps its value
    if (param !== undefined && this.#dimValues[param] !== undefined && dims[param] === undefined) return this.#dimValues[param];
    if (dims[key] !== undefined) return check(dims[key], `--dim ${key}`);
    if (param === undefined) {
      throw new Ig3dcError(
        'binding',
        `graph input '${input}' axis ${axis} has an unknown size (no value and no name); bind it with --dim ${key}=VALUE`,
        { node: input },
      );
    }
    let v: number;
    if (dims[param] !== undefined) v = check(dims[param], `--dim ${param}`);
    else {
      const role = dimRole(param);
      if (role === 'batch') v = check(this.#opt.batch ?? DEFAULT_BATCH, '--batch');
      else if (role === 'seq') v = check(this.#opt.seq ?? DEFAULT_SEQ, '--seq');
      else {
        throw new Ig3dcError(
          'binding',
          `graph input '${input}' axis ${axis} has the dynamic dimension '${param}', which is not bound; bind it with --dim ${param}=VALUE (batch-like names take --batch, sequence-like names --seq)`,
          { node: input },
        );
      }
    }
    this.#dimValues[param] = v;
    return v;
  }

  #checkBound(vi: ValueInfoProto, t: Tensor): void {
    const name = vi.name!;
    const { elem, dims } = this.#tensorType(vi, 'graph input');
    const fail = (why: string): never => {
      throw new Ig3dcError('input', `the value bound to graph input '${name}' ${why}`, { node: name });
    };
    if (t.dtype !== elem) fail(`has element type ${t.dtype}, the model declares ${elem}`);
    if (dims === undefined) return;
    if (dims.length !== t.shape.length) fail(`has rank ${t.shape.length}, the model declares rank ${dims.length}`);
    dims.forEach((d, i) => {
      if (d.value !== undefined && d.value !== t.shape[i]) fail(`has shape [${t.shape.join(',')}], the model declares size ${d.value} on axis ${i}`);
    });
  }

  /** Producers, missing inputs, duplicate outputs and cycles; returns node indices in topological order. */
  #order(nodes: readonly NodeProto[]): number[] {
    const producer = new Map<string, number>();
    const external = (name: string): boolean => this.#values.has(name) || this.#initializers.has(name);
    nodes.forEach((n, k) => {
      for (const out of n.output ?? []) {
        if (out === '') continue;
        const prev = producer.get(out);
        if (prev !== undefined) {
          throw new Ig3dcError('decode', `output '${out}' of node '${nodeLabel(n, k)}' (${n.opType}) is also produced by node '${nodeLabel(nodes[prev]!, prev)}'`, { node: nodeLabel(n, k) });
        }
        if (external(out)) {
          throw new Ig3dcError('decode', `output '${out}' of node '${nodeLabel(n, k)}' (${n.opType}) has the name of a graph input or initializer`, { node: nodeLabel(n, k) });
        }
        producer.set(out, k);
      }
    });
    const deps: number[][] = nodes.map(() => []);
    const users: number[][] = nodes.map(() => []);
    nodes.forEach((n, k) => {
      for (const inp of n.input ?? []) {
        if (inp === '') continue;
        const p = producer.get(inp);
        if (p === undefined) {
          if (external(inp)) continue;
          throw new Ig3dcError(
            'decode',
            `${n.opType} node '${nodeLabel(n, k)}' uses '${inp}', which is not produced by any node, initializer or graph input`,
            { node: nodeLabel(n, k) },
          );
        }
        deps[k]!.push(p);
        users[p]!.push(k);
      }
    });
    // Kahn's algorithm, keeping file order among ready nodes
    const pending = deps.map((d) => d.length);
    const ready: number[] = [];
    pending.forEach((c, k) => {
      if (c === 0) ready.push(k);
    });
    const order: number[] = [];
    for (let i = 0; i < ready.length; i++) {
      const k = ready[i]!;
      order.push(k);
      for (const u of users[k]!) if (--pending[u]! === 0) ready.push(u);
    }
    if (order.length < nodes.length) {
      const stuck = pending.findIndex((c) => c > 0);
      const n = nodes[stuck]!;
      throw new Ig3dcError('decode', `the graph has a cycle through ${n.opType} node '${nodeLabel(n, stuck)}'`, { node: nodeLabel(n, stuck) });
    }
    this.#producer = producer;
    return order;
  }

  #producer = new Map<string, number>();

  /** Indices of the nodes the graph outputs depend on. */
  #reachable(nodes: readonly NodeProto[], outputs: readonly string[]): Set<number> {
    const seen = new Set<number>();
    const stack: number[] = [];
    for (const o of outputs) {
      const p = this.#producer.get(o);
      if (p !== undefined) stack.push(p);
      else if (!this.#values.has(o) && !this.#initializers.has(o)) {
        throw new Ig3dcError('decode', `graph output '${o}' is not produced by any node, initializer or graph input`);
      }
    }
    while (stack.length > 0) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      for (const inp of nodes[k]!.input ?? []) {
        const p = this.#producer.get(inp);
        if (p !== undefined && !seen.has(p)) stack.push(p);
      }
    }
    return seen;
  }

  /** The IR node of a value name; initializers are converted on first use. */
  #value(name: string, user: string): Node {
    const v = this.#values.get(name);
    if (v !== undefined) return v;
    const init = this.#initializers.get(name);
    if (init !== undefined) {
      const t = tensorFromProto(init, `initializer '${name}'`, { node: name });
      // float initializers are the weights; integer and bool ones are architecture
      // constants (shapes, axes, indices), public like Constant nodes, so shape arithmetic folds
      const vis: Visibility = isFloatType(t.dtype) ? (this.#opt.weightsVisibility ?? 'server') : 'public';
      const node = constNode(t, { elem: t.dtype, shape: t.shape, vis }, { name });
      this.#values.set(name, node);
      return node;
    }
    const why = this.#unavailable.get(name);
    if (why !== undefined) throw new Ig3dcError('unsupported', `uses '${name}': ${why}`, { node: user });
    throw new Ig3dcError('decode', `input '${name}' is not defined`, { node: user });
  }

  #importNode(n: NodeProto, k: number, spec: OnnxOpSpec): void {
    const name = nodeLabel(n, k);
    const place = this.#file !== undefined ? { file: this.#file, node: name } : { node: name };
    try {
      const opset = this.#m.opset;
      for (const a of n.attribute ?? []) {
        if (attrSpecAt(spec, a.name!, opset) === undefined) {
          throw new Ig3dcError('unsupported', `${spec.name} attribute '${a.name}' is not supported at opset ${opset}`);
        }
      }
      const inputNames = n.input ?? [];
      this.#checkArity(spec, inputNames);
      const inputs = inputNames.map((i) => (i === '' ? undefined : this.#value(i, name)));
      const ctx = this.#context(n, name, inputs);
      const result = spec.import(ctx);
      const results = Array.isArray(result) ? result : [result];
      const outs = n.output ?? [];
      outs.forEach((out, i) => {
        if (out === '') return;
        const node = results[i];
        if (node !== undefined) this.#values.set(out, node);
        else this.#unavailable.set(out, `output ${i} of ${spec.name} node '${name}' is not supported (${spec.outputs === 1 ? 'only its first output is' : `only its first ${spec.outputs} outputs are`})`);
      });
    } catch (e) {
      if (e instanceof Ig3dcError) throw e.within(place);
      throw e;
    }
  }

  #checkArity(spec: OnnxOpSpec, inputs: readonly string[]): void {
    const variadic = spec.inputs.some((i) => i.variadic === true);
    const max = variadic ? Infinity : spec.inputs.length;
    const required = spec.inputs.filter((i) => i.optional !== true).length;
    if (inputs.length > max) throw new Ig3dcError('decode', `${spec.name} takes at most ${max} inputs, got ${inputs.length}`);
    spec.inputs.forEach((s, i) => {
      if (s.optional === true) return;
      if (i >= inputs.length || inputs[i] === '') {
        throw new Ig3dcError('decode', `${spec.name} input ${i} ('${s.name}') is missing (${spec.name} needs ${required} input${required === 1 ? '' : 's'})`);
      }
    });
    if (variadic && inputs.some((i) => i === '')) throw new Ig3dcError('decode', `${spec.name} has an empty input name`);
  }

  #context(n: NodeProto, name: string, inputs: readonly (Node | undefined)[]): ImportContext {
    const loc = { name };
    const opType = n.opType!;
    const attrs = new OnnxAttrs(n.attribute ?? [], name, this.#file);
    const fail = (kind: 'unsupported' | 'shape' | 'decode', message: string): never => {
      throw new Ig3dcError(kind, message, { node: name });
    };
    const constInput = (i: number, what: string): Tensor | undefined => {
      const node = inputs[i];
      if (node === undefined) return undefined;
      const t = constValue(node);
      if (t === undefined) {
        fail('unsupported', `${opType} ${what} is not a constant (it is computed at run time from '${n.input![i]}'); only static shapes are supported`);
      }
      return t;
    };
    return {
      opType,
      name,
      opset: this.#m.opset,
      inputs,
      attrs,
      input(i) {
        const node = inputs[i];
        if (node === undefined) return fail('decode', `${opType} input ${i} is missing`);
        return node;
      },
      build: (op, ins, a) => foldIfConstant(build(op, ins, a ?? {}, loc), loc),
      outputs: n.output ?? [],
      constant: (t, vis = 'public', cname = name) => constNode(t, { elem: t.dtype, shape: t.shape, vis }, { name: cname }),
      constInput,
      constInts(i, what) {
        const t = constInput(i, what);
        if (t === undefined) return undefined;
        if (t.dtype !== 'i64' && t.dtype !== 'i32' && t.dtype !== 'u8' && t.dtype !== 'i8' && t.dtype !== 'u32' && t.dtype !== 'u64') {
          fail('shape', `${opType} ${what} must be an integer tensor, got ${t.dtype}`);
        }
        if (t.shape.length > 1) fail('shape', `${opType} ${what} must be 1-D, got shape [${t.shape.join(',')}]`);
        return t.toNumbers();
      },
      fail,
    };
  }

  /** The node of a graph output, checked against its declared element type and static dims. */
  #checkOutput(o: ValueInfoProto): Node {
    const name = o.name!;
    const node = this.#value(name, name);
    const tt = o.type?.tensorType;
    if (tt === null || tt === undefined) return node;
    const code = typeof tt.elemType === 'number' ? tt.elemType : 0;
    const declared = elemFromOnnx(code);
    const t = node.type;
    if (code !== 0 && declared !== t.elem) {
      throw new Ig3dcError('shape', `graph output '${name}' is declared ${onnxDtypeName(code)} but the graph computes ${t.elem}`, { node: name });
    }
    const dims = tt.shape?.dim;
    if (dims === null || dims === undefined || tt.shape === null || tt.shape === undefined) return node;
    const mismatch = (): never => {
      throw new Ig3dcError('shape', `graph output '${name}' computes shape [${t.shape.join(',')}], which does not match its declared shape [${dims.map((d) => (has(d, 'dimValue') ? longToNumber(d.dimValue as number | LongLike) : (d.dimParam ?? '?'))).join(',')}]`, { node: name });
    };
    if (dims.length !== t.shape.length) mismatch();
    dims.forEach((d, i) => {
      if (has(d, 'dimValue')) {
        const v = longToNumber(d.dimValue as number | LongLike);
        if (v !== t.shape[i]) mismatch();
      } else if (typeof d.dimParam === 'string' && this.#dimValues[d.dimParam] !== undefined && this.#dimValues[d.dimParam] !== t.shape[i]) {
        mismatch();
      }
    });
    return node;
  }
}

/** The ONNX node's name, or its first output when unnamed (or its index as a last resort). */
function nodeLabel(n: NodeProto, k: number): string {
  if (typeof n.name === 'string' && n.name !== '') return n.name;
  const first = (n.output ?? []).find((o) => o !== '');
  return first ?? `#${k} (${n.opType})`;
}

/** A node whose inputs are all public constants is evaluated now and becomes a public constant. */
function foldIfConstant(node: Node, loc: { name: string }): Node {
  if (node.op === CONST_OP || node.inputs.length === 0) return node;
  const values: Tensor[] = [];
  for (const i of node.inputs) {
    const t = i.type.vis === 'public' ? constValue(i) : undefined;
    if (t === undefined) return node;
    values.push(t);
  }
  const t = evaluateNode(node, values);
  // constants keep their element type's compact storage (an f32 result is rounded to f32,
  // as the ONNX model would compute it)
  const stored = allocStorage(node.type.elem, t.size);
  writeValues(stored, node.type.elem, t.data);
  return constNode(new Tensor(node.type.elem, node.type.shape, stored), { elem: node.type.elem, shape: node.type.shape, vis: 'public' }, loc);
}
