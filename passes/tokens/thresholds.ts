// Token-pruning thresholds: theta (prune below) and beta (reduce below) per boundary between
// encoder layers, as `ig3dc tune --tokens` writes them and prune-tokens reads them.

import { readFileSync } from 'node:fs';
import { Ig3dcError } from '../../ir/diagnostics.ts';

export const TOKEN_THRESHOLDS_FORMAT = 'ig3dc-token-thresholds/1';

export interface TokenThresholds {
  /** Prune tokens below theta[l] after layer l (l = 0..L-2). */
  readonly theta: readonly number[];
  /** Surviving tokens below beta[l] use the lower-degree polynomials in layer l+1. */
  readonly beta: readonly number[];
}

/** Checks lengths (one per boundary: layers - 1) and ranges ([0, 1], theta <= beta). */
export function checkThresholds(pass: string, t: TokenThresholds, layers: number, file?: string): void {
  const place = file === undefined ? {} : { file };
  const want = layers - 1;
  for (const [name, v] of [['theta', t.theta], ['beta', t.beta]] as const) {
    if (v.length !== want) {
      throw new Ig3dcError('usage', `${pass}: ${name} has ${v.length} entr${v.length === 1 ? 'y' : 'ies'} but the model has ${layers} layers; give one per boundary between layers (${want})`, place);
    }
    v.forEach((x, i) => {
      if (!(x >= 0 && x <= 1)) throw new Ig3dcError('usage', `${pass}: ${name}[${i}] = ${x} is outside [0, 1] (importance is a mean attention weight)`, place);
    });
  }
  t.theta.forEach((x, i) => {
    if (x > t.beta[i]!) throw new Ig3dcError('usage', `${pass}: theta[${i}] = ${x} is above beta[${i}] = ${t.beta[i]}; tokens below theta are pruned, those in [theta, beta) reduced`, place);
  });
}

export function writeThresholdsJson(t: TokenThresholds, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ format: TOKEN_THRESHOLDS_FORMAT, theta: t.theta, beta: t.beta, ...extra }, null, 2)}\n`;
}

export function readThresholdsFile(file: string): TokenThresholds {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read token thresholds: ${(e as Error).message}`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Ig3dcError('input', `token thresholds are not JSON: ${(e as Error).message}`, { file });
  }
  const o = json as Record<string, unknown>;
  const isList = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
  if (typeof o !== 'object' || o === null || o['format'] !== TOKEN_THRESHOLDS_FORMAT || !isList(o['theta']) || !isList(o['beta'])) {
    throw new Ig3dcError('input', `expected {"format": "${TOKEN_THRESHOLDS_FORMAT}", "theta": [numbers], "beta": [numbers]}`, { file });
  }
  return { theta: o['theta'], beta: o['beta'] };
}
