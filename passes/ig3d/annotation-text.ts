// The text form of importance annotations: scores per head, and decisions pinned by hand.
//
//   # importance for spam-bert, integrated gradients, m=16, 200 examples
//   model spam-bert layers 4 heads 4
//   method integrated-gradients higher-is-more-important
//   steps 16
//   examples 200
//   scores
//     L0: 1.115e-3 1.307e-3 1.596e-3 1.853e-3
//     L1: ...
//   keep L3H1 L3H2     # never prune
//   prune L1H0         # always prune
//   exact L2H2         # force exact softmax
//   poly L0H1          # force PolySoftmax
//   lambda L3 = 0.5    # GELU/ReLU mix of layer 3 (1 = GELU, 0 = ReLU)
//
// Grammar (chevrotain, LL(1); whitespace and line breaks separate tokens only; `#` starts a
// comment to the end of the line; layers and heads are 0-based):
//
//   file      := statement*
//   statement := 'model' name? ('layers' INT 'heads' INT)?
//              | 'method' name? ORIENTATION?
//              | 'steps' INT | 'examples' INT
//              | 'scores' (LAYER ':' NUMBER+)*          rows L0, L1, ... in order
//              | ('keep' | 'prune' | 'exact' | 'poly') HEAD+
//              | 'lambda' LAYER '=' NUMBER               NUMBER in [0, 1]
//   name      := NAME | STRING          ORIENTATION := 'higher-is-more-important' | 'lower-is-more-important'
//   LAYER     := 'L' digits             HEAD := 'L' digits 'H' digits
//
// Every error is an Ig3dcError('syntax') at the line:column of the offending token.

import { EmbeddedActionsParser, EOF, Lexer, createToken, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { HeadPin, HeadPinKind, ImportanceAnnotation, LambdaPin } from './annotations.ts';

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });
const Name = createToken({ name: 'Name', pattern: /[A-Za-z_][A-Za-z0-9_.-]*/, label: 'a name' });
const StringLit = createToken({ name: 'String', pattern: /"(?:[^"\\\n]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/, label: 'a quoted string' });
const NumberLit = createToken({ name: 'Number', pattern: /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/, label: 'a number' });
const HeadRef = createToken({ name: 'Head', pattern: /L\d+H\d+/, longer_alt: Name, label: 'a head like L0H1' });
const LayerRef = createToken({ name: 'Layer', pattern: /L\d+/, longer_alt: Name, label: 'a layer like L0' });
const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(`${word.replace(/-/g, '\\-')}`), longer_alt: Name, label: `'${word}'` });
}
const KwModel = keyword('model');
const KwLayers = keyword('layers');
const KwHeads = keyword('heads');
const KwMethod = keyword('method');
const KwSteps = keyword('steps');
const KwExamples = keyword('examples');
const KwScores = keyword('scores');
const KwKeep = keyword('keep');
const KwPrune = keyword('prune');
const KwExact = keyword('exact');
const KwPoly = keyword('poly');
const KwLambda = keyword('lambda');
const KwHigher = keyword('higher-is-more-important');
const KwLower = keyword('lower-is-more-important');

const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  NumberLit,
  Colon,
  Equals,
  KwModel,
  KwLayers,
  KwHeads,
  KwMethod,
  KwSteps,
  KwExamples,
  KwScores,
  KwKeep,
  KwPrune,
  KwExact,
  KwPoly,
  KwLambda,
  KwHigher,
  KwLower,
  HeadRef,
  LayerRef,
  Name,
];
const lexer = new Lexer(ALL_TOKENS, { positionTracking: 'full' });

type Statement =
  | { readonly kind: 'model'; readonly tok: IToken; readonly name?: IToken; readonly layers?: IToken; readonly heads?: IToken }
  | { readonly kind: 'method'; readonly tok: IToken; readonly name?: IToken; readonly orientation?: IToken }
  | { readonly kind: 'steps' | 'examples'; readonly tok: IToken; readonly value: IToken }
  | { readonly kind: 'scores'; readonly tok: IToken; readonly rows: { layer: IToken; values: IToken[] }[] }
  | { readonly kind: 'pin'; readonly tok: IToken; readonly heads: IToken[] }
  | { readonly kind: 'lambda'; readonly tok: IToken; readonly layer: IToken; readonly value: IToken };

