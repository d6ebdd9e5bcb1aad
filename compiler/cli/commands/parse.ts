// `ig3dc parse FILE.ir`: parse, verify, print again.

import { readIrFile } from '../../../ir/parser.ts';
import { printGraph } from '../../../ir/printer.ts';
import { verifyGraph } from '../../../ir/verifier.ts';
import { writeJson, writeOut } from '../run-command.ts';

export async function parseCommand(file: string, opts: { quiet?: boolean; json?: boolean }): Promise<void> {
  const graph = readIrFile(file);
  verifyGraph(graph);
  if (opts.json === true) await writeJson({ file, valid: true, nodes: graph.nodes().length, ...(opts.quiet ? {} : { ir: printGraph(graph) }) });
  else if (!opts.quiet) await writeOut(printGraph(graph));
}
