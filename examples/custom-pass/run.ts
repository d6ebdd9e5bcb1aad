// Runs the two-quad pass on a BERT model and compares it with the original on the example
// cases: the logits of both and whether their argmax agrees.
//
//   npx tsx examples/custom-pass/run.ts examples/bert-tiny.onnx [CASES.json] [--c 5]
//
// CASES defaults to the model's name with .cases.json (examples/bert-tiny.cases.json).

import { readFileSync } from 'node:fs';
import { importOnnx } from '../../compiler/frontend/import.ts';
import { isIg3dcError } from '../../ir/diagnostics.ts';
import { coerceInput, evaluate } from '../../ir/evaluate.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Tensor } from '../../ir/tensor.ts';
import { readCasesFile } from '../../ir/tensor-json.ts';
import { parsePipeline, runPipeline } from '../../passes/index.ts';
import './two-quad.ts';

function argmaxRows(t: Tensor): number[] {
  const cols = t.shape[t.shape.length - 1]!;
  const rows: number[] = [];
  for (let r = 0; r < t.size / cols; r++) {
    let best = 0;
    for (let j = 1; j < cols; j++) if (t.at(r * cols + j) > t.at(r * cols + best)) best = j;
    rows.push(best);
  }
  return rows;
}

function rowsText(t: Tensor): string {
  const cols = t.shape[t.shape.length - 1]!;
  const rows: string[] = [];
  for (let r = 0; r < t.size / cols; r++) {
    rows.push(`[${Array.from({ length: cols }, (_, j) => t.at(r * cols + j).toFixed(6)).join(', ')}]`);
  }
  return rows.join(' ');
}

function main(argv: string[]): void {
  const args = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--c');
  const cIndex = argv.indexOf('--c');
  const c = cIndex >= 0 ? Number(argv[cIndex + 1]) : 5;
  const model = args[0];
  if (model === undefined) {
    process.stderr.write('usage: npx tsx examples/custom-pass/run.ts MODEL.onnx [CASES.json] [--c 5]\n');
    process.exitCode = 2;
    return;
  }
  const casesFile = args[1] ?? model.replace(/\.onnx$/, '.cases.json');
  const bytes = readFileSync(model);
  const cases = readCasesFile(casesFile);
  const steps = parsePipeline(`two-quad{c=${c}}`);

  let agree = 0;
  let total = 0;
  const graphs = new Map<string, { original: Graph; approx: Graph }>();
  for (const kase of cases) {
    // the model is bound to each case's input shapes
    const shapes: Record<string, number[]> = {};
    for (const [name, t] of kase.inputs) shapes[name] = [...t.shape];
    const key = JSON.stringify(shapes);
    let pair = graphs.get(key);
    if (pair === undefined) {
      const original = importOnnx(bytes, { file: model, inputShapes: shapes }).graph;
      pair = { original, approx: runPipeline(original, steps).graph };
      graphs.set(key, pair);
    }
    const inputs = new Map<string, Tensor>();
    for (const i of pair.original.inputs) inputs.set(i.name!, coerceInput(kase.inputs.get(i.name!)!, i.type, i.name));
    const exact = evaluate(pair.original, inputs);
    const approx = evaluate(pair.approx, inputs);
    console.log(`case ${kase.name}`);
    for (const [name, t] of exact) {
      const q = approx.get(name)!;
      const a = argmaxRows(t);
      const b = argmaxRows(q);
      const same = a.filter((x, i) => x === b[i]).length;
      agree += same;
      total += a.length;
      console.log(`  ${name} softmax:   ${rowsText(t)}  argmax ${a.join(',')}`);
      console.log(`  ${name} two-quad:  ${rowsText(q)}  argmax ${b.join(',')}`);
    }
  }
  console.log(`argmax agreement: ${agree}/${total} rows (c = ${c})`);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  if (!isIg3dcError(e)) throw e;
  process.stderr.write(`error: ${e.message}\n`);
  process.exitCode = 1;
}
