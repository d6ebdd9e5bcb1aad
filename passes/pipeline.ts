// Pass pipelines as text: `raise-bert,prune-heads{tau=0.5,min-keep=0.3},canonicalize`.
//
// Parsed with chevrotain; every error (syntax, unknown pass, unknown or ill-typed option)
// is an Ig3dcError('syntax') with the line:column of the offending token in the pipeline
// text. An empty pipeline is no passes (as with mlir-opt).

import { EmbeddedActionsParser, Lexer, createToken, type IRecognitionException, type IToken, type TokenType } from 'chevrotain';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { type Pass, type PassOptionSpec, type PassOptionValue, type PassOptions, allPasses, findPass } from './pass.ts';

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
// a name may start with digits when a letter other than an exponent's e follows (the attention method 2quad)
const Name = createToken({ name: 'Name', pattern: /[A-Za-z_][A-Za-z0-9_.-]*|\d+[A-DF-Za-df-z_][A-Za-z0-9_.-]*/ });
const NumberLit = createToken({ name: 'Number', pattern: /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/ });
// only JSON escapes, so JSON.parse of the image cannot fail
const StringLit = createToken({ name: 'String', pattern: /"(?:[^"\\\n]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/ });
const LBrace = createToken({ name: 'LBrace', pattern: /{/ });
const RBrace = createToken({ name: 'RBrace', pattern: /}/ });
const LBracket = createToken({ name: 'LBracket', pattern: /\[/ });
const RBracket = createToken({ name: 'RBracket', pattern: /]/ });
const Comma = createToken({ name: 'Comma', pattern: /,/ });
const Equals = createToken({ name: 'Equals', pattern: /=/ });

const allTokens: TokenType[] = [WhiteSpace, Name, NumberLit, StringLit, LBrace, RBrace, LBracket, RBracket, Comma, Equals];
const lexer = new Lexer(allTokens, { positionTracking: 'full' });

type RawValue = { readonly token: IToken; readonly value: number | string | boolean | RawValue[] };
interface RawOption {
  readonly name: IToken;
  readonly value: RawValue;
}
interface RawStep {
  readonly name: IToken;
  readonly options: RawOption[];
}

class PipelineParser extends EmbeddedActionsParser {
  constructor() {
    super(allTokens, { recoveryEnabled: false });
    this.performSelfAnalysis();
  }

  readonly pipeline = this.RULE('pipeline', (): RawStep[] => {
    const steps: RawStep[] = [];
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => steps.push(this.SUBRULE(this.step)) });
    return steps;
  });

  private readonly step = this.RULE('step', (): RawStep => {
    const name = this.CONSUME(Name);
    const options: RawOption[] = [];
    this.OPTION(() => {
      this.CONSUME(LBrace);
      this.MANY_SEP({ SEP: Comma, DEF: () => options.push(this.SUBRULE(this.optionEntry)) });
      this.CONSUME(RBrace);
    });
    return { name, options };
  });

  private readonly optionEntry = this.RULE('optionEntry', (): RawOption => {
    const name = this.CONSUME(Name);
    this.CONSUME(Equals);
    const value = this.SUBRULE(this.value);
    return { name, value };
  });

  private readonly value = this.RULE('value', (): RawValue => {
    return this.OR([
      {
        ALT: () => {
          const t = this.CONSUME(NumberLit);
          return { token: t, value: Number(t.image) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(StringLit);
          return { token: t, value: this.ACTION(() => JSON.parse(t.image) as string) };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(Name);
          return { token: t, value: t.image === 'true' ? true : t.image === 'false' ? false : t.image };
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(LBracket);
          const items: RawValue[] = [];
          this.MANY_SEP({ SEP: Comma, DEF: () => items.push(this.SUBRULE(this.value)) });
          this.CONSUME(RBracket);
          return { token: t, value: items };
        },
      },
    ]);
  });
}

const parser = new PipelineParser();

