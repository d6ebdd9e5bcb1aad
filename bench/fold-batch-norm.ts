// What folding inference BatchNorm into the neighbouring Linear saves: the static cost of
// BatchNorm1d on tokens in front of a Linear, and of a PolyTransformer-style encoder layer
// (BatchNorm1d on tokens in place of both LayerNorms, pre-norm, softmax attention, GELU MLP),
// each compiled with `raise-bert,canonicalize` and with the default raising, which folds the
// BatchNorms (`raise-bert,fold-batch-norm,canonicalize`).
// Static costs from the circuit (the runtime measures the same numbers).
//
//   npx tsx bench/fold-batch-norm.ts [--tokens 65] [--hidden 192] [--heads 3] [--protocols best]
//   npm run bench -- fold-batch-norm

import { fileURLToPath } from 'node:url';
import { compileModel } from '../compiler/backend/compile.ts';
import { estimateLatency, phaseBytes, PROFILES } from '../compiler/backend/report/latency.ts';
import { build } from '../ir/build.ts';
import { Graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { constNode, inputNode } from '../ir/node.ts';
import { Tensor } from '../ir/tensor.ts';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

let seed = 7;
function next(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return (seed / 4294967296) * 2 - 1;
}
const values = (k: number, scale: number, shift = 0): number[] => Array.from({ length: k }, () => next() * scale + shift);
const weight = (shape: number[], name: string, scale = 0.1, shift = 0): Node =>
  constNode(Tensor.from('f32', shape, values(shape.reduce((a, b) => a * b, 1), scale, shift)), { elem: 'f32', shape, vis: 'server' }, { name });
const op = (o: string, inputs: Node[], attrs: Record<string, number | number[]> = {}, name?: string): Node => build(o, inputs, attrs, name !== undefined ? { name } : {});
const pub = (v: number): Node => constNode(Tensor.scalar('f32', v), { elem: 'f32', shape: [], vis: 'public' });

/** torch's Linear on [B, S, K]: MatMul by W [K, N] plus the bias. */
function linear(x: Node, N: number, name: string): Node {
  const K = x.type.shape[x.type.shape.length - 1]!;
  return op('Add', [op('MatMul', [x, weight([K, N], `${name}.weight`)]), weight([N], `${name}.bias`)]);
}

/** BatchNorm1d on tokens as the frontend imports it: Transpose, x * a + c per channel ([C, 1]), Transpose. */
function tokenBatchNorm(x: Node, name: string): Node {
  const C = x.type.shape[2]!;
  const t = op('Transpose', [x], { perm: [0, 2, 1] });
  const y = op('Add', [op('Mul', [t, weight([C, 1], `${name}.scale`, 0.2, 1)]), weight([C, 1], `${name}.shift`, 0.1)], {}, name);
  return op('Transpose', [y], { perm: [0, 2, 1] });
}

function attention(x: Node, heads: number): Node {
  const [B, S, D] = x.type.shape as [number, number, number];
  const d = D / heads;
  const split = (t: Node, perm: number[]): Node => op('Transpose', [op('Reshape', [t], { shape: [B, S, heads, d] })], { perm });
  const q = split(linear(x, D, 'query'), [0, 2, 1, 3]);
  const k = split(linear(x, D, 'key'), [0, 2, 3, 1]);
  const v = split(linear(x, D, 'value'), [0, 2, 1, 3]);
  const probs = op('Softmax', [op('Div', [op('MatMul', [q, k]), pub(Math.sqrt(d))])], { axis: -1 });
  const ctx = op('Reshape', [op('Transpose', [op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] })], { shape: [B, S, D] });
  return linear(ctx, D, 'attention.output');
}

function gelu(x: Node): Node {
  const phi = op('Add', [op('Erf', [op('Div', [x, pub(Math.SQRT2)])]), pub(1)]);
  return op('Mul', [op('Mul', [x, phi]), pub(0.5)]);
}

