// Pass pipelines as text: `raise-bert,prune-heads{tau=0.5,min-keep=0.3},canonicalize`.
//
// Parsed with chevrotain; every error (syntax, unknown pass, unknown or ill-typed option)
// carries the line:column inside the pipeline text.

import { EmbeddedActionsParser, Lexer, createToken, type IToken, type TokenType } from 'chevrotain';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { type Pass, type PassOptionSpec, type PassOptionValue, type PassOptions, allPasses, findPass } from './pass.ts';

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
const Name = createToken({ name: 'Name', pattern: /[A-Za-z_][A-Za-z0-9_.-]*/ });
const NumberLit = createToken({ name: 'Number', pattern: /-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/ });
const StringLit = createToken({ name: 'String', pattern: /"(?:[^"\\\n]|\\.)*"/ });
const LBrace = createToken({ name: 'LBrace', pattern: /{/ });
const RBrace = createToken({ name: 'RBrace', pattern: /}/ });
const LBracket = createToken({ name: 'LBracket', pattern: /\[/ });
const RBracket = createToken({ name: 'RBracket', pattern: /]/ });
const Comma = createToken({ name: 'Comma', pattern: /,/ });
const Equals = createToken({ name: 'Equals', pattern: /=/ });

const allTokens: TokenType[] = [WhiteSpace, NumberLit, Name, StringLit, LBrace, RBrace, LBracket, RBracket, Comma, Equals];
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
  return new Ig3dcError('usage', detail, {
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
    throw errorAt({ startLine: e.line, startColumn: e.column }, `unexpected character '${text.charAt(e.offset)}' in pass pipeline`, source);
  }
  parser.input = lexed.tokens;
  const raw = parser.pipeline();
  if (parser.errors.length > 0) {
    const e = parser.errors[0]!;
    const tok = e.token;
    const at = Number.isNaN(tok.startOffset) || tok.image === '' ? endOf(text) : tok;
    const found = tok.image === '' ? 'end of pipeline' : `'${tok.image}'`;
    throw errorAt(at, `expected a pass name, '{', '}', ',' or an option value here, found ${found} (pipeline syntax: name{key=value,...},name2)`, source);
  }
  return raw.map((step) => checkStep(step, source));
}

function endOf(text: string): { startLine: number; startColumn: number } {
  const lines = text.split('\n');
  return { startLine: lines.length, startColumn: lines[lines.length - 1]!.length + 1 };
}

function checkStep(step: RawStep, source: string): PipelineStep {
  const pass = findPass(step.name.image);
  if (pass === undefined) {
    const names = allPasses().map((p) => p.name);
    const near = names.filter((n) => editDistance(n, step.name.image) <= 3);
    throw errorAt(
      step.name,
      `unknown pass '${step.name.image}'${near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(' or ')}?)` : ''}; known passes: ${names.join(', ')}`,
      source,
    );
  }
  const options: Record<string, PassOptionValue> = {};
  for (const opt of step.options) {
    const spec = pass.options[opt.name.image];
    if (spec === undefined) {
      const known = Object.keys(pass.options);
      throw errorAt(opt.name, `pass '${pass.name}' has no option '${opt.name.image}'${known.length ? ` (options: ${known.join(', ')})` : ' (it takes no options)'}`, source);
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
        if (typeof item.value !== 'number') throw errorAt(item.token, `${where} must be a list of numbers, got ${show(item.value)} in it`, source);
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
