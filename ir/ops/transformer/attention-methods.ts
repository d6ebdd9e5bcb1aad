// The attention methods of AttentionSoftmax, one definition each: how a row of scores
// becomes a row of attention weights (the evaluator's meaning), its reverse-mode rule, and
// the bounds of its weights. Lowering (compiler/backend/lower/attention-methods.ts) and
// export (compiler/export/attention-methods.ts) are tables keyed by the same names.
//
// A row is the scores s of one query over the S keys, with a keep mask. Masked keys get
// weight exactly 0 in every method, and n, where a method divides by the number of keys,
// is the number of KEPT keys: a padded input gives the weights of the unpadded one (the
// fixtures' training code has no mask, where n is simply S). A row with no kept key is 0.
//
// - exact: softmax(s).
// - poly (IG-3D): q(z) / sum q(z), q the Taylor polynomial of exp of `degree`, z = s - max
//   when `shift`, clamped to [-clip, clip] when clip > 0.
// - rsattn (MPCViT's ReLU softmax): ReLU(s) / (sum ReLU(s) + eps).
// - scale (MPCViT's scaling attention): s / n.
// - scaled-relu, scaled-gelu, scaled-relu2 (PolyTransformer): sigma(s) / sqrt(n) with sigma
//   ReLU, erf-GELU or squared ReLU.
// - 2quad (MPCFormer): (s + c)^2 / (sum (s + c)^2 + eps).

import { erf } from '../erf.ts';

export interface AttentionParams {
  readonly degree: number;
  readonly shift: boolean;
  readonly clip: number;
  /** Added to the denominators of rsattn and 2quad (trained models use e.g. 1e-6). */
  readonly eps: number;
  /** 2quad's shift c. */
  readonly c: number;
}

export interface AttentionMethod {
  readonly name: string;
  /** One line for docs and `ig3dc passes`. */
  readonly summary: string;
  /** The parameters the method reads (the others do not change its meaning). */
  readonly uses: readonly (keyof AttentionParams)[];
  /** The weights of one row: y[o + j] for the kept keys j (y is zero-initialized). */
  row(x: ArrayLike<number>, y: Float64Array, o: number, S: number, kept: Uint8Array, ko: number, p: AttentionParams): void;
  /** d loss / d scores of one row, given the weights y and their gradient g: adds into dx. */
  rowVjp(x: ArrayLike<number>, y: ArrayLike<number>, g: ArrayLike<number>, dx: Float64Array, o: number, S: number, kept: Uint8Array, ko: number, p: AttentionParams): void;
  /** Bounds of the weights given bounds of the scores and the row length. */
  interval(lo: number, hi: number, S: number): [number, number];
}

/** sum_{k=0..degree} z^k / k!, by Horner: 1 + z(1 + z/2(1 + z/3(...))). */
export function expTaylor(z: number, degree: number): number {
  let r = 1;
  for (let k = degree; k >= 1; k--) r = 1 + (r * z) / k;
  return r;
}

function keptCount(kept: Uint8Array, ko: number, S: number): number {
  let n = 0;
  for (let j = 0; j < S; j++) n += kept[ko + j]!;
  return n;
}

/** y_j = u_j / (sum u + eps) over the kept keys, u_j = f(x_j); 0 where the denominator is 0. */
function normalized(f: (v: number, p: AttentionParams) => number): AttentionMethod['row'] {
  return (x, y, o, S, kept, ko, p) => {
    let sum = 0;
    for (let j = 0; j < S; j++) {
      if (kept[ko + j] === 0) continue;
      const u = f(x[o + j]!, p);
      y[o + j] = u;
      sum += u;
    }
    // u / den, not u * (1 / den): a subnormal den has an infinite reciprocal
    const den = sum + p.eps;
    for (let j = 0; j < S; j++) if (kept[ko + j] !== 0) y[o + j] = den === 0 ? 0 : y[o + j]! / den;
  };
}

