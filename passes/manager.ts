// Runs a pipeline: each pass, then the verifier, then whatever the user asked to see.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ig3dcError, isIg3dcError } from '../ir/diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { printGraph, writeIrFile } from '../ir/printer.ts';
import { verifyGraph } from '../ir/verifier.ts';
import type { PassContext } from './pass.ts';
import type { PipelineStep } from './pipeline.ts';

export interface PipelineOptions {
  /** Run the verifier after every pass (default true). */
  readonly verify?: boolean;
  /** Print the IR after the named pass, or after every pass with 'all'. */
  readonly printAfter?: string;
  /** Where printed stages go (default: stderr, like mlir-opt). */
  readonly print?: (text: string) => void;
  /**
   * Write one numbered .ir file per stage into this directory (00-input.ir, 01-raise-bert.ir,
   * ...), large constants in a `.weights` file beside each, so every stage parses and runs again.
   */
  readonly dumpDir?: string;
  readonly resources?: ReadonlyMap<string, unknown>;
  readonly onNote?: (pass: string, message: string) => void;
}

export interface StageRecord {
  readonly step: string;
  readonly seconds: number;
  readonly nodes: number;
}

export interface PipelineRun {
  readonly graph: Graph;
  readonly stages: readonly StageRecord[];
  readonly notes: readonly { pass: string; message: string }[];
}

export function runPipeline(input: Graph, steps: readonly PipelineStep[], options: PipelineOptions = {}): PipelineRun {
  const verify = options.verify ?? true;
  const print = options.print ?? ((t: string) => process.stderr.write(t));
  const printAfter = options.printAfter;
  if (printAfter !== undefined && printAfter !== 'all' && !steps.some((s) => s.pass.name === printAfter)) {
    const inPipeline = [...new Set(steps.map((s) => s.pass.name))];
    throw new Ig3dcError('usage', `--print-ir-after '${printAfter}' names no pass of the pipeline (it runs: ${inPipeline.join(', ') || 'nothing'}; or use 'all')`);
  }
  const notes: { pass: string; message: string }[] = [];
  const ctx: PassContext = {
    resources: options.resources ?? new Map(),
    note(pass, message) {
      notes.push({ pass, message });
      options.onNote?.(pass, message);
    },
  };
  if (options.dumpDir !== undefined) {
    try {
      mkdirSync(options.dumpDir, { recursive: true });
    } catch (e) {
      throw new Ig3dcError('io', `cannot create the dump directory: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file: options.dumpDir });
    }
    dumpStage(options.dumpDir, 0, 'input', input);
  }
  const stages: StageRecord[] = [];
  let graph = input;
  steps.forEach((step, k) => {
    const t0 = performance.now();
    try {
      graph = step.pass.run(graph, step.options, ctx);
    } catch (e) {
      if (isIg3dcError(e)) throw new Ig3dcError(e.kind, `in pass ${step.text}: ${e.detail}`, e.place);
      throw e;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (verify) {
      try {
        verifyGraph(graph);
      } catch (e) {
        if (isIg3dcError(e)) throw new Ig3dcError('verify', `the IR after pass ${step.text} is invalid: ${e.detail}`, e.place);
        throw e;
      }
    }
    stages.push({ step: step.text, seconds, nodes: graph.nodes().length });
    if (printAfter === 'all' || printAfter === step.pass.name) {
      print(`// ----- IR after ${step.text} -----\n${printGraph(graph)}`);
    }
    if (options.dumpDir !== undefined) dumpStage(options.dumpDir, k + 1, step.pass.name, graph);
  });
  return { graph, stages, notes };
}

function dumpStage(dir: string, index: number, name: string, graph: Graph): void {
  const file = join(dir, `${String(index).padStart(2, '0')}-${name}.ir`);
  writeIrFile(graph, file);
}
