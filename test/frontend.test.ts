// ONNX frontend: fixture imports, dimension binding, opset-dependent import rules, and
// every kind of bad input ending in an Ig3dcError that names the file or node.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importOnnx, loadOnnxFile, type ImportOptions } from '../compiler/frontend/import.ts';
import { onnxProto } from '../compiler/frontend/decode.ts';
import { formatSupportedOps, supportedOnnxOps } from '../compiler/frontend/onnx-ops.ts';
import { tensorFromProto, tensorToProto } from '../compiler/frontend/tensor-proto.ts';
import { Ig3dcError, type ErrorKind } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { CONST_OP, INPUT_OP, constValue } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import { numel } from '../ir/types.ts';
import { encodeModel, node, type ModelSpec } from './frontend-model-builder.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'shared', 'fixtures');
const haveFixtures = existsSync(join(FIXTURES, 'bert-tiny.onnx'));

function thrown(f: () => unknown): Ig3dcError {
  try {
    f();
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw new Error(`expected an Ig3dcError, got ${String(e)}`);
  }
  throw new Error('expected an error, none was thrown');
}

function expectError(f: () => unknown, kind: ErrorKind, ...patterns: RegExp[]): Ig3dcError {
  const e = thrown(f);
  expect(e.kind, e.message).toBe(kind);
  for (const p of patterns) expect(e.message).toMatch(p);
  return e;
}

function histogram(ops: Iterable<string>): Record<string, number> {
  const h: Record<string, number> = {};
  for (const op of ops) h[op] = (h[op] ?? 0) + 1;
  return h;
}

const f32 = (shape: number[], values: number[]): Tensor => Tensor.from('f32', shape, values);
const i64 = (values: number[]): Tensor => Tensor.from('i64', [values.length], values);

function importSpec(spec: ModelSpec, options: ImportOptions = {}) {
  return importOnnx(encodeModel(spec), { file: 'test.onnx', ...options });
}

