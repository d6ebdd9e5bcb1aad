// A small lit/FileCheck for pass tests: a `.ir` file says how to run it and what to expect.
//
//   // RUN: opt --passes=canonicalize
//   // CHECK-LABEL: graph g
//   // CHECK: %{{[0-9]+}} = Relu(%x)
//   // CHECK-NEXT: output y =
//   // CHECK-NOT: Mul
//   graph g { ... }
//
// Every `// RUN: opt FLAGS` line runs in-process: --load-pass=FILE (repeatable, relative to
// the repository), --passes=PIPELINE, --importance=FILE (relative to the repository),
// --print-ir-after=PASS|all (the stages go before the
// final IR in the checked output), --no-verify, --check-prefix=P (check lines `// P:`,
// `// P-NEXT:` ... instead of CHECK). The file itself is the input IR (the `//` lines are
// comments to the IR parser). Directives, as in FileCheck, on output lines:
//   CHECK:        a later line contains the pattern
//   CHECK-NEXT:   the line right after the previous match contains it
//   CHECK-NOT:    no line between the previous match and the next one (or the end) contains it
//   CHECK-LABEL:  found first, in order; it splits the output into blocks the other checks stay in
// A pattern is a substring; `{{regex}}` inside it is a regular expression; a run of
// whitespace matches any run of whitespace. `// EXPECT-ERROR: text` instead says every RUN
// must fail with an error whose message contains the text.

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { loadPassModules } from '../compiler/cli/commands/opt.ts';
import { parseGraph } from '../ir/parser.ts';
import { printGraph } from '../ir/printer.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { IMPORTANCE_RESOURCE, readImportanceFile } from '../passes/ig3d/index.ts';

const ROOT = join(import.meta.dirname, '..');

export interface CheckResult {
  readonly ok: boolean;
  /** One paragraph per failure, each naming the check line. */
  readonly failures: readonly string[];
  /** The checked output (or error message) of each RUN line. */
  readonly outputs: readonly string[];
}

type Kind = 'CHECK' | 'NEXT' | 'NOT' | 'LABEL';

interface Check {
  readonly kind: Kind;
  readonly directive: string;
  readonly pattern: string;
  readonly regex: RegExp;
  /** 1-based line in the test file. */
  readonly line: number;
}

interface RunLine {
  readonly line: number;
  readonly loadPass: string[];
  readonly passes: string;
  readonly printAfter?: string;
  readonly verify: boolean;
  readonly prefix: string;
  /** An importance annotation file for the IG-3D passes (relative to the repository). */
  readonly importance?: string;
}

class CheckFileError extends Error {}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The regex of a pattern: literal text (whitespace runs flexible) and `{{regex}}` parts. */
export function patternRegex(pattern: string, where: string): RegExp {
  let source = '';
  let rest = pattern;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      source += literal(rest);
      break;
    }
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) throw new CheckFileError(`${where}: '{{' without a closing '}}'`);
    source += `${literal(rest.slice(0, open))}(?:${rest.slice(open + 2, close)})`;
    rest = rest.slice(close + 2);
  }
  try {
    return new RegExp(source);
  } catch (e) {
    throw new CheckFileError(`${where}: bad regex in pattern: ${(e as Error).message}`);
  }
}

function literal(s: string): string {
  return s
    .split(/\s+/)
    .map(escapeRegex)
    .join('\\s+');
}

/** Splits a RUN command like a shell would for simple quoting: --passes='a{x=1}, b' is one word. */
function splitWords(s: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === "'" || ch === '"') {
      const end = s.indexOf(ch, i + 1);
      if (end < 0) throw new CheckFileError(`unterminated ${ch} in RUN line`);
      word += s.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function parseRun(command: string, line: number, file: string): RunLine {
  const words = splitWords(command);
  const where = `${file}:${line}`;
  if (words[0] !== 'opt') throw new CheckFileError(`${where}: a RUN line runs 'opt', got '${words[0] ?? ''}'`);
  const run = { line, loadPass: [] as string[], passes: undefined as string | undefined, printAfter: undefined as string | undefined, importance: undefined as string | undefined, verify: true, prefix: 'CHECK' };
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    const eq = w.indexOf('=');
    const flag = eq >= 0 ? w.slice(0, eq) : w;
    const value = (): string => {
      if (eq >= 0) return w.slice(eq + 1);
      const v = words[++i];
      if (v === undefined) throw new CheckFileError(`${where}: ${flag} needs a value`);
      return v;
    };
    if (flag === '--passes') run.passes = value();
    else if (flag === '--load-pass') run.loadPass.push(value());
    else if (flag === '--print-ir-after') run.printAfter = value();
    else if (flag === '--check-prefix') run.prefix = value();
    else if (flag === '--no-verify') run.verify = false;
    else if (flag === '--importance') run.importance = value();
    else throw new CheckFileError(`${where}: unknown RUN flag '${w}'`);
  }
  if (run.passes === undefined) throw new CheckFileError(`${where}: a RUN line needs --passes=PIPELINE`);
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(run.prefix)) throw new CheckFileError(`${where}: bad check prefix '${run.prefix}'`);
  const { importance, printAfter, ...rest } = run;
  return { ...rest, passes: run.passes, ...(printAfter !== undefined ? { printAfter } : {}), ...(importance !== undefined ? { importance } : {}) };
}

