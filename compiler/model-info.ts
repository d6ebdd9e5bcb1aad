// What kind of transformer a graph is: layers, heads, sizes, parameters, ops by kind.
//
// Read off the ONNX-level graph by its structure (softmax per attention layer, the word
// embedding table, the weight matrices), so it works before any raising pass has run.

import type { Graph } from '../ir/graph.ts';
import { CONST_OP, INPUT_OP, type Node } from '../ir/node.ts';
import { formatType, numel, type ValueType } from '../ir/types.ts';

export interface ModelInfo {
  readonly name: string;
  readonly layers?: number;
  readonly heads?: number;
  /** Heads per layer, when they differ (after pruning). */
  readonly headsPerLayer?: readonly number[];
  readonly headDim?: number;
  readonly hidden?: number;
  readonly intermediate?: number;
  readonly vocab?: number;
  /** Elements of the model's weights (secret(server) constants, each named parameter once). */
  readonly parameters: number;
  /** Bytes of the weights as stored (float32: 4 per element). */
  readonly parameterBytes: number;
  readonly nodes: number;
  readonly opCounts: ReadonlyMap<string, number>;
  readonly inputs: readonly { name: string; type: ValueType }[];
  readonly outputs: readonly { name: string; type: ValueType }[];
}

function isWeight(n: Node): boolean {
  return n.op === CONST_OP && n.type.vis === 'server';
}

export function modelInfo(graph: Graph): ModelInfo {
  const nodes = graph.nodes();
  const opCounts = new Map<string, number>();
  let parameters = 0;
  let parameterBytes = 0;
  const softmaxes: Node[] = [];
  let wordEmbedding: Node | undefined;
  let intermediate: number | undefined;
  for (const n of nodes) {
    if (n.op !== INPUT_OP) opCounts.set(n.op, (opCounts.get(n.op) ?? 0) + 1);
    // An Identity of a weight is a named parameter that shares its storage (the exporter
    // deduplicates equal initializers); count it as the parameter it stands for.
    if (isWeight(n) || (n.op === 'Identity' && isWeight(n.inputs[0]!))) {
      parameters += numel(n.type.shape);
      if (isWeight(n)) parameterBytes += numel(n.type.shape) * elemBytes(n.type.elem);
    }
    if (n.op === 'Softmax' || n.op === 'AttentionSoftmax') softmaxes.push(n);
    if ((n.op === 'Gather' || n.op === 'Embedding') && wordEmbedding === undefined) {
      const [table, ids] = n.inputs;
      if (table !== undefined && ids !== undefined && isWeight(table) && table.type.shape.length === 2 && ids.type.vis === 'client') {
        wordEmbedding = table;
      }
    }
    if ((n.op === 'MatMul' || n.op === 'Gemm' || n.op === 'Linear') && n.inputs.some(isWeight)) {
      const last = n.type.shape[n.type.shape.length - 1];
      if (last !== undefined && (intermediate === undefined || last > intermediate)) intermediate = last;
    }
  }
  // scores are [B, H, S, S]: the head count is axis 1 (it shrinks per layer after pruning)
  const perLayer = softmaxes.map((s) => (s.type.shape.length === 4 ? s.type.shape[1]! : undefined));
  const heads = perLayer[0];
  const uneven = perLayer.some((h) => h !== heads);
  const hidden = wordEmbedding?.type.shape[1];
  const headDim = heads !== undefined && !uneven && hidden !== undefined && hidden % heads === 0 ? hidden / heads : undefined;
  return {
    name: graph.name,
    ...(softmaxes.length > 0 ? { layers: softmaxes.length } : {}),
    ...(heads !== undefined && !uneven ? { heads } : {}),
    ...(uneven && perLayer.every((h) => h !== undefined) ? { headsPerLayer: perLayer as number[] } : {}),
    ...(headDim !== undefined ? { headDim } : {}),
    ...(hidden !== undefined ? { hidden } : {}),
    ...(intermediate !== undefined && hidden !== undefined && intermediate > hidden ? { intermediate } : {}),
    ...(wordEmbedding !== undefined ? { vocab: wordEmbedding.type.shape[0]! } : {}),
    parameters,
    parameterBytes,
    nodes: nodes.length - graph.inputs.length,
    opCounts,
    inputs: graph.inputs.map((i) => ({ name: i.name ?? '', type: i.type })),
    outputs: graph.outputs.map((o) => ({ name: o.name, type: o.node.type })),
  };
}

function elemBytes(elem: ValueType['elem']): number {
  switch (elem) {
    case 'f64':
    case 'i64':
    case 'u64':
    case 'ring64':
      return 8;
    case 'f32':
    case 'i32':
    case 'u32':
      return 4;
    default:
      return 1;
  }
}

/** The summary `ig3dc MODEL` prints. */
export function formatModelInfo(info: ModelInfo): string {
  const q = (v: number | undefined): string => (v === undefined ? '?' : String(v));
  const lines: string[] = [];
  lines.push(`model ${info.name}`);
  const heads = info.headsPerLayer !== undefined ? `${info.headsPerLayer.join('/')} per layer` : `${q(info.heads)} (head size ${q(info.headDim)})`;
  lines.push(`  layers ${q(info.layers)}, heads ${heads}, hidden ${q(info.hidden)}, intermediate ${q(info.intermediate)}, vocab ${q(info.vocab)}`);
  lines.push(`  parameters ${formatCount(info.parameters)} (${(info.parameterBytes / 2 ** 20).toFixed(1)} MiB stored)`);
  lines.push('inputs');
  for (const i of info.inputs) lines.push(`  ${i.name}: ${formatType(i.type)}`);
  lines.push('outputs');
  for (const o of info.outputs) lines.push(`  ${o.name}: ${formatType(o.type)}`);
  lines.push(`ops (${info.nodes} nodes)`);
  const rows = [...info.opCounts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const width = Math.max(...rows.map(([op]) => op.length));
  for (const [op, count] of rows) lines.push(`  ${op.padEnd(width)}  ${String(count).padStart(5)}`);
  return lines.join('\n');
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}