describe.skipIf(!haveFixtures)('fixture models', () => {
  // From the fixture README: ONNX op counts per model, layers and the ops that must remain.
  const models = [
    { file: 'bert-tiny.onnx', layers: 2, identity: 20 },
    { file: 'bert-mini.onnx', layers: 4, identity: 0 },
    { file: 'spam-bert.onnx', layers: 4, identity: 0 },
  ];
  for (const m of models) {
    it(`${m.file} imports with static types at batch 2, seq 32`, () => {
      const r = loadOnnxFile(join(FIXTURES, m.file), { batch: 2, seq: 32 });
      const g = r.graph;
      expect(r.opset).toBe(14);
      expect(r.dims).toEqual({ batch: 2, sequence: 32 });
      expect(g.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
      for (const i of g.inputs) expect(i.type).toEqual({ elem: 'i64', shape: [2, 32], vis: 'client' });
      expect(g.outputs.map((o) => o.name)).toEqual(['logits']);
      expect(g.outputs[0]!.node.type.elem).toBe('f32');
      expect(g.outputs[0]!.node.type.shape).toEqual([2, 2]);
      expect(g.outputs[0]!.node.type.vis).toBe('shared');

      const nodes = g.nodes();
      const h = histogram(nodes.map((n) => n.op));
      const L = m.layers;
      // shape arithmetic is folded away; Unsqueeze/Squeeze/Flatten are Reshape in the IR
      for (const gone of ['Shape', 'ConstantOfShape', 'Unsqueeze', 'Constant', 'Concat', 'Slice', 'Identity']) expect(h[gone]).toBeUndefined();
      expect(h.MatMul).toBe(4 * L + 2 * L + 2 * L); // q,k,v,out projections + 2 attention matmuls + 2 FFN per layer
      expect(h.Softmax).toBe(L);
      expect(h.Erf).toBe(L);
      expect(h.Gemm).toBe(2);
      expect(h.Tanh).toBe(1);
      expect(h.Transpose).toBe(4 * L);
      // per layer: q, k, v split into heads and the merge; plus the two mask Unsqueezes
      expect(h.Reshape).toBe(4 * L + 2);
      // word, position and token-type embeddings, and the pooler's [CLS] row
      expect(h.Gather).toBe(4);
      for (const n of nodes) {
        if (n.op === 'Reshape') {
          const shape = n.attrs.shape as number[];
          expect(shape.every((d) => Number.isInteger(d) && d > 0)).toBe(true);
          expect(numel(shape)).toBe(numel(n.inputs[0]!.type.shape));
        }
        if (n.op !== CONST_OP && n.op !== INPUT_OP) expect(n.loc.name, `${n.op} has a location`).toMatch(/./);
      }
      // weights stay secret to the server; everything folded is public
      const consts = nodes.filter((n) => n.op === CONST_OP);
      const weights = consts.filter((n) => n.type.vis === 'server');
      expect(weights.length).toBeGreaterThan(0);
      expect(consts.filter((n) => n.type.vis !== 'server').every((n) => n.type.vis === 'public')).toBe(true);
      const weightNames = new Set(weights.map((n) => n.loc.name));
      expect(weightNames.has('bert.embeddings.word_embeddings.weight')).toBe(true);
      expect(weightNames.has('classifier.weight')).toBe(true);
      // exporter-deduplicated parameters keep their own names (Identity of an initializer)
      expect(weightNames.has('bert.encoder.layer.1.attention.self.query.bias')).toBe(true);
      expect(weights.filter((n) => n.loc.name!.startsWith('Identity')).length).toBe(0);
      expect(nodes.some((n) => n.loc.name === '/bert/encoder/layer.0/attention/self/query/MatMul' && n.op === 'MatMul')).toBe(true);
      expect(g.meta.opset).toBe(14);
    });
  }

  it('binds batch and sequence from the options, with defaults 1 and 128', () => {
    const file = join(FIXTURES, 'bert-tiny.onnx');
    for (const [batch, seq] of [
      [1, 8],
      [3, 17],
      [2, 128],
    ] as const) {
      const g = loadOnnxFile(file, { batch, seq }).graph;
      expect(g.inputs[0]!.type.shape).toEqual([batch, seq]);
      expect(g.outputs[0]!.node.type.shape).toEqual([batch, 2]);
    }
    expect(loadOnnxFile(file).graph.inputs[0]!.type.shape).toEqual([1, 128]);
    // an explicit --dim NAME=VALUE wins
    expect(loadOnnxFile(file, { dims: { sequence: 5 }, seq: 64 }).graph.inputs[0]!.type.shape).toEqual([1, 5]);
  });

  it('rejects bindings that are not positive integers', () => {
    const file = join(FIXTURES, 'bert-tiny.onnx');
    expectError(() => loadOnnxFile(file, { batch: 0 }), 'binding', /bert-tiny\.onnx/, /input_ids/, /--batch/);
    expectError(() => loadOnnxFile(file, { seq: 2.5 }), 'binding', /--seq/);
  });

  it('makes weights public on request, folding what depends only on them', () => {
    const r = loadOnnxFile(join(FIXTURES, 'bert-tiny.onnx'), { batch: 1, seq: 8, weightsVisibility: 'public' });
    const nodes = r.graph.nodes();
    expect(nodes.filter((n) => n.type.vis === 'server')).toEqual([]);
    expect(r.parameterCount).toBeGreaterThan(600_000);
  });

  it('the truncated file is a decode error naming the file, at many cut points', () => {
    const bytes = readFileSync(join(FIXTURES, 'bert-tiny.onnx'));
    for (const frac of [0.001, 0.1, 0.5, 0.9, 0.9999]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * frac));
      expectError(() => importOnnx(cut, { file: 'bert-tiny.onnx' }), 'decode', /^bert-tiny\.onnx: /);
    }
  });
});

describe('bad files', () => {
  it('empty file', () => {
    expectError(() => importOnnx(new Uint8Array(), { file: 'empty.onnx' }), 'decode', /^empty\.onnx: /, /empty file/);
  });
  it('random bytes', () => {
    let seed = 12345;
    const bytes = new Uint8Array(4096).map(() => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    expectError(() => importOnnx(bytes, { file: 'noise.bin' }), 'decode', /^noise\.bin: /);
  });
  it('a text file', () => {
    const bytes = new TextEncoder().encode('hello, this is not a model\n');
    expectError(() => importOnnx(bytes, { file: 'notes.txt' }), 'decode', /^notes\.txt: /);
  });
  it('a protobuf without a graph', () => {
    const bytes = onnxProto.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 14 }] }).finish();
    expectError(() => importOnnx(bytes, { file: 'nograph.onnx' }), 'decode', /nograph\.onnx/, /no graph/);
  });
  it('a missing file is an io error naming the path', () => {
    expectError(() => loadOnnxFile('/nonexistent/model.onnx'), 'io', /\/nonexistent\/model\.onnx/, /no such file/);
    expectError(() => loadOnnxFile(import.meta.dirname), 'io', /directory/);
  });
});

