// The `ig3dc` command line.

import { existsSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { action, EXIT_USAGE } from './run-command.ts';
import { closestName } from './did-you-mean.ts';
import type { TuneCommandOptions } from './commands/tune.ts';
import type { TuneTokensOptions } from './commands/tune-tokens.ts';
import type { CompareCommandOptions } from './commands/compare-methods.ts';
import type { compileCommand } from './commands/compile.ts';

/** Commander collector for a repeatable option. */
function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}

type CommandFn = (...args: never[]) => Promise<void> | void;

/**
 * A command's action, loaded when the command runs: `ig3dc --version` and `--help` import
 * no compiler code, so they start in about the time of `node -e 0`.
 */
function lazy<M>(load: () => Promise<M>, pick: (m: M) => CommandFn): (...args: unknown[]) => Promise<void> {
  return action(async (...args: unknown[]) => {
    const fn = pick(await load()) as (...a: unknown[]) => Promise<void> | void;
    await fn(...args);
  });
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got '${value}'`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
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
    .configureOutput({ outputError: (str, write) => write(`ig3dc: ${str.replace(/^error: /, 'error: ')}`) })
    // commander's own errors (unknown option, missing or invalid argument) are usage errors
    .exitOverride();

  withBindingOptions(
    program
      .command('compile <model>', { isDefault: true })
      .description('compile a model to a scheduled two-party circuit and print what private inference costs (the default command)')
      .option('--passes <pipeline>', "passes to run after raising, e.g. 'prune-heads{ratio=0.3},softmax-to-poly{ratio=0.5}'; with prune-tokens the report gives the cost of every (segment, bucket) circuit a run can take")
      .option('--protocols <spec>', "protocol set: crypten (default), best or fss, with overrides like 'crypten,maxMethod=tree'")
      .option('--importance <file>', 'head importance annotations for the IG-3D passes (JSON or text)')
      .option('-o, --output <file>', 'write the circuit to FILE (the server weights go next to it: NAME.weights.json and NAME.weights.bin); FILE.segments with prune-tokens: every bucket\'s segment circuit, for `serve`/`dealer` in segments')
      .option('--report <file>', 'write the cost report as JSON')
      .option('--report-html <file>', 'write a self-contained HTML cost report')
      .option('--compare', 'also compile the baseline (the default raising only, crypten protocols) and print both side by side')
      .option('--compare-protocols <list>', 'also compile with each protocol family, e.g. crypten,best,fss, and print them side by side (table, JSON, HTML)')
      .option('--no-raise', 'do not run raise-bert,fold-batch-norm,canonicalize first')
      .option('--frac-bits <n>', 'fixed-point fractional bits (default 16)', positiveInt)
      .option('--no-verify', 'do not run the verifier after every pass')
      .option('--load-pass <file>', 'import a pass module that registers passes (repeatable)', collect).option('--json', 'print the cost report as one JSON object (as --report writes it) instead of the table')
      .option('--data <file>', 'with prune-tokens in --passes: a labelled dev set (e.g. spam-dev.json); prints the expected cost per row, the mean over the rows of the static cost of the buckets each takes')
      .option('--examples <n>', 'with --data: the first N rows', positiveInt)
      .option('--no-segments', 'with prune-tokens: compile the static pruned graph at full length (one circuit) instead of reporting the cost of every (segment, bucket) circuit'),
  ).action(
    action(async (model: string, opts: Parameters<typeof compileCommand>[1]) => {
      const { compileOrSegmentsCommand } = await import('./commands/compile.ts');
      await compileOrSegmentsCommand(model, opts);
    }),
  );

  withBindingOptions(
    program
      .command('summary <model>')
      .description('print a model summary: layers, heads, sizes, parameters, inputs and outputs with bound shapes, ops by kind')
      .option('--json', 'print the summary as one JSON object'),
  ).action(lazy(() => import('./commands/summary.ts'), (m) => m.summaryCommand));

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
      )
      .option('--json', 'print {model, ir} as one JSON object'),
  ).action(lazy(() => import('./commands/dump.ts'), (m) => m.dumpCommand));

  program
    .command('parse <file>')
    .description('parse and verify a text IR file, then print it again')
    .option('-q, --quiet', 'check only; print nothing on success')
    .option('--json', 'print {file, valid, nodes, ir} as one JSON object')
    .action(lazy(() => import('./commands/parse.ts'), (m) => m.parseCommand));

  withBindingOptions(
    program
      .command('eval <model>')
      .description('run the plaintext evaluator (float64) on inputs from a cases file or a JSON object of tensors')
      .requiredOption('--inputs <file>', 'an ig3dc-cases/1 file, or {name: {dtype, shape, data}}')
      .option('--json', 'print one JSON object {cases: [{name, outputs, maxAbsError}]}'),
  ).action(lazy(() => import('./commands/eval.ts'), (m) => m.evalCommand));

  program
    .command('ops')
    .description('list the supported ONNX operators (with opset ranges) and the IR ops')
    .option('--markdown', 'print the ONNX operator table as Markdown')
    .option('--json', 'print {opsetRange, onnx, ir} as one JSON object')
    .action(lazy(() => import('./commands/ops.ts'), (m) => m.opsCommand));

  withBindingOptions(
    program
      .command('opt <model>')
      .description('run a pass pipeline on a model (.ir or .onnx) and print the resulting IR, like mlir-opt')
      .requiredOption('--passes <pipeline>', "passes to run, e.g. 'raise-bert,canonicalize' (see `ig3dc passes`)")
      .option('-o, --output <file>', 'write the IR to FILE instead of stdout')
      .option('--print-ir-after <pass>', "print the IR to stderr after the named pass, or after every pass with 'all'")
      .option('--dump-dir <dir>', 'write one numbered .ir file per stage into DIR')
      .option('--no-verify', 'do not run the verifier after every pass')
      .option('--load-pass <file>', 'import a pass module (.ts or .js) that registers passes, before the pipeline is parsed (repeatable)', collect)
      .option('--importance <file>', 'head importance annotations for the IG-3D passes (JSON or text)')
      .option('--json', 'print {model, ir, stages, notes} as one JSON object instead of the IR text'),
  ).action(lazy(() => import('./commands/opt.ts'), (m) => m.optCommand));

  withBindingOptions(
    program
      .command('export <model>')
      .description('write a model (.onnx or .ir), optionally after passes, as a standard ONNX model')
      .requiredOption('-o, --output <file>', 'the ONNX file to write')
      .option('--passes <pipeline>', 'passes to run first, e.g. raise-bert')
      .option('--opset <n>', 'default-domain opset to write, 11-18 (default 17)', positiveInt)
      .option('--producer <name>', 'producer_name of the model (default ig3dc)')
      .option('--json', 'print {output, bytes, opset, inputs, outputs, dynamic} as one JSON object')
      .option('--importance <file>', 'head importance annotations for the IG-3D passes (JSON or text)')
      .option('--static-shapes', "write every dimension at its bound size (default: keep the model's dynamic dimensions where the graph allows)")
      .option('--no-verify', 'do not run the verifier after every pass'),
  ).action(lazy(() => import('./commands/export.ts'), (m) => m.exportCommand));

  withBindingOptions(
    program
      .command('run <circuit>')
      .description('run a circuit (or an .onnx/.ir model, compiled on the fly) with two parties and a dealer; report outputs, error and measured cost')
      .option('--inputs <file>', 'client inputs: an ig3dc-cases/1 file or {name: {dtype, shape, data}}; a model compiles at each case\'s shapes')
      .option('--data <file>', 'a labelled tensor bundle (input_ids, attention_mask, token_type_ids, labels; e.g. spam-dev.json): every row is a case; prints accuracy and agreement with plaintext')
      .option('--examples <n>', 'with --data: the first N rows', positiveInt)
      .option('--case <name>', 'run only the case of this name (rows of --data are row0, row1, ...)')
      .option('--weights <file>', "the server's weights bundle (default: next to the circuit)")
      .option('--seed-file <file>', 'master seed (hex, >= 128 bits) for the simulated dealer and input sharing, for reproducible runs; or IG3DC_SEED (default: fresh randomness)')
      .option('--threads <n>', '2: one worker thread per party (default); 1: both parties in this thread', positiveInt)
      .option('--model <file>', "the plaintext model to compare a circuit's outputs with (.onnx or .ir)")
      .option('--protocols <spec>', 'protocols when compiling a model on the fly (default crypten)')
      .option('--passes <pipeline>', 'passes when compiling a model on the fly; with prune-tokens the model runs in segments (each boundary reveals its survivor count; the next segment is compiled for its bucket on first use)')
      .option('--no-segments', 'with prune-tokens: run the static pruned circuit at full length instead of in segments (reveals no count)')
      .option('--progress', 'show the progress bar even when stderr is not a terminal')
      .option('--truncation-report', 'simulation diagnostic (in process, both shares in one thread): the expected number of local-truncation failures per inference, by protocol')
      .option('--preprocess-first', "the dealer's phase first (every key and triple made and delivered before the parties start), then the online phase: both timed apart (worker threads; the parties hold all dealer words at once)")
      .option('--link <net>', "deliver the parties' messages as a network would (worker threads): lan (10 Gbps, 0.2 ms RTT), wan (44 MB/s, 40 ms) or <MB/s>,<RTT ms>; the wall time is then compute and network together (with --preprocess-first, the online phase crosses it)")
      .option('--json', 'print one JSON object with outputs, errors, measured and static cost'),
  ).action(lazy(() => import('./commands/run.ts'), (m) => m.runCommand));

  withBindingOptions(
    program
      .command('serve <circuit>')
      .description('run one party of a circuit over TLS (party 0 = server with the weights, party 1 = client with the inputs; see `ig3dc dealer`)')
      .requiredOption('--party <n>', '0 (server) or 1 (client)')
      .requiredOption('--key <file>', "this party's key file (party0.key or party1.key from `ig3dc keygen`)")
      .option('--listen <host:port>', 'wait for the peer on HOST:PORT')
      .option('--connect <host:port>', 'connect to the peer at HOST:PORT')
      .option('--weights <file>', "party 0: the weights bundle (default: next to the circuit)")
      .option('--inputs <file>', 'party 1: the inputs file')
      .option('--case <name>', 'party 1: which case of the inputs file (default: the first)')
      .option('--dealer <host:port>', "the dealer's address (party 1; party 0 too for circuits with FSS gates)")
      .option('--window <MiB>', 'dealer words to read ahead, in MiB (default 64)', positiveNumber)
      .option('--timeout <seconds>', 'how long to wait for each message from a peer (default 60)', positiveNumber)
      .option('--connect-timeout <seconds>', 'how long to wait for a peer to connect or be reachable (default: --timeout)', positiveNumber)
      .option('--protocols <spec>', 'protocols when compiling a model on the fly')
      .option('--passes <pipeline>', 'passes when compiling a model on the fly')
      .option('--json', 'print the result as one JSON object'),
  ).action(lazy(() => import('./commands/serve.ts'), (m) => m.serveCommand));

  program
    .command('dealer <circuit>')
    .description('the dealer of a three-process secure inference: streams party 1 (and, for FSS gates, party 0) its correlated randomness (no inputs, no weights)')
    .requiredOption('--key <file>', 'the dealer key file (dealer.key from `ig3dc keygen`)')
    .requiredOption('--listen <host:port>', 'wait for party 1 on HOST:PORT')
    .option('--timeout <seconds>', 'how long to wait for party 1 to take each correction (default 60)', positiveNumber)
    .option('--connect-timeout <seconds>', 'how long to wait for party 1 to connect (default: --timeout)', positiveNumber)
    .option('--json', 'print the result as one JSON object')
    .action(lazy(() => import('./commands/dealer.ts'), (m) => m.dealerCommand));

  program
    .command('keygen')
    .description('write the key files of the three roles (party0.key, party1.key, dealer.key; mode 0600) from the OS CSPRNG')
    .requiredOption('--out <dir>', 'directory to write them into (created if absent)')
    .action(lazy(() => import('./commands/keygen.ts'), (m) => m.keygenCommand));

  program
    .command('tune <model>')
    .description('IG-3D joint threshold search (prune heads, PolySoftmax, GELU mixing) within an accuracy-loss budget on a labelled dev set')
    .option('--importance <file>', 'head importance file (JSON or text); repeatable: the first drives the search, all enter the --ablation method comparison', collect)
    .option('--compare-importance <files...>', 'more importance files for the method comparison (Table 6) only')
    .requiredOption('--data <file>', 'labelled dev set (ig3dc-tensor-bundle/1, e.g. spam-dev.json)')
    .requiredOption('--max-acc-loss <pp>', 'accuracy loss allowed, percentage points vs the baseline (stages: eps/3, 2eps/3, eps)')
    .option('--examples <n>', 'use the first N rows of the dev set')
    .option('--protocols <spec>', 'protocol set of the cost model: crypten (default) or best')
    .option('--granularity <g>', 'PolySoftmax decisions per head or per layer (default: try both)')
    .option('--min-keep <x>', 'keep at least this fraction of heads (default 0.3)')
    .option('--batch <n>', 'batch of the cost model (default 1)')
    .option('--ablation', 'also print the stepwise ablation (Table 7) and the importance methods at 40% pruned (Table 6)')
    .option('--json', 'print one JSON object')
    .option('-o, --output <file>', 'write the annotation file that reproduces the choice')
    .option('--evaluator', 'measure accuracy with the plaintext evaluator instead of onnxruntime-node')
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--tokens', 'calibrate token pruning instead: theta/beta per layer boundary (-o writes the file prune-tokens{thresholds="FILE"} reads)')
    .option('--bucket <n>', 'with --tokens: segment shapes rounded up to multiples of n (default 8)')
    .action(
      action(async (model: string, opts: TuneCommandOptions & TuneTokensOptions & { tokens?: boolean }) => {
        if (opts.tokens === true) {
          const { tuneTokensCommand } = await import('./commands/tune-tokens.ts');
          await tuneTokensCommand(model, opts);
        } else {
          const { tuneCommand } = await import('./commands/tune.ts');
          await tuneCommand(model, opts);
        }
      }),
    );

  program
    .command('compare-methods <model>')
    .description("IG-3D against MPCViT-, PolyTransformer- and MPCFormer-style attention and the unmodified model, each at its configuration within one accuracy budget, measured on the whole dev set, with the static cost")
    .requiredOption('--importance <file>', 'head importance file (JSON or text): ranks heads for every method')
    .requiredOption('--data <file>', 'labelled dev set (ig3dc-tensor-bundle/1): token ids (e.g. spam-dev.json) or images (pixel_values, e.g. vit-digits-p2.dev.json)')
    .requiredOption('--max-acc-loss <pp>', 'accuracy loss allowed, percentage points vs the baseline')
    .option('--methods <list>', 'comma-separated: ig3d, mpcvit, polytransformer, mpcformer (default: all)')
    .option('--protocols <spec>', 'protocol set of the cost model: best (default), crypten or fss')
    .option('--examples <n>', 'use the first N rows of the dev set')
    .option('--evaluator', 'measure accuracy with the plaintext evaluator instead of onnxruntime-node')
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--json', 'print one JSON object')
    .option('--html <file>', 'also write the table and the chart (accuracy against speedup) as a self-contained HTML page')
    .action(
      action(async (model: string, opts: CompareCommandOptions) => {
        const { compareMethodsCommand } = await import('./commands/compare-methods.ts');
        await compareMethodsCommand(model, opts);
      }),
    );

  program
    .command('importance <model>')
    .description('attention-head importance (integrated gradients as IG-3D defines it, or a baseline) from a labelled dataset, written as an annotation file')
    .option('--data <file>', 'labelled dataset: ig3dc tensor bundle with input_ids, attention_mask, labels (not needed for --method norm)')
    .requiredOption('-o, --output <file>', 'annotation file to write (JSON; text form if FILE ends in .txt)')
    .option('--steps <m>', 'Riemann steps (default 16)', positiveInt)
    .option('--examples <n>', 'first N examples (default 200)', positiveInt)
    .addOption(new Option('--target <t>', 'logit IG attributes (default predicted)').choices(['predicted', 'gold']))
    .addOption(new Option('--method <m>', 'ig (default), grad (gradient sensitivity), norm (weight norm) or entropy').choices(['ig', 'grad', 'norm', 'entropy']))
    .option('--sample-alpha <k>', 'K alphas drawn uniformly from (0,1] per example instead of the m Riemann points', positiveInt)
    .option('--seed <s>', 'seed for --sample-alpha (default 0)', (v: string) => Number.parseInt(v, 10))
    .option('--threads <n>', 'threads: onnxruntime intra-op threads, or evaluator worker threads (default: number of cores)', positiveInt)
    .addOption(new Option('--engine <e>', 'where integrated gradients run: onnxruntime (the gradient graph batched over path points; default when onnxruntime-node loads) or evaluator (built-in, float64, much slower)').choices(['onnxruntime', 'evaluator']))
    .option('--compare <file>', 'report Spearman and top/bottom heads against another importance file (repeatable)', collect)
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--json', 'print {result, agreements} as JSON')
    .action(lazy(() => import('./commands/importance.ts'), (m) => m.importanceCommand));

  program
    .command('data <input>')
    .description('turn labelled text or images (JSON Lines or CSV with a label column) into the tensor bundle run/tune/importance --data and eval read: text with the model\'s tokenizer, PNG images into pixel_values')
    .option('--tokenizer <file>', 'text rows: a HuggingFace tokenizer.json, or a BERT vocab.txt (uncased WordPiece)')
    .requiredOption('-o, --output <file>', 'the bundle index to write, FILE.json (data in FILE.bin)')
    .option('--text-field <name>', 'field or column holding the text (default text)')
    .option('--image-field <name>', 'field or column holding a PNG path, relative to the rows file (default image; rows with it and no --tokenizer are images)')
    .option('--label-field <name>', 'field or column holding the label (default label)')
    .option('--labels <names>', 'label names in class order, e.g. ham,spam, for labels given as names')
    .option('--max-len <n>', 'text: tokens per row, [CLS] and [SEP] included (default 128)', positiveInt)
    .option('--image-shape <c,h,w>', 'images: the model\'s channels, height, width (default 1,8,8, the digits ViTs)')
    .option('--pixel-levels <n>', 'images: intensity levels of the training data, 16 for load_digits (default); 0 for none', nonNegativeInt)
    .option('--json', 'print {output, bin, rows, kind, labels, ...} as one JSON object')
    .action(lazy(() => import('./commands/data.ts'), (m) => m.dataCommand));

  program
    .command('passes')
    .description('list the registered passes with their options')
    .option('--rules', 'also list the rewrite rules of each pass')
    .option('--json', 'print {passes: [{name, summary, options, rules}]} as one JSON object')
    .option('--load-pass <file>', 'import a pass module first, to list its passes (repeatable)', collect)
    .action(lazy(() => import('./commands/passes.ts'), (m) => m.passesCommand));

  return program;
}

/**
 * A first argument that is neither a command, an option nor a file: a mistyped command (the
 * default command `compile` would otherwise take it as a model path). Returns the message.
 */
function unknownCommand(program: Command, first: string | undefined): string | undefined {
  if (first === undefined || first.startsWith('-') || existsSync(first)) return undefined;
  const names = [...program.commands.flatMap((c) => [c.name(), ...c.aliases()]), 'help'];
  if (names.includes(first)) return undefined;
  const near = closestName(first, names);
  // a path-like word is a model that does not exist: compile reports that
  if (near === undefined && /[./\\]/.test(first)) return undefined;
  return `unknown command '${first}'${near !== undefined ? ` (did you mean '${near}'?)` : ''}; the commands are ${names.join(', ')}`;
}

async function main(argv: readonly string[]): Promise<void> {
  const program = makeProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return;
  }
  const unknown = unknownCommand(program, argv[0]);
  if (unknown !== undefined) {
    process.stderr.write(`ig3dc: error: ${unknown}\n(run with --help for usage)\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
  }
}

await main(process.argv.slice(2));
