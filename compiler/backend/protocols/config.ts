// Protocol options. `CRYPTEN` reproduces CrypTen's default configuration (its algorithms,
// constants and iteration counts, so costs can be compared op by op); `BEST` selects the
// better variants. Every variant has a name; the names are stamped on the circuit's
// instructions (provenance `protocol`) and so appear in cost reports.

import { Ig3dcError } from '../../../ir/diagnostics.ts';

/** How `where(c, x, y)` multiplies: CrypTen's x*c + y*(1-c) (two products) or c*(x-y) + y (one). */
export type WhereMethod = 'two-mul' | 'one-mul';
export type ReciprocalMethod = 'nr' | 'goldschmidt' | 'spline';
export type MaxMethod = 'log-reduction' | 'tree';
export type ErfMethod = 'taylor' | 'erf-tree' | 'erf-clipped';
export type GeluForm = 'erf' | 'tanh' | 'puma';
export type LayerNormMethod = 'crypten' | 'fused';
export type InvSqrtMethod = 'exp-nr' | 'normalized' | 'spline';
export type ExpMethod = 'limit' | 'taylor-limit' | 'spline' | 'quadratic' | 'cubic';
export type GeluMethod = 'poly' | 'spline' | 'cubic';
export type SigmoidMethod = 'reciprocal' | 'spline';
export type CompareMethod = 'a2b' | 'fss';
export type TruncationMethod = 'local' | 'attention' | 'exact';
export type EmbeddingMethod = 'beaver' | 'cross';
export type LinearMethod = 'beaver' | 'cross';

