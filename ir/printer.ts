// The textual IR: one op per line, types printed, attributes in braces (MLIR-like).
//
//   # ig3dc IR — bert_tiny (from bert-tiny.onnx, producer pytorch, opset 14)
//   meta {source = "bert-tiny.onnx", producer = "pytorch", opset = 14}
//   weights "bert-tiny.ir.weights"
//   graph bert_tiny {
//     input %input_ids : i64[1,8] secret(client)
//     %0 = Const : f32[2000,128] secret(server) = external<0> loc("word_embeddings.weight")
//     %1 = Gather(%0, %input_ids) : f32[1,8,128] secret(client) loc("/embeddings/Gather")
//     %2 = Reshape(%1) {shape = [1,8,2,64]} : f32[1,8,2,64] secret(client) loc(layer = 0)
//     output logits = %2
//   }
//
// Printing then parsing (ir/parser.ts) gives back the same graph, and printing is
// deterministic, so print(parse(print(g))) === print(g). Numbers print exactly: f32 as the
// shortest decimal that rounds back to the same float32, integers in full (bigint for 64-bit).

import type { Graph } from './graph.ts';
import { BARE_VALUE_NAME, IDENTIFIER } from './lexer.ts';
import { CONST_OP, INPUT_OP, isElided, type AttrValue, type Loc, type Node } from './node.ts';
import { findOp, type AttrKind } from './op.ts';
import type { Storage, Tensor } from './tensor.ts';
import { formatType, isFloatType, type ElemType } from './types.ts';
import { WeightsWriter } from './weights-file.ts';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Ig3dcError } from './diagnostics.ts';
import './ops/index.ts';

export interface PrintOptions {
  /**
   * Where constant data goes: `inline` prints every constant; `elide` (the default) prints
   * constants of at most `inlineLimit` elements and elides the rest; a sidecar writer takes
   * the bigger ones and they print as `external<offset>`. A constant whose elements are all
   * equal prints as `splat<v>` whatever its size.
   */
  weights?: 'inline' | 'elide' | { sidecar: WeightsWriter };
  /** Largest constant (in elements) printed inline when not `inline`. Default 16. */
  inlineLimit?: number;
}

export const DEFAULT_INLINE_LIMIT = 16;

// ---------------------------------------------------------------------------------------
// Numbers

/** The shortest decimal string that Math.fround maps back to the float32 value `x`. */
export function shortestF32(x: number): string {
  if (!Number.isFinite(x) || x === 0) return String(x);
  const full = String(x);
  for (let p = 1; p < 17; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) {
      // Normalize the notation (toPrecision gives "1.00e+5"-like forms) without changing the value.
      const n = String(Number(s));
      return n.length <= full.length ? n : full;
    }
  }
  return full;
}

/**
 * A float literal: always with a decimal point or exponent (`1.0`, `1e+21`), `nan`, `inf`,
 * `-inf`, `-0.0`. With `f32`, the shortest decimal that rounds back to the same float32.
 */
export function formatFloat(x: number, f32 = false): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0.0';
  const s = f32 && Math.fround(x) === x ? shortestF32(x) : String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function formatElement(data: Storage, i: number, elem: ElemType): string {
  const v = data[i]!;
  if (typeof v === 'bigint') return v.toString();
  if (elem === 'bool') return v !== 0 ? 'true' : 'false';
  if (isFloatType(elem)) return formatFloat(v, elem === 'f32' && !(data instanceof Float64Array));
  return String(v);
}

function sameElement(a: number | bigint, b: number | bigint): boolean {
  return Object.is(a, b);
}

// ---------------------------------------------------------------------------------------
// Names

/** A string literal with JSON escapes. */
export function quote(s: string): string {
  return JSON.stringify(s);
}

/** `%name`, `%12`, or `%"onnx::x"` when the name is not bare. */
export function formatValueName(name: string): string {
  return BARE_VALUE_NAME.test(name) ? `%${name}` : `%${quote(name)}`;
}

/** A graph or output name: an identifier, or a quoted string. */
export function formatName(name: string): string {
  return IDENTIFIER.test(name) ? name : quote(name);
}

/**
 * The printed name of every node (without `%`): Input nodes by their name, the others
 * numbered 0, 1, ... in `graph.nodes()` order, skipping numbers an input already uses.
 */
export function valueNames(graph: Graph): Map<Node, string> {
  return valueNamesOf(graph.nodes());
}

/** `valueNames` over nodes in a given order. */
export function valueNamesOf(nodes: readonly Node[]): Map<Node, string> {
  const names = new Map<Node, string>();
  const taken = new Set<string>();
  for (const n of nodes) {
    if (n.op === INPUT_OP) {
      const name = n.name ?? '';
      names.set(n, name);
      taken.add(name);
    }
  }
  let next = 0;
  for (const n of nodes) {
    if (n.op === INPUT_OP) continue;
    while (taken.has(String(next))) next++;
    names.set(n, String(next++));
  }
  return names;
}

// ---------------------------------------------------------------------------------------
// Attributes and locations

function formatAttrScalar(v: number | string | boolean, kind: AttrKind | undefined): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const float = kind === 'float' || kind === 'floats' || (kind === undefined && !Number.isInteger(v));
  return float ? formatFloat(v) : String(v);
}

export function formatAttrValue(v: AttrValue, kind?: AttrKind): string {
  if (Array.isArray(v)) return `[${(v as readonly (number | string)[]).map((x) => formatAttrScalar(x, kind)).join(',')}]`;
  return formatAttrScalar(v as number | string | boolean, kind);
}

function attrEquals(a: AttrValue, b: AttrValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => Object.is(x, b[i]));
  }
  return Object.is(a, b);
}

