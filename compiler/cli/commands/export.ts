// `ig3dc export MODEL -o out.onnx [--passes PIPELINE] [--opset N]`: load a model (text IR or
// ONNX), optionally run passes, and write the result as a standard ONNX model.

import { writeFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { parsePipeline, runPipeline } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { exportOnnx } from '../../export/index.ts';
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
}

export function exportCommand(model: string, opts: ExportCommandOptions): void {
  if (opts.output === undefined || opts.output === '') throw new Ig3dcError('usage', 'export needs -o FILE (the ONNX model to write)');
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
  try {
    writeFileSync(opts.output, bytes);
  } catch (e) {
    throw new Ig3dcError('io', `cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: opts.output });
  }
}