const X = { name: 'x', elem: 'f32', dims: [2, 3] } as const;
const Y = { name: 'y', elem: 'f32', dims: [2, 3] } as const;

describe('versions', () => {
  it('opsets outside 11..18 are unsupported, saying what is', () => {
    for (const opset of [7, 10, 19]) {
      expectError(() => importSpec({ opset, inputs: [X], outputs: [Y], nodes: [node('Relu', ['x'], ['y'])] }), 'unsupported', /test\.onnx/, new RegExp(`opset ${opset}`), /11 to 18/);
    }
  });
  it('IR versions outside 3..9 are unsupported', () => {
    expectError(() => importSpec({ irVersion: 12, inputs: [X], outputs: [Y], nodes: [node('Relu', ['x'], ['y'])] }), 'unsupported', /IR version 12/, /3 to 9/);
  });
});

describe('unsupported operators', () => {
  it('lists every unsupported node at once with name, op, domain and opset', () => {
    const spec: ModelSpec = {
      opset: 14,
      inputs: [X],
      outputs: [Y],
      nodes: [
        node('MaxPool', ['x'], ['c'], {}, { name: '/pool/MaxPool' }),
        node('Relu', ['c'], ['r']),
        node('LSTM', ['r'], ['l'], {}, { name: 'lstm1' }),
        node('FusedMatMul', ['l', 'l'], ['y'], {}, { name: 'fused', domain: 'com.microsoft' }),
      ],
      initializers: new Map([['w', f32([1], [1])]]),
      extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
    };
    const e = expectError(
      () => importSpec(spec),
      'unsupported',
      /^test\.onnx: unsupported operators: /,
      /MaxPool \(node '\/pool\/MaxPool', opset 14\)/,
      /LSTM \(node 'lstm1', opset 14\)/,
      /FusedMatMul \(node 'fused', domain 'com\.microsoft'\)/,
      /supported .*MatMul/,
    );
    expect(e.message).not.toMatch(/Relu \(node/);
  });
  it('an op used outside its opset range (LayerNormalization before 17)', () => {
    const spec: ModelSpec = {
      opset: 14,
      inputs: [X],
      outputs: [Y],
      nodes: [node('LayerNormalization', ['x', 's'], ['y'], {}, { name: 'ln' })],
      initializers: new Map([['s', f32([3], [1, 1, 1])]]),
    };
    expectError(() => importSpec(spec), 'unsupported', /LayerNormalization \(node 'ln', opset 14\)/, /LayerNormalization \(opset 17-18\)/);
  });
  it('the supported list is the op table', () => {
    const names = supportedOnnxOps().map((o) => o.name);
    for (const op of ['MatMul', 'Gemm', 'Where', 'Equal', 'Erf', 'Tanh', 'Pow', 'ConstantOfShape', 'Expand', 'Range', 'Not', 'Less', 'Greater', 'Neg', 'Sigmoid', 'Dropout', 'Clip', 'ReduceSum', 'ReduceMax', 'Squeeze', 'Flatten', 'LayerNormalization']) {
      expect(names).toContain(op);
    }
    expect(names).toContain('Conv');
    expect(names).toContain('BatchNormalization');
    expect(names).not.toContain('MaxPool');
    expect(formatSupportedOps()).toMatch(/LayerNormalization \(opset 17-18\)/);
  });
});

describe('graph structure errors', () => {
  it('a node input nobody produces names the node and the input', () => {
    const spec: ModelSpec = { inputs: [X], outputs: [Y], nodes: [node('Add', ['x', 'ghost'], ['y'], {}, { name: 'add0' })] };
    expectError(() => importSpec(spec), 'decode', /test\.onnx: node 'add0'/, /'ghost'/);
  });
  it('a node input missing from the model file named after a fixture node', () => {
    if (!haveFixtures) return;
    const model = onnxProto.ModelProto.decode(readFileSync(join(FIXTURES, 'bert-tiny.onnx')));
    const victim = model.graph!.node!.find((n) => n.opType === 'MatMul')!;
    victim.input![1] = 'onnx::MatMul_missing';
    const bytes = onnxProto.ModelProto.encode(model).finish();
    expectError(() => importOnnx(bytes, { file: 'broken.onnx' }), 'decode', /broken\.onnx/, new RegExp(`node '${victim.name}'`), /onnx::MatMul_missing/);
  });
  it('duplicate outputs name both nodes', () => {
    const spec: ModelSpec = { inputs: [X], outputs: [Y], nodes: [node('Relu', ['x'], ['y'], {}, { name: 'a' }), node('Neg', ['x'], ['y'], {}, { name: 'b' })] };
    expectError(() => importSpec(spec), 'decode', /'b'/, /'a'/);
  });
  it('a cycle names a node on it', () => {
    const spec: ModelSpec = { inputs: [X], outputs: [Y], nodes: [node('Add', ['x', 'q'], ['p'], {}, { name: 'p' }), node('Relu', ['p'], ['q'], {}, { name: 'q' }), node('Relu', ['q'], ['y'])] };
    expectError(() => importSpec(spec), 'decode', /cycle/, /node '(p|q)'/);
  });
  it('a graph output nobody produces', () => {
    const spec: ModelSpec = { inputs: [X], outputs: [Y, { name: 'z', elem: 'f32', dims: [2, 3] }], nodes: [node('Relu', ['x'], ['y'])] };
    expectError(() => importSpec(spec), 'decode', /graph output 'z'/);
  });
  it('a Reshape target computed from a secret input is not a constant', () => {
    const spec: ModelSpec = {
      inputs: [X, { name: 's', elem: 'i64', dims: [2] }],
      outputs: [{ name: 'y', elem: 'f32', dims: [3, 2] }],
      nodes: [node('Reshape', ['x', 's'], ['y'], {}, { name: 'reshape0' })],
    };
    expectError(() => importSpec(spec), 'unsupported', /node 'reshape0'/, /Reshape target shape is not a constant/);
  });
  it('a wrong node arity names the node', () => {
    const spec: ModelSpec = { inputs: [X], outputs: [Y], nodes: [node('Add', ['x'], ['y'], {}, { name: 'add1' })] };
    expectError(() => importSpec(spec), 'decode', /node 'add1'/, /input 1 \('B'\) is missing/);
  });
  it('a type error names the node', () => {
    const spec: ModelSpec = { inputs: [X, { name: 'z', elem: 'f32', dims: [4, 5] }], outputs: [Y], nodes: [node('MatMul', ['x', 'z'], ['y'], {}, { name: 'mm' })] };
    expectError(() => importSpec(spec), 'shape', /test\.onnx: node 'mm'/);
  });
});

describe('dynamic dimensions', () => {
  const dyn = (dims: (number | string | null)[] | undefined): ModelSpec => ({
    inputs: [{ name: 'x', elem: 'f32', ...(dims !== undefined ? { dims } : {}) }],
    outputs: [{ name: 'y', elem: 'f32' }],
    nodes: [node('Relu', ['x'], ['y'])],
  });
  it('batch- and sequence-like names take --batch and --seq', () => {
    for (const [b, s] of [
      ['batch_size', 'sequence_length'],
      ['N', 'seq_len'],
      ['batch', 'sequence'],
    ]) {
      const g = importSpec(dyn([b!, s!, 4]), { batch: 3, seq: 7 }).graph;
      expect(g.inputs[0]!.type.shape).toEqual([3, 7, 4]);
    }
  });
  it('an unknown name needs --dim NAME=VALUE', () => {
    expectError(() => importSpec(dyn(['batch', 'heads'])), 'binding', /test\.onnx/, /graph input 'x' axis 1/, /'heads'/, /--dim heads=VALUE/);
    expect(importSpec(dyn(['batch', 'heads']), { dims: { heads: 12 } }).graph.inputs[0]!.type.shape).toEqual([1, 12]);
  });
  it('an unnamed unknown dim needs --dim INPUT.AXIS=VALUE', () => {
    expectError(() => importSpec(dyn([2, null])), 'binding', /graph input 'x' axis 1/, /--dim x\.1=VALUE/);
    expect(importSpec(dyn([2, null]), { dims: { 'x.1': 6 } }).graph.inputs[0]!.type.shape).toEqual([2, 6]);
  });
  it('an input without a shape cannot be bound', () => {
    expectError(() => importSpec(dyn(undefined)), 'binding', /graph input 'x' has no shape/);
  });
  it('bound inputs become public constants and are checked against the declaration', () => {
    const spec: ModelSpec = {
      inputs: [X, { name: 'shape', elem: 'i64', dims: [2] }],
      outputs: [{ name: 'y', elem: 'f32', dims: [3, 2] }],
      nodes: [node('Reshape', ['x', 'shape'], ['y'])],
    };
    const g = importSpec(spec, { bindInputs: new Map([['shape', i64([3, -1])]]) }).graph;
    expect(g.inputs.map((i) => i.name)).toEqual(['x']);
    expect(g.outputs[0]!.node.attrs.shape).toEqual([3, 2]);
    expectError(() => importSpec(spec, { bindInputs: new Map([['shape', i64([3, -1, 1])]]) }), 'input', /'shape'/, /size 2 on axis 0/);
    expectError(() => importSpec(spec, { bindInputs: new Map([['nope', i64([1])]]) }), 'input', /'nope'/);
  });
});

/** Imports, evaluates on x, returns output y. */
function run(spec: ModelSpec, x: Tensor, options: ImportOptions = {}): Tensor {
  const g = importSpec(spec, options).graph;
  return evaluate(g, new Map([['x', x]])).get('y')!;
}

const iota = (n: number): number[] => [...Array(n).keys()];

describe('opset-dependent import rules', () => {
  it('Softmax before opset 13 normalizes over the input flattened at axis', () => {
    const x = f32([2, 3, 2], iota(12).map((i) => Math.sin(i)));
    const spec = (opset: number): ModelSpec => ({
      opset,
      inputs: [{ name: 'x', elem: 'f32', dims: [2, 3, 2] }],
      outputs: [{ name: 'y', elem: 'f32', dims: [2, 3, 2] }],
      nodes: [node('Softmax', ['x'], ['y'], { axis: 1 })],
    });
    const old = run(spec(12), x).toNumbers();
    const v13 = run(spec(13), x).toNumbers();
    // opset 12: one softmax per batch row over its 6 elements
    for (let b = 0; b < 2; b++) {
      const row = iota(6).map((i) => Math.exp(Math.sin(b * 6 + i)));
      const sum = row.reduce((a, c) => a + c, 0);
      row.forEach((v, i) => expect(old[b * 6 + i]).toBeCloseTo(v / sum, 6));
    }
    // opset 13: along axis 1 only (3 elements)
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k < 2; k++) {
        const idx = iota(3).map((j) => b * 6 + j * 2 + k);
        const sum = idx.reduce((a, i) => a + Math.exp(Math.sin(i)), 0);
        for (const i of idx) expect(v13[i]).toBeCloseTo(Math.exp(Math.sin(i)) / sum, 6);
      }
    }
  });

  it('Unsqueeze and Squeeze take axes as an attribute before 13 and as an input from 13', () => {
    const x = f32([2, 3], iota(6));
    const old: ModelSpec = {
      opset: 12,
      inputs: [X],
      outputs: [{ name: 'y', elem: 'f32', dims: [2, 3] }],
      nodes: [node('Unsqueeze', ['x'], ['u'], { axes: [0, -1] }), node('Squeeze', ['u'], ['y'], { axes: [0, 3] })],
    };
    const g12 = importSpec(old).graph;
    expect(g12.nodes().filter((n) => n.op === 'Reshape').map((n) => n.attrs.shape)).toEqual([
      [1, 2, 3, 1],
      [2, 3],
    ]);
    expect(run(old, x).toNumbers()).toEqual(iota(6));
    const v13: ModelSpec = {
      opset: 13,
      inputs: [X],
      outputs: [{ name: 'y', elem: 'f32', dims: [1, 2, 1, 3] }],
      nodes: [node('Unsqueeze', ['x', 'axes'], ['y'])],
      initializers: new Map([['axes', i64([0, 2])]]),
    };
    expect(importSpec(v13).graph.outputs[0]!.node.attrs.shape).toEqual([1, 2, 1, 3]);
  });

  it('ReduceSum takes axes as an input from 13, ReduceMean from 18', () => {
    const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    const sum13: ModelSpec = {
      opset: 13,
      inputs: [X],
      outputs: [{ name: 'y', elem: 'f32', dims: [2] }],
      nodes: [node('ReduceSum', ['x', 'axes'], ['y'], { keepdims: 0 })],
      initializers: new Map([['axes', i64([-1])]]),
    };
    expect(run(sum13, x).toNumbers()).toEqual([6, 15]);
    const mean17: ModelSpec = { opset: 17, inputs: [X], outputs: [{ name: 'y', elem: 'f32', dims: [1, 3] }], nodes: [node('ReduceMean', ['x'], ['y'], { axes: [0] })] };
    expect(run(mean17, x).toNumbers()).toEqual([2.5, 3.5, 4.5]);
    const mean18: ModelSpec = {
      opset: 18,
      inputs: [X],
      outputs: [{ name: 'y', elem: 'f32', dims: [1, 3] }],
      nodes: [node('ReduceMean', ['x', 'axes'], ['y'])],
      initializers: new Map([['axes', i64([0])]]),
    };
    expect(run(mean18, x).toNumbers()).toEqual([2.5, 3.5, 4.5]);
    // no axes: everything; noop_with_empty_axes: nothing
    const all: ModelSpec = { opset: 13, inputs: [X], outputs: [{ name: 'y', elem: 'f32', dims: [1, 1] }], nodes: [node('ReduceSum', ['x'], ['y'])] };
    expect(run(all, x).toNumbers()).toEqual([21]);
    const noop: ModelSpec = { opset: 13, inputs: [X], outputs: [Y], nodes: [node('ReduceSum', ['x'], ['y'], { noop_with_empty_axes: 1 })] };
    expect(run(noop, x).toNumbers()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('Slice clamps INT64 bounds and keeps negative steps exact', () => {
    const x = f32([2, 3], iota(6));
    const big = Tensor.from('i64', [1], [9223372036854775807n]);
    const small = Tensor.from('i64', [1], [-9223372036854775807n]);
    const rev: ModelSpec = {
      inputs: [X],
      outputs: [{ name: 'y', elem: 'f32', dims: [2, 3] }],
      nodes: [node('Slice', ['x', 'starts', 'ends', 'axes', 'steps'], ['y'])],
      initializers: new Map([
        ['starts', big],
        ['ends', small],
        ['axes', i64([1])],
        ['steps', i64([-1])],
      ]),
    };
    const g = importSpec(rev).graph;
    const s = g.outputs[0]!.node;
    expect(s.attrs.starts).toEqual([2]);
    expect(s.attrs.axes).toEqual([1]);
    expect(run(rev, x).toNumbers()).toEqual([2, 1, 0, 5, 4, 3]);
  });

  it('Clip turns constant min/max inputs into attributes; Dropout is the identity', () => {
    const x = f32([2, 3], [-2, -1, 0, 1, 2, 3]);
    const spec: ModelSpec = {
      opset: 13,
      inputs: [X],
      outputs: [Y],
      nodes: [node('Clip', ['x', 'lo', 'hi'], ['c']), node('Dropout', ['c'], ['y'], {}, { name: 'drop' })],
      initializers: new Map([
        ['lo', Tensor.scalar('f32', -1)],
        ['hi', Tensor.scalar('f32', 2)],
      ]),
    };
    expect(run(spec, x).toNumbers()).toEqual([-1, -1, 0, 1, 2, 2]);
    const masked: ModelSpec = { ...spec, outputs: [Y, { name: 'mask', elem: 'bool', dims: [2, 3] }], nodes: [spec.nodes[0]!, node('Dropout', ['c'], ['y', 'mask'], {}, { name: 'drop' })] };
    expectError(() => importSpec(masked), 'unsupported', /'mask'/, /Dropout node 'drop'/);
  });

  it('Shape, Gather, Unsqueeze, Concat of public values fold into a constant Reshape target', () => {
    const spec: ModelSpec = {
      inputs: [{ name: 'x', elem: 'f32', dims: ['batch', 'sequence', 4] }],
      outputs: [{ name: 'y', elem: 'f32', dims: ['batch', 'sequence', 2, 2] }],
      nodes: [
        node('Shape', ['x'], ['s']),
        node('Gather', ['s', 'zero'], ['b'], { axis: 0 }),
        node('Gather', ['s', 'one'], ['q'], { axis: 0 }),
        node('Unsqueeze', ['b', 'ax0'], ['bu']),
        node('Unsqueeze', ['q', 'ax0'], ['qu']),
        node('Concat', ['bu', 'qu', 'two', 'two'], ['target'], { axis: 0 }),
        node('Reshape', ['x', 'target'], ['y']),
      ],
      initializers: new Map([
        ['zero', Tensor.scalar('i64', 0)],
        ['one', Tensor.scalar('i64', 1)],
        ['ax0', i64([0])],
        ['two', i64([2])],
      ]),
    };
    const g = importSpec(spec, { batch: 3, seq: 5 }).graph;
    expect(g.nodes().map((n) => n.op)).toEqual(['Input', 'Reshape']);
    expect(g.outputs[0]!.node.attrs.shape).toEqual([3, 5, 2, 2]);
  });

  it('Constant nodes are public, initializers server-side, initializers listed as inputs are constants', () => {
    const spec: ModelSpec = {
      inputs: [X, { name: 'w', elem: 'f32', dims: [2, 3] }],
      outputs: [Y],
      nodes: [node('Constant', [], ['c'], { value: f32([1], [2]) }, { name: 'const0' }), node('Mul', ['x', 'c'], ['m']), node('Add', ['m', 'w'], ['y'])],
      initializers: new Map([['w', f32([2, 3], iota(6))]]),
    };
    const r = importSpec(spec);
    expect(r.graph.inputs.map((i) => i.name)).toEqual(['x']);
    const consts = r.graph.nodes().filter((n) => n.op === CONST_OP);
    expect(consts.map((n) => [n.loc.name, n.type.vis])).toEqual([
      ['const0', 'public'],
      ['w', 'server'],
    ]);
    expect(r.graph.outputs[0]!.node.type.vis).toBe('shared');
    expect(run(spec, f32([2, 3], [1, 1, 1, 1, 1, 1])).toNumbers()).toEqual([2, 3, 4, 5, 6, 7]);
    expect(r.graph.name).toBe('test_graph');
  });

  it('LayerNormalization at 17 imports with its epsilon', () => {
    const spec: ModelSpec = {
      opset: 17,
      inputs: [X],
      outputs: [Y],
      nodes: [node('LayerNormalization', ['x', 'g', 'b'], ['y'], { epsilon: 1e-12 }, { floatAttrs: ['epsilon'] })],
      initializers: new Map([
        ['g', f32([3], [1, 1, 1])],
        ['b', f32([3], [0, 0, 0])],
      ]),
    };
    const ln = importSpec(spec).graph.outputs[0]!.node;
    expect(ln.op).toBe('LayerNormalization');
    expect(ln.attrs.axis).toBe(1);
    expect(ln.attrs.epsilon as number).toBeCloseTo(1e-12, 20);
    const y = run(spec, f32([2, 3], [1, 2, 3, 10, 10, 13])).toNumbers();
    const sd = Math.sqrt(2 / 3);
    expect(y[0]).toBeCloseTo(-1 / sd, 5);
    expect(y[5]).toBeCloseTo(2 / Math.sqrt(2), 5);
  });
});

describe('TensorProto', () => {
  const cases: Tensor[] = [
    Tensor.from('f32', [2, 2], [1.5, -2, 3.25, 1e-8]),
    Tensor.from('f64', [3], [Math.PI, -0, 1e300]),
    Tensor.from('i8', [2], [-128, 127]),
    Tensor.from('i32', [2], [-(2 ** 31), 2 ** 31 - 1]),
    Tensor.from('i64', [2], [-9223372036854775808n, 9007199254740993n]),
    Tensor.from('u8', [2], [0, 255]),
    Tensor.from('u32', [1], [4294967295]),
    Tensor.from('u64', [1], [18446744073709551615n]),
    Tensor.from('bool', [3], [1, 0, 1]),
    Tensor.from('f32', [], [7]),
    Tensor.from('f32', [0, 3], []),
  ];
  it('round-trips through raw_data and protobuf encoding', () => {
    for (const t of cases) {
      const bytes = onnxProto.TensorProto.encode(tensorToProto(t, 'w')).finish();
      // decode from an odd offset so raw_data is unaligned
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      const back = tensorFromProto(onnxProto.TensorProto.decode(shifted.subarray(1)), "tensor 'w'");
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect([...back.data]).toEqual([...t.data]);
    }
  });
  it('reads the typed fields, int64 exactly', () => {
    const ints = onnxProto.TensorProto.decode(onnxProto.TensorProto.encode({ dims: [2], dataType: 7, int64Data: ['9007199254740993', '-5'] as unknown as number[] }).finish());
    expect([...tensorFromProto(ints, 'i').data]).toEqual([9007199254740993n, -5n]);
    const floats = tensorFromProto({ dims: [2], dataType: 1, floatData: [0.5, 2] }, 'f');
    expect(floats.data).toEqual(new Float32Array([0.5, 2]));
    const bytes = tensorFromProto({ dims: [3], dataType: 2, int32Data: [0, 7, 255] }, 'u');
    expect(bytes.data).toEqual(new Uint8Array([0, 7, 255]));
    const bools = tensorFromProto({ dims: [2], dataType: 9, int32Data: [1, 0] }, 'b');
    expect(bools.dtype).toBe('bool');
    const doubles = tensorFromProto({ dims: [1], dataType: 11, doubleData: [0.1] }, 'd');
    expect(doubles.data).toEqual(new Float64Array([0.1]));
    const u64 = tensorFromProto({ dims: [1], dataType: 13, uint64Data: [42] }, 'u64');
    expect([...u64.data]).toEqual([42n]);
  });
  it('unsupported types, external data and size mismatches name the tensor', () => {
    expectError(() => tensorFromProto({ dims: [1], dataType: 10, rawData: new Uint8Array(2) }, "initializer 'half'"), 'unsupported', /initializer 'half'/, /FLOAT16/);
    expectError(() => tensorFromProto({ dims: [1], dataType: 8, stringData: [new Uint8Array(1)] }, "initializer 's'"), 'unsupported', /STRING/);
    expectError(() => tensorFromProto({ dims: [1], dataType: 16 }, "initializer 'bf'"), 'unsupported', /BFLOAT16/);
    expectError(() => tensorFromProto({ dims: [4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] }, "initializer 'ext'"), 'unsupported', /external data/);
    expectError(() => tensorFromProto({ dims: [4], dataType: 1, rawData: new Uint8Array(12) }, "initializer 'short'"), 'decode', /'short'/, /needs 4/);
    expectError(() => tensorFromProto({ dims: [-1], dataType: 1 }, "initializer 'neg'"), 'decode', /'neg'/);
  });
  it('an unsupported initializer type in a model names the initializer and the file', () => {
    const spec: ModelSpec = { inputs: [X], outputs: [Y], nodes: [node('Add', ['x', 'h'], ['y'])] };
    const model = onnxProto.ModelProto.decode(encodeModel(spec));
    model.graph!.initializer = [onnxProto.TensorProto.create({ name: 'h', dims: [3], dataType: 10, rawData: new Uint8Array(6) })];
    const bytes = onnxProto.ModelProto.encode(model).finish();
    expectError(() => importOnnx(bytes, { file: 'half.onnx' }), 'unsupported', /half\.onnx/, /initializer 'h'/, /FLOAT16/);
  });
});

it('constants that fold keep their values', () => {
  // Range, Cast, ConstantOfShape, Expand and Where over public values fold to one constant
  const spec: ModelSpec = {
    inputs: [X],
    outputs: [{ name: 'y', elem: 'f32', dims: [2, 3] }],
    nodes: [
      node('Range', ['r0', 'r3', 'r1'], ['r']),
      node('Cast', ['r'], ['rf'], { to: 1 }),
      node('ConstantOfShape', ['shape'], ['ones'], { value: f32([1], [1]) }),
      node('Expand', ['rf', 'shape'], ['e']),
      node('Mul', ['e', 'ones'], ['em']),
      node('Add', ['x', 'em'], ['y']),
    ],
    initializers: new Map([
      ['r0', Tensor.scalar('i64', 0)],
      ['r3', Tensor.scalar('i64', 3)],
      ['r1', Tensor.scalar('i64', 1)],
      ['shape', i64([2, 3])],
    ]),
  };
  const g = importSpec(spec, { weightsVisibility: 'public' }).graph;
  const add = g.outputs[0]!.node;
  expect(add.op).toBe('Add');
  const c = constValue(add.inputs[1]!)!;
  expect(c.toNumbers()).toEqual([0, 1, 2, 0, 1, 2]);
});