/** One pre-norm encoder layer with BatchNorm: h = x + attn(BN1(x)); y = h + mlp(BN2(h)). */
export function batchNormLayer(tokens: number, hidden: number, heads: number): Graph {
  const x = inputNode('tokens', { elem: 'f32', shape: [1, tokens, hidden], vis: 'client' }, { name: 'tokens' });
  const h = op('Add', [x, attention(tokenBatchNorm(x, 'bn1'), heads)]);
  const mlp = linear(gelu(linear(tokenBatchNorm(h, 'bn2'), 4 * hidden, 'fc1')), hidden, 'fc2');
  return new Graph('bn-layer', [x], [{ name: 'y', node: op('Add', [h, mlp]) }]);
}

/** BatchNorm1d on tokens, then a Linear (hidden -> hidden). */
export function batchNormLinear(tokens: number, hidden: number): Graph {
  const x = inputNode('tokens', { elem: 'f32', shape: [1, tokens, hidden], vis: 'client' }, { name: 'tokens' });
  return new Graph('bn-linear', [x], [{ name: 'y', node: linear(tokenBatchNorm(x, 'bn'), hidden, 'fc') }]);
}

export interface FoldCost {
  readonly pipeline: string;
  readonly rounds: number;
  readonly onlineBytes: number;
  readonly preprocessingBytes: number;
  readonly dealerBytes: number;
  readonly lan: number;
  readonly wan: number;
}

export function foldCosts(g: Graph, protocols: string): FoldCost[] {
  return ['raise-bert,canonicalize', 'raise-bert,fold-batch-norm,canonicalize'].map((pipeline) => {
    const { cost } = compileModel(g, { protocols, raise: pipeline });
    const [lan, wan] = PROFILES.map((p) => estimateLatency(cost, p).seconds);
    const [p0, p1] = phaseBytes(cost, 'online');
    const [q0, q1] = phaseBytes(cost, 'pre');
    return { pipeline, rounds: cost.rounds, onlineBytes: p0 + p1, preprocessingBytes: q0 + q1, dealerBytes: cost.dealerBytes, lan: lan!, wan: wan! };
  });
}

function arg(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
}

export function main(argv: readonly string[]): void {
  const tokens = Number(arg(argv, '--tokens', '65'));
  const hidden = Number(arg(argv, '--hidden', '192'));
  const heads = Number(arg(argv, '--heads', '3'));
  const protocols = arg(argv, '--protocols', 'best');
  const graphs: [string, Graph][] = [
    [`BatchNorm1d on ${tokens} tokens, then a Linear ${hidden} -> ${hidden}`, batchNormLinear(tokens, hidden)],
    [`one pre-norm encoder layer with BatchNorm1d for LayerNorm: ${tokens} tokens, hidden ${hidden}, ${heads} heads`, batchNormLayer(tokens, hidden, heads)],
  ];
  for (const [title, g] of graphs) report(title, foldCosts(g, protocols), protocols);
}

function report(title: string, rows: readonly FoldCost[], protocols: string): void {
  const base = rows[0]!;
  console.log(`${title}, --protocols ${protocols}`);
  console.log(
    table([
      ['raising', 'rounds', 'online MB', 'preproc MB', 'dealer MB', 'LAN ms', 'WAN s', 'rounds x', 'online bytes x'],
      ...rows.map((r) => [
        r.pipeline,
        String(r.rounds),
        (r.onlineBytes / 1e6).toFixed(3),
        (r.preprocessingBytes / 1e6).toFixed(3),
        (r.dealerBytes / 1e6).toFixed(3),
        (r.lan * 1e3).toFixed(2),
        r.wan.toFixed(3),
        (r.rounds / base.rounds).toFixed(3),
        (r.onlineBytes / base.onlineBytes).toFixed(3),
      ]),
    ]),
  );
}

export const foldBatchNormBenchmark: Benchmark = {
  name: 'fold-batch-norm',
  summary: 'static cost of a pre-norm encoder layer with BatchNorm1d for LayerNorm (65 tokens, hidden 192, 3 heads), raise-bert alone and with fold-batch-norm',
  cases: ['best', 'crypten'],
  run: async (cases) => {
    for (const protocols of cases) main(['--protocols', protocols]);
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
