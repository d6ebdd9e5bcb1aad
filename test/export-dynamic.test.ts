// Export with dynamic axes: ONE exported file of each fixture BERT (imported, raised, and
// raised then IG-3D-optimized) runs in onnxruntime at every case shape of the fixture, within
// 1e-4 of the evaluator on the graph loaded at that shape. Plus the symbolic-dimension fit,
// and graphs that cannot be generalized staying static with a note naming the node.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haveOrt, ort, type OrtTensor } from './optional-ort.ts';
import { analyzeDynamicAxes, CannotGeneralize, exportOnnx, exportWithDynamicAxes, probeBindings } from '../compiler/export/index.ts';
import { fitDim, formatDim } from '../compiler/export/dynamic-axes.ts';
import { onnxProto } from '../compiler/frontend/decode.ts';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode } from '../ir/node.ts';
import { readCasesFile, type Case } from '../ir/tensor-json.ts';
import { Tensor } from '../ir/tensor.ts';
import { readImportanceFile } from '../passes/ig3d/index.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import { resources } from './ig3d-helpers.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const have = (m: string): boolean => existsSync(join(FIXTURES, `${m}.onnx`)) && existsSync(join(FIXTURES, `${m}.cases.json`));

function optimized(model: string, binding: { dims?: Record<string, number>; inputShapes?: Record<string, readonly number[]> }, pipeline: string): Graph {
  const { graph } = loadOnnxFile(join(FIXTURES, `${model}.onnx`), binding);
  if (pipeline === '') return graph;
  const annotation = readImportanceFile(join(FIXTURES, 'importance.json'));
  return runPipeline(graph, parsePipeline(pipeline), { resources: resources(annotation) }).graph;
}

function toOrt(t: Tensor): OrtTensor {
  if (t.dtype === 'i64') return new ort.Tensor('int64', t.data as BigInt64Array, [...t.shape]);
  return new ort.Tensor('float32', Float32Array.from(t.toFloat64()), [...t.shape]);
}

function shapesOf(c: Case): Record<string, readonly number[]> {
  return Object.fromEntries([...c.inputs].map(([k, t]) => [k, t.shape]));
}

/** dim_param or dim_value of each axis of each graph input and output of an exported model. */
function declaredDims(bytes: Uint8Array): Record<string, (string | number)[]> {
  const m = onnxProto.ModelProto.decode(bytes);
  const out: Record<string, (string | number)[]> = {};
  for (const vi of [...m.graph!.input!, ...m.graph!.output!]) {
    out[vi.name!] = vi.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
  }
  return out;
}

const VARIANTS: [string, string][] = [
  ['bert-tiny', ''],
  ['bert-tiny', 'raise-bert'],
  ['spam-bert', ''],
  ['spam-bert', 'raise-bert'],
  ['spam-bert', 'raise-bert,prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5,granularity=layer},gelu-mix'],
  ['spam-bert', 'raise-bert,prune-heads{tau=0.0016,min-keep=0},softmax-to-poly{ratio=1,shift=false,clip=4,degree=4}'],
];

describe.skipIf(!haveOrt)('one exported file at every case shape', () => {
  it.each(VARIANTS.filter(([m]) => have(m)))('%s %s', async (model, pipeline) => {
    const primary = { batch: 1, sequence: 128 };
    const result = exportWithDynamicAxes((dims) => optimized(model, { dims: { ...dims } }, pipeline), primary);
    expect(result.notes).toEqual([]);
    expect(result.dynamic).toEqual(['batch', 'sequence']);
    const dims = declaredDims(result.bytes);
    expect(dims['input_ids']).toEqual(['batch', 'sequence']);
    expect(dims['logits']).toEqual(['batch', 2]);
    const session = await ort.InferenceSession.create(result.bytes);
    const cases = readCasesFile(join(FIXTURES, `${model}.cases.json`));
    const shapes = new Set(cases.map((c) => c.inputs.get('input_ids')!.shape.join('x')));
    expect(shapes.size).toBeGreaterThanOrEqual(3);
    for (const c of cases) {
      const graph = optimized(model, { inputShapes: shapesOf(c) }, pipeline);
      const want = evaluate(graph, c.inputs).get('logits')!.toNumbers();
      const feeds: Record<string, OrtTensor> = {};
      for (const [name, t] of c.inputs) feeds[name] = toOrt(t);
      const out = (await session.run(feeds))['logits']!;
      expect(out.dims, c.name).toEqual(c.inputs.get('input_ids')!.shape.slice(0, 1).concat([2]));
      const got = Array.from(out.data as Float32Array);
      const err = got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i]!)), 0);
      expect(err, `${c.name}: max |onnxruntime - evaluator|`).toBeLessThanOrEqual(1e-4);
    }
  });
});

const VITS: [string, string][] = [
  ['vit-digits-p2', 'raise-bert'],
  ['vit-digits-p2-hetero', 'raise-bert'],
  ['vit-digits-p2-scaled-relu', ''],
];

describe.skipIf(!haveOrt)('ViTs: one exported file at every batch size', () => {
  it.each(VITS.filter(([m]) => have(m)))('%s %s', async (model, pipeline) => {
    // the CLS token, expanded over the batch and folded at import, becomes an Expand again
    const result = exportWithDynamicAxes((dims) => optimized(model, { dims: { ...dims } }, pipeline), { batch: 1 });
    expect(result.notes).toEqual([]);
    expect(declaredDims(result.bytes)['pixel_values']).toEqual(['batch', 1, 8, 8]);
    const session = await ort.InferenceSession.create(result.bytes);
    const cases = readCasesFile(join(FIXTURES, `${model}.cases.json`));
    expect(new Set(cases.map((c) => c.inputs.get('pixel_values')!.shape[0])).size).toBeGreaterThanOrEqual(3);
    for (const c of cases) {
      const want = evaluate(optimized(model, { inputShapes: shapesOf(c) }, pipeline), c.inputs).get('logits')!.toNumbers();
      const got = Array.from((await session.run({ pixel_values: toOrt(c.inputs.get('pixel_values')!) }))['logits']!.data as Float32Array);
      const err = got.reduce((m, x, i) => Math.max(m, Math.abs(x - want[i]!)), 0);
      expect(err, `${c.name}: max |onnxruntime - evaluator|`).toBeLessThanOrEqual(1e-4);
    }
  });
});

