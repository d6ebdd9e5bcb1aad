// Option checking shared by the IG-3D passes. Passes can be run from a pipeline text (whose
// parser checks kinds and ranges) or called directly (tests, the threshold search), so each
// pass checks its options again here, including the rules that relate options.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { PassContext, PassOptionSpec, PassOptionValue, PassOptions } from '../pass.ts';
import { type ImportanceAnnotation, readImportanceFile } from './annotations.ts';

/** The resources key under which the importance annotation arrives (CLI: `--importance FILE`). */
export const IMPORTANCE_RESOURCE = 'importance';

function usage(pass: string, detail: string): Ig3dcError {
  return new Ig3dcError('usage', `${pass}: ${detail}`);
}

/** Checks kinds and ranges of the given options against the spec; returns them with defaults filled in. */
export function checkOptions(pass: string, specs: Readonly<Record<string, PassOptionSpec>>, options: PassOptions): PassOptions {
  const out: Record<string, PassOptionValue> = {};
  for (const [key, v] of Object.entries(options)) {
    const spec = specs[key];
    if (spec === undefined) throw usage(pass, `no option '${key}' (its options: ${Object.keys(specs).join(', ')})`);
    const where = `option '${key}'`;
    switch (spec.kind) {
      case 'number':
      case 'int':
        if (typeof v !== 'number' || !Number.isFinite(v)) throw usage(pass, `${where} must be a finite number, got ${String(v)}`);
        if (spec.kind === 'int' && !Number.isInteger(v)) throw usage(pass, `${where} must be an integer, got ${v}`);
        if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
          throw usage(pass, `${where} must be in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}], got ${v}`);
        }
        break;
      case 'bool':
        if (typeof v !== 'boolean') throw usage(pass, `${where} must be true or false, got ${String(v)}`);
        break;
      case 'string':
        if (typeof v !== 'string') throw usage(pass, `${where} must be a string, got ${String(v)}`);
        break;
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) throw usage(pass, `${where} must be one of ${spec.values.join(', ')}, got ${String(v)}`);
        break;
      case 'numbers':
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw usage(pass, `${where} must be a list of finite numbers`);
        break;
    }
    out[key] = v;
  }
  for (const [key, spec] of Object.entries(specs)) if (!(key in out) && spec.default !== undefined) out[key] = spec.default;
  return out;
}

/** How a pass picks heads: by a score threshold, by a fraction of the ranked units, or only by the file's pins. */
export type Selection = { readonly kind: 'tau'; readonly tau: number } | { readonly kind: 'ratio'; readonly ratio: number } | { readonly kind: 'pins' };

/**
 * `tau` and `ratio` are alternatives: at most one. `ratio` must lie in [0, 1) when
 * `ratioBelowOne` (pruning every head is not a ratio), else in [0, 1].
 */
export function selectionOf(pass: string, options: PassOptions, ratioBelowOne: boolean): Selection {
  const tau = options['tau'];
  const ratio = options['ratio'];
  if (tau !== undefined && ratio !== undefined) throw usage(pass, `give either tau (a score threshold) or ratio (a fraction of heads), not both (got tau=${String(tau)}, ratio=${String(ratio)})`);
  if (typeof tau === 'number') {
    if (!Number.isFinite(tau)) throw usage(pass, `tau must be a finite number, got ${tau}`);
    return { kind: 'tau', tau };
  }
  if (typeof ratio === 'number') {
    const ok = ratio >= 0 && (ratioBelowOne ? ratio < 1 : ratio <= 1);
    if (!ok) throw usage(pass, `ratio must be in [0, ${ratioBelowOne ? '1)' : '1]'}, got ${ratio}`);
    return { kind: 'ratio', ratio };
  }
  return { kind: 'pins' };
}

/**
 * The importance annotation given to the pipeline (an already parsed annotation, or a path),
 * or undefined when there is none.
 */
export function annotationFrom(ctx: PassContext, pass: string): ImportanceAnnotation | undefined {
  const r = ctx.resources.get(IMPORTANCE_RESOURCE);
  if (r === undefined) return undefined;
  if (typeof r === 'string') return readImportanceFile(r);
  if (isAnnotation(r)) return r;
  throw usage(pass, `the '${IMPORTANCE_RESOURCE}' resource is neither an importance annotation nor a file name`);
}

function isAnnotation(r: unknown): r is ImportanceAnnotation {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return typeof o['higherIsMoreImportant'] === 'boolean' && Array.isArray(o['headPins']) && Array.isArray(o['lambdaPins']);
}

/**
 * A note when the annotation names the model it was computed for and that is not this graph
 * (compared without the extension): its shape may fit while its ranking belongs to another
 * model (spam-bert's 4 x 4 scores fit any 4 x 4 model).
 */
export function noteForeignAnnotation(ctx: PassContext, pass: string, a: ImportanceAnnotation, graphName: string): void {
  if (a.model === undefined) return;
  const stem = a.model.replace(/\.(onnx|ir)$/i, '');
  if (stem === graphName || graphName === 'model') return;
  ctx.note(pass, `the importance scores in ${annotationName(a)} were computed for '${a.model}', but this model is '${graphName}': the ranking may not be this model's`);
}

/** The annotation's name for messages: its file, or "the importance annotation". */
export function annotationName(a: ImportanceAnnotation): string {
  return a.file !== undefined ? `importance file ${a.file}` : 'the importance annotation';
}