export interface ProtocolConfig {
  /** Preset name (`crypten`, `best`, or a user's). */
  readonly name: string;
  /** exp: (1 + x/2^n)^(2^n) with n squarings. CrypTen: exp_iterations = 8. */
  readonly expIterations: number;
  /**
   * exp's base: CrypTen's 1 + x/2^n (`limit`: relative error about x^2/2^(n+1), 5% at x = -5
   * with n = 8, which is what softmax sees), or `taylor-limit`: 1 + y + y^2/2 + y^3/6 with
   * y = x/2^n (error about x^4/(24 8^n) plus 2^n ulp of rounding: ~1e-3 on [-8, 0] with n = 6;
   * y^2 and y^3 take two rounds, so n = 6 keeps CrypTen's 8). `spline` (FSS only): a
   * piecewise-linear spline in one round where the argument is known to be <= 0 (softmax after
   * the max: error 2e-4, exactly 0 below -16); elsewhere taylor-limit. `quadratic` (FSS only,
   * the fss preset's): the same in quadratic pieces (a third of the breakpoints: the DCF
   * evaluations are what an FSS run spends its time on), a product and one exact truncation
   * more: three rounds. `cubic` (FSS only): cubic pieces (a sixth of the breakpoints), a
   * product and two exact truncations more: four rounds (see spline.ts).
   * See spline.ts.
   */
  readonly expMethod: ExpMethod;
  /**
   * reciprocal: Newton–Raphson (CrypTen) or Goldschmidt; `spline` (FSS only): a spline start on
   * [2^-10, 2^10] (0.4% relative) and one Goldschmidt step: 3 rounds (softmax: 2 after the start).
   */
  readonly reciprocalMethod: ReciprocalMethod;
  /** Iterations of the reciprocal (CrypTen: reciprocal_nr_iters = 10). */
  readonly reciprocalIterations: number;
  /** Inverse square root Newton–Raphson iterations (CrypTen: sqrt_nr_iters = 3). */
  readonly sqrtIterations: number;
  /**
   * Inverse square root's starting point: CrypTen's 2.2 exp(-(x/2 + 0.2)) + 0.2 - x/1024
   * (`exp-nr`: accurate on about [0.1, 100] only), or `normalized`: x scaled by a power of 4
   * into [1, 4) (the power found by comparisons against 4^j), a linear start there, and the
   * power's square root multiplied back (accurate on [2^-16, 4^9) at f = 16). LayerNorm then
   * also sums the squares before truncating and divides by D inside invSqrt. `spline` (FSS
   * only): `normalized`'s power of 4, its root and a start within 1.1% from one
   * piecewise-constant spline, then one Newton step: 4 rounds (LayerNorm's product included).
   */
  readonly invSqrtMethod: InvSqrtMethod;
  /** erf Taylor terms after x (CrypTen: erf_iterations = 8, i.e. up to x^17). */
  readonly erfIterations: number;
  /**
   * erf powers: each by CrypTen's square-and-multiply `pow` (taylor), or one shared tree
   * (erf-tree); both diverge beyond |x| ~ 2. `erf-clipped`: a degree-13 fit on [-2.5, 2.5]
   * from one tree, and +-1 outside (one comparison of both bounds): accurate everywhere.
   */
  readonly erfMethod: ErfMethod;
  /**
   * GELU: `poly`, the form's polynomial protocol (erfMethod, geluForm), or `spline` (FSS only):
   * a piecewise-linear spline of the form's GELU in one round (error 2e-4, 52 breakpoints);
   * `cubic` (FSS only): cubic pieces (10 breakpoints, error 2e-4), a product and two exact
   * truncations: four rounds (see spline.ts).
   */
  readonly geluMethod: GeluMethod;
  /** sigmoid and tanh: CrypTen's `reciprocal` method, or `spline` (FSS only: one round, error 2e-4). */
  readonly sigmoidMethod: SigmoidMethod;
  /** GELU form used when the caller does not name one. */
  readonly geluForm: GeluForm;
  readonly maxMethod: MaxMethod;
  /**
   * CrypTen's max over a dimension also computes the one-hot argmax (an equality test against
   * the max and a randomized tie-break), even when only the max is used. Keep it to match
   * CrypTen's costs; drop it when only the value is needed.
   */
  readonly maxComputesArgmax: boolean;
  readonly whereMethod: WhereMethod;
  readonly layerNorm: LayerNormMethod;
  /**
   * Skip the propagate product of the adder's last level (it is never used; CrypTen computes
   * it: 32 bytes per element).
   */
  readonly trimAdder: boolean;
  /**
   * Comparisons (ltz, ReLU, and all built on them: max, clips, signs): CrypTen's
   * arithmetic-to-binary adder (`a2b`: 8 rounds), or a one-round DCF from the dealer (`fss`:
   * Boyle et al. 2021; one ring word per party online, keys as dealer bytes).
   */
  readonly compare: CompareMethod;
  /**
   * Bits an FSS comparison looks at: 64 is exact for every ring element; fewer shrink keys
   * and key evaluation and are only sound when |x| < 2^(bits-1) in ring units. `auto` (the
   * fss preset): each comparison on the fewest bits range analysis proves safe for the values
   * it compares, 64 where it proves no bound (compiler/backend/fss-bits.ts). A number m: every
   * comparison on m bits, refused unless range analysis proves m enough for each.
   */
  readonly fssBits: number | 'auto';
  /**
   * Multiply by a public 2^-n as a truncation of x by n bits. CrypTen encodes every non-integer
   * constant at 16+ fractional bits and truncates the product, about 2^16 |x| in ring units;
   * a local truncation wraps with probability |value| / 2^64 per element, so the shift is
   * 2^16 times less likely to give a garbage element (same value, same cost).
   */
  readonly shiftPowersOfTwo: boolean;
  /**
   * Truncation after a product: `local` (SecureML; each party shifts its own share: no round,
   * but an element is garbage with probability |x| / 2^64, about one failure in a thousand
   * inferences of spam-bert), or `exact` (ir/circuit/gates/truncation.ts: one open of a
   * dealer-masked value, 16 bytes per element on the wire and 16 from the dealer; never wraps
   * for |x| < 2^62 in ring units), or `attention`: exact for attention's products of two
   * secrets (q k^T, probs v, and softmax's normalization after it), local elsewhere. Those
   * products carry most of the risk: scores and unnormalized context values reach 2^40 ring
   * units, where the linear layers' stay near 2^36 (`ig3dc run --truncation-report`).
   */
  readonly truncation: TruncationMethod;
  /**
   * Embedding lookup of client token ids in a server table: CrypTen's one-hot times the table
   * as a Beaver matmul (`beaver`: both masks opened both ways, two dense products per party and
   * one for the dealer), or `cross` (ir/circuit/gates/cross.ts): the client keeps its one-hot and
   * the server its table, each masked operand goes one way, the server and the dealer each
   * compute one dense product and the client sums rows; exact (no truncation). Tables or ids
   * computed inside the circuit use `beaver`.
   */
  readonly embedding: EmbeddingMethod;
  /**
   * A linear layer X W of shared activations X by a server weight W: CrypTen's Beaver matmul
   * (`beaver`: X - A opened both ways online, W - B both ways in preprocessing, two dense
   * products per party and one for the dealer), or `cross` (ir/circuit/gates/cross.ts): the
   * server keeps W, the client sends its share of X minus a mask to the server alone (half the
   * online bytes) and W - B comes back once, in preprocessing; online the server computes the
   * one dense product, and the client's and the dealer's depend on no client input. Products by
   * a public matrix stay local; products of two secret values (attention's) stay `beaver`.
   */
  readonly linear: LinearMethod;
}

export const CRYPTEN: ProtocolConfig = Object.freeze({
  name: 'crypten',
  expIterations: 8,
  expMethod: 'limit',
  reciprocalMethod: 'nr',
  reciprocalIterations: 10,
  sqrtIterations: 3,
  invSqrtMethod: 'exp-nr',
  erfIterations: 8,
  erfMethod: 'taylor',
  geluMethod: 'poly',
  sigmoidMethod: 'reciprocal',
  geluForm: 'erf',
  maxMethod: 'log-reduction',
  maxComputesArgmax: true,
  whereMethod: 'two-mul',
  layerNorm: 'crypten',
  trimAdder: false,
  compare: 'a2b',
  fssBits: 64,
  shiftPowersOfTwo: false,
  truncation: 'local',
  embedding: 'beaver',
  linear: 'beaver',
});

