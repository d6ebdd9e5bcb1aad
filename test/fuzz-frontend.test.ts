// Fuzzing the ONNX frontend with mutated bytes of a real model: whatever the bytes, the
// import either succeeds or fails with an Ig3dcError; never a TypeError, RangeError or any
// other internal exception. What it accepts must be right: the imported graph verifies and
// computes what onnxruntime computes from the same bytes.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../compiler/frontend/import.ts';
import { onnxProto } from '../compiler/frontend/decode.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { evaluate } from '../ir/evaluate.ts';
import { readCasesFile } from '../ir/tensor-json.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { haveOrt, ort } from './optional-ort.ts';

const MODEL = join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'bert-tiny.onnx');
const present = existsSync(MODEL);
// a plain Uint8Array: Buffer#slice is a view, and the mutations below must not reach the original
const original: Uint8Array = present ? new Uint8Array(readFileSync(MODEL)) : new Uint8Array();
const N = original.length;

/**
 * Where the float32 weights' raw_data payloads lie in the file (found by their bytes; int64
 * initializers are shapes and indices, structure rather than values).
 */
const WEIGHT_RANGES: readonly (readonly [number, number])[] = present
  ? onnxProto.ModelProto.decode(original)
      .graph!.initializer!.filter((t) => t.dataType === 1 && t.rawData !== null && t.rawData !== undefined && t.rawData.length >= 256)
      .map((t) => [Buffer.from(original).indexOf(Buffer.from(t.rawData!)), t.rawData!.length] as const)
      .filter(([at]) => at >= 0)
  : [[0, 4]];

// torch writes the nodes before the (large) initializers and the graph inputs/outputs
// after them: mutations aimed at the head and tail hit structure, not weight bytes
const HEAD = 96 * 1024;
const TAIL = 8 * 1024;

const position = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: Math.min(HEAD, N) - 1 }) },
    { weight: 2, arbitrary: fc.integer({ min: Math.max(0, N - TAIL), max: N - 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: N - 1 }) },
  );

/**
 * A mantissa byte of a float32 weight (little-endian bytes 0-2; byte 2's top bit is the lowest
 * exponent bit): the wire format stays valid, so the model must import, and the value changes
 * by at most a factor 2, so float32 (onnxruntime) and float64 (the evaluator) still agree.
 */
const weightPosition = (): fc.Arbitrary<number> =>
  fc
    .tuple(fc.integer({ min: 0, max: WEIGHT_RANGES.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 2 }))
    .map(([w, k, byte]) => WEIGHT_RANGES[w]![0] + 4 * (k % (WEIGHT_RANGES[w]![1] / 4)) + byte);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; from: number; to: number; len: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

/** Changes of weight values only: the wire format stays valid. */
const weightMutation = (): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: weightPosition(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: weightPosition(), value: fc.integer({ min: 0, max: 255 }) }),
  );

const mutation = (): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: position(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('set' as const), at: position(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x08, 0x12, 0x1a, 0x22) }),
    fc.record({ kind: fc.constant('truncate' as const), at: position() }),
    fc.record({ kind: fc.constant('splice' as const), from: position(), to: position(), len: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: position(), len: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: position(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      if (m.at < out.length) out[m.at]! ^= 1 << m.bit;
      return out;
    }
    case 'set': {
      const out = bytes.slice();
      if (m.at < out.length) out[m.at] = m.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, Math.min(m.at, bytes.length));
    case 'splice': {
      const out = bytes.slice();
      const chunk = bytes.slice(m.from, m.from + m.len);
      out.set(chunk.subarray(0, Math.max(0, out.length - m.to)), Math.min(m.to, out.length));
      return out;
    }
    case 'delete': {
      const at = Math.min(m.at, bytes.length);
      const out = new Uint8Array(bytes.length - Math.min(m.len, bytes.length - at));
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(at + m.len), at);
      return out;
    }
    case 'insert': {
      const at = Math.min(m.at, bytes.length);
      const out = new Uint8Array(bytes.length + m.bytes.length);
      out.set(bytes.subarray(0, at));
      out.set(m.bytes, at);
      out.set(bytes.subarray(at), at + m.bytes.length);
      return out;
    }
  }
}

