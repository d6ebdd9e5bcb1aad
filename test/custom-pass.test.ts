// The custom pass example (examples/custom-pass/two-quad.ts) on the example BERT: every
// Softmax replaced, the result verifies, padding gets exactly zero weight (a padded input
// gives the unpadded logits), the CLI loads it, the example script runs.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../compiler/frontend/import.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Graph } from '../ir/graph.ts';
import { parseGraph } from '../ir/parser.ts';
import { Tensor } from '../ir/tensor.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { parsePipeline, rewriteGraph, rule, runPipeline } from '../passes/index.ts';
import { plainSoftmax } from '../examples/custom-pass/two-quad.ts';

const ROOT = join(import.meta.dirname, '..');
const MODEL = join(ROOT, 'examples', 'bert-tiny.onnx');
const bytes = readFileSync(MODEL);
const IDS = [2, 323, 1085, 3, 487, 1648, 576, 3];

function model(seq: number): Graph {
  return importOnnx(bytes, { file: MODEL, batch: 1, seq }).graph;
}

function inputs(seq: number): Map<string, Tensor> {
  const ids = [...IDS, ...new Array<number>(seq - IDS.length).fill(0)];
  const mask = ids.map((_, i) => (i < IDS.length ? 1 : 0));
  const t = (v: number[]): Tensor => Tensor.from('i64', [1, seq], v.map(BigInt));
  return new Map([
    ['input_ids', t(ids)],
    ['attention_mask', t(mask)],
    ['token_type_ids', t(new Array<number>(seq).fill(0))],
  ]);
}

const count = (g: Graph, op: string): number => g.nodes().filter((n) => n.op === op).length;
const logits = (g: Graph, seq: number): number[] => evaluate(g, inputs(seq)).get('logits')!.toNumbers();
const twoQuad = (g: Graph, pipeline = 'two-quad{c=5}'): Graph => runPipeline(g, parsePipeline(pipeline)).graph;

describe('two-quad', () => {
  it('replaces every Softmax of bert-tiny and the result verifies', () => {
    const g = model(8);
    expect(count(g, 'Softmax')).toBe(2);
    const q = twoQuad(g);
    verifyGraph(q);
    expect(count(q, 'Softmax')).toBe(0);
    expect(count(q, 'ReduceSum')).toBe(count(g, 'ReduceSum') + 2);
    // each replacement keeps the Softmax's source location
    const divs = q.nodes().filter((n) => n.op === 'Div' && n.loc.name?.endsWith('/attention/self/Softmax') && n.type.shape.length === 4 && n.type.shape[3] === 8 && n.inputs[1]!.op === 'ReduceSum');
    expect(divs).toHaveLength(2);
  });

  it('gives masked positions exactly zero weight and rows that sum to 1', () => {
    const q = twoQuad(model(12));
    const probs: Tensor[] = [];
    const isProbs = new Set(q.nodes().filter((n) => n.op === 'Div' && n.inputs[1]!.op === 'ReduceSum'));
    evaluate(q, inputs(12), { onValue: (n, v) => void (isProbs.has(n) && probs.push(v)) });
    expect(probs).toHaveLength(2);
    for (const p of probs) {
      const [, heads, rows, cols] = p.shape as [number, number, number, number];
      for (let h = 0; h < heads; h++) {
        for (let r = 0; r < rows; r++) {
          let sum = 0;
          for (let c = 0; c < cols; c++) {
            const v = p.at((h * rows + r) * cols + c);
            if (c >= IDS.length) expect(v).toBe(0);
            else expect(v).toBeGreaterThan(0);
            sum += v;
          }
          expect(sum).toBeCloseTo(1, 12);
        }
      }
    }
  });

  it('a padded input gives the same logits as the unpadded one', () => {
    const unpadded = logits(twoQuad(model(8)), 8);
    for (const seq of [9, 16]) {
      const padded = logits(twoQuad(model(seq)), seq);
      for (let i = 0; i < unpadded.length; i++) expect(Math.abs(padded[i]! - unpadded[i]!)).toBeLessThan(1e-6);
    }
    // the original model has the same property (a sanity check of the inputs)
    const exact8 = logits(model(8), 8);
    const exact16 = logits(model(16), 16);
    for (let i = 0; i < exact8.length; i++) expect(Math.abs(exact16[i]! - exact8[i]!)).toBeLessThan(1e-6);
  });

  it('without the multiplicative mask, padding would change the logits (the test above can fail)', () => {
    // 2Quad applied to Softmax(s + m) as is: (s + m + c)^2 gives masked positions huge weight
    const naive = rule('NaiveTwoQuad', 'Softmax(x) -> (x+5)^2 / sum', plainSoftmax, ({ x }, b) => {
      const shifted = b.build('Add', [x!, b.scalar(5)]);
      const square = b.build('Mul', [shifted, shifted]);
      return b.build('Div', [square, b.build('ReduceSum', [square], { axes: [3], keepdims: 1 })]);
    });
    const unpadded = logits(rewriteGraph(model(8), [naive]).graph, 8);
    const padded = logits(rewriteGraph(model(16), [naive]).graph, 16);
    const diff = Math.max(...unpadded.map((v, i) => Math.abs(v - padded[i]!)));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('uses its option c', () => {
    const g = model(8);
    const c5 = logits(twoQuad(g, 'two-quad'), 8);
    const c1 = logits(twoQuad(g, 'two-quad{c=1}'), 8);
    expect(c5).toEqual(logits(twoQuad(g, 'two-quad{c=5}'), 8));
    expect(c1).not.toEqual(c5);
    expect(() => parsePipeline('two-quad{c=-1}')).toThrow(/option 'c' of pass 'two-quad' must be in \[0, inf\], got -1/);
  });

  it('keeps the argmax of the example cases', () => {
    const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), ['examples/custom-pass/run.ts', 'examples/bert-tiny.onnx'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/case b1_s8\n {2}logits softmax: {3}\[0\.0616\d+, -0\.0113\d+\] {2}argmax 0\n {2}logits two-quad: {2}\[/);
    expect(r.stdout).toMatch(/argmax agreement: 5\/5 rows \(c = 5\)/);
  });

  it('is written against the public pass API only', () => {
    const src = readFileSync(join(ROOT, 'examples', 'custom-pass', 'two-quad.ts'), 'utf8');
    const from = [...src.matchAll(/^import[^;]*?from '([^']+)'/gms)].map((m) => m[1]);
    expect(from).toEqual(['../../passes/index.ts']);
  });

  it('loads from the CLI with --load-pass', () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'bin', 'ig3dc.js'), 'opt', 'examples/bert-tiny.onnx', '--seq', '8', '--load-pass', 'examples/custom-pass/two-quad.ts', '--passes', 'two-quad{c=5},canonicalize'],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('Softmax(');
    expect(r.stdout.match(/ReduceSum\(/g)?.length).toBeGreaterThanOrEqual(2);
    verifyGraph(parseGraph(r.stdout));
    const listed = spawnSync(process.execPath, [join(ROOT, 'bin', 'ig3dc.js'), 'passes', '--load-pass', 'examples/custom-pass/two-quad.ts'], { cwd: ROOT, encoding: 'utf8' });
    expect(listed.stdout).toMatch(/^two-quad\n {4}MPCFormer's 2Quad.*\n {4}c=<number> in \[0, inf\] \(default 5\): /m);
  });
});
