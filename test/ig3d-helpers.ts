// Shared pieces of the IG-3D pass tests: the raised spam-bert at small shapes, dev rows as
// model inputs, and a test-only rewrite that zeroes heads' value projections.

import { existsSync } from 'node:fs';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { join } from 'node:path';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import { constNode, constValue } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { readTensorBundle, type TensorBundle } from '../ir/tensor-json.ts';
import { any, constant, op, parsePipeline, rewriteGraph, rule, runPipeline } from '../passes/index.ts';
import '../passes/raise/index.ts';
import '../passes/ig3d/index.ts';
import { IMPORTANCE_RESOURCE, type ImportanceAnnotation } from '../passes/ig3d/index.ts';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
export const EXAMPLES = join(import.meta.dirname, '..', 'examples', 'importance');
export const haveFixtures = existsSync(join(FIXTURES, 'spam-bert.onnx')) && existsSync(join(FIXTURES, 'spam-dev.json'));

const raisedCache = new Map<string, Graph>();

/** spam-bert imported with static [batch, seq] inputs and raised. */
export function raisedSpamBert(batch: number, seq: number): Graph {
  const key = `${batch}x${seq}`;
  let g = raisedCache.get(key);
  if (g === undefined) {
    const { graph } = loadOnnxFile(join(FIXTURES, 'spam-bert.onnx'), { batch, seq });
    g = runPipeline(graph, parsePipeline('raise-bert')).graph;
    raisedCache.set(key, g);
  }
  return g;
}

let bundle: TensorBundle | undefined;

export function devBundle(): TensorBundle {
  bundle ??= readTensorBundle(join(FIXTURES, 'spam-dev.json'));
  return bundle;
}

/** The real length (non-padding tokens) of a dev row. */
export function realLength(row: number): number {
  const mask = devBundle().tensors.get('attention_mask')!;
  let n = 0;
  for (let j = 0; j < 128; j++) n += mask.at(row * 128 + j);
  return n;
}

/** Model inputs of dev rows `rows`, the first `seq` positions of each (padding included when seq exceeds the real length). */
export function devInputs(rows: readonly number[], seq: number): Map<string, Tensor> {
  const ids = devBundle().tensors.get('input_ids')!;
  const mask = devBundle().tensors.get('attention_mask')!;
  const take = (t: Tensor): Tensor => {
    const out: bigint[] = [];
    for (const r of rows) for (let j = 0; j < seq; j++) out.push(BigInt(t.at(r * 128 + j)));
    return Tensor.from('i64', [rows.length, seq], out);
  };
  return new Map([
    ['input_ids', take(ids)],
    ['attention_mask', take(mask)],
    ['token_type_ids', Tensor.zeros('i64', [rows.length, seq])],
  ]);
}

export function logitsOf(graph: Graph, inputs: ReadonlyMap<string, Tensor>): number[] {
  return evaluate(graph, inputs).get('logits')!.toNumbers();
}

export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
}

export function resources(annotation?: ImportanceAnnotation): Map<string, unknown> {
  return new Map(annotation !== undefined ? [[IMPORTANCE_RESOURCE, annotation]] : []);
}

/** Runs a pipeline text (with the verifier after every pass); returns the graph and the notes. */
export function runText(graph: Graph, pipeline: string, annotation?: ImportanceAnnotation): { graph: Graph; notes: string[] } {
  const notes: string[] = [];
  const run = runPipeline(graph, parsePipeline(pipeline), { resources: resources(annotation), onNote: (p, m) => notes.push(`${p}: ${m}`) });
  return { graph: run.graph, notes };
}

/**
 * The unpruned model with heads (layer, head) silenced: their columns of Wv and entries of bv
 * set to 0, so their per-head output O(l, h) is exactly 0 (test-only rewrite).
 */
export function zeroValueHeads(graph: Graph, heads: readonly (readonly [number, number])[], d = 64): Graph {
  const zeroed = rule(
    'ValueHeadsToZero',
    'Linear{value}(x, W, b) in layer l -> the same with the silenced heads zeroed',
    op('Linear', [any('x'), constant('w'), constant('b')], { attrs: { role: 'value' } }),
    (c, ctx) => {
      const layer = ctx.root.loc.layer;
      const hs = heads.filter(([l]) => l === layer).map(([, h]) => h);
      const w = constValue(c['w']!)!;
      const b = constValue(c['b']!)!;
      // already zero: the rule has done its work
      if (hs.length === 0 || hs.every((h) => b.at(h * d) === 0 && w.at(h * d) === 0)) return undefined;
      const [K, N] = w.shape as [number, number];
      const W = Float32Array.from(w.toNumbers());
      const B = Float32Array.from(b.toNumbers());
      for (const h of hs) {
        for (let j = h * d; j < (h + 1) * d; j++) {
          B[j] = 0;
          for (let r = 0; r < K; r++) W[r * N + j] = 0;
        }
      }
      return ctx.build('Linear', [c['x']!, constNode(new Tensor('f32', w.shape, W), c['w']!.type), constNode(new Tensor('f32', b.shape, B), c['b']!.type)], ctx.root.attrs);
    },
  );
  return rewriteGraph(graph, [zeroed]).graph;
}

/** The Ig3dcError a function throws (any other outcome fails the test). */
export function caught(f: () => unknown): Ig3dcError {
  try {
    f();
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw e;
  }
  throw new Error('expected an Ig3dcError');
}

/** The Ig3dcError a promise rejects with (any other outcome fails the test). */
export async function caughtAsync(p: Promise<unknown>): Promise<Ig3dcError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw e;
  }
  throw new Error('expected an Ig3dcError');
}
