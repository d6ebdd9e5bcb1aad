// Loading a model from either an ONNX file or a text IR file.

import { extname } from 'node:path';
import type { Graph } from '../ir/graph.ts';
import { readIrFile } from '../ir/parser.ts';
import { loadOnnxFile } from './frontend/import.ts';

/** How to bind a model's dynamic dimensions (ONNX only; an .ir file is already static). */
export interface DimBinding {
  readonly batch?: number;
  readonly seq?: number;
  /** Other named dimensions (`--dim NAME=N`, repeatable). */
  readonly dim?: Readonly<Record<string, number>>;
  /** Shapes of the inputs that will be fed: they bind the dynamic dimensions they hold (before batch/seq/dim). */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
}

export function isIrFile(path: string): boolean {
  return extname(path).toLowerCase() === '.ir';
}

export function loadModel(path: string, binding: DimBinding = {}): Graph {
  if (isIrFile(path)) return readIrFile(path);
  return loadOnnxFile(path, {
    ...(binding.batch !== undefined ? { batch: binding.batch } : {}),
    ...(binding.seq !== undefined ? { seq: binding.seq } : {}),
    ...(binding.dim !== undefined ? { dims: binding.dim } : {}),
    ...(binding.inputShapes !== undefined ? { inputShapes: binding.inputShapes } : {}),
  }).graph;
}
