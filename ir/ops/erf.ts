// The error function in float64 (JavaScript has no Math.erf).
//
// erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n x^(2n+1) 2^n / (1*3*...*(2n+1)): every term is
// positive, so there is no cancellation and the sum is accurate to a few ulps for all
// |x| < 6; beyond that erf(x) rounds to +-1 in float64.

const TWO_OVER_SQRT_PI = 1.1283791670955126;

export function erf(x: number): number {
  if (x !== x || x === 0) return x; // NaN, and the sign of zero
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 0; n < 400; n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  return x < 0 ? -r : r;
}
