// Errors are values with a place until the CLI prints them.
//
// Every error a user can cause (bad file, unsupported op, syntax error, verifier failure)
// is an Ig3dcError with a kind and a place: the file, the ONNX node or IR value, and for
// text inputs a line:column. The CLI prints `message` as one paragraph and exits non-zero;
// anything that is not an Ig3dcError is an internal bug.

export type ErrorKind =
  | 'io' // file missing or unreadable
  | 'decode' // not a valid ONNX / protobuf file
  | 'unsupported' // unsupported operator, opset or data type
  | 'shape' // shape or type inference failed
  | 'binding' // dynamic dimension cannot be bound
  | 'syntax' // text parse error
  | 'verify' // IR verifier failure
  | 'input' // malformed inputs/cases file, or inputs that do not fit the model
  | 'eval' // evaluator failure (e.g. index out of range)
  | 'usage'; // bad command-line usage

export interface SourcePlace {
  /** File the error is about. */
  readonly file?: string;
  /** ONNX node name or IR value name. */
  readonly node?: string;
  /** 1-based line and column in a text file. */
  readonly line?: number;
  readonly column?: number;
}

export class Ig3dcError extends Error {
  readonly kind: ErrorKind;
  readonly place: SourcePlace;
  /** The message without the place prefix. */
  readonly detail: string;

  constructor(kind: ErrorKind, detail: string, place: SourcePlace = {}) {
    super(formatPlace(place) + detail);
    this.name = 'Ig3dcError';
    this.kind = kind;
    this.place = place;
    this.detail = detail;
  }

  /** The same error with missing place fields filled in from `outer` (e.g. the file name). */
  within(outer: SourcePlace): Ig3dcError {
    return new Ig3dcError(this.kind, this.detail, { ...outer, ...definedOnly(this.place) });
  }
}

function definedOnly(p: SourcePlace): SourcePlace {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = v;
  return out as SourcePlace;
}

/** `file:line:column: node 'X': ` — whichever parts are known. */
export function formatPlace(p: SourcePlace): string {
  let s = '';
  if (p.file !== undefined) {
    s += p.file;
    if (p.line !== undefined) s += `:${p.line}`;
    if (p.line !== undefined && p.column !== undefined) s += `:${p.column}`;
    s += ': ';
  } else if (p.line !== undefined) {
    s += `${p.line}${p.column !== undefined ? `:${p.column}` : ''}: `;
  }
  if (p.node !== undefined) s += `node '${p.node}': `;
  return s;
}

export function isIg3dcError(e: unknown): e is Ig3dcError {
  return e instanceof Ig3dcError;
}