const DIRECTIVE = /^\s*\/\/\s*([A-Za-z][A-Za-z0-9_-]*):(.*)$/;
const SUFFIX: Readonly<Record<string, Kind>> = { '': 'CHECK', '-NEXT': 'NEXT', '-NOT': 'NOT', '-LABEL': 'LABEL' };

function checksFor(lines: readonly string[], prefix: string, file: string): Check[] {
  const checks: Check[] = [];
  lines.forEach((text, k) => {
    const m = DIRECTIVE.exec(text);
    if (!m || !(m[1] === prefix || m[1]!.startsWith(`${prefix}-`))) return;
    const directive = m[1]!;
    const kind = SUFFIX[directive.slice(prefix.length)];
    const where = `${file}:${k + 1}`;
    if (kind === undefined) throw new CheckFileError(`${where}: unknown directive '${directive}:' (use ${prefix}:, ${prefix}-NEXT:, ${prefix}-NOT: or ${prefix}-LABEL:)`);
    const pattern = m[2]!.trim();
    if (pattern === '') throw new CheckFileError(`${where}: ${directive}: has an empty pattern`);
    checks.push({ kind, directive, pattern, regex: patternRegex(pattern, where), line: k + 1 });
  });
  return checks;
}

/** Checks `output` against the checks; returns failure paragraphs (empty: it passed). */
export function matchChecks(output: string, checks: readonly Check[], file: string): string[] {
  const out = output.split('\n');
  if (out[out.length - 1] === '') out.pop();
  const fail = (c: Check, detail: string): string => `${file}:${c.line}: ${c.directive}: ${c.pattern}\n  ${detail}`;
  const find = (c: Check, from: number, to: number): number => {
    for (let i = from; i < to; i++) if (c.regex.test(out[i]!)) return i;
    return -1;
  };
  const show = (i: number): string => `output line ${i + 1}: ${JSON.stringify(out[i])}`;

  // Labels first: in order, each after the previous one.
  const labels = checks.filter((c) => c.kind === 'LABEL');
  const labelAt: number[] = [];
  let from = 0;
  for (const l of labels) {
    const at = find(l, from, out.length);
    if (at < 0) return [fail(l, `not found after output line ${from}`)];
    labelAt.push(at);
    from = at + 1;
  }

  // Blocks: the checks before the first label, then each label's checks.
  const failures: string[] = [];
  const blocks: { checks: Check[]; start: number; end: number; label: number }[] = [];
  let current = { checks: [] as Check[], start: 0, end: labelAt[0] ?? out.length, label: -1 };
  let li = 0;
  for (const c of checks) {
    if (c.kind === 'LABEL') {
      blocks.push(current);
      const at = labelAt[li]!;
      current = { checks: [], start: at + 1, end: labelAt[li + 1] ?? out.length, label: at };
      li++;
    } else current.checks.push(c);
  }
  blocks.push(current);

  for (const block of blocks) {
    let last = block.label; // the previous match (-1: none yet)
    let cursor = block.start;
    let nots: Check[] = [];
    const checkNots = (to: number): void => {
      for (const n of nots) {
        const at = find(n, last + 1, to);
        if (at >= 0) failures.push(fail(n, `found where it must not be: ${show(at)}`));
      }
      nots = [];
    };
    for (const c of block.checks) {
      if (c.kind === 'NOT') {
        nots.push(c);
        continue;
      }
      if (c.kind === 'NEXT') {
        if (last < 0) return [...failures, fail(c, 'a -NEXT check needs a previous match to follow')];
        const at = last + 1;
        if (at >= block.end || !c.regex.test(out[at]!)) {
          const found = find(c, at, block.end);
          const detail = at < out.length ? `not on the line after the previous match; that is ${show(at)}` : 'not found: the output ends after the previous match';
          return [...failures, fail(c, found >= 0 ? `${detail} (it is on output line ${found + 1})` : detail)];
        }
        checkNots(at);
        last = at;
        cursor = at + 1;
        continue;
      }
      const at = find(c, cursor, block.end);
      if (at < 0) {
        const anywhere = find(c, 0, out.length);
        const detail = `not found after ${last >= 0 ? `output line ${last + 1}` : 'the start'}${block.end < out.length ? ` (before the next label on output line ${block.end + 1})` : ''}`;
        return [...failures, fail(c, anywhere >= 0 ? `${detail}; it is on output line ${anywhere + 1}, out of order` : detail)];
      }
      checkNots(at);
      last = at;
      cursor = at + 1;
    }
    checkNots(block.end);
  }
  return failures;
}