/** dx_j = f'(x_j) (g_j - sum_i g_i y_i) / (sum u + eps), the vjp of `normalized`. */
function normalizedVjp(f: (v: number, p: AttentionParams) => number, df: (v: number, p: AttentionParams) => number): AttentionMethod['rowVjp'] {
  return (x, y, g, dx, o, S, kept, ko, p) => {
    let sum = 0;
    let dot = 0;
    for (let j = 0; j < S; j++) {
      if (kept[ko + j] === 0) continue;
      sum += f(x[o + j]!, p);
      dot += g[o + j]! * y[o + j]!;
    }
    const den = sum + p.eps;
    if (den === 0) return;
    for (let j = 0; j < S; j++) if (kept[ko + j] !== 0) dx[o + j]! += (df(x[o + j]!, p) * (g[o + j]! - dot)) / den;
  };
}

/** y_j = f(x_j) / d(n) over the kept keys (no normalization by the row). */
function lengthScaled(f: (v: number) => number, df: (v: number) => number, d: (n: number) => number): Pick<AttentionMethod, 'row' | 'rowVjp'> {
  return {
    row(x, y, o, S, kept, ko) {
      const n = keptCount(kept, ko, S);
      if (n === 0) return;
      const inv = 1 / d(n);
      for (let j = 0; j < S; j++) if (kept[ko + j] !== 0) y[o + j] = f(x[o + j]!) * inv;
    },
    rowVjp(x, _y, g, dx, o, S, kept, ko) {
      const n = keptCount(kept, ko, S);
      if (n === 0) return;
      const inv = 1 / d(n);
      for (let j = 0; j < S; j++) if (kept[ko + j] !== 0) dx[o + j]! += g[o + j]! * df(x[o + j]!) * inv;
    },
  };
}

