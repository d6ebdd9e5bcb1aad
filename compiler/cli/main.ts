// The `ig3dc` command line.

import { Command, InvalidArgumentError, Option } from 'commander';
import { action } from './run-command.ts';
import { summaryCommand } from './commands/summary.ts';
import { dumpCommand } from './commands/dump.ts';
import { parseCommand } from './commands/parse.ts';
import { evalCommand } from './commands/eval.ts';
import { opsCommand } from './commands/ops.ts';
import { optCommand } from './commands/opt.ts';
import { passesCommand } from './commands/passes.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

function dimBinding(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const m = /^([^=]+)=(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1) throw new InvalidArgumentError(`expected NAME=N with N a positive integer, got '${value}'`);
  return { ...previous, [m[1]!]: Number(m[2]) };
}

/** Options every command that loads a model takes: how to bind its dynamic dimensions. */
function withBindingOptions(cmd: Command): Command {
  return cmd
    .option('--batch <n>', 'bind the batch dimension (default: from the model, else 1)', positiveInt)
    .option('--seq <n>', 'bind the sequence dimension (default: from the model, else 128)', positiveInt)
    .option('--dim <name=n>', 'bind any other named dynamic dimension (repeatable)', dimBinding);
}

export function makeProgram(): Command {
  const program = new Command('ig3dc')
    .description('Compile transformer models (BERT, ONNX) into two-party secret-sharing MPC circuits.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`ig3dc: ${str.replace(/^error: /, 'error: ')}`) });

  withBindingOptions(
    program
      .command('summary <model>', { isDefault: true })
      .description('print a model summary: layers, heads, sizes, parameters, inputs and outputs with bound shapes, ops by kind')
      .option('--json', 'print the summary as one JSON object'),
  ).action(action(summaryCommand));

  withBindingOptions(
    program
      .command('dump <model>')
      .description('print the IR of a model (.onnx or .ir) as text')
      .option('-o, --output <file>', 'write the IR to FILE (large weights go to FILE.weights) instead of stdout')
      .addOption(
        new Option('--weights <mode>', 'how to print large constants: elide (default on stdout), inline, or sidecar (default with -o)').choices([
          'elide',
          'inline',
          'sidecar',
        ]),
      ),
  ).action(action(dumpCommand));

  program
    .command('parse <file>')
    .description('parse and verify a text IR file, then print it again')
    .option('-q, --quiet', 'check only; print nothing on success')
    .action(action(parseCommand));

  withBindingOptions(
    program
      .command('eval <model>')
      .description('run the plaintext evaluator (float64) on inputs from a cases file or a JSON object of tensors')
      .requiredOption('--inputs <file>', 'an ig3dc-cases/1 file, or {name: {dtype, shape, data}}')
      .option('--json', 'print one JSON object {cases: [{name, outputs, maxAbsError}]}'),
  ).action(action(evalCommand));

  program
    .command('ops')
    .description('list the supported ONNX operators (with opset ranges) and the IR ops')
    .option('--markdown', 'print the ONNX operator table as Markdown')
    .action(action(opsCommand));

  withBindingOptions(
    program
      .command('opt <model>')
      .description('run a pass pipeline on a model (.ir or .onnx) and print the resulting IR, like mlir-opt')
      .requiredOption('--passes <pipeline>', "passes to run, e.g. 'raise-bert,canonicalize' (see `ig3dc passes`)")
      .option('-o, --output <file>', 'write the IR to FILE instead of stdout')
      .option('--print-ir-after <pass>', "print the IR to stderr after the named pass, or after every pass with 'all'")
      .option('--dump-dir <dir>', 'write one numbered .ir file per stage into DIR')
      .option('--no-verify', 'do not run the verifier after every pass'),
  ).action(action(optCommand));

  program.command('passes').description('list the registered passes with their options').action(action(passesCommand));

  return program;
}

await makeProgram().parseAsync(process.argv);
