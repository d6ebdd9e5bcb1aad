// Importance annotations: per-head importance scores S(l, h) and pinned decisions, read from
// the fixtures' JSON (`scores[layer][head]`) or from a hand-editable text form
// (annotation-text.ts), checked against the model they are applied to.
//
// Orientation: files say whether a higher score means a more important head (attention
// entropy: lower is more important). The passes only ever see `importance`, which is
// "higher = more important": the scores as given, or their negation. So a threshold for an
// entropy file is a negated entropy (keep heads with -entropy >= tau).

import { Ig3dcError, type SourcePlace } from '../../ir/diagnostics.ts';
import { parseJsonText, readTextFile } from '../../ir/tensor-json.ts';
import { parseImportanceText } from './annotation-text.ts';

/** Decisions a file can force on one head. */
export type HeadPinKind = 'keep' | 'prune' | 'exact' | 'poly';

export interface HeadPin {
  readonly kind: HeadPinKind;
  readonly layer: number;
  readonly head: number;
  /** Where the pin is written (file, line:column), for errors about it. */
  readonly place: SourcePlace;
}

/** `lambda L<l> = x`: the GELU/ReLU mix of one layer (1 = GELU, 0 = ReLU). */
export interface LambdaPin {
  readonly layer: number;
  readonly value: number;
  readonly place: SourcePlace;
}

export interface ImportanceAnnotation {
  /** The file it was read from, if any. */
  readonly file?: string;
  readonly model?: string;
  readonly method?: string;
  readonly steps?: number;
  readonly examples?: number;
  /** Declared shape (layers x heads); from the header, or from the scores. */
  readonly layers?: number;
  readonly heads?: number;
  /** Scores as written in the file, `scores[layer][head]`. */
  readonly scores?: readonly (readonly number[])[];
  readonly higherIsMoreImportant: boolean;
  readonly headPins: readonly HeadPin[];
  readonly lambdaPins: readonly LambdaPin[];
  /** Where the header / scores are, for shape errors (text: line:column; JSON: the file). */
  readonly shapePlace?: SourcePlace;
}

/** The scores oriented so that higher = more important (negated when the file says lower is). */
export function importanceOf(a: ImportanceAnnotation): number[][] | undefined {
  if (a.scores === undefined) return undefined;
  return a.scores.map((row) => row.map((s) => (a.higherIsMoreImportant ? s : -s)));
}

/** Reads a JSON (first non-blank character `{`) or text annotation file. */
export function readImportanceFile(path: string): ImportanceAnnotation {
  return parseImportance(readTextFile(path), path);
}

