// Parser of the textual IR (see ir/printer.ts for the form).
//
// Grammar (chevrotain, LL(1)); `#` or `//` starts a comment to the end of the line:
//
//   file       := directive* 'graph' name '{' statement* '}'
//   directive  := 'weights' STRING | 'meta' attrDict
//   statement  := 'input' VALUE ':' type loc?
//               | VALUE '=' name ('(' (VALUE (',' VALUE)*)? ')')? attrDict? ':' type ('=' constData)? loc?
//               | 'output' name '=' VALUE
//   name       := NAME | STRING
//   type       := NAME '[' (NUMBER (',' NUMBER)*)? ']' ('public' | 'secret' ('(' NAME ')')?)
//   attrDict   := '{' (name '=' attrValue (',' name '=' attrValue)*)? '}'
//   attrValue  := scalar | '[' (scalar (',' scalar)*)? ']'
//   scalar     := STRING | 'true' | 'false' | '-'? (NUMBER | 'inf' | 'nan')
//   constData  := 'dense' '<' (scalar | '[' (scalar (',' scalar)*)? ']') '>'
//               | 'splat' '<' scalar '>' | 'elided' | 'external' '<' NUMBER '>'
//   loc        := 'loc' '(' (locPart (',' locPart)*)? ')'      locPart := STRING | NAME '=' scalar
//
// Parsing builds an AST first; a second step resolves names and builds nodes with build(),
// so attributes are validated, types inferred and compared with the printed ones.

import { EmbeddedActionsParser, EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import { build } from './build.ts';
import { Ig3dcError, type ErrorKind } from './diagnostics.ts';
import { Graph, type GraphMeta, type GraphOutput } from './graph.ts';
import {
  ALL_TOKENS,
  AnyName,
  Colon,
  Comma,
  Equals,
  KwDense,
  KwElided,
  KwExternal,
  KwFalse,
  KwGraph,
  KwInf,
  KwInput,
  KwLoc,
  KwMeta,
  KwNan,
  KwOutput,
  KwPublic,
  KwSecret,
  KwSplat,
  KwTrue,
  KwWeights,
  LAngle,
  LBrace,
  LBracket,
  LParen,
  Minus,
  NumberLit,
  RAngle,
  RBrace,
  RBracket,
  RParen,
  StringLit,
  ValueRef,
  tokenize,
} from './lexer.ts';
import { CONST_OP, INPUT_OP, constNode, inputNode, type AttrValue, type ConstData, type Loc, type Node } from './node.ts';
import { describeKind, findOp, type AttrKind, type OpDef } from './op.ts';
import { Tensor, allocStorage, type Storage } from './tensor.ts';
import { formatType, isElemType, isFloatType, numel, typesEqual, type ElemType, type ValueType, type Visibility } from './types.ts';
import { INT_RANGES, quote, tensorSizeProblem } from './limits.ts';
import { openWeightsFile, WEIGHTS_ALIGNMENT, type WeightsReader } from './weights-file.ts';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface ParseOptions {
  /** The file name used in error places. */
  file?: string;
  /** Where `external<offset>` data is read from. */
  weights?: WeightsReader;
  /** Opens the sidecar named by a `weights "FILE"` line (used when `weights` is not given). */
  resolveWeights?: (fileName: string) => WeightsReader;
}

// ---------------------------------------------------------------------------------------
// AST

interface ScalarAst {
  readonly kind: 'num' | 'str' | 'bool';
  readonly tok: IToken;
  /** The '-' of a negative number. */
  readonly minus?: IToken;
}
interface ListAst {
  readonly kind: 'list';
  readonly tok: IToken;
  readonly items: ScalarAst[];
}
type AttrValueAst = ScalarAst | ListAst;
interface AttrAst {
  readonly key: IToken;
  readonly value: AttrValueAst;
}
interface TypeAst {
  readonly elem: IToken;
  readonly dims: IToken[];
  readonly vis: IToken;
  readonly party?: IToken;
}
interface LocPartAst {
  readonly name?: IToken;
  readonly key?: IToken;
  readonly value?: ScalarAst;
}
type DataAst =
  | { readonly kind: 'dense'; readonly tok: IToken; readonly items: ScalarAst[]; readonly list: boolean }
  | { readonly kind: 'splat'; readonly tok: IToken; readonly item: ScalarAst }
  | { readonly kind: 'elided'; readonly tok: IToken }
  | { readonly kind: 'external'; readonly tok: IToken; readonly offset: IToken };
type StatementAst =
  | { readonly kind: 'input'; readonly value: IToken; readonly type: TypeAst; readonly loc?: LocPartAst[] }
  | {
      readonly kind: 'op';
      readonly value: IToken;
      readonly op: IToken;
      readonly operands?: IToken[];
      readonly attrs?: AttrAst[];
      readonly type: TypeAst;
      readonly data?: DataAst;
      readonly loc?: LocPartAst[];
    }
  | { readonly kind: 'output'; readonly name: IToken; readonly value: IToken };
type DirectiveAst = { readonly kind: 'weights'; readonly file: IToken } | { readonly kind: 'meta'; readonly tok: IToken; readonly attrs: AttrAst[] };
interface FileAst {
  readonly directives: DirectiveAst[];
  readonly name: IToken;
  readonly statements: StatementAst[];
}

// ---------------------------------------------------------------------------------------
// Syntax

function describeToken(t: IToken | undefined): string {
  if (t === undefined || t.tokenType === EOF) return 'the end of the input';
  const image = t.image.length > 40 ? `${t.image.slice(0, 37)}...` : t.image;
  return `'${image}'`;
}

function labelOf(t: TokenType): string {
  return t.LABEL ?? t.name;
}

function oneOf(labels: string[]): string {
  const unique = [...new Set(labels)];
  if (unique.length <= 1) return unique[0] ?? 'something else';
  return `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${labelOf(expected)} but found ${describeToken(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `unexpected ${describeToken(firstRedundant)} after the end of the graph`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual }) =>
    `expected ${oneOf(expectedPathsPerAlt.flatMap((alt) => alt.map((path) => (path[0] ? labelOf(path[0]) : ''))))} but found ${describeToken(actual[0])}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual }) =>
    `expected ${oneOf(expectedIterationPaths.map((path) => (path[0] ? labelOf(path[0]) : '')))} but found ${describeToken(actual[0])}`,
};

