// `ig3dc export MODEL -o out.onnx [--passes PIPELINE] [--opset N] [--static-shapes]`: load a
// model (text IR or ONNX), optionally run passes, and write the result as a standard ONNX
// model that keeps the ONNX model's dynamic dimensions where the graph allows.

import { formatType } from '../../../ir/types.ts';
import type { Graph } from '../../../ir/graph.ts';
import { writeJson, writeOutput } from '../run-command.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { parsePipeline, runPipeline, type PipelineStep } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { DEFAULT_EXPORT_OPSET, exportOnnx, exportWithDynamicAxes } from '../../export/index.ts';
import { loadOnnxFile } from '../../frontend/import.ts';
import { isIrFile, loadModel, type DimBinding } from '../../load.ts';

export interface ExportCommandOptions extends DimBinding {
  output: string;
  passes?: string;
  /** Default-domain opset to write (default 17). */
  opset?: number;
  producer?: string;
  verify?: boolean;
  /** Head importance annotations (JSON or text) for the IG-3D passes. */
  readonly importance?: string;
  /** Print what was written as JSON: file, bytes, opset, inputs and outputs. */
  json?: boolean;
  /** Write every dimension at its bound size. */
  staticShapes?: boolean;
}

export async function exportCommand(model: string, opts: ExportCommandOptions): Promise<void> {
  if (opts.output === undefined || opts.output === '') throw new Ig3dcError('usage', 'export needs -o FILE (the ONNX model to write)');
  if (opts.json === true && opts.output === '-') throw new Ig3dcError('usage', '--json and -o - would both write to stdout');
  // parse the pipeline before the (slow) load, so a typo fails at once
  const steps = opts.passes !== undefined ? parsePipeline(opts.passes, '--passes') : [];
  const note = (pass: string, message: string): void => void process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`);
  const optimize = (graph: Graph, onNote?: (pass: string, message: string) => void): Graph => (steps.length === 0 ? graph : passes(graph, steps, opts, onNote));
  const exportOptions = {
    ...(opts.opset !== undefined ? { opset: opts.opset } : {}),
    ...(opts.producer !== undefined ? { producer: opts.producer } : {}),
  };
  let graph: Graph;
  let bytes: Uint8Array;
  let dynamic: readonly string[] = [];
  try {
    if (opts.staticShapes === true || isIrFile(model)) {
      graph = optimize(loadModel(model, opts), note);
      bytes = exportOnnx(graph, exportOptions);
    } else {
      const first = loadOnnxFile(model, bindingOptions(opts));
      let primaryDone = false;
      const result = exportWithDynamicAxes(
        (values) => {
          if (!primaryDone) {
            primaryDone = true;
            return optimize(first.graph, note);
          }
          return optimize(loadOnnxFile(model, { dims: values }).graph);
        },
        first.dims,
        exportOptions,
      );
      for (const n of result.notes) note('export', n);
      ({ graph, bytes, dynamic } = result);
    }
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within({ file: model });
    throw e;
  }
  await writeOutput(opts.output, bytes);
  if (opts.json === true) {
    const inputs = graph.inputs.map((v) => ({ name: v.name, type: formatType(v.type) }));
    const outputs = graph.outputs.map((o) => ({ name: o.name, type: formatType(o.node.type) }));
    await writeJson({ output: opts.output, bytes: bytes.length, opset: opts.opset ?? DEFAULT_EXPORT_OPSET, inputs, outputs, dynamic });
  }
}

function bindingOptions(b: DimBinding): { batch?: number; seq?: number; dims?: Readonly<Record<string, number>>; inputShapes?: Readonly<Record<string, readonly number[]>> } {
  return {
    ...(b.batch !== undefined ? { batch: b.batch } : {}),
    ...(b.seq !== undefined ? { seq: b.seq } : {}),
    ...(b.dim !== undefined ? { dims: b.dim } : {}),
    ...(b.inputShapes !== undefined ? { inputShapes: b.inputShapes } : {}),
  };
}

function passes(graph: Graph, steps: readonly PipelineStep[], opts: ExportCommandOptions, onNote?: (pass: string, message: string) => void): Graph {
  return runPipeline(graph, steps, {
    verify: opts.verify !== false,
    ...(opts.importance !== undefined ? { resources: new Map([[IMPORTANCE_RESOURCE, opts.importance]]) } : {}),
    ...(onNote !== undefined ? { onNote } : {}),
  }).graph;
}
