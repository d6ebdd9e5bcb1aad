// canonicalize on random graphs: the evaluator's outputs are exactly the same (the rules
// promise exactness, so no tolerance), it is idempotent, its output verifies and
// print/parse round-trips.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { build } from '../ir/build.ts';
import type { Graph } from '../ir/graph.ts';
import { constNode, type Node } from '../ir/node.ts';
import { parseGraph } from '../ir/parser.ts';
import { printGraph } from '../ir/printer.ts';
import { Tensor } from '../ir/tensor.ts';
import { isFloatType, numel, type ElemType } from '../ir/types.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { CANONICALIZE_RULES, parsePipeline, rewriteGraph, runPipeline } from '../passes/index.ts';
import { Tape, arbGraph, arbGraphWithInputs } from './arbitrary.ts';

const canon = parsePipeline('canonicalize');
const canonicalize = (g: Graph): Graph => runPipeline(g, canon, { verify: false }).graph;

type Outcome = { ok: true; outputs: Map<string, Tensor> } | { ok: false; error: Error };

// Any failure counts as a failure outcome (an evaluator exception that is not an Ig3dcError is
// the evaluator's bug, e.g. ReduceMean of an empty i64 tensor): canonicalize must keep it.
function run(g: Graph, inputs: Map<string, Tensor>): Outcome {
  try {
    return { ok: true, outputs: evaluate(g, inputs) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e : new Error(String(e)) };
  }
}

const show = (v: number | bigint): string => (Object.is(v, -0) ? '-0' : String(v));

/** Index of the first element that differs (NaN equals NaN, 0 differs from -0), or -1. */
function firstDifference(a: Tensor, b: Tensor): number {
  for (let i = 0; i < a.size; i++) {
    const u = a.data[i]!;
    const v = b.data[i]!;
    if (typeof u === 'bigint' || typeof v === 'bigint' ? u !== v : !Object.is(u, v)) return i;
  }
  return -1;
}

const scalarConst = (elem: ElemType, v: number, vis: 'public' | 'server' = 'public'): Node => constNode(Tensor.from(elem, [], [v]), { elem, shape: [], vis });