function formatAttrKey(key: string): string {
  return IDENTIFIER.test(key) ? key : quote(key);
}

/** ` {key = value, ...}` with attributes equal to the op's default left out; '' if none remain. */
function formatAttrs(node: Node): string {
  const def = findOp(node.op);
  const parts: string[] = [];
  const keys = Object.keys(node.attrs);
  // The op table's order reads better than insertion order; unknown keys go last.
  const ordered = def ? [...Object.keys(def.attrs).filter((k) => k in node.attrs), ...keys.filter((k) => !(k in def.attrs))] : keys;
  for (const key of ordered) {
    const v = node.attrs[key]!;
    const spec = def?.attrs[key];
    if (spec?.default !== undefined && attrEquals(v, spec.default)) continue;
    parts.push(`${formatAttrKey(key)} = ${formatAttrValue(v, spec?.kind)}`);
  }
  return parts.length ? ` {${parts.join(', ')}}` : '';
}

/** ` loc("name", layer = 3)`, ` loc(layer = 3)`, or '' for an empty location. */
export function formatLoc(loc: Loc): string {
  const parts: string[] = [];
  if (loc.name !== undefined) parts.push(quote(loc.name));
  if (loc.layer !== undefined) parts.push(`layer = ${loc.layer}`);
  return parts.length ? ` loc(${parts.join(', ')})` : '';
}

// ---------------------------------------------------------------------------------------
// Constant data

function formatData(t: Tensor, elem: ElemType, opts: Required<Pick<PrintOptions, 'inlineLimit'>> & PrintOptions): string {
  const data = t.data;
  const n = data.length;
  if (n > 1) {
    const first = data[0]!;
    let splat = true;
    for (let i = 1; i < n && splat; i++) splat = sameElement(data[i]!, first);
    if (splat) return `splat<${formatElement(data, 0, elem)}>`;
  }
  const weights = opts.weights ?? 'elide';
  if (weights !== 'inline' && n > opts.inlineLimit) {
    if (weights === 'elide') return 'elided';
    return `external<${weights.sidecar.add(t)}>`;
  }
  if (n === 1) return `dense<${formatElement(data, 0, elem)}>`;
  const items = new Array<string>(n);
  for (let i = 0; i < n; i++) items[i] = formatElement(data, i, elem);
  return `dense<[${items.join(', ')}]>`;
}

// ---------------------------------------------------------------------------------------
// Graph

function headerComment(graph: Graph): string {
  const facts: string[] = [];
  if (graph.meta.source !== undefined) facts.push(`from ${graph.meta.source}`);
  if (graph.meta.producer !== undefined) facts.push(`producer ${graph.meta.producer}`);
  if (graph.meta.opset !== undefined) facts.push(`opset ${graph.meta.opset}`);
  const line = `# ig3dc IR — ${graph.name}${facts.length ? ` (${facts.join(', ')})` : ''}`;
  return line.replace(/[\r\n]/g, ' ');
}

function metaLine(graph: Graph): string | undefined {
  const parts: string[] = [];
  const { source, producer, opset } = graph.meta;
  if (source !== undefined) parts.push(`source = ${quote(source)}`);
  if (producer !== undefined) parts.push(`producer = ${quote(producer)}`);
  if (opset !== undefined) parts.push(`opset = ${opset}`);
  return parts.length ? `meta {${parts.join(', ')}}` : undefined;
}

/** The graph as text (see the top of this file for the form). */
export function printGraph(graph: Graph, options: PrintOptions = {}): string {
  const opts = { ...options, inlineLimit: options.inlineLimit ?? DEFAULT_INLINE_LIMIT };
  const names = valueNames(graph);
  const ref = (n: Node): string => formatValueName(names.get(n)!);
  const body: string[] = [];
  for (const n of graph.nodes()) {
    const type = formatType(n.type);
    const loc = formatLoc(n.loc);
    if (n.op === INPUT_OP) {
      body.push(`  input ${ref(n)} : ${type}${loc}`);
    } else if (n.op === CONST_OP) {
      const data = n.data === undefined || isElided(n.data) ? 'elided' : formatData(n.data, n.type.elem, opts);
      body.push(`  ${ref(n)} = Const : ${type} = ${data}${loc}`);
    } else {
      const args = n.inputs.map(ref).join(', ');
      body.push(`  ${ref(n)} = ${formatName(n.op)}(${args})${formatAttrs(n)} : ${type}${loc}`);
    }
  }
  for (const o of graph.outputs) body.push(`  output ${formatName(o.name)} = ${ref(o.node)}`);

  const head = [headerComment(graph)];
  const meta = metaLine(graph);
  if (meta !== undefined) head.push(meta);
  const w = opts.weights;
  if (typeof w === 'object' && !w.sidecar.isEmpty) head.push(`weights ${quote(w.sidecar.fileName)}`);
  return `${head.join('\n')}\ngraph ${formatName(graph.name)} {\n${body.join('\n')}${body.length ? '\n' : ''}}\n`;
}

/**
 * Writes `path` (the text) and, when some constant is larger than `inlineLimit`,
 * `path.weights` (the sidecar, named in the text's `weights` line, relative to it).
 */
export function writeIrFile(graph: Graph, path: string, options: { inlineLimit?: number } = {}): void {
  const sidecar = new WeightsWriter(`${basename(path)}.weights`);
  const text = printGraph(graph, { weights: { sidecar }, inlineLimit: options.inlineLimit });
  if (!sidecar.isEmpty) sidecar.writeTo(`${path}.weights`);
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new Ig3dcError('io', `cannot write IR file: ${(e as Error).message}`, { file: path });
  }
}