export interface PipelineStep {
  readonly pass: Pass;
  readonly options: PassOptions;
  /** The step as it reads in a pipeline, options in canonical form. */
  readonly text: string;
}

function errorAt(token: { startLine?: number | undefined; startColumn?: number | undefined }, detail: string, source?: string): Ig3dcError {
  return new Ig3dcError('syntax', detail, {
    ...(source !== undefined ? { file: source } : {}),
    ...(token.startLine !== undefined ? { line: token.startLine } : {}),
    ...(token.startColumn !== undefined ? { column: token.startColumn } : {}),
  });
}

/**
 * Parses and checks a pipeline against the registered passes. `source` names where the
 * text came from in messages (default `pipeline`).
 */
export function parsePipeline(text: string, source = 'pipeline'): PipelineStep[] {
  const lexed = lexer.tokenize(text);
  if (lexed.errors.length > 0) {
    const e = lexed.errors[0]!;
    const ch = text.charAt(e.offset);
    const detail = ch === '"' ? 'unterminated or malformed string in pass pipeline (strings are JSON strings on one line)' : `unexpected character ${JSON.stringify(ch)} in pass pipeline`;
    throw errorAt({ startLine: e.line, startColumn: e.column }, detail, source);
  }
  if (lexed.tokens.length === 0) return [];
  parser.input = lexed.tokens;
  const raw = parser.pipeline();
  if (parser.errors.length > 0) {
    const e = parser.errors[0]!;
    const tok = e.token;
    const atEnd = tok.image === '' || Number.isNaN(tok.startOffset);
    const found = atEnd ? 'the end of the pipeline' : `'${tok.image}'`;
    const previous = atEnd ? lexed.tokens[lexed.tokens.length - 1] : lexed.tokens[lexed.tokens.indexOf(tok) - 1];
    throw errorAt(atEnd ? endOf(text) : tok, `expected ${expectedText(e, previous)}, found ${found} (pipeline syntax: name{key=value,...},name2)`, source);
  }
  return raw.map((step) => checkStep(step, source));
}

const TOKEN_TEXT: Readonly<Record<string, string>> = {
  Name: 'a name',
  Number: 'a number',
  String: 'a quoted string',
  LBrace: "'{'",
  RBrace: "'}'",
  LBracket: "'['",
  RBracket: "']'",
  Comma: "','",
  Equals: "'='",
};

/** What the parser wanted where it failed, in words. */
function expectedText(e: IRecognitionException, previous: IToken | undefined): string {
  const rule = e.context.ruleStack[e.context.ruleStack.length - 1];
  if (e.name === 'NotAllInputParsedException') return "',' between passes or the end of the pipeline";
  if (e.name === 'NoViableAltException' && rule === 'value') return 'an option value (a number, a name, a quoted string or a [list])';
  if (e.name === 'EarlyExitException') return 'a pass name';
  const m = /-->\s*(\w+)\s*<--/.exec(e.message);
  const want = m ? TOKEN_TEXT[m[1]!] : undefined;
  if (want === undefined) return "a pass name, '{', '}', ',' or an option value";
  if (rule === 'optionEntry' && m![1] === 'Name') return 'an option name';
  if (rule === 'optionEntry' && m![1] === 'Equals') return "'=' after the option name";
  if (rule === 'step' && m![1] === 'RBrace') return previous?.image === '{' ? "an option name or '}'" : "',' or '}' after an option";
  if (rule === 'value' && m![1] === 'RBracket') return "',' or ']' in the list";
  if (rule === 'step' && m![1] === 'Name') return 'a pass name';
  return want;
}

function endOf(text: string): { startLine: number; startColumn: number } {
  const lines = text.split('\n');
  return { startLine: lines.length, startColumn: lines[lines.length - 1]!.length + 1 };
}

