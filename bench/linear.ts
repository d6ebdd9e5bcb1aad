// Linear layers by a server weight: the Beaver matmul of the shared activations by the shared
// weight (linear=beaver, CrypTen's) against the cross product of the client's share with the
// server's held weight (linear=cross, protocols/linear.ts), side by side in one run.
//  1. one layer alone, [seq, k] @ [k, n], alternating, in process and in two worker threads:
//     wall, CPU seconds, ring MACs, bytes between the parties (the static counts, which the run's measured ones must equal) and from
//     the dealer, load average;
//  2. a whole model's static cost under `best` and `best,linear=beaver` (`--model FILE`): online
//     rounds, online / preprocessing / dealer bytes, and the ring MACs of the run, counted from the
//     circuit as the runtime does its products (`runMacs`; on bert-tiny it equals the measured
//     count under both methods).
//
// Measured on 2 cores shared with other work (load 1m 4.4-4.7), the default layer: in process
// beaver 0.57 s wall (1.43 s cold) / 1.51 G MACs / 4.72 MB online + 37.75 MB preprocessing,
// cross 0.38-0.40 s / 0.91 G / 3.93 + 18.87 MB (3.15 MB of the online bytes are the output's);
// in two workers (start-up and the weight's transfer included) beaver 2.2-2.8 s, cross 2.0 s.
// BERT-base shape, static: 61.91 -> 40.16 G ring MACs, online 7.272 -> 7.187 GB, preprocessing
// 1.556 -> 0.872 GB, the same 1760 rounds and 2.126 GB from the dealer.
//
//   npx tsx bench/linear.ts                                   # seq 128, 768 -> 3072 (BERT-base's FFN), 2 repeats
//   npx tsx bench/linear.ts --k 256 --n 1024                  # bert-mini's FFN
//   npx tsx bench/linear.ts --model bench/out/bert-base.onnx  # the BERT-base shape, static
//   npm run bench -- linear

import { fileURLToPath } from 'node:url';
import { compileModel } from '../compiler/backend/compile.ts';
import * as P from '../compiler/backend/protocols/index.ts';
import { loadModel } from '../compiler/load.ts';
import { CircuitBuilder, circuitCost, type Circuit } from '../ir/circuit/index.ts';
import { Tensor } from '../ir/tensor.ts';
import { numel } from '../ir/types.ts';
import type { Benchmark } from './benchmark.ts';
import { timedRun } from './timed-run.ts';

type Method = 'beaver' | 'cross';

function layer(method: Method, seq: number, k: number, n: number): Circuit {
  const b = new CircuitBuilder({ name: `linear-${method}` });
  const x = b.input('x', 1, [1, seq, k]);
  const w = b.input('w', 0, [k, n], { held: method === 'cross' });
  b.output(method === 'cross' ? P.linearCross(b, x, w) : P.matmul(b, x, w), 'y');
  return b.build();
}

/**
 * Ring multiply-accumulates of a run of `c`, counted as the runtime does its products: the
 * dealer's A@B of each matrix or cross triple; both parties' share-by-public products (a Beaver
 * combination's two, which party 0 fuses into two as well); the server's E@B of a lookup; the
 * server's and the client's one product each of a linear cross product.
 */
export function runMacs(c: Circuit): number {
  const R = c.registers;
  let macs = 0;
  for (const ins of c.instructions) {
    const input = (j: number): readonly number[] => R[ins.inputs[j]!]!.shape;
    const output = (j: number): readonly number[] => R[ins.outputs[j]!]!.shape;
    const last = (s: readonly number[]): number => s[s.length - 1]!;
    if (ins.op === 'beaver_matmul') macs += numel(output(0)) * last(output(1));
    else if (ins.op === 'cross_triple' || ins.op === 'cross_combine') macs += numel(input(0)) * input(1)[1]!;
    else if (ins.op === 'cross_combine_shared') macs += 2 * numel(input(0)) * input(2)[1]!;
    else if (ins.op === 'matmul_pub') {
      const inner = ins.attrs['side'] === 'left' ? last(input(1)) : last(input(0));
      macs += 2 * numel(output(0)) * inner;
    }
  }
  return macs;
}

