// `ig3dc dump MODEL`: the IR as text.

import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { printGraph, writeIrFile } from '../../../ir/printer.ts';
import { loadModel, type DimBinding } from '../../load.ts';
import { writeJson, writeOut, writeOutput } from '../run-command.ts';

export async function dumpCommand(model: string, opts: DimBinding & { output?: string; weights?: 'elide' | 'inline' | 'sidecar'; json?: boolean }): Promise<void> {
  if (opts.json === true && opts.output === '-') throw new Ig3dcError('usage', '--json and -o - would both write to stdout');
  const graph = loadModel(model, opts);
  if (opts.json === true) {
    if (opts.weights === 'sidecar') throw new Ig3dcError('usage', '--weights sidecar needs -o FILE, not --json');
    // the IR text as one JSON string, for tools that read every command's output as JSON
    await writeJson({ model, ir: printGraph(graph, { weights: opts.weights ?? 'elide' }) });
    if (opts.output === undefined) return;
  }
  if (opts.output !== undefined && opts.output !== '-') {
    const mode = opts.weights ?? 'sidecar';
    if (mode === 'sidecar') {
      writeIrFile(graph, opts.output);
      return;
    }
    await writeOutput(opts.output, printGraph(graph, { weights: mode }));
    return;
  }
  if (opts.weights === 'sidecar') throw new Ig3dcError('usage', '--weights sidecar needs -o FILE (the weights go to FILE.weights)');
  await writeOut(printGraph(graph, { weights: opts.weights ?? 'elide' }));
}