/** Runs one test file's text (see the top of this file). `file` names it in messages. */
export async function runCheckText(text: string, file = '<input>'): Promise<CheckResult> {
  const failures: string[] = [];
  const outputs: string[] = [];
  try {
    const lines = text.split('\n');
    const runs: RunLine[] = [];
    const expectErrors: { text: string; line: number }[] = [];
    lines.forEach((l, k) => {
      const m = DIRECTIVE.exec(l);
      if (m?.[1] === 'RUN') runs.push(parseRun(m[2]!.trim(), k + 1, file));
      if (m?.[1] === 'EXPECT-ERROR') {
        const want = m[2]!.trim();
        if (want === '') throw new CheckFileError(`${file}:${k + 1}: EXPECT-ERROR: has an empty text`);
        expectErrors.push({ text: want, line: k + 1 });
      }
    });
    if (runs.length === 0) throw new CheckFileError(`${file}: no '// RUN: opt --passes=...' line`);
    for (const run of runs) {
      const checks = checksFor(lines, run.prefix, file);
      if (expectErrors.length === 0 && checks.length === 0) throw new CheckFileError(`${file}:${run.line}: no ${run.prefix}: lines to check the output of this RUN line against`);
      if (expectErrors.length > 0 && checks.length > 0) throw new CheckFileError(`${file}: a file with EXPECT-ERROR has no ${run.prefix}: lines`);
      let output: string;
      try {
        output = await runOpt(text, file, run);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        outputs.push(message);
        if (expectErrors.length === 0) {
          failures.push(`${file}:${run.line}: RUN failed: ${message}`);
          continue;
        }
        for (const want of expectErrors) {
          if (!message.includes(want.text)) failures.push(`${file}:${want.line}: EXPECT-ERROR: ${want.text}\n  the error was: ${message}`);
        }
        continue;
      }
      outputs.push(output);
      if (expectErrors.length > 0) {
        failures.push(`${file}:${expectErrors[0]!.line}: EXPECT-ERROR: ${expectErrors[0]!.text}\n  but the RUN on line ${run.line} succeeded`);
        continue;
      }
      const found = matchChecks(output, checks, file);
      if (found.length > 0) failures.push(...found.map((f) => `${f}\n  (RUN on line ${run.line}; the output was:\n${indent(output)})`));
    }
  } catch (e) {
    if (!(e instanceof CheckFileError)) throw e;
    failures.push(`malformed test: ${e.message}`);
  }
  return { ok: failures.length === 0, failures, outputs };
}

function indent(s: string): string {
  return s
    .trimEnd()
    .split('\n')
    .map((l) => `    | ${l}`)
    .join('\n');
}

async function runOpt(text: string, file: string, run: RunLine): Promise<string> {
  await loadPassModules(run.loadPass.map((p) => (isAbsolute(p) ? p : join(ROOT, p))));
  const steps = parsePipeline(run.passes, '--passes');
  const graph = parseGraph(text, { file });
  const printed: string[] = [];
  const result = runPipeline(graph, steps, {
    verify: run.verify,
    ...(run.importance !== undefined ? { resources: new Map([[IMPORTANCE_RESOURCE, readImportanceFile(isAbsolute(run.importance) ? run.importance : join(ROOT, run.importance))]]) } : {}),
    ...(run.printAfter !== undefined ? { printAfter: run.printAfter } : {}),
    print: (t) => printed.push(t),
  });
  return printed.join('') + printGraph(result.graph);
}

/** Runs a test file from disk. */
export async function runCheckFile(path: string): Promise<CheckResult> {
  return runCheckText(readFileSync(path, 'utf8'), path);
}
