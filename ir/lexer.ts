// Tokens of the textual IR (chevrotain lexer), and the lexical rules the printer follows.

import { Lexer, createToken, type IToken, type TokenType } from 'chevrotain';
import { Ig3dcError } from './diagnostics.ts';

/** A value name printable without quotes after `%` (numbers included: `%12`). */
export const BARE_VALUE_NAME = /^[A-Za-z0-9_.$-]+$/;
/** A graph or output name printable without quotes. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.]*$/;

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED, line_breaks: true });
// `#` comments (the printed header) and `//` comments (MLIR habit, e.g. pass-pipeline dumps).
const Comment = createToken({ name: 'Comment', pattern: /(?:#|\/\/)[^\n\r]*/, group: Lexer.SKIPPED });

/** Any word: identifiers and keywords (keywords are names too where a name is expected). */
export const AnyName = createToken({ name: 'AnyName', pattern: Lexer.NA, label: 'a name' });
export const Ident = createToken({ name: 'Ident', pattern: /[A-Za-z_][A-Za-z0-9_.]*/, categories: [AnyName], label: 'a name' });

function keyword(word: string): TokenType {
  return createToken({
    name: `Kw_${word}`,
    pattern: new RegExp(word),
    longer_alt: Ident,
    categories: [AnyName],
    label: `'${word}'`,
  });
}

export const KwGraph = keyword('graph');
export const KwInput = keyword('input');
export const KwOutput = keyword('output');
export const KwWeights = keyword('weights');
export const KwMeta = keyword('meta');
export const KwLoc = keyword('loc');
export const KwDense = keyword('dense');
export const KwSplat = keyword('splat');
export const KwElided = keyword('elided');
export const KwExternal = keyword('external');
export const KwPublic = keyword('public');
export const KwSecret = keyword('secret');
export const KwTrue = keyword('true');
export const KwFalse = keyword('false');
export const KwInf = keyword('inf');
export const KwNan = keyword('nan');

/** `%name`, `%12` or `%"any string"`. */
export const ValueRef = createToken({
  name: 'ValueRef',
  pattern: /%(?:[A-Za-z0-9_.$-]+|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*")/,
  label: 'a value (%name)',
});
export const StringLit = createToken({ name: 'StringLit', pattern: /"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"/, label: 'a string' });
/**
 * Unsigned numbers. The pattern is deliberately loose (`1.2.3`, `12abc` are one token) so a
 * malformed number is reported as one, at its position, by the parser.
 */
export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: /[0-9](?:[eE][+-]|[A-Za-z0-9_.])*/,
  label: 'a number',
});
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: "'-'" });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: "')'" });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: "']'" });
export const LAngle = createToken({ name: 'LAngle', pattern: /</, label: "'<'" });
export const RAngle = createToken({ name: 'RAngle', pattern: />/, label: "'>'" });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: /:/, label: "':'" });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: "'='" });

export const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  Comment,
  AnyName,
  KwGraph,
  KwInput,
  KwOutput,
  KwWeights,
  KwMeta,
  KwLoc,
  KwDense,
  KwSplat,
  KwElided,
  KwExternal,
  KwPublic,
  KwSecret,
  KwTrue,
  KwFalse,
  KwInf,
  KwNan,
  Ident,
  ValueRef,
  StringLit,
  NumberLit,
  Minus,
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  LAngle,
  RAngle,
  Comma,
  Colon,
  Equals,
];

const lexer = new Lexer(ALL_TOKENS, { positionTracking: 'onlyStart', ensureOptimizations: true });

/** Tokens of `text`; the first lexing error is an Ig3dcError('syntax') at its line:column. */
export function tokenize(text: string, file?: string): IToken[] {
  const result = lexer.tokenize(text);
  const err = result.errors[0];
  if (err !== undefined) {
    const ch = text[err.offset] ?? '';
    const hint = ch === '"' ? ' (unterminated string?)' : ch === '%' ? ' (a value name must follow %)' : '';
    throw new Ig3dcError('syntax', `unexpected character ${JSON.stringify(ch)}${hint}`, {
      file,
      line: err.line,
      column: err.column,
    });
  }
  return result.tokens;
}