export const BEST: ProtocolConfig = Object.freeze({
  ...CRYPTEN,
  name: 'best',
  reciprocalMethod: 'goldschmidt',
  erfMethod: 'erf-clipped',
  maxMethod: 'tree',
  maxComputesArgmax: false,
  whereMethod: 'one-mul',
  layerNorm: 'fused',
  trimAdder: true,
  invSqrtMethod: 'normalized',
  expMethod: 'taylor-limit',
  expIterations: 6,
  shiftPowersOfTwo: true,
  embedding: 'cross',
  linear: 'cross',
});

/** `best` with one-round FSS comparisons from the dealer, splines for GELU (cubic pieces: 10 breakpoints instead of 52 for three rounds more), exp (quadratic pieces: 14 breakpoints instead of 37 for two rounds more), 1/x, 1/sqrt, sigmoid and tanh (linear pieces; see spline.ts), and attention's products truncated exactly (its deferred normalization makes them the largest truncated values). */
export const FSS: ProtocolConfig = Object.freeze({
  ...BEST,
  name: 'fss',
  compare: 'fss',
  geluMethod: 'cubic',
  sigmoidMethod: 'spline',
  expMethod: 'quadratic',
  reciprocalMethod: 'spline',
  invSqrtMethod: 'spline',
  fssBits: 'auto',
  truncation: 'attention',
});

export const PRESETS: Readonly<Record<string, ProtocolConfig>> = Object.freeze({ crypten: CRYPTEN, best: BEST, fss: FSS });

const CHOICES: Readonly<Record<string, readonly string[]>> = {
  reciprocalMethod: ['nr', 'goldschmidt', 'spline'],
  geluMethod: ['poly', 'spline', 'cubic'],
  sigmoidMethod: ['reciprocal', 'spline'],
  erfMethod: ['taylor', 'erf-tree', 'erf-clipped'],
  geluForm: ['erf', 'tanh', 'puma'],
  maxMethod: ['log-reduction', 'tree'],
  whereMethod: ['two-mul', 'one-mul'],
  layerNorm: ['crypten', 'fused'],
  invSqrtMethod: ['exp-nr', 'normalized', 'spline'],
  expMethod: ['limit', 'taylor-limit', 'spline', 'quadratic', 'cubic'],
  compare: ['a2b', 'fss'],
  truncation: ['local', 'attention', 'exact'],
  embedding: ['beaver', 'cross'],
  linear: ['beaver', 'cross'],
};

/** Options whose `spline` value needs FSS comparisons. */
const SPLINE_OPTIONS = ['expMethod', 'reciprocalMethod', 'invSqrtMethod', 'geluMethod', 'sigmoidMethod'] as const;

/**
 * A preset by name, optionally with overrides `key=value` (e.g. `crypten,maxMethod=tree`).
 * Unknown presets, keys or values are user errors.
 */
export function protocolConfig(spec: string): ProtocolConfig {
  const [head, ...rest] = spec.split(',').map((s) => s.trim());
  const base = PRESETS[head ?? ''];
  if (base === undefined) {
    throw new Ig3dcError('usage', `unknown protocol preset '${head}' (known: ${Object.keys(PRESETS).join(', ')})`, {});
  }
  const out: Record<string, unknown> = { ...base };
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? '' : kv.slice(eq + 1);
    if (!(key in base) || key === 'name') {
      throw new Ig3dcError('usage', `unknown protocol option '${key}' (known: ${Object.keys(base).filter((k) => k !== 'name').join(', ')})`, {});
    }
    const cur = (base as unknown as Record<string, unknown>)[key];
    if (key === 'fssBits' && value.trim() === 'auto') {
      out[key] = 'auto';
    } else if (typeof cur === 'number' || key === 'fssBits') {
      const n = value.trim() === '' ? Number.NaN : Number(value);
      const lo = key === 'fssBits' ? 2 : 0;
      if (!Number.isInteger(n) || n < lo || n > 64) throw new Ig3dcError('usage', `protocol option ${key} needs ${key === 'fssBits' ? "'auto' or " : ''}an integer in ${lo}..64, got '${value}'`, {});
      out[key] = n;
    } else if (typeof cur === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new Ig3dcError('usage', `protocol option ${key} needs true or false, got '${value}'`, {});
      out[key] = value === 'true';
    } else {
      const allowed = CHOICES[key] ?? [];
      if (!allowed.includes(value)) throw new Ig3dcError('usage', `protocol option ${key} must be one of ${allowed.join(', ')}, got '${value}'`, {});
      out[key] = value;
    }
  }
  out['name'] = spec;
  if (out['compare'] !== 'fss') {
    const splines = SPLINE_OPTIONS.filter((k) => out[k] === 'spline' || out[k] === 'quadratic' || out[k] === 'cubic');
    if (splines.length > 0) throw new Ig3dcError('usage', `protocol options ${splines.map((k) => `${k}=${String(out[k])}`).join(', ')} need compare=fss (a spline is an FSS gate)`, {});
  }
  return Object.freeze(out) as unknown as ProtocolConfig;
}
