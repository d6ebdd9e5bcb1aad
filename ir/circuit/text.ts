// Text form of a circuit: one instruction per line, depth and provenance as a trailing comment.
//
//   circuit "tiny" {f=16, outputs=["y"]}
//   %0:ashr[2,3]@16 = input {party=1, name="x", encoding="fixed", shape=[2,3], classes=0}  ; d=0 other - - -
//   %3:ashr[2,3]@16, %4:ashr[2,3]@16, %5:ashr[2,3]@32 = beaver {shape=[2,3], scales=[16,16]}  ; p=0 linear L0 /l0/mul beaver-mul
//   %7:pub[2,3]@16, %8:pub[2,3]@16 = open %6, %7  ; d=1 linear L0 /l0/mul beaver-mul
//   output %12 {name="y"}  ; d=2 other - - -
//
// The comment is `d=<online depth>` or `p=<preprocessing depth>`, then the op kind, the layer
// (`L3` or `-`), the IR node (`-` if none; JSON-quoted if it has spaces) and the protocol.
// The parser reads provenance back from it (depths are recomputed, not read). Register ids
// are renumbered densely in order of definition, so printing what the builder made and
// parsing it back gives the same circuit.

import { Ig3dcError } from '../diagnostics.ts';
import { numel } from '../types.ts';
import { inputsOf, outputsOf, type Circuit } from './circuit.ts';
import { completeCircuitAttrs, findCircuitOp, inferInstruction } from './ops.ts';
import { schedule } from './schedule.ts';
import {
  NO_PROVENANCE,
  formatRegType,
  isOpKind,
  isRegKind,
  type CAttrValue,
  type CAttrs,
  type Instruction,
  type Provenance,
  type RegType,
} from './types.ts';
import { verifyCircuit } from './verify.ts';

// ── printing