/** Parses annotation text in either form; `file` names it in errors. */
export function parseImportance(text: string, file?: string): ImportanceAnnotation {
  return /^\s*\{/.test(text) ? parseImportanceJson(text, file) : parseImportanceText(text, file);
}

function jsonError(file: string | undefined, path: string, detail: string): Ig3dcError {
  return new Ig3dcError('input', `${path ? `${path}: ` : ''}${detail}`, file !== undefined ? { file } : {});
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * The fixtures' JSON: `{model, method, steps, examples, scores: [[...], ...],
 * higher_is_more_important, layers, heads}`; only `scores` is required
 * (`higher_is_more_important` defaults to true). Errors name the JSON path.
 */
export function parseImportanceJson(text: string, file?: string): ImportanceAnnotation {
  const json = parseJsonText(text, file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw jsonError(file, '', `expected a JSON object with "scores", got ${describe(json)}`);
  const o = json as Record<string, unknown>;
  const optString = (key: string): string | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw jsonError(file, key, `expected a string, got ${describe(v)}`);
    return v;
  };
  const optCount = (key: string, min: number): number | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw jsonError(file, key, `expected an integer >= ${min}, got ${describe(v)}`);
    return v;
  };
  const higher = o['higher_is_more_important'];
  if (higher !== undefined && typeof higher !== 'boolean') throw jsonError(file, 'higher_is_more_important', `expected true or false, got ${describe(higher)}`);
  const raw = o['scores'];
  if (raw === undefined) throw jsonError(file, 'scores', 'missing: expected scores[layer][head], a list of layers, each a list of head scores');
  if (!Array.isArray(raw) || raw.length === 0) throw jsonError(file, 'scores', `expected a non-empty list of layers, got ${describe(raw)}`);
  const layers = optCount('layers', 1);
  const heads = optCount('heads', 1);
  if (layers !== undefined && raw.length !== layers) throw jsonError(file, 'scores', `expected ${layers} layers ("layers": ${layers}), got ${raw.length}`);
  const scores: number[][] = [];
  let width = heads;
  raw.forEach((row: unknown, l) => {
    if (!Array.isArray(row) || row.length === 0) throw jsonError(file, `scores[${l}]`, `expected a non-empty list of head scores, got ${describe(row)}`);
    width ??= row.length;
    if (row.length !== width) {
      throw jsonError(file, `scores[${l}]`, `expected ${width} heads (${heads !== undefined ? `"heads": ${heads}` : 'as scores[0]'}), got ${row.length}`);
    }
    scores.push(
      row.map((s: unknown, h) => {
        if (typeof s !== 'number' || !Number.isFinite(s)) throw jsonError(file, `scores[${l}][${h}]`, `expected a finite number, got ${describe(s)}`);
        return s;
      }),
    );
  });
  const model = optString('model');
  const method = optString('method');
  const steps = optCount('steps', 0);
  const examples = optCount('examples', 0);
  return {
    ...(file !== undefined ? { file } : {}),
    ...(model !== undefined ? { model } : {}),
    ...(method !== undefined ? { method } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(examples !== undefined ? { examples } : {}),
    layers: scores.length,
    heads: width!,
    scores,
    higherIsMoreImportant: higher ?? true,
    headPins: [],
    lambdaPins: [],
    ...(file !== undefined ? { shapePlace: { file } } : {}),
  };
}

/** The attention shape of a model, as the passes see it (see model-shape.ts). */
export interface ModelHeads {
  readonly layers: number;
  /** Heads per layer of the unpruned model, when known (all layers alike in BERT). */
  readonly heads: number | undefined;
}

/**
 * Checks that the annotation describes a model of this shape and that every pin names a
 * layer and head of it. Errors say both shapes, at the annotation's place.
 */
export function checkAnnotationFits(a: ImportanceAnnotation, model: ModelHeads, what = 'the model'): void {
  const place = a.shapePlace ?? (a.file !== undefined ? { file: a.file } : {});
  const modelShape = `${model.layers} layers x ${model.heads ?? '?'} heads`;
  if (a.layers !== undefined && (a.layers !== model.layers || (model.heads !== undefined && a.heads !== undefined && a.heads !== model.heads))) {
    throw new Ig3dcError(
      'input',
      `importance annotation${a.model !== undefined ? ` for '${a.model}'` : ''} describes ${a.layers} layers x ${a.heads ?? '?'} heads, but ${what} has ${modelShape} (counted from its raised attention blocks)`,
      place,
    );
  }
  for (const p of a.headPins) {
    if (p.layer >= model.layers) throw new Ig3dcError('input', `${p.kind} L${p.layer}H${p.head}: ${what} has ${model.layers} layers (L0..L${model.layers - 1})`, p.place);
    const heads = model.heads ?? a.heads;
    if (heads !== undefined && p.head >= heads) throw new Ig3dcError('input', `${p.kind} L${p.layer}H${p.head}: ${what} has ${heads} heads per layer (H0..H${heads - 1})`, p.place);
  }
  for (const p of a.lambdaPins) {
    if (p.layer >= model.layers) throw new Ig3dcError('input', `lambda L${p.layer}: ${what} has ${model.layers} layers (L0..L${model.layers - 1})`, p.place);
  }
}

/** The pinned decision of one head of a given pair of kinds (the last pin wins), or undefined. */
export function headPin(a: ImportanceAnnotation | undefined, layer: number, head: number, kinds: readonly HeadPinKind[]): HeadPinKind | undefined {
  let found: HeadPinKind | undefined;
  for (const p of a?.headPins ?? []) if (p.layer === layer && p.head === head && kinds.includes(p.kind)) found = p.kind;
  return found;
}

/** The pinned lambda of a layer, or undefined. */
export function lambdaPin(a: ImportanceAnnotation | undefined, layer: number): number | undefined {
  let found: number | undefined;
  for (const p of a?.lambdaPins ?? []) if (p.layer === layer) found = p.value;
  return found;
}

/** A name bare when it reads back as a name (not a keyword, layer or head), else quoted. */
function nameText(s: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && !KEYWORDS.has(s) && !/^L\d+(H\d+)?$/.test(s) ? s : JSON.stringify(s);
}

/** A number as the shortest text that reads back to the same double. */
function num(x: number): string {
  return String(x);
}

/**
 * The text form of an annotation (what `parseImportanceText` reads back to the same
 * scores and pins); `comment` lines go first, each prefixed with `# `.
 */
export function writeImportanceText(a: ImportanceAnnotation, comment: readonly string[] = []): string {
  const lines: string[] = comment.map((c) => `# ${c}`);
  const layers = a.layers ?? a.scores?.length;
  const heads = a.heads ?? a.scores?.[0]?.length;
  if (a.model !== undefined || layers !== undefined) {
    const parts = ['model'];
    if (a.model !== undefined) parts.push(nameText(a.model));
    if (layers !== undefined && heads !== undefined) parts.push('layers', String(layers), 'heads', String(heads));
    lines.push(parts.join(' '));
  }
  if (a.method !== undefined || a.scores !== undefined || !a.higherIsMoreImportant) {
    const parts = ['method'];
    if (a.method !== undefined) parts.push(nameText(a.method));
    parts.push(a.higherIsMoreImportant ? 'higher-is-more-important' : 'lower-is-more-important');
    lines.push(parts.join(' '));
  }
  if (a.steps !== undefined) lines.push(`steps ${a.steps}`);
  if (a.examples !== undefined) lines.push(`examples ${a.examples}`);
  if (a.scores !== undefined) {
    lines.push('scores');
    a.scores.forEach((row, l) => lines.push(`  L${l}: ${row.map(num).join(' ')}`));
  }
  for (const p of a.headPins) lines.push(`${p.kind} L${p.layer}H${p.head}`);
  for (const p of a.lambdaPins) lines.push(`lambda L${p.layer} = ${num(p.value)}`);
  return `${lines.join('\n')}\n`;
}

/** Words of the text form that a bare model or method name cannot be. */
export const KEYWORDS: ReadonlySet<string> = new Set([
  'model',
  'layers',
  'heads',
  'method',
  'steps',
  'examples',
  'scores',
  'keep',
  'prune',
  'exact',
  'poly',
  'lambda',
  'higher-is-more-important',
  'lower-is-more-important',
]);
