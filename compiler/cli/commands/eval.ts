// `ig3dc eval MODEL --inputs FILE`: run the plaintext evaluator on every case of FILE.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { coerceInput, evaluate } from '../../../ir/evaluate.ts';
import type { Graph } from '../../../ir/graph.ts';
import type { Tensor } from '../../../ir/tensor.ts';
import { readCasesFile, readTensorBundle, tensorToJson, type Case, type TensorJson } from '../../../ir/tensor-json.ts';
import { importOnnx } from '../../frontend/import.ts';
import { isIrFile, loadModel, type DimBinding } from '../../load.ts';
import { writeOut } from '../run-command.ts';
import { quote } from '../../../ir/limits.ts';

export interface CaseResult {
  readonly name: string;
  readonly outputs: Record<string, TensorJson>;
  readonly maxAbsError: Record<string, number>;
}

/** Max |a - b| over two tensors of the same shape; a shape mismatch is an input error. */
export function maxAbsError(got: Tensor, want: Tensor, what: string): number {
  if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
    throw new Ig3dcError('input', `expected output '${what}' has shape [${want.shape.join(',')}], the model computes [${got.shape.join(',')}]`);
  }
  let m = 0;
  for (let i = 0; i < got.size; i++) {
    const d = Math.abs(got.at(i) - want.at(i));
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

/** Graphs per set of input shapes: an ONNX model is bound to each case's shapes. */
function graphFor(model: string, opts: DimBinding, c: Case, cache: Map<string, Graph>, bytes: () => Uint8Array): Graph {
  if (isIrFile(model)) {
    let g = cache.get('');
    if (g === undefined) cache.set('', (g = loadModel(model)));
    return g;
  }
  const inputShapes: Record<string, number[]> = {};
  for (const [name, t] of c.inputs) inputShapes[name] = [...t.shape];
  const key = JSON.stringify(inputShapes);
  let g = cache.get(key);
  if (g === undefined) {
    g = importOnnx(bytes(), {
      file: model,
      inputShapes,
      ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
      ...(opts.seq !== undefined ? { seq: opts.seq } : {}),
      ...(opts.dim !== undefined ? { dims: opts.dim } : {}),
    }).graph;
    cache.set(key, g);
  }
  return g;
}

export function evalCases(model: string, cases: readonly Case[], opts: DimBinding = {}, file?: string): CaseResult[] {
  let cached: Uint8Array | undefined;
  const bytes = (): Uint8Array => {
    if (cached === undefined) {
      try {
        cached = readFileSync(model);
      } catch (e) {
        throw new Ig3dcError('io', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: model });
      }
    }
    return cached;
  };
  const graphs = new Map<string, Graph>();
  return cases.map((c) => {
    const place = file !== undefined ? { file } : {};
    const graph = graphFor(model, opts, c, graphs, bytes);
    const inputs = new Map<string, Tensor>();
    for (const input of graph.inputs) {
      const t = c.inputs.get(input.name!);
      if (t === undefined) {
        throw new Ig3dcError('input', `case '${quote(c.name)}' has no input '${input.name}' (the model needs: ${graph.inputs.map((i) => i.name).join(', ')})`, place);
      }
      try {
        inputs.set(input.name!, coerceInput(t, input.type, input.name));
      } catch (e) {
        throw e instanceof Ig3dcError ? new Ig3dcError(e.kind, `case '${quote(c.name)}': ${e.detail}`, place) : e;
      }
    }
    for (const name of c.inputs.keys()) {
      if (!graph.inputs.some((i) => i.name === name)) {
        throw new Ig3dcError('input', `case '${quote(c.name)}' has an input '${quote(name)}' that the model does not take (it takes: ${graph.inputs.map((i) => i.name).join(', ')})`, place);
      }
    }
    const outputs = evaluate(graph, inputs);
    const result: CaseResult = { name: c.name, outputs: {}, maxAbsError: {} };
    for (const [name, t] of outputs) {
      result.outputs[name] = tensorToJson(t);
      const want = c.expected?.get(name);
      if (want !== undefined) result.maxAbsError[name] = maxAbsError(t, want, name);
    }
    return result;
  });
}

/**
 * A tensor bundle (as `ig3dc data` writes) is one case over all its rows: every tensor but
 * `labels` is an input; `torch_logits`, when present, is the expected `logits`.
 */
function readInputs(file: string): Case[] {
  let head = '';
  try {
    head = readFileSync(file, 'utf8').slice(0, 400);
  } catch {
    return readCasesFile(file); // reports the I/O error
  }
  if (!head.includes('"ig3dc-tensor-bundle/1"')) return readCasesFile(file);
  const { tensors } = readTensorBundle(file);
  const inputs = new Map([...tensors].filter(([k]) => k !== 'labels' && k !== 'torch_logits'));
  const logits = tensors.get('torch_logits');
  return [{ name: basename(file), inputs, ...(logits !== undefined ? { expected: new Map([['logits', logits]]) } : {}) }];
}

export async function evalCommand(model: string, opts: DimBinding & { inputs: string; json?: boolean }): Promise<void> {
  const cases = readInputs(opts.inputs);
  const results = evalCases(model, cases, opts, opts.inputs);
  if (opts.json) {
    await writeOut(`${JSON.stringify({ cases: results })}\n`);
    return;
  }
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`case ${r.name}`);
    for (const [name, t] of Object.entries(r.outputs)) lines.push(`  ${name} = ${JSON.stringify(t)}`);
    for (const [name, err] of Object.entries(r.maxAbsError)) lines.push(`  max abs error vs expected ${name}: ${err.toExponential(2)}`);
  }
  await writeOut(`${lines.join('\n')}\n`);
}
