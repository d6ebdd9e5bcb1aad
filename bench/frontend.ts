// Frontend benchmark: time and peak memory of decoding + importing BERT ONNX models.
//
// Each model is measured in its own child process so that one model's heap does not inflate
// another's peak: the child reads the file, imports it (importOnnx: decode, bind batch 1 x
// seq 128, infer shapes, fold shape arithmetic) and reports process.resourceUsage().maxRSS
// after the first import, the import times of every run, and the decode time alone.
// Target (BERT-base): import < 5 s and peak RSS < 3x the file size.

import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BERT_PRESETS, bertOnnxByteLength, writeBertOnnx, type BertOnnxConfig } from './make-bert.ts';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '..', '..', 'shared', 'fixtures');
const OUT = join(HERE, 'out');
const BATCH = 1;
const SEQ = 128;
const TARGET_SECONDS = 5;
const TARGET_RSS_RATIO = 3;

interface ModelCase {
  readonly name: string;
  readonly path: string;
  /** How the file came to be. */
  readonly origin: string;
  readonly runs: number;
  /** Whether the BERT-base target applies. */
  readonly target: boolean;
  /** Generated models: the config, written when the file is missing or has another size (stale). */
  readonly generate?: BertOnnxConfig;
}

const BASE_CONFIG: BertOnnxConfig = { ...BERT_PRESETS.base, seed: 1 };

const MODELS: readonly ModelCase[] = [
  { name: 'bert-tiny', path: join(FIXTURES, 'bert-tiny.onnx'), origin: 'fixture (torch export)', runs: 5, target: false },
  { name: 'bert-mini', path: join(FIXTURES, 'bert-mini.onnx'), origin: 'fixture (torch export)', runs: 5, target: false },
  {
    name: 'bert-base',
    path: join(OUT, 'bert-base.onnx'),
    origin: `generated: 12 layers, hidden 768, 12 heads, FFN 3072, vocab ${BERT_PRESETS.base.vocab}, 128 positions, seed ${BASE_CONFIG.seed}`,
    runs: 2,
    target: true,
    generate: BASE_CONFIG,
  },
];

/** What a child process reports. */
interface ChildReport {
  readonly error?: string;
  readonly onnxNodes?: number;
  readonly irNodes?: number;
  readonly parameters?: number;
  readonly readS?: number;
  readonly decodeS?: number;
  readonly importS?: readonly number[];
  /** RSS after loading the modules, before reading the model (bytes). */
  readonly baselineRss?: number;
  /** maxRSS after the first import (bytes). */
  readonly peakRss?: number;
}

const RESULT_PREFIX = 'FRONTEND-BENCH-RESULT ';

async function childMain(path: string, runs: number): Promise<void> {
  const report = (r: ChildReport): void => console.log(RESULT_PREFIX + JSON.stringify(r));
  let frontend: typeof import('../compiler/frontend/import.ts');
  let decoder: typeof import('../compiler/frontend/decode.ts');
  try {
    frontend = await import('../compiler/frontend/import.ts');
    decoder = await import('../compiler/frontend/decode.ts');
  } catch (e) {
    report({ error: `frontend not available: ${(e as Error).message.split('\n')[0]}` });
    return;
  }
  const baselineRss = process.memoryUsage().rss;
  let t = performance.now();
  const bytes = readFileSync(path);
  const readS = (performance.now() - t) / 1000;
  const importS: number[] = [];
  let peakRss = 0;
  let onnxNodes = 0;
  let irNodes = 0;
  let parameters = 0;
  try {
    for (let r = 0; r < runs; r++) {
      t = performance.now();
      const result = frontend.importOnnx(bytes, { file: path, batch: BATCH, seq: SEQ });
      importS.push((performance.now() - t) / 1000);
      if (r === 0) {
        // Linux reports maxRSS in KiB.
        peakRss = process.resourceUsage().maxRSS * 1024;
        onnxNodes = result.onnxNodes;
        parameters = result.parameterCount;
        irNodes = result.graph.nodes().length;
      }
    }
  } catch (e) {
    report({ error: `import failed: ${(e as Error).message.split('\n')[0]}`, readS, baselineRss });
    return;
  }
  t = performance.now();
  decoder.decodeModel(bytes, path);
  const decodeS = (performance.now() - t) / 1000;
  report({ onnxNodes, irNodes, parameters, readS, decodeS, importS, baselineRss, peakRss });
}

