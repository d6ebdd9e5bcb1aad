// Gradient checking for the reverse-mode rules: a graph of one op (or a few) on f64 inputs,
// loss = sum(w * y) with random w; the gradient from the GradientPlan against central
// finite differences of the plaintext evaluator.

import { expect } from 'vitest';
import { build } from '../ir/build.ts';
import { Graph } from '../ir/graph.ts';
import type { Attrs, Node } from '../ir/node.ts';
import { constNode, inputNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { evaluate } from '../ir/evaluate.ts';
import { numel, type ElemType } from '../ir/types.ts';
import { GradientPlan, forwardValues } from '../ir/grad/index.ts';

/** xorshift32 floats, seeded (fast-check draws the seed, so failures shrink and replay). */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = (seed >>> 0) ^ 0x9e3779b9 || 1;
  }
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return this.#s / 4294967296;
  }
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** Uniform magnitude in [lo, hi) with a random sign: keeps values away from kinks at 0. */
  signed(lo: number, hi: number): number {
    return (this.next() < 0.5 ? -1 : 1) * this.uniform(lo, hi);
  }
  floats(n: number, f: () => number): number[] {
    return Array.from({ length: n }, f);
  }
}

export interface InputSpec {
  readonly shape: readonly number[];
  /** Element values; default: uniform in [-1, 1). */
  readonly values?: readonly number[];
  readonly elem?: ElemType;
  /** A public constant (integer indices, masks): not differentiated. */
  readonly constant?: boolean;
}

/** Checks d(sum w*y)/d(every float input) against central differences. */
export function checkGradient(rng: Rng, specs: readonly InputSpec[], make: (inputs: readonly Node[]) => Node, tol = 1e-5): void {
  const nodes: Node[] = [];
  const graphInputs: Node[] = [];
  const feeds = new Map<string, Tensor>();
  specs.forEach((s, i) => {
    const elem = s.elem ?? 'f64';
    const values = s.values ?? rng.floats(numel(s.shape), () => rng.uniform(-1, 1));
    const t = Tensor.from(elem, s.shape, elem === 'i64' ? values.map((v) => BigInt(v)) : values);
    if (s.constant) {
      nodes.push(constNode(t, { elem, shape: s.shape, vis: 'public' }));
    } else {
      const n = inputNode(`x${i}`, { elem, shape: s.shape, vis: 'client' }, { name: `x${i}` });
      nodes.push(n);
      graphInputs.push(n);
      feeds.set(`x${i}`, t);
    }
  });
  const y = make(nodes);
  const graph = new Graph('g', graphInputs, [{ name: 'y', node: y }]);
  const w = Float64Array.from(rng.floats(numel(y.type.shape), () => rng.uniform(-1, 1)));
  const loss = (f: ReadonlyMap<string, Tensor>): number => {
    const out = evaluate(graph, f).get('y')!.toFloat64();
    let s = 0;
    for (let i = 0; i < out.length; i++) s += w[i]! * out[i]!;
    return s;
  };
  const differentiated = graphInputs.filter((n) => n.type.elem === 'f64');
  const values = forwardValues(graph, feeds);
  const plan = new GradientPlan(graph, differentiated, [y]);
  const grads = plan.run((n) => values.get(n)!, new Map([[y, w]]));
  const h = 1e-5;
  for (const input of differentiated) {
    const name = input.name!;
    const base = feeds.get(name)!.toFloat64();
    const analytic = grads.get(input)!;
    expect(analytic.length).toBe(base.length);
    for (let i = 0; i < base.length; i++) {
      const at = (v: number): number => {
        const d = base.slice();
        d[i] = v;
        const f = new Map(feeds);
        f.set(name, new Tensor('f64', input.type.shape, d));
        return loss(f);
      };
      const numeric = (at(base[i]! + h) - at(base[i]! - h)) / (2 * h);
      const a = analytic[i]!;
      if (!(Math.abs(a - numeric) <= tol * (1 + Math.abs(numeric)))) {
        throw new Error(`${y.op}: d/d${name}[${i}] analytic ${a} vs numeric ${numeric} (shapes ${specs.map((s) => `[${s.shape}]`).join(' ')})`);
      }
    }
  }
}

export function op(name: string, inputs: readonly Node[], attrs: Attrs = {}): Node {
  return build(name, inputs, attrs);
}
