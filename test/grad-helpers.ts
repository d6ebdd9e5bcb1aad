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
import { GradientPlan, findGraphVjp, forwardValues, gradientNodes } from '../ir/grad/index.ts';
import { CONST_OP, INPUT_OP } from '../ir/node.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';

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
  checkGraphGradient(graph, y, w, differentiated, feeds, grads);
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

/** Ops whose graph rule some checkGradient call has compared with the numeric rule. */
export const graphRulesChecked = new Set<string>();

/**
 * When every op of the graph has a graph rule: the gradient built as graph nodes, evaluated
 * by the plaintext evaluator, must equal the numeric rules' gradient (to rounding).
 */
function checkGraphGradient(
  graph: Graph, y: Node, w: Float64Array, wrt: readonly Node[], feeds: ReadonlyMap<string, Tensor>, numeric: ReadonlyMap<Node, Float64Array>,
): void {
  const ops = graph.nodes().filter((n) => n.op !== INPUT_OP && n.op !== CONST_OP);
  if (ops.some((n) => findGraphVjp(n.op) === undefined)) return;
  const seed = constNode(new Tensor('f64', y.type.shape, w), { elem: 'f64', shape: y.type.shape, vis: 'public' });
  let grads: Map<Node, Node>;
  try {
    grads = gradientNodes(graph, wrt, new Map([[y, seed]]));
  } catch (e) {
    // a rule may decline a form it does not cover (rank-1 MatMul, strided Slice, PolySoftmax)
    if (e instanceof Ig3dcError && e.kind === 'unsupported' && /^no gradient graph for/.test(e.detail)) return;
    throw e;
  }
  const backward = new Graph('backward', graph.inputs, wrt.map((x) => ({ name: `d${x.name}`, node: grads.get(x)! })));
  const out = evaluate(backward, feeds);
  for (const x of wrt) {
    const got = out.get(`d${x.name}`)!.toFloat64();
    const want = numeric.get(x)!;
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i]! - want[i]!) <= 1e-9 * (1 + Math.abs(want[i]!)))) {
        throw new Error(`${y.op}: graph gradient d/d${x.name}[${i}] = ${got[i]} but the numeric rule gives ${want[i]}`);
      }
    }
  }
  for (const n of ops) graphRulesChecked.add(n.op);
}
