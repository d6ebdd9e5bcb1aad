// Agreement between two importance rankings: Spearman's rank correlation over all heads
// (average ranks for ties), and the heads each ranks first and last.

/** 1-based ranks, ties sharing their average rank. */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Pearson correlation of the ranks; NaN when either side is constant. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`spearman: ${a.length} vs ${b.length} values`);
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const ma = ra.reduce((s, v) => s + v, 0) / n;
  const mb = rb.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = ra[i]! - ma;
    const y = rb[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Heads [layer, head], most important first (scores oriented higher = more important). */
export function importanceOrder(importance: readonly (readonly number[])[]): [number, number][] {
  const heads: [number, number][] = [];
  importance.forEach((row, l) => row.forEach((_, h) => heads.push([l, h])));
  return heads.sort((x, y) => importance[y[0]]![y[1]]! - importance[x[0]]![x[1]]! || x[0] - y[0] || x[1] - y[1]);
}