const relu = (v: number): number => (v > 0 ? v : 0);
const step = (v: number): number => (v > 0 ? 1 : 0);
const gelu = (v: number): number => 0.5 * v * (1 + erf(v * Math.SQRT1_2));
const geluDerivative = (v: number): number => 0.5 * (1 + erf(v * Math.SQRT1_2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
/** GELU's minimum, about -0.17 at x = -0.75. */
const GELU_MIN = -0.17;

const probabilities = (): [number, number] => [0, 1];

const exact: AttentionMethod = {
  name: 'exact',
  summary: 'softmax over the kept keys',
  uses: [],
  row(x, y, o, S, kept, ko) {
    let max = -Infinity;
    for (let j = 0; j < S; j++) if (kept[ko + j] !== 0 && x[o + j]! > max) max = x[o + j]!;
    if (max === -Infinity) return;
    let sum = 0;
    for (let j = 0; j < S; j++) {
      if (kept[ko + j] === 0) continue;
      const e = Math.exp(x[o + j]! - max);
      y[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < S; j++) y[o + j]! *= inv;
  },
  rowVjp(_x, y, g, dx, o, S, kept, ko) {
    let dot = 0;
    for (let j = 0; j < S; j++) dot += g[o + j]! * y[o + j]!;
    for (let j = 0; j < S; j++) if (kept[ko + j] !== 0) dx[o + j]! += y[o + j]! * (g[o + j]! - dot);
  },
  interval: probabilities,
};

/** The row's shift for poly: the max over kept keys when `shift`, else 0; undefined when no key is kept. */
function polyShift(x: ArrayLike<number>, o: number, S: number, kept: Uint8Array, ko: number, shift: boolean): { m: number; arg: number } | undefined {
  let max = -Infinity;
  let arg = -1;
  for (let j = 0; j < S; j++) {
    if (kept[ko + j] === 0) continue;
    if (x[o + j]! > max) {
      max = x[o + j]!;
      arg = j;
    }
  }
  if (arg < 0) return undefined;
  return { m: shift ? max : 0, arg };
}

const clamp = (z: number, clip: number): number => (clip > 0 ? (z < -clip ? -clip : z > clip ? clip : z) : z);

const poly: AttentionMethod = {
  name: 'poly',
  summary: 'IG-3D PolySoftmax: q(z) / sum q(z), q the Taylor exp of `degree`, z = s - max (shift), |z| <= clip',
  uses: ['degree', 'shift', 'clip'],
  row(x, y, o, S, kept, ko, p) {
    const sh = polyShift(x, o, S, kept, ko, p.shift);
    if (sh === undefined) return;
    let sum = 0;
    for (let j = 0; j < S; j++) {
      if (kept[ko + j] === 0) continue;
      const e = expTaylor(clamp(x[o + j]! - sh.m, p.clip), p.degree);
      y[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < S; j++) y[o + j]! *= inv;
  },
  // u_j = q(z_j), p = u / sum u: du_j = (g_j - sum g p) / sum u; dz_j = du_j q'(z_j) (zero
  // where clamped); with the shift the row maximum receives -sum_j dz_j.
  rowVjp(x, y, g, dx, o, S, kept, ko, p) {
    const sh = polyShift(x, o, S, kept, ko, p.shift);
    if (sh === undefined) return;
    let dot = 0;
    let sum = 0;
    for (let j = 0; j < S; j++) {
      dot += g[o + j]! * y[o + j]!;
      if (kept[ko + j] !== 0) sum += expTaylor(clamp(x[o + j]! - sh.m, p.clip), p.degree);
    }
    let total = 0;
    for (let j = 0; j < S; j++) {
      if (kept[ko + j] === 0) continue;
      const z0 = x[o + j]! - sh.m;
      const clamped = p.clip > 0 && (z0 < -p.clip || z0 > p.clip);
      const dz = clamped ? 0 : ((g[o + j]! - dot) / sum) * expTaylor(z0, p.degree - 1);
      dx[o + j]! += dz;
      total += dz;
    }
    if (p.shift) dx[o + sh.arg]! -= total;
  },
  interval: probabilities,
};

const quad = (v: number, p: AttentionParams): number => (v + p.c) * (v + p.c);

const METHODS: readonly AttentionMethod[] = [
  exact,
  poly,
  {
    name: 'rsattn',
    summary: "MPCViT's ReLU softmax: ReLU(s) / (sum ReLU(s) + eps)",
    uses: ['eps'],
    row: normalized(relu),
    rowVjp: normalizedVjp(relu, step),
    interval: probabilities,
  },
  {
    name: 'scale',
    summary: "MPCViT's scaling attention: s / n",
    uses: [],
    ...lengthScaled((v) => v, () => 1, (n) => n),
    interval: (lo, hi) => [Math.min(0, lo), Math.max(0, hi)],
  },
  {
    name: 'scaled-relu',
    summary: "PolyTransformer's scaled attention: ReLU(s) / sqrt(n)",
    uses: [],
    ...lengthScaled(relu, step, Math.sqrt),
    interval: (_lo, hi) => [0, Math.max(0, hi)],
  },
  {
    name: 'scaled-gelu',
    summary: "PolyTransformer's scaled attention: GELU(s) / sqrt(n) (erf GELU)",
    uses: [],
    ...lengthScaled(gelu, geluDerivative, Math.sqrt),
    interval: (_lo, hi) => [GELU_MIN, Math.max(0, hi)],
  },
  {
    name: 'scaled-relu2',
    summary: "PolyTransformer's scaled attention: ReLU(s)^2 / sqrt(n)",
    uses: [],
    ...lengthScaled((v) => relu(v) * relu(v), (v) => 2 * relu(v), Math.sqrt),
    interval: (lo, hi) => [0, Math.max(relu(lo), relu(hi)) ** 2],
  },
  {
    name: '2quad',
    summary: "MPCFormer's 2Quad: (s + c)^2 / (sum (s + c)^2 + eps)",
    uses: ['c', 'eps'],
    row: normalized(quad),
    rowVjp: normalizedVjp(quad, (v, p) => 2 * (v + p.c)),
    interval: probabilities,
  },
];

const BY_NAME = new Map(METHODS.map((m) => [m.name, m]));

export const ATTENTION_METHOD_NAMES: readonly string[] = METHODS.map((m) => m.name);

export function attentionMethods(): readonly AttentionMethod[] {
  return METHODS;
}

export function findAttentionMethod(name: string): AttentionMethod | undefined {
  return BY_NAME.get(name);
}

/** The method, or an error listing the known ones. */
export function attentionMethod(name: string): AttentionMethod {
  const m = BY_NAME.get(name);
  if (m === undefined) throw new Error(`unknown attention method "${name}" (known: ${ATTENTION_METHOD_NAMES.join(', ')})`);
  return m;
}