function describeToken(t: IToken | undefined): string {
  if (t === undefined || t.tokenType === EOF) return 'the end of the file';
  return `'${t.image.length > 40 ? `${t.image.slice(0, 37)}...` : t.image}'`;
}

function labelOf(t: TokenType | undefined): string {
  return t === undefined ? '' : (t.LABEL ?? t.name);
}

function oneOf(labels: string[]): string {
  const unique = [...new Set(labels.filter((l) => l !== ''))];
  if (unique.length <= 1) return unique[0] ?? 'something else';
  return `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

const STATEMENT_START = "a statement ('model', 'method', 'steps', 'examples', 'scores', 'keep', 'prune', 'exact', 'poly' or 'lambda')";

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${labelOf(expected)} but found ${describeToken(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `expected ${STATEMENT_START} but found ${describeToken(firstRedundant)}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual }) =>
    `expected ${oneOf(expectedPathsPerAlt.flatMap((alt) => alt.map((path) => labelOf(path[0]))))} but found ${describeToken(actual[0])}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual }) => `expected ${oneOf(expectedIterationPaths.map((path) => labelOf(path[0])))} but found ${describeToken(actual[0])}`,
};

class AnnotationSyntax extends EmbeddedActionsParser {
  constructor() {
    super(ALL_TOKENS, { recoveryEnabled: false, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  readonly file = this.RULE('file', (): Statement[] => {
    const out: Statement[] = [];
    this.MANY(() => out.push(this.SUBRULE(this.statement)));
    return out;
  });

  private readonly statement = this.RULE('statement', (): Statement => {
    return this.OR([
      { ALT: () => this.SUBRULE(this.modelStmt) },
      { ALT: () => this.SUBRULE(this.methodStmt) },
      { ALT: () => ({ kind: 'steps' as const, tok: this.CONSUME(KwSteps), value: this.CONSUME(NumberLit) }) },
      { ALT: () => ({ kind: 'examples' as const, tok: this.CONSUME(KwExamples), value: this.CONSUME2(NumberLit) }) },
      { ALT: () => this.SUBRULE(this.scoresStmt) },
      { ALT: () => this.SUBRULE(this.pinStmt) },
      { ALT: () => this.SUBRULE(this.lambdaStmt) },
    ]);
  });

  private readonly nameLit = this.RULE('nameLit', (): IToken => this.OR([{ ALT: () => this.CONSUME(Name) }, { ALT: () => this.CONSUME(StringLit) }]));

  private readonly modelStmt = this.RULE('modelStmt', (): Statement => {
    const tok = this.CONSUME(KwModel);
    let name: IToken | undefined;
    let layers: IToken | undefined;
    let heads: IToken | undefined;
    this.OPTION(() => (name = this.SUBRULE(this.nameLit)));
    this.OPTION2(() => {
      this.CONSUME(KwLayers);
      layers = this.CONSUME(NumberLit);
      this.CONSUME(KwHeads);
      heads = this.CONSUME2(NumberLit);
    });
    return { kind: 'model', tok, ...(name ? { name } : {}), ...(layers ? { layers } : {}), ...(heads ? { heads } : {}) };
  });

  private readonly methodStmt = this.RULE('methodStmt', (): Statement => {
    const tok = this.CONSUME(KwMethod);
    let name: IToken | undefined;
    let orientation: IToken | undefined;
    this.OPTION(() => (name = this.SUBRULE(this.nameLit)));
    this.OPTION2(() => (orientation = this.OR([{ ALT: () => this.CONSUME(KwHigher) }, { ALT: () => this.CONSUME(KwLower) }])));
    return { kind: 'method', tok, ...(name ? { name } : {}), ...(orientation ? { orientation } : {}) };
  });

  private readonly scoresStmt = this.RULE('scoresStmt', (): Statement => {
    const tok = this.CONSUME(KwScores);
    const rows: { layer: IToken; values: IToken[] }[] = [];
    this.MANY(() => {
      const layer = this.CONSUME(LayerRef);
      this.CONSUME(Colon);
      const values: IToken[] = [];
      this.AT_LEAST_ONE(() => values.push(this.CONSUME(NumberLit)));
      rows.push({ layer, values });
    });
    return { kind: 'scores', tok, rows };
  });

  private readonly pinStmt = this.RULE('pinStmt', (): Statement => {
    const tok = this.OR([{ ALT: () => this.CONSUME(KwKeep) }, { ALT: () => this.CONSUME(KwPrune) }, { ALT: () => this.CONSUME(KwExact) }, { ALT: () => this.CONSUME(KwPoly) }]);
    const heads: IToken[] = [];
    this.AT_LEAST_ONE(() => heads.push(this.CONSUME(HeadRef)));
    return { kind: 'pin', tok, heads };
  });

  private readonly lambdaStmt = this.RULE('lambdaStmt', (): Statement => {
    const tok = this.CONSUME(KwLambda);
    const layer = this.CONSUME(LayerRef);
    this.CONSUME(Equals);
    const value = this.CONSUME(NumberLit);
    return { kind: 'lambda', tok, layer, value };
  });
}

const parser = new AnnotationSyntax();

/** Parses the text form; `file` names it in errors. Layer and head counts are checked against the `model` line when it has them. */
export function parseImportanceText(text: string, file?: string): ImportanceAnnotation {
  const at = (t: { startLine?: number | undefined; startColumn?: number | undefined }) => ({
    ...(file !== undefined ? { file } : {}),
    ...(t.startLine !== undefined ? { line: t.startLine } : {}),
    ...(t.startColumn !== undefined ? { column: t.startColumn } : {}),
  });
  const fail = (t: { startLine?: number | undefined; startColumn?: number | undefined }, detail: string): never => {
    throw new Ig3dcError('syntax', detail, at(t));
  };
  const lexed = lexer.tokenize(text);
  if (lexed.errors.length > 0) {
    const e = lexed.errors[0]!;
    const ch = text.charAt(e.offset);
    fail({ startLine: e.line, startColumn: e.column }, ch === '"' ? 'unterminated or malformed string (strings are JSON strings on one line)' : `unexpected character ${JSON.stringify(ch)}`);
  }
  parser.input = lexed.tokens;
  const statements = parser.file();
  if (parser.errors.length > 0) {
    const e = parser.errors[0]!;
    const tok = e.token;
    const atEnd = tok.tokenType === EOF || Number.isNaN(tok.startOffset);
    fail(atEnd ? endOf(text) : tok, e.message);
  }
  return build(statements, file, fail, at);
}

function endOf(text: string): { startLine: number; startColumn: number } {
  const lines = text.split('\n');
  return { startLine: lines.length, startColumn: lines[lines.length - 1]!.length + 1 };
}

type Fail = (t: IToken, detail: string) => never;

function build(statements: Statement[], file: string | undefined, fail: Fail, at: (t: IToken) => ImportanceAnnotation['shapePlace']): ImportanceAnnotation {
  const seen = new Map<string, IToken>();
  const once = (kind: string, tok: IToken): void => {
    const prev = seen.get(kind);
    if (prev !== undefined) fail(tok, `'${kind}' is given twice (first at ${prev.startLine}:${prev.startColumn})`);
    seen.set(kind, tok);
  };
  const int = (t: IToken, what: string, min: number): number => {
    const v = Number(t.image);
    if (!Number.isInteger(v) || v < min) fail(t, `${what} must be an integer >= ${min}, got ${t.image}`);
    return v;
  };
  const finite = (t: IToken): number => {
    const v = Number(t.image);
    if (!Number.isFinite(v)) fail(t, `${t.image} is not a finite number`);
    return v;
  };
  const name = (t: IToken): string => (t.image.startsWith('"') ? (JSON.parse(t.image) as string) : t.image);
  const layerOf = (t: IToken): number => Number(t.image.slice(1));

  let model: string | undefined;
  let method: string | undefined;
  let steps: number | undefined;
  let examples: number | undefined;
  let layers: number | undefined;
  let heads: number | undefined;
  let higher: boolean | undefined;
  let shapeTok: IToken | undefined;
  let scores: number[][] | undefined;
  let scoresTok: IToken | undefined;
  const headPins: HeadPin[] = [];
  const lambdaPins: LambdaPin[] = [];
  const pinTok = new Map<string, { kind: HeadPinKind; tok: IToken }>();
  const lambdaTok = new Map<number, IToken>();

  for (const s of statements) {
    switch (s.kind) {
      case 'model':
        once('model', s.tok);
        if (s.name) model = name(s.name);
        if (s.layers && s.heads) {
          layers = int(s.layers, 'layers', 1);
          heads = int(s.heads, 'heads', 1);
          shapeTok = s.tok;
        }
        break;
      case 'method':
        once('method', s.tok);
        if (s.name) method = name(s.name);
        if (s.orientation) higher = s.orientation.tokenType === KwHigher;
        break;
      case 'steps':
      case 'examples':
        once(s.kind, s.tok);
        if (s.kind === 'steps') steps = int(s.value, 'steps', 0);
        else examples = int(s.value, 'examples', 0);
        break;
      case 'scores': {
        once('scores', s.tok);
        scoresTok = s.tok;
        scores = [];
        let width = heads;
        s.rows.forEach((row, l) => {
          const got = layerOf(row.layer);
          if (got !== l) fail(row.layer, `expected the row of layer L${l} here, got ${row.layer.image} (rows go L0, L1, ... in order)`);
          if (layers !== undefined && l >= layers) fail(row.layer, `the model line says ${layers} layers (L0..L${layers - 1}), but here is a row for ${row.layer.image}`);
          width ??= row.values.length;
          if (row.values.length !== width) {
            const extra = row.values[width];
            fail(
              extra ?? row.layer,
              `${row.layer.image} has ${row.values.length} scores, expected ${width} (${heads !== undefined ? 'the model line says' : 'as L0 has'} ${width} heads)`,
            );
          }
          scores!.push(row.values.map(finite));
        });
        if (s.rows.length === 0) fail(s.tok, "'scores' has no rows (expected rows like 'L0: 0.1 0.2')");
        if (layers !== undefined && s.rows.length !== layers) fail(s.tok, `scores has ${s.rows.length} layer rows, but the model line says ${layers} layers`);
        break;
      }
      case 'pin': {
        const kind = s.tok.image as HeadPinKind;
        const opposite: HeadPinKind = kind === 'keep' ? 'prune' : kind === 'prune' ? 'keep' : kind === 'exact' ? 'poly' : 'exact';
        for (const h of s.heads) {
          const m = /^L(\d+)H(\d+)$/.exec(h.image)!;
          const layer = Number(m[1]);
          const head = Number(m[2]);
          if (layers !== undefined && layer >= layers) fail(h, `${h.image}: the model line says ${layers} layers (L0..L${layers - 1})`);
          if (heads !== undefined && head >= heads) fail(h, `${h.image}: the model line says ${heads} heads per layer (H0..H${heads - 1})`);
          const key = `${opposite}:${layer}:${head}`;
          const clash = pinTok.get(key);
          if (clash !== undefined) fail(h, `${h.image} is pinned to '${kind}' here but to '${opposite}' at ${clash.tok.startLine}:${clash.tok.startColumn}`);
          pinTok.set(`${kind}:${layer}:${head}`, { kind, tok: h });
          headPins.push({ kind, layer, head, place: at(h)! });
        }
        break;
      }
      case 'lambda': {
        const layer = layerOf(s.layer);
        if (layers !== undefined && layer >= layers) fail(s.layer, `${s.layer.image}: the model line says ${layers} layers (L0..L${layers - 1})`);
        const prev = lambdaTok.get(layer);
        if (prev !== undefined) fail(s.tok, `lambda of ${s.layer.image} is given twice (first at ${prev.startLine}:${prev.startColumn})`);
        lambdaTok.set(layer, s.tok);
        const value = finite(s.value);
        if (value < 0 || value > 1) fail(s.value, `lambda must be in [0, 1] (1 = GELU, 0 = ReLU), got ${s.value.image}`);
        lambdaPins.push({ layer, value, place: at(s.tok)! });
        break;
      }
    }
  }
  if (layers === undefined && scores !== undefined) {
    layers = scores.length;
    heads = scores[0]!.length;
  }
  const place = shapeTok ?? scoresTok;
  return {
    ...(file !== undefined ? { file } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(method !== undefined ? { method } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(examples !== undefined ? { examples } : {}),
    ...(layers !== undefined ? { layers } : {}),
    ...(heads !== undefined ? { heads } : {}),
    ...(scores !== undefined ? { scores } : {}),
    higherIsMoreImportant: higher ?? true,
    headPins,
    lambdaPins,
    ...(place !== undefined ? { shapePlace: at(place)! } : file !== undefined ? { shapePlace: { file } } : {}),
  };
}
