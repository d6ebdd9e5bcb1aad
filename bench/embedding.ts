// The embedding lookup alone (client token ids into a server table, vocabulary 30522): the
// Beaver matmul of the shared one-hot (embedding=beaver, CrypTen's) against the cross product of
// the client's held one-hot and the server's held table (embedding=cross, ir/circuit/gates/cross.ts),
// side by side in one run, alternating, in process and in two worker threads. Prints wall, CPU
// seconds, ring MACs, bytes between the parties and from the dealer, and the load average.
//
// Measured on 2 cores shared with other work (load 1m 8.0-8.4), `--dim 768 --repeat 1` (BERT-base's
// table): in process, beaver 19.6 s wall / 18.6 CPU s / 15.0 G MACs / 438 MB, cross 8.5 / 8.0 /
// 6.0 G / 220 MB; in two workers (start-up and the table's transfer included) beaver 31.7 / 27.5,
// cross 14.9 / 13.6. At dim 256 (load 6.8-7.3), in process beaver 4.6-6.3 s, cross 1.4-1.8 s.
//
//   npx tsx bench/embedding.ts                       # seq 128, dim 256 (bert-mini), 2 repeats
//   npx tsx bench/embedding.ts --dim 768 --repeat 1  # BERT-base's table
//   npm run bench -- embedding

import { fileURLToPath } from 'node:url';
import * as P from '../compiler/backend/protocols/index.ts';
import { CircuitBuilder, type Circuit } from '../ir/circuit/index.ts';
import { Tensor } from '../ir/tensor.ts';
import type { Benchmark } from './benchmark.ts';
import { timedRun } from './timed-run.ts';

const VOCAB = 30522;

function lookup(method: 'beaver' | 'cross', seq: number, dim: number): Circuit {
  const b = new CircuitBuilder({ name: `embedding-${method}` });
  const held = method === 'cross';
  const x = b.input('ids', 1, [1, seq], { encoding: 'onehot', classes: VOCAB, held });
  const t = b.input('table', 0, [VOCAB, dim], { held });
  b.output(held ? P.embeddingCross(b, x, t) : P.embeddingOneHot(b, b.reshape(x, [seq, VOCAB]), t, P.BEST), 'rows');
  return b.build();
}

interface Row {
  readonly method: string;
  readonly threads: number;
  readonly wall: number;
  readonly cpu: number;
  readonly macs: number;
  readonly bytes: number;
  readonly dealer: number;
  readonly load: string;
  readonly exact: boolean;
}

async function once(method: 'beaver' | 'cross', threads: 1 | 2, seq: number, dim: number): Promise<Row> {
  const c = lookup(method, seq, dim);
  const ids = Array.from({ length: seq }, (_, i) => (i === 0 ? 101 : i === seq - 1 ? 102 : 1000 + ((i * 7919) % 997)));
  const table = Tensor.from('f64', [VOCAB, dim], Array.from({ length: VOCAB * dim }, (_, i) => ((i * 2654435761) % 4001) / 1000 - 2));
  const opts = { inputs: new Map([['ids', Tensor.from('f64', [1, seq], ids)]]), weights: new Map([['table', table]]), seed: new Uint8Array(16).fill(3), transcript: false };
  const { result: r, wall, cpu, load } = await timedRun(c, opts, threads, method);
  const rows = r.outputs.get('rows')!.toFloat64();
  const t = table.toFloat64();
  let err = 0;
  ids.forEach((id, i) => {
    for (let j = 0; j < dim; j++) err = Math.max(err, Math.abs(rows[i * dim + j]! - t[id * dim + j]!));
  });
  return { method, threads, wall, cpu, macs: r.ringMacs, bytes: r.cost.bytesTotal, dealer: r.cost.dealerBytes, load, exact: err <= 2 ** -16 };
}

async function table(seq: number, dim: number, repeat: number): Promise<void> {
  console.log(`embedding lookup, seq ${seq}, vocabulary ${VOCAB}, dim ${dim} (wall and CPU seconds of the secure run; cpu = all threads)`);
  console.log('method  threads   wall s   cpu s   ring MACs   P0-P1 MB   dealer MB  within 1 ulp  load 1m 5m 15m');
  for (let k = 0; k < repeat; k++) {
    const order: ('beaver' | 'cross')[] = k % 2 === 0 ? ['beaver', 'cross'] : ['cross', 'beaver'];
    for (const threads of [1, 2] as const) {
      for (const m of order) {
        const r = await once(m, threads, seq, dim);
        console.log(
          `${r.method.padEnd(7)} ${String(r.threads).padStart(7)} ${r.wall.toFixed(2).padStart(8)} ${r.cpu.toFixed(2).padStart(7)} ${(r.macs / 1e9).toFixed(2).padStart(9)} G ${(r.bytes / 1e6).toFixed(1).padStart(10)} ${(r.dealer / 1e6).toFixed(1).padStart(11)}  ${String(r.exact).padStart(12)}  ${r.load}`,
        );
      }
    }
  }
}

export const embeddingBenchmark: Benchmark = {
  name: 'embedding',
  summary: 'the embedding lookup alone (seq 128, vocabulary 30522, dim 256): Beaver matmul against the cross product, in process and in two workers',
  cases: ['dim256'],
  async run() {
    await table(128, 256, 2);
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: string): number => {
    const i = process.argv.indexOf(name);
    return Number(i >= 0 ? process.argv[i + 1]! : dflt);
  };
  await table(arg('--seq', '128'), arg('--dim', '256'), arg('--repeat', '2'));
}