function formatAttrValue(v: CAttrValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${(v as readonly (number | string)[]).map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(',')}]`;
  return String(v);
}

function formatWord(s: string): string {
  if (s === '') return '-';
  return /^[^\s"-][^\s"]*$/.test(s) ? s : JSON.stringify(s);
}

export function formatProvenance(p: Provenance): string {
  return `${p.opKind} ${p.layer === undefined ? '-' : `L${p.layer}`} ${formatWord(p.irNode)} ${formatWord(p.protocol)}`;
}

export function printInstruction(c: Circuit, ins: Instruction, comment?: string): string {
  const results = ins.outputs.map((r) => `%${r}:${formatRegType(c.registers[r]!)}`).join(', ');
  const operands = ins.inputs.map((r) => `%${r}`).join(', ');
  const attrs = Object.entries(ins.attrs).map(([k, v]) => `${k}=${formatAttrValue(v)}`);
  if (ins.data !== undefined) attrs.push(`data=[${Array.from(ins.data, (x) => BigInt.asIntN(64, x).toString()).join(',')}]`);
  let line = results === '' ? ins.op : `${results} = ${ins.op}`;
  if (operands !== '') line += ` ${operands}`;
  if (attrs.length > 0) line += ` {${attrs.join(', ')}}`;
  if (comment !== undefined) line += `  ; ${comment}`;
  return line;
}

export function printCircuit(c: Circuit): string {
  const s = schedule(c);
  const lines = [`circuit ${JSON.stringify(c.name)} {f=${c.f}, outputs=${formatAttrValue(c.outputs.map((o) => o.name))}}`];
  c.instructions.forEach((ins, i) => {
    const d = `${s.phase[i] === 'pre' ? 'p' : 'd'}=${s.depth[i]}`;
    lines.push(printInstruction(c, ins, `${d} ${formatProvenance(ins.prov)}`));
  });
  return lines.join('\n') + '\n';
}

// ── parsing

class LineScanner {
  pos = 0;
  constructor(
    readonly text: string,
    readonly line: number,
    readonly file: string | undefined,
  ) {}

  error(detail: string, at = this.pos): never {
    throw new Ig3dcError('syntax', detail, { ...(this.file === undefined ? {} : { file: this.file }), line: this.line, column: at + 1 });
  }
  ws(): void {
    while (this.pos < this.text.length && (this.text[this.pos] === ' ' || this.text[this.pos] === '\t')) this.pos++;
  }
  peek(): string {
    this.ws();
    return this.text[this.pos] ?? '';
  }
  atEnd(): boolean {
    const c = this.peek();
    return c === '' || c === ';';
  }
  eat(s: string): boolean {
    this.ws();
    if (this.text.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string): void {
    if (!this.eat(s)) this.error(`expected '${s}'`);
  }
  ident(): string {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
    if (m === null) this.error('expected a name');
    this.pos += m[0].length;
    return m[0];
  }
  integer(): number {
    this.ws();
    const m = /^-?\d+/.exec(this.text.slice(this.pos));
    if (m === null) this.error('expected an integer');
    this.pos += m[0].length;
    return Number(m[0]);
  }
  bigint(): bigint {
    this.ws();
    const m = /^-?\d+/.exec(this.text.slice(this.pos));
    if (m === null) this.error('expected an integer');
    this.pos += m[0].length;
    return BigInt(m[0]);
  }
  string(): string {
    this.ws();
    if (this.text[this.pos] !== '"') this.error('expected a string');
    const start = this.pos;
    let i = this.pos + 1;
    while (i < this.text.length && this.text[i] !== '"') i += this.text[i] === '\\' ? 2 : 1;
    if (i >= this.text.length) this.error('unterminated string', start);
    this.pos = i + 1;
    try {
      return JSON.parse(this.text.slice(start, i + 1)) as string;
    } catch {
      this.error('bad string escape', start);
    }
  }
  register(): number {
    this.expect('%');
    const at = this.pos;
    const n = this.integer();
    if (n < 0) this.error('bad register number', at);
    return n;
  }
}

function parseAttrValue(s: LineScanner): CAttrValue {
  const c = s.peek();
  if (c === '"') return s.string();
  if (c === '[') {
    s.expect('[');
    if (s.eat(']')) return [];
    if (s.peek() === '"') {
      const xs: string[] = [];
      do xs.push(s.string());
      while (s.eat(','));
      s.expect(']');
      return xs;
    }
    const xs: number[] = [];
    do xs.push(s.integer());
    while (s.eat(','));
    s.expect(']');
    return xs;
  }
  if (s.eat('true')) return true;
  if (s.eat('false')) return false;
  return s.integer();
}

interface ParsedAttrs {
  attrs: Record<string, CAttrValue>;
  data?: BigUint64Array;
}

function parseAttrs(s: LineScanner): ParsedAttrs {
  const out: ParsedAttrs = { attrs: {} };
  if (!s.eat('{')) return out;
  if (s.eat('}')) return out;
  do {
    const at = s.pos;
    const key = s.ident();
    s.expect('=');
    if (key === 'data') {
      s.expect('[');
      const xs: bigint[] = [];
      if (!s.eat(']')) {
        do xs.push(s.bigint());
        while (s.eat(','));
        s.expect(']');
      }
      out.data = BigUint64Array.from(xs, (x) => BigInt.asUintN(64, x));
    } else {
      if (key in out.attrs) s.error(`attribute '${key}' given twice`, at);
      out.attrs[key] = parseAttrValue(s);
    }
  } while (s.eat(','));
  s.expect('}');
  return out;
}

function parseRegType(s: LineScanner): RegType {
  const at = s.pos;
  const kind = s.ident();
  if (!isRegKind(kind)) s.error(`unknown register kind '${kind}' (pub, ashr, bshr, key, own0 or own1)`, at);
  s.expect('[');
  const shape: number[] = [];
  if (!s.eat(']')) {
    do shape.push(s.integer());
    while (s.eat(','));
    s.expect(']');
  }
  s.expect('@');
  const scale = s.integer();
  return { kind, shape, scale };
}

/** Splits the comment into words; a JSON string stays one word (and is never the `-` placeholder). */
function commentWords(s: LineScanner): { text: string; quoted: boolean }[] {
  const words: { text: string; quoted: boolean }[] = [];
  for (;;) {
    const c = s.peek();
    if (c === '') return words;
    if (c === '"') words.push({ text: s.string(), quoted: true });
    else {
      const start = s.pos;
      while (s.pos < s.text.length && s.text[s.pos] !== ' ' && s.text[s.pos] !== '\t') s.pos++;
      words.push({ text: s.text.slice(start, s.pos), quoted: false });
    }
  }
}

/** Provenance from a `; d=3 linear L0 node protocol` comment; anything else gives no provenance. */
function parseProvenanceComment(s: LineScanner): Provenance {
  if (!s.eat(';')) return NO_PROVENANCE;
  const words = commentWords(s);
  const w = words.map((x) => x.text);
  if (w.length !== 5 || !/^[dp]=\d+$/.test(w[0]!) || !isOpKind(w[1]!) || !/^(L\d+|-)$/.test(w[2]!)) return NO_PROVENANCE;
  const layer = w[2] === '-' ? undefined : Number(w[2]!.slice(1));
  const word = (j: number): string => (words[j]!.text === '-' && !words[j]!.quoted ? '' : words[j]!.text);
  return { irNode: word(3), opKind: w[1] as Provenance['opKind'], protocol: word(4), ...(layer === undefined ? {} : { layer }) };
}

/** Parses the text form; errors are Ig3dcError('syntax' or 'verify') with line:column. */
export function parseCircuit(text: string, file?: string): Circuit {
  const lines = text.split(/\r?\n/);
  let name: string | undefined;
  let f = 16;
  let outputNames: string[] = [];
  const registers: RegType[] = [];
  const instructions: Instruction[] = [];
  const renumber = new Map<number, number>();
  lines.forEach((raw, li) => {
    const s: LineScanner = new LineScanner(raw, li + 1, file);
    if (s.atEnd()) return;
    if (name === undefined) {
      if (!s.eat('circuit')) s.error(`expected the header 'circuit "<name>" {f=..., outputs=[...]}'`, 0);
      name = s.string();
      const { attrs } = parseAttrs(s);
      if (attrs['f'] !== undefined) {
        if (typeof attrs['f'] !== 'number') s.error('f must be an integer');
        f = attrs['f'];
      }
      const outs = attrs['outputs'] ?? [];
      if (!Array.isArray(outs) || outs.some((o) => typeof o !== 'string')) s.error('outputs must be a list of strings');
      outputNames = [...(outs as readonly string[])];
      if (!s.atEnd()) s.error('unexpected text after the header');
      return;
    }
    const results: { text: number; type: RegType; col: number }[] = [];
    if (s.peek() === '%') {
      do {
        const col = s.pos;
        const id = s.register();
        s.expect(':');
        results.push({ text: id, type: parseRegType(s), col });
      } while (s.eat(','));
      s.expect('=');
    }
    const opAt = s.pos;
    const op = s.ident();
    const def = findCircuitOp(op);
    if (def === undefined) s.error(`unknown circuit op '${op}'`, opAt);
    const inputs: number[] = [];
    if (s.peek() === '%') {
      do {
        const at = s.pos;
        const id = s.register();
        const r = renumber.get(id);
        if (r === undefined) s.error(`%${id} is used before it is defined`, at);
        inputs.push(r);
      } while (s.eat(','));
    }
    const { attrs, data } = parseAttrs(s);
    const prov = parseProvenanceComment(s);
    if (!s.atEnd() && s.peek() !== '') s.error('unexpected text after the instruction');
    let full: CAttrs;
    let types: RegType[];
    try {
      full = completeCircuitAttrs(def, attrs);
      types = inferInstruction(def, inputs.map((r) => registers[r]!), full, f);
    } catch (e) {
      if (e instanceof Ig3dcError) s.error(e.detail, opAt);
      throw e;
    }
    if (types.length !== results.length) s.error(`${op} defines ${types.length} register(s), ${results.length} given`, opAt);
    const outputs = results.map((res, j) => {
      if (renumber.has(res.text)) s.error(`%${res.text} is defined twice`, res.col);
      const want = types[j]!;
      if (formatRegType(want) !== formatRegType(res.type)) {
        s.error(`%${res.text} is declared ${formatRegType(res.type)} but ${op} gives ${formatRegType(want)}`, res.col);
      }
      const id = registers.length;
      registers.push(res.type);
      renumber.set(res.text, id);
      return id;
    });
    if (op === 'const') {
      const n = numel(types[0]!.shape);
      if (data === undefined || data.length !== n) s.error(`const needs data with ${n} elements, got ${data?.length ?? 0}`, opAt);
    } else if (data !== undefined) {
      s.error(`${op} takes no data`, opAt);
    }
    instructions.push({ op, inputs, outputs, attrs: full, prov, ...(data === undefined ? {} : { data }) });
  });
  if (name === undefined) throw new Ig3dcError('syntax', 'empty circuit text: expected the header \'circuit "<name>" {...}\'', file === undefined ? {} : { file });
  const c: Circuit = { name, f, registers, instructions, inputs: inputsOf(instructions), outputs: outputsOf(outputNames, instructions) };
  verifyCircuit(c, file);
  return c;
}
