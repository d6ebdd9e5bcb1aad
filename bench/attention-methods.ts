// The cost of one attention layer per attention method, in the layout of MPCViT's Table 2:
// for n = 17, 128 and 512 tokens, the attention weights of one layer (AttentionSoftmax over
// [1, H, n, n] scores, every key kept) lowered with the given protocols: online rounds, online
// bytes, estimated LAN and WAN latency, each relative to softmax. Static costs from the
// circuit (the runtime measures the same numbers; see test/lower-attention-methods.test.ts).
//
//   npx tsx bench/attention-methods.ts [--heads 12] [--protocols crypten|best] [--tokens 17,128,512]
//   npm run bench -- attention-methods

import { fileURLToPath } from 'node:url';
import { compileModel } from '../compiler/backend/compile.ts';
import { estimateLatency, phaseBytes, PROFILES } from '../compiler/backend/report/latency.ts';
import { build } from '../ir/build.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode } from '../ir/node.ts';
import { ATTENTION_METHOD_NAMES } from '../ir/ops/transformer/attention-methods.ts';
import { Tensor } from '../ir/tensor.ts';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

export interface LayerCost {
  readonly method: string;
  readonly n: number;
  readonly rounds: number;
  readonly onlineBytes: number;
  readonly lan: number;
  readonly wan: number;
}

export function attentionLayerCost(method: string, n: number, heads: number, protocols: string): LayerCost {
  const s = inputNode('scores', { elem: 'f32', shape: [1, heads, n, n], vis: 'shared' }, { name: 'scores' });
  const keep = constNode(Tensor.from('f32', [1, 1, 1, n], new Array<number>(n).fill(1)), { elem: 'f32', shape: [1, 1, 1, n], vis: 'public' });
  const ids = Array.from({ length: heads }, (_, h) => h);
  const y = build('AttentionSoftmax', [s, keep], { heads: ids, methods: ids.map(() => method) }, { name: '/attention', layer: 0 });
  const { cost } = compileModel(new Graph(`attention-${method}-${n}`, [s], [{ name: 'weights', node: y }]), { raise: false, protocols });
  const [lan, wan] = PROFILES.map((p) => estimateLatency(cost, p).seconds);
  const [p0, p1] = phaseBytes(cost, 'online');
  return { method, n, rounds: cost.rounds, onlineBytes: p0 + p1, lan: lan!, wan: wan! };
}

function fmtBytes(b: number): string {
  return b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`;
}

export function attentionMethodsTable(tokens: readonly number[], heads: number, protocols: string): string {
  const rows: string[][] = [['method', 'n', 'rounds', 'online bytes', 'LAN ms', 'WAN ms', 'rounds/softmax', 'bytes/softmax', 'LAN/softmax', 'WAN/softmax']];
  for (const n of tokens) {
    const base = attentionLayerCost('exact', n, heads, protocols);
    for (const m of ATTENTION_METHOD_NAMES) {
      const c = m === 'exact' ? base : attentionLayerCost(m, n, heads, protocols);
      const rel = (a: number, b: number): string => (b === 0 ? '-' : (a / b).toFixed(3));
      rows.push([m === 'exact' ? 'softmax' : m, String(n), String(c.rounds), fmtBytes(c.onlineBytes), (c.lan * 1e3).toFixed(2), (c.wan * 1e3).toFixed(1), rel(c.rounds, base.rounds), rel(c.onlineBytes, base.onlineBytes), rel(c.lan, base.lan), rel(c.wan, base.wan)]);
    }
  }
  return table(rows);
}

function argsOf(argv: readonly string[]): { heads: number; protocols: string; tokens: number[] } {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return { heads: Number(get('--heads') ?? 12), protocols: get('--protocols') ?? 'crypten', tokens: (get('--tokens') ?? '17,128,512').split(',').map(Number) };
}

export const attentionMethodsBenchmark: Benchmark = {
  name: 'attention-methods',
  summary: 'one attention layer per attention method at n = 17, 128, 512 tokens (12 heads): rounds, bytes, LAN/WAN latency relative to softmax (MPCViT Table 2)',
  cases: ['crypten', 'best'],
  run: async (cases) => {
    for (const protocols of cases) {
      console.log(`attention weights of one layer, 12 heads, protocols ${protocols}; ${PROFILES.map((p) => `${p.name}: ${p.description}`).join('; ')}`);
      console.log(attentionMethodsTable([17, 128, 512], 12, protocols));
    }
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const a = argsOf(process.argv.slice(2));
  console.log(`attention weights of one layer, ${a.heads} heads, protocols ${a.protocols}; ${PROFILES.map((p) => `${p.name}: ${p.description}`).join('; ')}`);
  console.log(attentionMethodsTable(a.tokens, a.heads, a.protocols));
}
