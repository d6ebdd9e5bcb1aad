// `ig3dc opt FILE --passes PIPELINE`: run passes on a model (text IR or ONNX), print the result.

import { writeFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { printGraph } from '../../../ir/printer.ts';
import { parsePipeline, runPipeline } from '../../../passes/index.ts';
import { loadModel, type DimBinding } from '../../load.ts';
import { writeOut } from '../run-command.ts';

export interface OptOptions extends DimBinding {
  passes: string;
  output?: string;
  printIrAfter?: string;
  dumpDir?: string;
  verify?: boolean;
}

export async function optCommand(model: string, opts: OptOptions): Promise<void> {
  const steps = parsePipeline(opts.passes, '--passes');
  const graph = loadModel(model, opts);
  const run = runPipeline(graph, steps, {
    verify: opts.verify !== false,
    ...(opts.printIrAfter !== undefined ? { printAfter: opts.printIrAfter } : {}),
    ...(opts.dumpDir !== undefined ? { dumpDir: opts.dumpDir } : {}),
    onNote: (pass, message) => process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`),
  });
  const text = printGraph(run.graph);
  if (opts.output !== undefined) {
    try {
      writeFileSync(opts.output, text);
    } catch (e) {
      throw new Ig3dcError('io', `cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: opts.output });
    }
  } else {
    await writeOut(text);
  }
}