class IrSyntax extends EmbeddedActionsParser {
  constructor() {
    super(ALL_TOKENS, { maxLookahead: 2, recoveryEnabled: false, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', (): FileAst => {
    const directives: DirectiveAst[] = [];
    this.MANY(() => {
      directives.push(this.SUBRULE(this.directive));
    });
    this.CONSUME(KwGraph);
    const name = this.SUBRULE(this.nameLit);
    this.CONSUME(LBrace);
    const statements: StatementAst[] = [];
    this.MANY2(() => {
      statements.push(this.SUBRULE(this.statement));
    });
    this.CONSUME(RBrace);
    return { directives, name, statements };
  });

  directive = this.RULE('directive', (): DirectiveAst =>
    this.OR([
      {
        ALT: () => {
          this.CONSUME(KwWeights);
          return { kind: 'weights', file: this.CONSUME(StringLit) };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(KwMeta);
          return { kind: 'meta', tok, attrs: this.SUBRULE(this.attrDict) };
        },
      },
    ]),
  );

  nameLit = this.RULE('nameLit', (): IToken =>
    this.OR([{ ALT: () => this.CONSUME(AnyName) }, { ALT: () => this.CONSUME(StringLit) }]),
  );

  statement = this.RULE('statement', (): StatementAst =>
    this.OR([
      { ALT: () => this.SUBRULE(this.inputStatement) },
      { ALT: () => this.SUBRULE(this.opStatement) },
      { ALT: () => this.SUBRULE(this.outputStatement) },
    ]),
  );

  inputStatement = this.RULE('inputStatement', (): StatementAst => {
    this.CONSUME(KwInput);
    const value = this.CONSUME(ValueRef);
    this.CONSUME(Colon);
    const type = this.SUBRULE(this.type);
    const loc = this.OPTION(() => this.SUBRULE(this.loc));
    return { kind: 'input', value, type, loc };
  });

  outputStatement = this.RULE('outputStatement', (): StatementAst => {
    this.CONSUME(KwOutput);
    const name = this.SUBRULE(this.nameLit);
    this.CONSUME(Equals);
    const value = this.CONSUME(ValueRef);
    return { kind: 'output', name, value };
  });

  opStatement = this.RULE('opStatement', (): StatementAst => {
    const value = this.CONSUME(ValueRef);
    this.CONSUME(Equals);
    const op = this.SUBRULE(this.nameLit);
    const operands = this.OPTION(() => {
      const list: IToken[] = [];
      this.CONSUME(LParen);
      this.MANY_SEP({ SEP: Comma, DEF: () => list.push(this.CONSUME2(ValueRef)) });
      this.CONSUME(RParen);
      return list;
    });
    const attrs = this.OPTION2(() => this.SUBRULE(this.attrDict));
    this.CONSUME(Colon);
    const type = this.SUBRULE(this.type);
    const data = this.OPTION3(() => {
      this.CONSUME2(Equals);
      return this.SUBRULE(this.constData);
    });
    const loc = this.OPTION4(() => this.SUBRULE(this.loc));
    return { kind: 'op', value, op, operands, attrs, type, data, loc };
  });

  type = this.RULE('type', (): TypeAst => {
    const elem = this.CONSUME(AnyName);
    const dims: IToken[] = [];
    this.CONSUME(LBracket);
    this.MANY_SEP({ SEP: Comma, DEF: () => dims.push(this.CONSUME(NumberLit)) });
    this.CONSUME(RBracket);
    let party: IToken | undefined;
    const vis = this.OR([
      { ALT: () => this.CONSUME(KwPublic) },
      {
        ALT: () => {
          const tok = this.CONSUME(KwSecret);
          this.OPTION(() => {
            this.CONSUME(LParen);
            party = this.CONSUME2(AnyName);
            this.CONSUME(RParen);
          });
          return tok;
        },
      },
    ]);
    return { elem, dims, vis, party };
  });

  attrDict = this.RULE('attrDict', (): AttrAst[] => {
    const attrs: AttrAst[] = [];
    this.CONSUME(LBrace);
    this.MANY_SEP({
      SEP: Comma,
      DEF: () => {
        const key = this.SUBRULE(this.nameLit);
        this.CONSUME(Equals);
        const value = this.SUBRULE(this.attrValue);
        attrs.push({ key, value });
      },
    });
    this.CONSUME(RBrace);
    return attrs;
  });

  attrValue = this.RULE('attrValue', (): AttrValueAst =>
    this.OR([{ ALT: () => this.SUBRULE(this.list) }, { ALT: () => this.SUBRULE(this.scalar) }]),
  );

  list = this.RULE('list', (): ListAst => {
    const items: ScalarAst[] = [];
    const tok = this.CONSUME(LBracket);
    this.MANY_SEP({ SEP: Comma, DEF: () => items.push(this.SUBRULE(this.scalar)) });
    this.CONSUME(RBracket);
    return { kind: 'list', tok, items };
  });

  scalar = this.RULE('scalar', (): ScalarAst =>
    this.OR([
      { ALT: () => ({ kind: 'str', tok: this.CONSUME(StringLit) }) },
      { ALT: () => ({ kind: 'bool', tok: this.CONSUME(KwTrue) }) },
      { ALT: () => ({ kind: 'bool', tok: this.CONSUME(KwFalse) }) },
      {
        ALT: () => {
          const minus = this.OPTION(() => this.CONSUME(Minus));
          const tok = this.OR2([
            { ALT: () => this.CONSUME(NumberLit) },
            { ALT: () => this.CONSUME(KwInf) },
            { ALT: () => this.CONSUME(KwNan) },
          ]);
          return { kind: 'num', tok, minus };
        },
      },
    ]),
  );

  constData = this.RULE('constData', (): DataAst =>
    this.OR([
      {
        ALT: () => {
          const tok = this.CONSUME(KwDense);
          this.CONSUME(LAngle);
          const data = this.OR2([
            { ALT: () => ({ items: this.SUBRULE(this.list).items, list: true }) },
            { ALT: () => ({ items: [this.SUBRULE(this.scalar)], list: false }) },
          ]);
          this.CONSUME(RAngle);
          return { kind: 'dense', tok, items: data.items, list: data.list };
        },
      },
      {
        ALT: () => {
          const tok = this.CONSUME(KwSplat);
          this.CONSUME2(LAngle);
          const item = this.SUBRULE2(this.scalar);
          this.CONSUME2(RAngle);
          return { kind: 'splat', tok, item };
        },
      },
      { ALT: () => ({ kind: 'elided', tok: this.CONSUME(KwElided) }) },
      {
        ALT: () => {
          const tok = this.CONSUME(KwExternal);
          this.CONSUME3(LAngle);
          const offset = this.CONSUME(NumberLit);
          this.CONSUME3(RAngle);
          return { kind: 'external', tok, offset };
        },
      },
    ]),
  );

  loc = this.RULE('loc', (): LocPartAst[] => {
    const parts: LocPartAst[] = [];
    this.CONSUME(KwLoc);
    this.CONSUME(LParen);
    this.MANY_SEP({
      SEP: Comma,
      DEF: () =>
        this.OR([
          { ALT: () => parts.push({ name: this.CONSUME(StringLit) }) },
          {
            ALT: () => {
              const key = this.CONSUME(AnyName);
              this.CONSUME(Equals);
              parts.push({ key, value: this.SUBRULE(this.scalar) });
            },
          },
        ]),
    });
    this.CONSUME(RParen);
    return parts;
  });
}

let syntax: IrSyntax | undefined;

function parseSyntax(text: string, file: string | undefined): FileAst {
  const tokens = tokenize(text, file);
  syntax ??= new IrSyntax();
  syntax.input = tokens;
  const ast = syntax.file();
  const err = syntax.errors[0];
  if (err !== undefined) {
    let line = err.token.startLine;
    let column = err.token.startColumn;
    if (err.token.tokenType === EOF || line === undefined || Number.isNaN(line)) {
      // At the end of the input: point just after the last token.
      const last = tokens[tokens.length - 1];
      line = last?.startLine ?? 1;
      column = last === undefined ? 1 : last.startColumn! + last.image.length;
    }
    throw new Ig3dcError('syntax', err.message, { file, line, column });
  }
  return ast;
}

// ---------------------------------------------------------------------------------------
// Semantics

const STRICT_NUMBER = /^[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?$/;
const INTEGER = /^[0-9]+$/;


class GraphBuilder {
  readonly #file: string | undefined;
  readonly #values = new Map<string, { node: Node; tok: IToken }>();
  #weights: WeightsReader | undefined;
  #weightsName: string | undefined;
  readonly #options: ParseOptions;
  #openedReader: WeightsReader | undefined;

  constructor(options: ParseOptions) {
    this.#file = options.file;
    this.#options = options;
    this.#weights = options.weights;
  }

  fail(kind: ErrorKind, tok: IToken, detail: string): never {
    throw new Ig3dcError(kind, detail, { file: this.#file, line: tok.startLine, column: tok.startColumn });
  }

  at(tok: IToken): string {
    return `${tok.startLine}:${tok.startColumn}`;
  }

  string(tok: IToken): string {
    try {
      return JSON.parse(tok.image) as string;
    } catch {
      return this.fail('syntax', tok, `bad escape in string ${tok.image}`);
    }
  }

  name(tok: IToken): string {
    return tok.tokenType === StringLit ? this.string(tok) : tok.image;
  }

  valueName(tok: IToken): string {
    const body = tok.image.slice(1);
    return body.startsWith('"') ? this.string({ ...tok, image: body }) : body;
  }

  /** A number literal: its value, and whether it is written as an integer. */
  number(s: ScalarAst): { value: number; isInt: boolean } {
    const sign = s.minus ? -1 : 1;
    if (s.tok.tokenType === KwInf) return { value: sign * Infinity, isInt: false };
    if (s.tok.tokenType === KwNan) return { value: NaN, isInt: false };
    const image = s.tok.image;
    if (!STRICT_NUMBER.test(image)) this.fail('syntax', s.tok, `malformed number '${image}'`);
    return { value: sign * Number(image), isInt: INTEGER.test(image) };
  }

  integer(s: ScalarAst, what: string): number {
    if (s.kind !== 'num') this.fail('syntax', s.tok, `${what} must be an integer, got ${s.tok.image}`);
    const { value, isInt } = this.number(s);
    if (!isInt || !Number.isSafeInteger(value)) this.fail('syntax', s.minus ?? s.tok, `${what} must be an integer, got ${s.minus ? '-' : ''}${s.tok.image}`);
    return value;
  }

  type(t: TypeAst): ValueType {
    const elem = t.elem.image;
    if (!isElemType(elem)) this.fail('syntax', t.elem, `unknown element type '${elem}'`);
    const shape = t.dims.map((d) => {
      if (!INTEGER.test(d.image)) this.fail('syntax', d, `a dimension must be a non-negative integer, got '${d.image}'`);
      const n = Number(d.image);
      if (!Number.isSafeInteger(n)) this.fail('syntax', d, `dimension ${d.image} is too large`);
      return n;
    });
    let vis: Visibility = 'public';
    if (t.vis.tokenType === KwSecret) {
      if (t.party === undefined) vis = 'shared';
      else if (t.party.image === 'client') vis = 'client';
      else if (t.party.image === 'server') vis = 'server';
      else this.fail('syntax', t.party, `unknown party '${t.party.image}' (secret(client) or secret(server))`);
    }
    return { elem, shape, vis };
  }

  loc(parts: readonly LocPartAst[] | undefined): Loc {
    if (parts === undefined) return {};
    let name: string | undefined;
    let layer: number | undefined;
    parts.forEach((p, i) => {
      if (p.name !== undefined) {
        if (i !== 0) this.fail('syntax', p.name, 'the location name must come first in loc(...)');
        name = this.string(p.name);
      } else if (p.key!.image === 'layer') {
        if (layer !== undefined) this.fail('syntax', p.key!, `'layer' given twice`);
        layer = this.integer(p.value!, 'layer');
        if (layer < 0) this.fail('syntax', p.value!.minus ?? p.value!.tok, `layer must be non-negative, got ${layer}`);
      } else {
        this.fail('syntax', p.key!, `unknown location field '${p.key!.image}' (loc("name", layer = N))`);
      }
    });
    const loc: { name?: string; layer?: number } = {};
    if (name !== undefined) loc.name = name;
    if (layer !== undefined) loc.layer = layer;
    return loc;
  }

  attrScalar(s: ScalarAst, kind: AttrKind, op: string, key: string): number | string | boolean {
    const bad = (): never =>
      this.fail('verify', s.minus ?? s.tok, `${op} attribute '${key}' must be ${describeKind(kind)}, got ${s.minus ? '-' : ''}${s.tok.image}`);
    const scalarKind = kind === 'ints' ? 'int' : kind === 'floats' ? 'float' : kind === 'strings' ? 'string' : kind;
    switch (s.kind) {
      case 'str':
        return scalarKind === 'string' ? this.string(s.tok) : bad();
      case 'bool':
        return scalarKind === 'bool' ? s.tok.tokenType === KwTrue : bad();
      case 'num': {
        const { value, isInt } = this.number(s);
        if (scalarKind === 'float') return value;
        if (scalarKind === 'int' && isInt && Number.isSafeInteger(value)) return value;
        return bad();
      }
    }
  }

  attrs(def: OpDef, list: readonly AttrAst[] | undefined): Record<string, AttrValue> {
    const out: Record<string, AttrValue> = {};
    for (const { key: keyTok, value } of list ?? []) {
      const key = this.name(keyTok);
      const spec = def.attrs[key];
      if (spec === undefined) {
        const known = Object.keys(def.attrs);
        this.fail('verify', keyTok, `${def.name} has no attribute '${key}'${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
      }
      if (key in out) this.fail('verify', keyTok, `attribute '${key}' given twice`);
      const listKind = spec.kind === 'ints' || spec.kind === 'floats' || spec.kind === 'strings';
      if (value.kind === 'list') {
        if (!listKind) this.fail('verify', value.tok, `${def.name} attribute '${key}' must be ${describeKind(spec.kind)}, got a list`);
        out[key] = value.items.map((s) => this.attrScalar(s, spec.kind, def.name, key)) as number[] | string[];
      } else {
        if (listKind) this.fail('verify', value.minus ?? value.tok, `${def.name} attribute '${key}' must be ${describeKind(spec.kind)}, got ${value.tok.image}`);
        out[key] = this.attrScalar(value, spec.kind, def.name, key);
      }
    }
    return out;
  }

  element(s: ScalarAst, elem: ElemType): number | bigint {
    if (elem === 'bool') {
      if (s.kind !== 'bool') this.fail('syntax', s.minus ?? s.tok, `a bool element must be true or false, got ${s.tok.image}`);
      return s.tok.tokenType === KwTrue ? 1 : 0;
    }
    if (s.kind !== 'num') this.fail('syntax', s.tok, `a ${elem} element must be a number, got ${s.tok.image}`);
    if (isFloatType(elem)) return this.number(s).value;
    const image = s.tok.image;
    if (!INTEGER.test(image)) {
      if (!STRICT_NUMBER.test(image) && s.tok.tokenType === NumberLit) this.fail('syntax', s.tok, `malformed number '${image}'`);
      this.fail('syntax', s.minus ?? s.tok, `a ${elem} element must be an integer, got ${s.minus ? '-' : ''}${image}`);
    }
    const v = s.minus ? -BigInt(image) : BigInt(image);
    const [lo, hi] = INT_RANGES[elem]!;
    if (v < lo || v > hi) this.fail('syntax', s.minus ?? s.tok, `${v} is out of range for ${elem}`);
    return elem === 'i64' || elem === 'u64' || elem === 'ring64' ? v : Number(v);
  }

  fill(storage: Storage, i: number, v: number | bigint): void {
    (storage as { [k: number]: number | bigint })[i] = v;
  }

  data(d: DataAst, type: ValueType): ConstData {
    const n = numel(type.shape);
    const tooLarge = d.kind === 'elided' ? undefined : tensorSizeProblem(type.shape);
    if (tooLarge !== undefined) this.fail('input', d.tok, tooLarge);
    switch (d.kind) {
      case 'elided':
        return { kind: 'elided' };
      case 'dense': {
        if (d.items.length !== n) {
          const hint = !d.list && n > 1 ? ' (splat<v> repeats one value)' : '';
          this.fail('verify', d.tok, `dense data has ${d.items.length} element${d.items.length === 1 ? '' : 's'} but ${formatType(type)} has ${n}${hint}`);
        }
        const storage = allocStorage(type.elem, n);
        for (let i = 0; i < n; i++) this.fill(storage, i, this.element(d.items[i]!, type.elem));
        return new Tensor(type.elem, type.shape, storage);
      }
      case 'splat': {
        const v = this.element(d.item, type.elem);
        const storage = allocStorage(type.elem, n);
        for (let i = 0; i < n; i++) this.fill(storage, i, v);
        return new Tensor(type.elem, type.shape, storage);
      }
      case 'external': {
        if (!INTEGER.test(d.offset.image)) this.fail('syntax', d.offset, `a byte offset must be a non-negative integer, got '${quote(d.offset.image, 30)}'`);
        if (Number(d.offset.image) % WEIGHTS_ALIGNMENT !== 0) {
          this.fail('input', d.offset, `external<${quote(d.offset.image, 30)}>: the weights file starts every constant at a multiple of ${WEIGHTS_ALIGNMENT} bytes`);
        }
        const reader = this.reader(d.tok);
        try {
          return new Tensor(type.elem, type.shape, reader.read(type.elem, Number(d.offset.image), n));
        } catch (e) {
          if (e instanceof Ig3dcError) this.fail(e.kind, d.tok, e.detail);
          throw e;
        }
      }
    }
  }

  reader(tok: IToken): WeightsReader {
    if (this.#weights !== undefined) return this.#weights;
    if (this.#weightsName !== undefined && this.#options.resolveWeights !== undefined) {
      try {
        this.#openedReader = this.#options.resolveWeights(this.#weightsName);
      } catch (e) {
        if (e instanceof Ig3dcError) this.fail(e.kind, tok, `${e.place.file ?? this.#weightsName}: ${e.detail}`);
        throw e;
      }
      this.#weights = this.#openedReader;
      return this.#weights;
    }
    return this.fail(
      'io',
      tok,
      this.#weightsName === undefined
        ? `external data but no weights file (add a line: weights "FILE")`
        : `external data in "${this.#weightsName}", but no weights reader was given`,
    );
  }

  define(tok: IToken, node: Node): void {
    const name = this.valueName(tok);
    const prior = this.#values.get(name);
    if (prior !== undefined) this.fail('verify', tok, `${tok.image} is defined twice (first at ${this.at(prior.tok)})`);
    this.#values.set(name, { node, tok });
  }

  use(tok: IToken): Node {
    const v = this.#values.get(this.valueName(tok));
    if (v === undefined) this.fail('verify', tok, `${tok.image} is not defined (values must be defined before use)`);
    return v.node;
  }

  opNode(s: Extract<StatementAst, { kind: 'op' }>): Node {
    const op = this.name(s.op);
    const declared = this.type(s.type);
    const loc = this.loc(s.loc);
    const label = s.value.image;
    if (op === CONST_OP) {
      if (s.operands !== undefined) this.fail('verify', s.op, `${label}: Const takes no operands`);
      if (s.attrs !== undefined) this.fail('verify', s.op, `${label}: Const has no attributes`);
      if (s.data === undefined) this.fail('syntax', s.type.elem, `${label}: Const needs data after its type (= dense<...>, splat<...>, elided or external<offset>)`);
      return constNode(this.data(s.data, declared), declared, loc);
    }
    if (op === INPUT_OP) this.fail('verify', s.op, `${label}: graph inputs are declared as 'input %name : type'`);
    if (s.operands === undefined) this.fail('syntax', s.op, `expected '(' and the operands of ${op}`);
    if (s.data !== undefined) this.fail('verify', s.data.tok, `${label}: only Const nodes have data`);
    const def = findOp(op);
    if (def === undefined) this.fail('verify', s.op, `${label}: unknown op '${op}'`);
    const inputs = s.operands.map((t) => this.use(t));
    const attrs = this.attrs(def, s.attrs);
    let node: Node;
    try {
      node = build(op, inputs, attrs, loc);
    } catch (e) {
      if (e instanceof Ig3dcError) this.fail('verify', s.op, `${label}: ${e.detail}`);
      throw e;
    }
    if (!typesEqual(node.type, declared)) {
      this.fail('verify', s.type.elem, `${label}: declared type ${formatType(declared)} but ${op} gives ${formatType(node.type)}`);
    }
    return node;
  }

  graph(ast: FileAst): Graph {
    let meta: { source?: string; producer?: string; opset?: number } | undefined;
    for (const d of ast.directives) {
      if (d.kind === 'weights') {
        if (this.#weightsName !== undefined) this.fail('syntax', d.file, 'a second weights line');
        this.#weightsName = this.string(d.file);
      } else {
        if (meta !== undefined) this.fail('syntax', d.tok, 'a second meta line');
        meta = {};
        for (const { key, value } of d.attrs) {
          const k = this.name(key);
          if (k in meta) this.fail('syntax', key, `meta field '${k}' given twice`);
          if (k === 'source' || k === 'producer') {
            if (value.kind !== 'str') this.fail('syntax', value.tok, `meta field '${k}' must be a string`);
            meta[k] = this.string(value.tok);
          } else if (k === 'opset') {
            if (value.kind === 'list') this.fail('syntax', value.tok, `meta field 'opset' must be an integer`);
            meta.opset = this.integer(value, `meta field 'opset'`);
          } else {
            this.fail('syntax', key, `unknown meta field '${k}' (source, producer, opset)`);
          }
        }
      }
    }
    try {
      const inputs: Node[] = [];
      const outputs: GraphOutput[] = [];
      const outputNames = new Map<string, IToken>();
      for (const s of ast.statements) {
        if (s.kind === 'input') {
          const node = inputNode(this.valueName(s.value), this.type(s.type), this.loc(s.loc));
          this.define(s.value, node);
          inputs.push(node);
        } else if (s.kind === 'op') {
          this.define(s.value, this.opNode(s));
        } else {
          const name = this.name(s.name);
          const prior = outputNames.get(name);
          if (prior !== undefined) this.fail('verify', s.name, `output '${name}' is defined twice (first at ${this.at(prior)})`);
          outputNames.set(name, s.name);
          outputs.push({ name, node: this.use(s.value) });
        }
      }
      return new Graph(this.name(ast.name), inputs, outputs, (meta ?? {}) as GraphMeta);
    } finally {
      this.#openedReader?.close();
    }
  }
}

/** Parses a graph from its text form. Errors are Ig3dcError('syntax' | 'verify' | 'io') with line:column. */
export function parseGraph(text: string, options: ParseOptions = {}): Graph {
  // A byte-order mark is invisible in editors, so columns are counted without it.
  const ast = parseSyntax(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, options.file);
  return new GraphBuilder(options).graph(ast);
}

/**
 * Reads a .ir file; a `weights "FILE"` line is resolved relative to the file and read lazily
 * (only the constants' byte ranges), then closed.
 */
export function readIrFile(path: string): Graph {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read IR file: ${(e as Error).message}`, { file: path });
  }
  return parseGraph(text, { file: path, resolveWeights: (name) => openWeightsFile(resolve(dirname(path), name)) });
}