/** A small deterministic generator, so one fast-check integer drives a whole mutation plan. */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const OP_TYPES = ['Add', 'MatMul', 'Reshape', 'Gather', 'Softmax', 'Transpose', 'Concat', 'Slice', 'Unsqueeze', 'Squeeze', 'Shape', 'Cast', 'ReduceMean', 'Gemm', 'Where', 'Expand', 'ConstantOfShape', 'Range', 'Identity', 'Constant', 'LayerNormalization', 'Conv', 'Flatten', 'Clip', 'Tile'];
const INTS = [-9223372036854775807, -3, -2, -1, 0, 1, 2, 3, 5, 64, 1 << 20];

/**
 * Structure-aware mutations of the decoded model: op types, inputs, outputs, attribute
 * values and kinds, tensor dims and data types, graph input types, the opset. These reach
 * the import rules, which byte mutations rarely do (they mostly break the wire format).
 */
function mutateModel(seed: number, count: number): Uint8Array {
  const r = rng(seed);
  const model = onnxProto.ModelProto.decode(original);
  const g = model.graph!;
  const nodes = g.node!;
  const names = nodes.flatMap((n) => n.output!).concat(g.initializer!.map((t) => t.name!), g.input!.map((i) => i.name!));
  const pick = <T,>(xs: readonly T[]): T => xs[r(xs.length)]!;
  for (let k = 0; k < count; k++) {
    const n = pick(nodes);
    switch (r(12)) {
      case 0:
        n.opType = pick(OP_TYPES);
        break;
      case 1:
        if (n.input!.length > 0) n.input![r(n.input!.length)] = r(4) === 0 ? '' : pick(names);
        break;
      case 2:
        n.input = r(2) === 0 ? n.input!.slice(0, r(n.input!.length + 1)) : [...n.input!, pick(names)];
        break;
      case 3: {
        const a = n.attribute!.length > 0 ? pick(n.attribute!) : undefined;
        if (a !== undefined) {
          a.i = pick(INTS);
          if (a.ints && a.ints.length > 0) a.ints = a.ints.map(() => pick(INTS));
          a.f = pick([0, -1, 1e-12, Number.NaN, Infinity]);
        }
        break;
      }
      case 4: {
        const a = n.attribute!.length > 0 ? pick(n.attribute!) : undefined;
        if (a !== undefined) a.type = pick([0, 1, 2, 3, 4, 6, 7, 5, 11]);
        break;
      }
      case 5:
        n.attribute = [...n.attribute!, { name: pick(['axis', 'axes', 'perm', 'to', 'keepdims', 'value', 'allowzero', 'transB']), type: 2, i: pick(INTS) }];
        break;
      case 6: {
        const t = n.attribute!.find((a) => a.t)?.t ?? pick(g.initializer!);
        t.dims = r(2) === 0 ? [] : [pick(INTS), ...t.dims!.slice(1)];
        break;
      }
      case 7: {
        const t = n.attribute!.find((a) => a.t)?.t ?? pick(g.initializer!);
        t.dataType = pick([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 16, 99]);
        break;
      }
      case 8: {
        const inp = pick(g.input!);
        const tt = inp.type!.tensorType!;
        if (r(2) === 0) tt.elemType = pick([1, 6, 7, 9, 10, 8]);
        else tt.shape = r(3) === 0 ? null : { dim: (tt.shape?.dim ?? [{}, {}]).map(() => pick([{ dimValue: pick(INTS) }, { dimParam: pick(['batch', 'sequence', 'foo', '']) }, {}])) };
        break;
      }
      case 9:
        n.output![0] = pick(names);
        break;
      case 10:
        model.opsetImport![0]!.version = pick([9, 11, 12, 13, 14, 17, 18, 19]);
        break;
      case 11:
        g.output![0]!.name = pick(names);
        break;
    }
  }
  return onnxProto.ModelProto.encode(model).finish();
}

