// `ig3dc opt FILE --passes PIPELINE`: run passes on a model (text IR or ONNX), print the result.

import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ig3dcError, isIg3dcError } from '../../../ir/diagnostics.ts';
import { printGraph } from '../../../ir/printer.ts';
import { parsePipeline, runPipeline } from '../../../passes/index.ts';
import { IMPORTANCE_RESOURCE } from '../../../passes/ig3d/index.ts';
import { loadModel, type DimBinding } from '../../load.ts';
import { writeJson, writeOut, writeOutput } from '../run-command.ts';

export interface OptOptions extends DimBinding {
  passes: string;
  output?: string;
  printIrAfter?: string;
  dumpDir?: string;
  verify?: boolean;
  loadPass?: readonly string[];
  /** Print {ir, stages} as JSON instead of the IR text. */
  json?: boolean;
  /** Head importance annotations (JSON or text) for the IG-3D passes. */
  importance?: string;
}

/**
 * Imports pass modules (TypeScript or JavaScript files that call registerPass), in order,
 * so their passes can be named in a pipeline. A file that is missing or fails to load is
 * an error naming it.
 */
export async function loadPassModules(files: readonly string[]): Promise<void> {
  for (const file of files) {
    const path = resolve(file);
    if (!existsSync(path)) throw new Ig3dcError('io', 'pass module not found', { file });
    if (/\.[mc]?ts$/.test(path)) await enableTypeScriptModules();
    try {
      await import(pathToFileURL(path).href);
    } catch (e) {
      if (isIg3dcError(e)) throw new Ig3dcError(e.kind, `while loading this pass module: ${e.message}`, { file });
      const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      // tsx loads a .ts file outside an ESM package as CommonJS, which cannot import the pass API
      const hint = /require\(\) ES Module/.test(msg) ? ' (name the file .mts, or put it in a package whose package.json says "type": "module")' : '';
      throw new Ig3dcError('io', `cannot load pass module: ${msg}${hint}`, { file });
    }
  }
}

let typeScriptEnabled = false;

/**
 * Lets the compiled CLI import a TypeScript pass module: tsx's loader, and a hook that sends
 * the module's imports of ig3dc's own sources to dist/. Running from the sources (tsx,
 * vitest), TypeScript already loads.
 */
async function enableTypeScriptModules(): Promise<void> {
  if (typeScriptEnabled || !import.meta.url.endsWith('.js')) return;
  let tsx: { register: () => unknown };
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    throw new Ig3dcError('usage', "a TypeScript pass module needs tsx ('npm install tsx' where ig3dc is installed), or compile the pass to .js");
  }
  typeScriptEnabled = true;
  tsx.register();
  const { register: registerHooks } = await import('node:module');
  registerHooks(new URL('../source-to-dist-hook.js', import.meta.url));
}

export async function optCommand(model: string, opts: OptOptions): Promise<void> {
  if (opts.json === true && opts.output === '-') throw new Ig3dcError('usage', '--json and -o - would both write to stdout');
  await loadPassModules(opts.loadPass ?? []);
  const steps = parsePipeline(opts.passes, '--passes');
  const graph = loadModel(model, opts);
  const run = runPipeline(graph, steps, {
    verify: opts.verify !== false,
    ...(opts.importance !== undefined ? { resources: new Map([[IMPORTANCE_RESOURCE, opts.importance]]) } : {}),
    ...(opts.printIrAfter !== undefined ? { printAfter: opts.printIrAfter } : {}),
    ...(opts.dumpDir !== undefined ? { dumpDir: opts.dumpDir } : {}),
    onNote: (pass, message) => process.stderr.write(`ig3dc: note: ${pass}: ${message}\n`),
  });
  const text = printGraph(run.graph);
  if (opts.output !== undefined) await writeOutput(opts.output, text);
  if (opts.json === true) await writeJson({ model, ir: text, stages: run.stages, notes: run.notes });
  else if (opts.output === undefined) await writeOut(text);
}
