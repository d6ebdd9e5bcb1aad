// Compile benchmark: BERT-shaped models (generated, vocab 30522, batch 1, seq 128) compiled
// to a scheduled, leakage-checked circuit; compile time, and rounds and bytes with
// --protocols crypten and best next to CrypTen's measured costs (../shared/CRYPTEN-COSTS.md).
// Targets (BERT-base): compile < 10 s; crypten rounds <= 0.8x CrypTen's, bytes <= CrypTen's.
//
// Bytes are everything on the wire, both directions, online and preprocessing: CrypTen opens
// the weight masks online, we open them once in preprocessing, so the totals compare the
// same math. Run: npm run bench -- compile   (or: npx tsx bench/compile.ts [tiny|mini|base])

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileModel, type Compiled } from '../compiler/backend/compile.ts';
import { criticalPathRounds } from '../compiler/backend/report/index.ts';
import { estimateLatency, PROFILES } from '../compiler/backend/report/latency.ts';
import { loadModel } from '../compiler/load.ts';
import type { Benchmark } from './benchmark.ts';
import { BERT_PRESETS, bertOnnxByteLength, writeBertOnnx, type BertOnnxConfig } from './make-bert.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'out');
const VOCAB = 30522;
const SEQ = 128;
const TARGET_SECONDS = 10;
const TARGET_ROUND_RATIO = 0.8;

interface Shape {
  readonly name: string;
  readonly config: BertOnnxConfig;
  /** CrypTen, two parties, batch 1, seq 128: rounds and GB (both directions). */
  readonly crypten: { readonly rounds: number; readonly gb: number };
  readonly target: boolean;
}

export const SHAPES: readonly Shape[] = [
  { name: 'bert-tiny', config: { ...BERT_PRESETS.tiny, vocab: VOCAB, seed: 1 }, crypten: { rounds: 444, gb: 0.344 }, target: false },
  { name: 'bert-mini', config: { ...BERT_PRESETS.mini, vocab: VOCAB, seed: 1 }, crypten: { rounds: 842, gb: 1.084 }, target: false },
  { name: 'bert-base', config: { ...BERT_PRESETS.base, vocab: VOCAB, seed: 1 }, crypten: { rounds: 2434, gb: 9.401 }, target: true },
];

/** The model file (the frontend benchmark's bert-base.onnx when it is the same model). */
export function modelFile(s: Shape): string {
  mkdirSync(OUT, { recursive: true });
  const path = s.name === 'bert-base' ? join(OUT, 'bert-base.onnx') : join(OUT, `${s.name}-v${VOCAB}.onnx`);
  const want = bertOnnxByteLength(s.config);
  if (!existsSync(path) || statSync(path).size !== want) writeBertOnnx(path, s.config);
  return path;
}

function gb(b: number): string {
  return (b / 1e9).toFixed(3);
}

function line(label: string, c: Compiled, ref: Shape['crypten']): string {
  const lat = PROFILES.map((p) => `${p.name} ${estimateLatency(c.cost, p).seconds.toFixed(2)} s`).join(', ');
  return (
    `  ${label.padEnd(8)} rounds ${String(c.cost.rounds).padStart(5)} (critical path ${criticalPathRounds(c.circuit)}, unmerged ${c.cost.unmergedRounds}, preprocessing ${c.cost.preprocessingRounds})` +
    `  = ${(c.cost.rounds / ref.rounds).toFixed(3)}x CrypTen;  bytes ${(c.cost.bytesTotal / 1e9).toFixed(4)} GB (online ${gb(c.cost.onlineBytes)}, preprocessing ${gb(c.cost.preprocessingBytes)}, dealer ${gb(c.cost.dealerBytes)})` +
    `  = ${(c.cost.bytesTotal / 1e9 / ref.gb).toFixed(4)}x CrypTen;  ${lat};  compile ${c.timings.total.toFixed(2)} s`
  );
}

export async function runCompileCases(names: readonly string[]): Promise<void> {
  console.log(`compile benchmark: generated BERT shapes, vocab ${VOCAB}, batch 1, seq ${SEQ}; bytes = on the wire, both directions, both phases`);
  for (const s of SHAPES.filter((x) => names.includes(x.name))) {
    const path = modelFile(s);
    const t0 = performance.now();
    const graph = loadModel(path, { batch: 1, seq: SEQ });
    const loadS = (performance.now() - t0) / 1000;
    const crypten = compileModel(graph, { protocols: 'crypten' });
    const best = compileModel(graph, { protocols: 'best' });
    const t = crypten.timings;
    console.log(`${s.name} (CrypTen: ${s.crypten.rounds} rounds, ${s.crypten.gb} GB): load ${loadS.toFixed(2)} s; compile to a scheduled circuit ${t.total.toFixed(2)} s`);
    console.log(
      `  stages: passes ${t.passes.toFixed(2)} s, range ${t.range.toFixed(2)} s, lower ${t.lower.toFixed(2)} s, schedule ${t.schedule.toFixed(2)} s, cost ${t.cost.toFixed(2)} s, leakage ${t.leakage.toFixed(2)} s; ${crypten.circuit.instructions.length} instructions`,
    );
    console.log(line('crypten', crypten, s.crypten));
    console.log(line('best', best, s.crypten));
    if (s.target) {
      const ok = (b: boolean): string => (b ? 'met' : 'MISSED');
      console.log(
        `  targets: compile < ${TARGET_SECONDS} s ${ok(t.total < TARGET_SECONDS)}; crypten rounds <= ${TARGET_ROUND_RATIO}x CrypTen ${ok(crypten.cost.rounds <= TARGET_ROUND_RATIO * s.crypten.rounds)}; crypten bytes <= CrypTen at the reference's precision (3 decimals of GB) ${ok(Number((crypten.cost.bytesTotal / 1e9).toFixed(3)) <= s.crypten.gb)}; rounds = critical path ${ok(crypten.cost.rounds === criticalPathRounds(crypten.circuit))}`,
      );
    }
  }
}

export const compileBenchmark: Benchmark = {
  name: 'compile',
  summary: `compile time, rounds and bytes of BERT shapes (vocab ${VOCAB}, seq ${SEQ}) with --protocols crypten and best, vs CrypTen`,
  cases: SHAPES.map((s) => s.name),
  run: runCompileCases,
};

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const want = process.argv.slice(2);
  await runCompileCases(SHAPES.map((s) => s.name).filter((n) => want.length === 0 || want.some((w) => n.includes(w))));
}
