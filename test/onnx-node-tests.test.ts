// The official ONNX backend node tests (../shared/onnx-node-tests): import each single-node
// model, bind its non-float inputs as public constants (shapes, axes and indices must be
// static in our IR), evaluate with the float inputs, compare with the reference outputs.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { importOnnx } from '../compiler/frontend/import.ts';
import { isDefaultDomain, onnxProto, OPSET_RANGE } from '../compiler/frontend/decode.ts';
import { findOnnxOp } from '../compiler/frontend/onnx-ops.ts';
import { tensorFromProto } from '../compiler/frontend/tensor-proto.ts';
import { evaluate } from '../ir/evaluate.ts';
import type { Tensor } from '../ir/tensor.ts';
import { isFloatType } from '../ir/types.ts';

const DIR = join(import.meta.dirname, '..', '..', 'shared', 'onnx-node-tests');
const present = existsSync(join(DIR, 'index.json'));

interface IndexEntry {
  readonly test: string;
  readonly op_type: string;
  readonly opset: number;
}

// Ops whose definition has not changed from this opset through our oldest one: their
// older-opset tests run with the model re-declared at our oldest opset.
const UNCHANGED_SINCE: Readonly<Record<string, number>> = { ConstantOfShape: 9 };

function effectiveOpset(e: IndexEntry): number {
  const since = UNCHANGED_SINCE[e.op_type];
  return e.opset < OPSET_RANGE[0] && since !== undefined && since <= e.opset ? OPSET_RANGE[0] : e.opset;
}

const entries: IndexEntry[] = present ? (JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as { tests: IndexEntry[] }).tests : [];
const claimed = entries.filter((e) => findOnnxOp(e.op_type, effectiveOpset(e)) !== undefined);
const skipped = entries.filter((e) => findOnnxOp(e.op_type, effectiveOpset(e)) === undefined);

function readTensor(path: string): Tensor {
  const proto = onnxProto.TensorProto.decode(readFileSync(path));
  return tensorFromProto(proto, path);
}

function dataFiles(test: string, prefix: 'input' | 'output'): string[] {
  const files: string[] = [];
  for (let k = 0; ; k++) {
    const f = join(DIR, test, 'test_data_set_0', `${prefix}_${k}.pb`);
    if (!existsSync(f)) return files;
    files.push(f);
  }
}

/** numpy.testing.assert_allclose as ONNX's runner uses it: |a - e| <= atol + rtol |e|. */
function expectClose(actual: Tensor, expected: Tensor, name: string): void {
  expect(actual.dtype, `${name} element type`).toBe(expected.dtype);
  expect([...actual.shape], `${name} shape`).toEqual([...expected.shape]);
  if (isFloatType(expected.dtype)) {
    const rtol = 1e-3;
    const atol = 1e-7;
    for (let i = 0; i < expected.size; i++) {
      const a = actual.at(i);
      const e = expected.at(i);
      if (Number.isNaN(e)) {
        expect(Number.isNaN(a), `${name}[${i}] should be NaN, got ${a}`).toBe(true);
      } else if (!Number.isFinite(e)) {
        expect(a, `${name}[${i}]`).toBe(e);
      } else if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
        expect.fail(`${name}[${i}] = ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
      }
    }
  } else {
    for (let i = 0; i < expected.size; i++) {
      if (actual.bigAt(i) !== expected.bigAt(i)) expect.fail(`${name}[${i}] = ${actual.bigAt(i)}, expected ${expected.bigAt(i)}`);
    }
  }
}

let passed = 0;
let refused = 0;

/** A Conv node whose strides equal its kernel and that pads nothing. */
function isPatchConv(attrs: readonly { name?: string | null; ints?: readonly unknown[] | null }[], weightShape: readonly number[]): boolean {
  const ints = (name: string): number[] | undefined => attrs.find((a) => a.name === name)?.ints?.map(Number);
  const kernel = ints('kernel_shape') ?? weightShape.slice(2);
  const strides = ints('strides') ?? kernel.map(() => 1);
  const pads = ints('pads') ?? [];
  return strides.every((s, i) => s === kernel[i]) && pads.every((p) => p === 0);
}

describe.skipIf(!present)('ONNX backend node tests', () => {
  afterAll(() => {
    console.log(
      `onnx node tests: ${claimed.length} run, ${passed} passed, ${refused} refused with the supported-form error (Conv that is not a patch embedding), ${skipped.length} skipped (unsupported ops: ${[...new Set(skipped.map((s) => s.op_type))].join(', ') || 'none'})`,
    );
  });

  test('the frontend claims every op of the subset', () => {
    expect(skipped.map((s) => s.op_type)).toEqual([]);
  });

  test.each(claimed.map((e) => [e.test, e] as const))('%s', (_name, entry) => {
    let modelBytes: Uint8Array = readFileSync(join(DIR, entry.test, 'model.onnx'));
    const model = onnxProto.ModelProto.decode(modelBytes);
    const opset = effectiveOpset(entry);
    if (opset !== entry.opset) {
      for (const o of model.opsetImport) if (isDefaultDomain(o.domain)) o.version = opset;
      modelBytes = onnxProto.ModelProto.encode(model).finish();
    }
    const graphInputs = (model.graph?.input ?? []).map((i) => i.name!);
    const graphOutputs = (model.graph?.output ?? []).map((o) => o.name!);
    const inputs = dataFiles(entry.test, 'input').map(readTensor);
    const outputs = dataFiles(entry.test, 'output').map(readTensor);
    expect(inputs.length).toBe(graphInputs.length);
    expect(outputs.length).toBe(graphOutputs.length);

    const bind = new Map<string, Tensor>();
    const feed = new Map<string, Tensor>();
    inputs.forEach((t, k) => (isFloatType(t.dtype) ? feed : bind).set(graphInputs[k]!, t));

    if (entry.op_type === 'Conv' && !isPatchConv(model.graph?.node?.[0]?.attribute ?? [], inputs[1]!.shape)) {
      // only patch embeddings (kernel = stride, no padding) are supported: the others must say so
      expect(() => importOnnx(modelBytes, { file: `${entry.test}/model.onnx`, bindInputs: bind })).toThrow(/only patch-embedding Conv is supported: 2-D, one group, kernel_shape = strides, no padding/);
      refused++;
      return;
    }
    const { graph } = importOnnx(modelBytes, { file: `${entry.test}/model.onnx`, bindInputs: bind });
    const got = evaluate(graph, feed);
    outputs.forEach((expected, k) => {
      const name = graphOutputs[k]!;
      const actual = got.get(name);
      expect(actual, `output '${name}'`).toBeDefined();
      expectClose(actual!, expected, name);
    });
    passed++;
  });
});
