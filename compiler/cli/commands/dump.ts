// `ig3dc dump MODEL`: the IR as text.

import { writeFileSync } from 'node:fs';
import { Ig3dcError } from '../../../ir/diagnostics.ts';
import { printGraph, writeIrFile } from '../../../ir/printer.ts';
import { loadModel, type DimBinding } from '../../load.ts';
import { writeOut } from '../run-command.ts';

export async function dumpCommand(model: string, opts: DimBinding & { output?: string; weights?: 'elide' | 'inline' | 'sidecar' }): Promise<void> {
  const graph = loadModel(model, opts);
  if (opts.output !== undefined) {
    const mode = opts.weights ?? 'sidecar';
    if (mode === 'sidecar') {
      writeIrFile(graph, opts.output);
      return;
    }
    try {
      writeFileSync(opts.output, printGraph(graph, { weights: mode }));
    } catch (e) {
      throw new Ig3dcError('io', `cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: opts.output });
    }
    return;
  }
  if (opts.weights === 'sidecar') throw new Ig3dcError('usage', '--weights sidecar needs -o FILE (the weights go to FILE.weights)');
  await writeOut(printGraph(graph, { weights: opts.weights ?? 'elide' }));
}