describe.skipIf(!present)('frontend fuzzing', () => {
  it('structurally mutated bert-tiny models import or fail with an Ig3dcError', () => {
    let ok = 0;
    let failed = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 3 }), (seed, count) => {
        const bytes = mutateModel(seed, count);
        try {
          importOnnx(bytes, { file: 'fuzzed.onnx', batch: 1, seq: 8 }).graph.nodes();
          ok++;
        } catch (e) {
          if (!(e instanceof Ig3dcError)) throw e;
          expect(e.message.startsWith('fuzzed.onnx: ')).toBe(true);
          failed++;
          if (process.env.FUZZ_VERBOSE) console.log('REJECT', e.kind, e.detail.slice(0, 110));
        }
      }),
      { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? 20240601) },
    );
    console.log(`frontend structural fuzz: ${ok} imported, ${failed} rejected with Ig3dcError`);
  });

  it('mutated bert-tiny bytes import or fail with an Ig3dcError; what imports verifies and computes what onnxruntime computes', async () => {
    let ok = 0;
    let failed = 0;
    let compared = 0;
    const c = readCasesFile(join(import.meta.dirname, '..', '..', 'shared', 'fixtures', 'bert-tiny.cases.json')).find((k) => k.inputs.get('input_ids')!.shape[1] === 8)!;
    const [batch, seq] = c.inputs.get('input_ids')!.shape as [number, number];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ weightsOnly: fc.constant(true), ms: fc.array(weightMutation(), { minLength: 1, maxLength: 4 }) }),
          fc.record({ weightsOnly: fc.constant(false), ms: fc.array(mutation(), { minLength: 1, maxLength: 4 }) }),
        ),
        async ({ weightsOnly, ms }) => {
        const bytes = ms.reduce(apply, original);
        let graph;
        try {
          graph = importOnnx(bytes, { file: 'fuzzed.onnx', batch, seq }).graph;
          verifyGraph(graph);
          ok++;
        } catch (e) {
          if (!(e instanceof Ig3dcError)) throw e;
          expect(e.message.startsWith('fuzzed.onnx: ')).toBe(true);
          // new weight values are still a valid model
          expect(weightsOnly, e.message).toBe(false);
          failed++;
          if (process.env.FUZZ_VERBOSE) console.log('REJECT', e.kind, e.detail.slice(0, 110));
          return;
        }
        const got = evaluate(graph, c.inputs).get('logits')!.toFloat64();
        // an accepted model means what the bytes say: onnxruntime, reading the same bytes, agrees
        // (on weight changes of at most a factor 2; arbitrary bytes can make a weight 1e29, where
        // float32 onnxruntime and the float64 evaluator part ways for reasons of precision)
        if (!haveOrt || !weightsOnly) return;
        let want: Float32Array;
        try {
          const session = await ort.InferenceSession.create(bytes);
          const feeds = Object.fromEntries([...c.inputs].map(([k, t]) => [k, new ort.Tensor('int64', t.data as BigInt64Array, [...t.shape])]));
          want = (await session.run(feeds))['logits']!.data as Float32Array;
          await session.release();
        } catch {
          return; // onnxruntime refuses what we accept (e.g. a renamed node): nothing to compare
        }
        for (let i = 0; i < want.length; i++) {
          const [a, b] = [got[i]!, want[i]!];
          const close = (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
          expect(close, `logit ${i}: evaluator ${a}, onnxruntime ${b}`).toBe(true);
        }
        compared++;
        },
      ),
      { numRuns: 200, seed: Number(process.env.FUZZ_SEED ?? 20240601) },
    );
    console.log(`frontend fuzz: ${ok} imported (${compared} compared with onnxruntime), ${failed} rejected with Ig3dcError`);
    expect(ok + failed).toBe(200);
    // the accept path is reached, and checked
    expect(ok).toBeGreaterThanOrEqual(30);
    if (haveOrt) expect(compared).toBeGreaterThanOrEqual(30);
  });
});
