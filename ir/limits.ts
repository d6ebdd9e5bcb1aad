// Limits checked before anything is allocated: a tensor's element count, and the range of each
// integer element type. A shape read from a file is user input; a 2^32-element constant must
// be a clear error, not an 11 GB allocation or an engine exception.

import { Ig3dcError, type SourcePlace } from './diagnostics.ts';
import type { ElemType } from './types.ts';

/** Most elements one tensor may have (2^28: 1 GiB of f32), unless IG3DC_MAX_ELEMENTS says otherwise. */
export function maxTensorElements(): number {
  const env = Number(process.env['IG3DC_MAX_ELEMENTS']);
  return Number.isSafeInteger(env) && env > 0 ? env : 2 ** 28;
}

/** Why `shape` is too large to allocate, or undefined. */
export function tensorSizeProblem(shape: readonly number[]): string | undefined {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return `dimension ${String(d).slice(0, 24)} is not a non-negative integer`;
    n *= d;
  }
  const max = maxTensorElements();
  if (n > max) return `a tensor of shape [${shape.join(',')}] has ${n} elements, more than the limit of ${max} (IG3DC_MAX_ELEMENTS)`;
  return undefined;
}

export function checkTensorSize(shape: readonly number[], place: SourcePlace = {}): void {
  const p = tensorSizeProblem(shape);
  if (p !== undefined) throw new Ig3dcError('input', p, place);
}

/** The inclusive range of each integer element type. */
export const INT_RANGES: Readonly<Partial<Record<ElemType, readonly [bigint, bigint]>>> = {
  i8: [-(2n ** 7n), 2n ** 7n - 1n],
  u8: [0n, 2n ** 8n - 1n],
  i32: [-(2n ** 31n), 2n ** 31n - 1n],
  u32: [0n, 2n ** 32n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
  u64: [0n, 2n ** 64n - 1n],
  ring64: [0n, 2n ** 64n - 1n],
};

/** At most `max` characters of user text, for an error message. */
export function quote(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}