function shuffled(tape: Tape, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = tape.int(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/**
 * Wraps `n` in something the rules rewrite (x*1, x + -0, Reshape(Reshape(x)), a duplicate
 * node...) or in a near miss they must leave (x + 0.0 for floats, x * a server 1, a reversing
 * Slice). Random graphs rarely contain these by chance.
 */
function wrap(tape: Tape, n: Node): Node {
  const t = n.type;
  const numeric = t.elem !== 'bool';
  const rank = t.shape.length;
  const candidates: (() => Node)[] = [
    () => build('Identity', [n]),
    () => build('Cast', [n], { to: t.elem }),
    () => build('Expand', [n], { shape: [...t.shape] }),
    () => build('Reshape', [build('Reshape', [n], { shape: [numel(t.shape)] })], { shape: [...t.shape] }),
    () => build('Reshape', [n], { shape: [...t.shape] }),
  ];
  if (numeric) {
    candidates.push(
      () => build('Mul', [n, scalarConst(t.elem, 1)]),
      () => build('Mul', [scalarConst(t.elem, 1), n]),
      () => build('Mul', [n, scalarConst(t.elem, 1, 'server')]),
      () => build('Add', [n, scalarConst(t.elem, -0)]),
      () => build('Add', [scalarConst(t.elem, 0), n]),
      () => build('Sub', [n, scalarConst(t.elem, 0)]),
      () => build('Sub', [n, scalarConst(t.elem, -0)]),
      () => build('Add', [build('Abs', [n]), build('Abs', [n])]),
    );
  }
  if (isFloatType(t.elem)) candidates.push(() => build('Div', [n, scalarConst(t.elem, 1)]));
  if (rank >= 1) {
    candidates.push(
      () => build('Concat', [n], { axis: tape.int(rank) }),
      () => build('Slice', [n], { starts: [0], ends: [t.shape[0]!] }),
      () => build('Slice', [n], { starts: [-1], ends: [-(t.shape[0]! + 1)], steps: [-1] }),
      () => build('Transpose', [n], { perm: shuffled(tape, rank) }),
      () => build('Transpose', [build('Transpose', [n], { perm: shuffled(tape, rank) })], { perm: shuffled(tape, rank) }),
    );
  }
  try {
    return tape.pick(candidates)();
  } catch (e) {
    if (e instanceof Ig3dcError) return n;
    throw e;
  }
}

/** A random graph whose outputs (and their inputs) are wrapped a few times by `wrap`. */
const arbWrapped = fc.tuple(arbGraphWithInputs({ constData: 'concrete', maxSteps: 8 }), fc.array(fc.nat(), { minLength: 1, maxLength: 12 })).map(([{ graph, inputs }, xs]) => {
  const tape = new Tape(xs);
  const outputs = graph.outputs.map((o) => {
    let node = o.node;
    // wrap an input of the output too, so rewrites happen below other nodes
    if (node.inputs.length > 0 && tape.chance(0.5)) {
      const k = tape.int(node.inputs.length);
      const ins = node.inputs.map((x, i) => (i === k ? wrap(tape, x) : x));
      try {
        node = build(node.op, ins, node.attrs, node.loc);
      } catch (e) {
        if (!(e instanceof Ig3dcError)) throw e;
      }
    }
    for (let i = tape.int(4); i > 0; i--) node = wrap(tape, node);
    return { name: o.name, node };
  });
  return { graph: graph.with({ outputs }), inputs };
});

function expectSameOutputs(graph: Graph, after: Graph, inputs: Map<string, Tensor>): void {
  const want = run(graph, inputs);
  const got = run(after, inputs);
  if (!want.ok) {
    // an op that fails at run time is neither folded away nor hidden
    expect(got.ok, `the original fails (${want.error.message}); the canonical graph must too`).toBe(false);
    return;
  }
  if (!got.ok) throw new Error(`the canonical graph fails: ${got.error.message}\n${printGraph(after)}`);
  for (const [name, t] of want.outputs) {
    const u = got.outputs.get(name)!;
    expect(u.dtype, name).toBe(t.dtype);
    expect(u.shape, name).toEqual(t.shape);
    const at = firstDifference(t, u);
    if (at >= 0) {
      throw new Error(
        `output ${name}[${at}]: ${show(t.data[at]!)} before, ${show(u.data[at]!)} after\nbefore:\n${printGraph(graph, { weights: 'inline' })}\nafter:\n${printGraph(after, { weights: 'inline' })}`,
      );
    }
  }
}

describe('canonicalize on random graphs', () => {
  it('preserves the evaluator outputs exactly', () => {
    fc.assert(
      fc.property(arbGraphWithInputs({ constData: 'concrete', maxSteps: 12 }), ({ graph, inputs }) => {
        expectSameOutputs(graph, canonicalize(graph), inputs);
      }),
      { numRuns: 400 },
    );
  });

  it('preserves the evaluator outputs exactly on graphs full of identities and near misses', () => {
    const fired = new Set<string>();
    fc.assert(
      fc.property(arbWrapped, ({ graph, inputs }) => {
        const after = canonicalize(graph);
        verifyGraph(after);
        expectSameOutputs(graph, after, inputs);
        for (const [rule] of rewriteGraph(graph, CANONICALIZE_RULES).applied) fired.add(rule);
      }),
      { numRuns: 500 },
    );
    // the generator reaches the rules it is meant to test
    for (const rule of ['MulOneToInput', 'AddZeroToInput', 'SubZeroToInput', 'ReshapeReshapeToReshape', 'TransposeTransposeToTranspose', 'FullSliceToInput', 'IdentityToInput']) {
      expect(fired, rule).toContain(rule);
    }
  });

  it('verifies, is idempotent, and round-trips through the text form', () => {
    fc.assert(
      fc.property(arbGraph({ constData: 'any', maxSteps: 12 }), (graph) => {
        const once = canonicalize(graph);
        verifyGraph(once);
        const twice = canonicalize(once);
        expect(printGraph(twice, { weights: 'inline' })).toBe(printGraph(once, { weights: 'inline' }));
        for (const weights of ['inline', 'elide'] as const) {
          const text = printGraph(once, { weights });
          expect(printGraph(parseGraph(text), { weights })).toBe(text);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('never grows the graph', () => {
    fc.assert(
      fc.property(arbGraph({ constData: 'concrete', maxSteps: 12 }), (graph) => {
        const ops = (g: Graph): number => g.nodes().filter((n) => n.op !== 'Const' && n.op !== 'Input').length;
        expect(ops(canonicalize(graph))).toBeLessThanOrEqual(ops(graph));
      }),
      { numRuns: 200 },
    );
  });
});