async function once(method: Method, threads: 1 | 2, seq: number, k: number, n: number): Promise<string> {
  const c = layer(method, seq, k, n);
  // multiples of 1/64 in [-2, 2): the ring product is exact before truncation
  const values = (len: number, salt: number): Tensor => Tensor.from('f64', [len], Array.from({ length: len }, (_, i) => (((i * 2654435761 + salt) % 256) - 128) / 64));
  const x = new Tensor('f64', [1, seq, k], values(seq * k, 1).toFloat64());
  const w = new Tensor('f64', [k, n], values(k * n, 7).toFloat64());
  const opts = { inputs: new Map([['x', x]]), weights: new Map([['w', w]]), seed: new Uint8Array(16).fill(3), transcript: false };
  const { result: r, wall, cpu, load } = await timedRun(c, opts, threads, method);
  const k0 = circuitCost(c);
  // error against the float product of a few rows (1 ulp of local truncation expected)
  const y = r.outputs.get('y')!.toFloat64();
  const [xs, ws] = [x.toFloat64(), w.toFloat64()];
  let err = 0;
  for (let i = 0; i < Math.min(seq, 4); i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += xs[i * k + t]! * ws[t * n + j]!;
      err = Math.max(err, Math.abs(y[i * n + j]! - s));
    }
  }
  return `${method.padEnd(7)} ${String(threads).padStart(7)} ${wall.toFixed(2).padStart(8)} ${cpu.toFixed(2).padStart(7)} ${(r.ringMacs / 1e9).toFixed(3).padStart(9)} G ${(k0.onlineBytes / 1e6).toFixed(2).padStart(9)} ${(k0.preprocessingBytes / 1e6).toFixed(2).padStart(9)} ${(k0.dealerBytes / 1e6).toFixed(2).padStart(9)}  ${String(err <= 2 ** -16).padStart(10)}  ${load}`;
}

async function layerTable(seq: number, k: number, n: number, repeat: number): Promise<void> {
  console.log(`one linear layer [1, ${seq}, ${k}] @ [${k}, ${n}] (wall and CPU seconds of the secure run; cpu = all threads; MB between the parties online and in preprocessing, and from the dealer)`);
  console.log('method  threads   wall s   cpu s   ring MACs  online MB    pre MB dealer MB  within ulp  load 1m 5m 15m');
  for (let r = 0; r < repeat; r++) {
    const order: Method[] = r % 2 === 0 ? ['beaver', 'cross'] : ['cross', 'beaver'];
    for (const threads of [1, 2] as const) for (const m of order) console.log(await once(m, threads, seq, k, n));
  }
}

function modelTable(file: string, seq: number): void {
  const g = loadModel(file, { batch: 1, seq });
  console.log(`${file}, batch 1, seq ${seq}, static cost (ring MACs: the products the runtime does)`);
  console.log('protocols            rounds  online GB  preprocessing GB  dealer GB  ring MACs  linear online MB  linear pre MB');
  for (const spec of ['best', 'best,linear=beaver']) {
    const c = compileModel(g, { protocols: spec });
    const k = circuitCost(c.circuit);
    const lin = k.byOpKind['linear'];
    console.log(
      `${spec.padEnd(20)} ${String(k.rounds).padStart(6)} ${(k.onlineBytes / 1e9).toFixed(3).padStart(10)} ${(k.preprocessingBytes / 1e9).toFixed(3).padStart(17)} ${(k.dealerBytes / 1e9).toFixed(3).padStart(10)} ${(runMacs(c.circuit) / 1e9).toFixed(2).padStart(8)} G ${((lin?.bytes ?? 0) / 1e6).toFixed(1).padStart(17)} ${((lin?.preprocessingBytes ?? 0) / 1e6).toFixed(1).padStart(14)}`,
    );
  }
}

export const linearBenchmark: Benchmark = {
  name: 'linear',
  summary: "one linear layer (seq 128, 768 -> 3072): the Beaver matmul against the cross product with the server's weight, in process and in two workers",
  cases: ['ffn768'],
  async run() {
    await layerTable(128, 768, 3072, 2);
  },
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1]! : dflt;
  };
  const model = arg('--model', '');
  if (model !== '') modelTable(model, Number(arg('--seq', '128')));
  else await layerTable(Number(arg('--seq', '128')), Number(arg('--k', '768')), Number(arg('--n', '3072')), Number(arg('--repeat', '2')));
}
