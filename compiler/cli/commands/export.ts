// `ig3dc export MODEL -o out.onnx [--passes PIPELINE] [--opset N]`: load a model (text IR or
// ONNX), optionally run passes, and write the result as a standard ONNX model.

import { formatType } from '../../../ir/types.ts';
import { writeJson, writeOutput } from '../run-command.ts';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { parsePipeline, runPipeline } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { DEFAULT_EXPORT_OPSET, exportOnnx } from '../../export/index.ts';
import { loadModel, type DimBinding } from '../../load.ts';

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
}

export async function exportCommand(model: string, opts: ExportCommandOptions): Promise<void> {
  if (opts.output === undefined || opts.output === '') throw new Ig3dcError('usage', 'export needs -o FILE (the ONNX model to write)');
  if (opts.json === true && opts.output === '-') throw new Ig3dcError('usage', '--json and -o - would both write to stdout');
  // parse the pipeline before the (slow) load, so a typo fails at once
  const steps = opts.passes !== undefined ? parsePipeline(opts.passes, '--passes') : [];
  let graph = loadModel(model, opts);
  if (steps.length > 0) {
    graph = runPipeline(graph, steps, {
      verify: opts.verify !== false,
      ...(opts.importance !== undefined ? { resources: new Map([[IMPORTANCE_RESOURCE, opts.importance]]) } : {}),
      onNote: (pass, message) => process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`),
    }).graph;
  }
  let bytes: Uint8Array;
  try {
    bytes = exportOnnx(graph, {
      ...(opts.opset !== undefined ? { opset: opts.opset } : {}),
      ...(opts.producer !== undefined ? { producer: opts.producer } : {}),
    });
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within({ file: model });
    throw e;
  }
  await writeOutput(opts.output, bytes);
  if (opts.json === true) {
    const inputs = graph.inputs.map((v) => ({ name: v.name, type: formatType(v.type) }));
    const outputs = graph.outputs.map((o) => ({ name: o.name, type: formatType(o.node.type) }));
    await writeJson({ output: opts.output, bytes: bytes.length, opset: opts.opset ?? DEFAULT_EXPORT_OPSET, inputs, outputs });
  }
}