function checkStep(step: RawStep, source: string): PipelineStep {
  const pass = findPass(step.name.image);
  if (pass === undefined) {
    const names = allPasses().map((p) => p.name);
    throw errorAt(step.name, `unknown pass '${step.name.image}'${didYouMean(step.name.image, names)}; known passes: ${names.join(', ')}`, source);
  }
  const options: Record<string, PassOptionValue> = {};
  for (const opt of step.options) {
    const spec = pass.options[opt.name.image];
    if (spec === undefined) {
      const known = Object.keys(pass.options);
      throw errorAt(
        opt.name,
        `pass '${pass.name}' has no option '${opt.name.image}'${known.length ? `${didYouMean(opt.name.image, known)}; its options: ${known.join(', ')}` : ' (it takes no options)'}`,
        source,
      );
    }
    if (opt.name.image in options) throw errorAt(opt.name, `option '${opt.name.image}' is given twice`, source);
    options[opt.name.image] = checkOptionValue(pass, opt.name.image, spec, opt.value, source);
  }
  const complete = completeOptions(pass, options);
  return { pass, options: complete, text: formatStep(pass.name, options) };
}

function checkOptionValue(pass: Pass, key: string, spec: PassOptionSpec, raw: RawValue, source: string): PassOptionValue {
  const where = `option '${key}' of pass '${pass.name}'`;
  const v = raw.value;
  switch (spec.kind) {
    case 'number':
    case 'int': {
      if (typeof v !== 'number') throw errorAt(raw.token, `${where} must be a number, got ${show(v)}`, source);
      if (!Number.isFinite(v)) throw errorAt(raw.token, `${where} must be a finite number, got ${raw.token.image}`, source);
      if (spec.kind === 'int' && !Number.isInteger(v)) throw errorAt(raw.token, `${where} must be an integer, got ${v}`, source);
      if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
        throw errorAt(raw.token, `${where} must be in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}], got ${v}`, source);
      }
      return v;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw errorAt(raw.token, `${where} must be true or false, got ${show(v)}`, source);
      return v;
    case 'string':
      if (typeof v !== 'string') throw errorAt(raw.token, `${where} must be a name or a quoted string, got ${show(v)}`, source);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) throw errorAt(raw.token, `${where} must be one of ${spec.values.join(', ')}, got ${show(v)}`, source);
      return v;
    case 'numbers': {
      if (!Array.isArray(v)) throw errorAt(raw.token, `${where} must be a list of numbers like [0.5,1], got ${show(v)}`, source);
      return v.map((item) => {
        if (typeof item.value !== 'number' || !Number.isFinite(item.value)) throw errorAt(item.token, `${where} must be a list of finite numbers, got ${show(item.value)} in it`, source);
        return item.value;
      });
    }
  }
}

/** Fills defaults; options without a default stay absent (the pass decides). */
export function completeOptions(pass: Pass, options: PassOptions): PassOptions {
  const out: Record<string, PassOptionValue> = { ...options };
  for (const [k, spec] of Object.entries(pass.options)) {
    if (!(k in out) && spec.default !== undefined) out[k] = spec.default;
  }
  return out;
}

function show(v: RawValue['value']): string {
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `'${v}'` : String(v);
}

export function formatStep(name: string, options: PassOptions): string {
  const entries = Object.entries(options);
  if (entries.length === 0) return name;
  const fmt = (v: PassOptionValue): string => (Array.isArray(v) ? `[${v.join(',')}]` : typeof v === 'string' && !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v) ? JSON.stringify(v) : String(v));
  return `${name}{${entries.map(([k, v]) => `${k}=${fmt(v)}`).join(',')}}`;
}

/** ` (did you mean 'x'?)` for the nearest known names, or nothing when none is close. */
function didYouMean(name: string, known: readonly string[]): string {
  const limit = Math.max(2, Math.floor(name.length / 3));
  const scored = known.map((k) => ({ k, d: editDistance(k.toLowerCase(), name.toLowerCase()) })).filter((x) => x.d <= limit);
  if (scored.length === 0) return '';
  const best = Math.min(...scored.map((x) => x.d));
  const near = scored.filter((x) => x.d === best).map((x) => `'${x.k}'`);
  return ` (did you mean ${near.join(' or ')}?)`;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length]![b.length]!;
}