describe('symbolic dimensions', () => {
  const B = (b: number, s: number): Record<string, number> => ({ batch: b, sequence: s });
  const bindings = [B(1, 128), B(7, 5), B(5, 3)];
  const fit = (f: (b: number, s: number) => number): string | undefined => {
    const d = fitDim(bindings.map((x) => f(x['batch']!, x['sequence']!)), bindings, ['batch', 'sequence']);
    return d === undefined ? undefined : formatDim(d);
  };

  it('fits constants, products, powers and offsets of the dimensions', () => {
    expect(fit(() => 256)).toBe('256');
    expect(fit((_, s) => s)).toBe('sequence');
    expect(fit((b) => b)).toBe('batch');
    expect(fit((b, s) => b * s)).toBe('batch*sequence');
    expect(fit((b, s) => 4 * b * s * s)).toBe('4*batch*sequence*sequence');
    expect(fit((_, s) => s + 1)).toBe('sequence+1');
    expect(fit((b, s) => b * s - 2)).toBe('batch*sequence-2');
  });

  it('does not fit what is no such function', () => {
    expect(fit((_, s) => s * s * s)).toBeUndefined();
    expect(fit((_, s) => Math.floor(s / 2))).toBeUndefined();
    expect(fit((b, s) => b + s)).toBeUndefined();
  });

  it('probes tell the dimensions apart and stay below the primary sizes when they can', () => {
    const probes = probeBindings(B(1, 128), ['batch', 'sequence']);
    expect(probes).toHaveLength(2);
    for (const p of probes) expect(p['batch']).not.toBe(p['sequence']);
    expect(probes[0]!['sequence']).not.toBe(probes[1]!['sequence']);
    expect(probes.every((p) => p['sequence']! < 128)).toBe(true);
  });
});

describe.skipIf(!haveOrt)('graphs that cannot be generalized', () => {
  // y = x * c where c is a [1, S] constant with S values that are not a prefix of each other
  function graphAt(values: Readonly<Record<string, number>>, data: (s: number) => number[]): Graph {
    const S = values['sequence']!;
    const x = inputNode('x', { elem: 'f32', shape: [2, S], vis: 'public' });
    const c = constNode(Tensor.from('f32', [1, S], data(S)), { elem: 'f32', shape: [1, S], vis: 'public' }, { name: 'weights' });
    return new Graph('g', [x], [{ name: 'y', node: build('Mul', [x, c]) }]);
  }

  it('a constant that is a prefix of the primary one becomes a Slice, and the file runs at a smaller length', async () => {
    const r = exportWithDynamicAxes((v) => graphAt(v, (s) => Array.from({ length: s }, (_, j) => j + 1)), { sequence: 16 });
    expect(r.dynamic).toEqual(['sequence']);
    const session = await ort.InferenceSession.create(r.bytes);
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(6).fill(2), [2, 3]) });
    expect(Array.from(out['y']!.data as Float32Array)).toEqual([2, 4, 6, 2, 4, 6]);
  });

  it('a constant whose values depend on the length otherwise keeps the length static, with a note naming it', () => {
    const r = exportWithDynamicAxes((v) => graphAt(v, (s) => Array.from({ length: s }, () => 1 / s)), { sequence: 16 });
    expect(r.dynamic).toEqual([]);
    expect(r.notes.join('\n')).toMatch(/constant 'weights'.*not the leading part/);
    expect(declaredDims(r.bytes)['x']).toEqual([2, 16]);
    // the static file is the plain export of the primary graph
    expect(r.bytes).toEqual(exportOnnx(graphAt({ sequence: 16 }, (s) => Array.from({ length: s }, () => 1 / s))));
  });

  it('a model that does not load at a probe size keeps its sizes, and the note says why', () => {
    const r = exportWithDynamicAxes((v) => {
      if (v['sequence'] !== 16) throw new Ig3dcError('input', `bucket 8 does not divide the sequence length ${v['sequence']}`);
      return graphAt(v, (s) => Array.from({ length: s }, (_, j) => j));
    }, { sequence: 16 });
    expect(r.dynamic).toEqual([]);
    expect(r.notes[0]).toMatch(/the model at sequence=7: bucket 8 does not divide/);
  });

  it('a graph whose structure changes with the binding is named', () => {
    const at = (v: Readonly<Record<string, number>>): Graph => {
      const S = v['sequence']!;
      const x = inputNode('x', { elem: 'f32', shape: [S], vis: 'public' });
      return new Graph('g', [x], [{ name: 'y', node: S > 10 ? build('Relu', [x]) : build('Neg', [x]) }]);
    };
    expect(() => analyzeDynamicAxes({ graph: at({ sequence: 16 }), values: { sequence: 16 } }, [{ graph: at({ sequence: 7 }), values: { sequence: 7 } }], ['sequence'])).toThrow(
      CannotGeneralize,
    );
    const r = exportWithDynamicAxes(at, { sequence: 16 });
    expect(r.dynamic).toEqual([]);
    expect(r.notes[0]).toMatch(/Relu node.*is Neg/);
  });
});