function measure(model: ModelCase): ChildReport {
  const tsx = import.meta.resolve('tsx');
  const child = spawnSync(
    process.execPath,
    ['--import', tsx, fileURLToPath(import.meta.url), '--child', model.path, String(model.runs)],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  const line = child.stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
  if (line !== undefined) return JSON.parse(line.slice(RESULT_PREFIX.length)) as ChildReport;
  const why = child.signal !== null ? `killed by ${child.signal}` : `exit code ${String(child.status)}`;
  const tail = child.stderr.trim().split('\n').slice(-3).join(' | ');
  return { error: `child process failed (${why}): ${tail}` };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function runFrontendBench(names: readonly string[] = MODELS.map((m) => m.name)): Promise<void> {
  const selected = MODELS.filter((m) => names.includes(m.name));
  console.log(`frontend: decode + import (importOnnx, batch ${BATCH}, seq ${SEQ}), one child process per model`);
  const header = ['model', 'file MB', 'params M', 'ONNX nodes', 'IR nodes', 'decode s', 'import s', 'runs', 'base RSS MB', 'peak RSS MB', 'peak/file', '(peak-base)/file', 'target'];
  const rows: string[][] = [header];
  const notes: string[] = [];
  for (const m of selected) {
    if (m.generate !== undefined && (!existsSync(m.path) || statSync(m.path).size !== bertOnnxByteLength(m.generate))) {
      mkdirSync(dirname(m.path), { recursive: true });
      const t0 = performance.now();
      writeBertOnnx(m.path, m.generate);
      notes.push(`${m.name}: generated ${m.path} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (!existsSync(m.path)) {
      notes.push(`${m.name}: skipped, ${m.path} not found`);
      continue;
    }
    notes.push(`${m.name}: ${m.origin}`);
    const fileMB = statSync(m.path).size / 1e6;
    const r = measure(m);
    if (r.error !== undefined || r.importS === undefined || r.peakRss === undefined) {
      rows.push([m.name, fileMB.toFixed(1), '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', m.target ? 'FAIL (no result)' : '-']);
      notes.push(`${m.name}: ${r.error ?? 'no result'}`);
      continue;
    }
    const importS = median(r.importS);
    const fileBytes = fileMB * 1e6;
    const ratio = r.peakRss / fileBytes;
    const growth = (r.peakRss - (r.baselineRss ?? 0)) / fileBytes;
    let verdict = '-';
    if (m.target) {
      const fast = importS < TARGET_SECONDS;
      const lean = ratio < TARGET_RSS_RATIO;
      verdict = fast && lean ? 'PASS' : `FAIL (${[fast ? '' : `import >= ${TARGET_SECONDS} s`, lean ? '' : `RSS >= ${TARGET_RSS_RATIO}x file`].filter(Boolean).join(', ')})`;
    }
    rows.push([
      m.name,
      fileMB.toFixed(1),
      ((r.parameters ?? 0) / 1e6).toFixed(2),
      String(r.onnxNodes),
      String(r.irNodes),
      (r.decodeS ?? NaN).toFixed(3),
      importS.toFixed(3),
      String(r.importS.length),
      ((r.baselineRss ?? NaN) / 1e6).toFixed(0),
      (r.peakRss / 1e6).toFixed(0),
      `${ratio.toFixed(2)}x`,
      `${growth.toFixed(2)}x`,
      verdict,
    ]);
  }
  console.log(table(rows));
  console.log(`target (bert-base): import < ${TARGET_SECONDS} s and peak RSS < ${TARGET_RSS_RATIO}x file size; import s = median over runs; peak RSS = maxRSS of the child after its first import (includes the file buffer and the node+tsx baseline \"base RSS\"); MB = 10^6 bytes; decode s = onnx-proto decode alone, measured after the imports`);
  for (const n of notes) console.log(`  ${n}`);
}

export const frontendBenchmark: Benchmark = {
  name: 'frontend',
  summary: 'ONNX decode + import time and peak memory (bert-tiny, bert-mini, generated bert-base)',
  cases: MODELS.map((m) => m.name),
  run: (cases) => runFrontendBench(cases),
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') await childMain(args[1]!, Number(args[2] ?? '1'));
  else await runFrontendBench(args.length > 0 ? args : undefined);
}
