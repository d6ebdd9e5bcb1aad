// `ig3dc parse FILE.ir`: parse, verify, print again.

import { readIrFile } from '../../../ir/parser.ts';
import { printGraph } from '../../../ir/printer.ts';
import { verifyGraph } from '../../../ir/verifier.ts';
import { writeOut } from '../run-command.ts';

export async function parseCommand(file: string, opts: { quiet?: boolean }): Promise<void> {
  const graph = readIrFile(file);
  verifyGraph(graph);
  if (!opts.quiet) await writeOut(printGraph(graph));
}
