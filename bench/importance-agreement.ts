// How much integrated gradients lose with fewer path points (the paper's Table 1): on
// spam-bert and the first N dev examples, IG with m = 4, 8, 16 Riemann steps and with K
// alphas sampled uniformly per example, each ranked against IG with m = 50 (Spearman over
// all heads, and whether the top-3 and bottom-3 heads are the same), and against the
// fixtures' PyTorch file (m = 16, 200 examples).
//
//   npx tsx bench/importance-agreement.ts [--examples 200] [--reference-steps 50] [--out DIR]
//   npm run bench -- importance-agreement       (50 examples)

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark } from './benchmark.ts';
import { table } from './table.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '..', '..', 'shared', 'fixtures');

interface Variant {
  readonly name: string;
  readonly steps?: number;
  readonly sampleAlpha?: number;
}

const VARIANTS: readonly Variant[] = [
  { name: 'm = 4', steps: 4 },
  { name: 'm = 8', steps: 8 },
  { name: 'm = 16', steps: 16 },
  { name: '8 sampled alphas', sampleAlpha: 8 },
  { name: '16 sampled alphas', sampleAlpha: 16 },
];

export async function agreementTable(examples: number, referenceSteps: number, outDir?: string): Promise<void> {
  const { computeImportance } = await import('../compiler/importance/run.ts');
  const { agreement, toAnnotation } = await import('../compiler/cli/commands/importance.ts');
  const { readImportanceFile } = await import('../passes/ig3d/annotations.ts');
  const model = join(FIXTURES, 'spam-bert.onnx');
  const data = join(FIXTURES, 'spam-dev.json');
  const fixture = readImportanceFile(join(FIXTURES, 'importance.json'));
  const save = (name: string, r: unknown): void => {
    if (outDir === undefined) return;
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`), `${JSON.stringify(r, null, 1)}\n`);
  };
  const reference = await computeImportance({ model, data, examples, steps: referenceSteps });
  save(`m${referenceSteps}`, reference);
  const ref = { ...toAnnotation(reference), file: `m = ${referenceSteps}` };
  const head = ([l, h]: readonly [number, number]): string => `L${l}H${h}`;
  const rows: string[][] = [['variant', 'seconds', `Spearman vs m=${referenceSteps}`, 'top-3 / bottom-3 same', 'Spearman vs PyTorch m=16', 'top-3 / bottom-3 same']];
  const line = (name: string, r: typeof reference): void => {
    const a = agreement(r, ref);
    const b = agreement(r, fixture);
    rows.push([name, r.seconds.toFixed(0), a.spearman.toFixed(4), `${a.sameTop ? 'yes' : 'no'} / ${a.sameBottom ? 'yes' : 'no'}`, b.spearman.toFixed(4), `${b.sameTop ? 'yes' : 'no'} / ${b.sameBottom ? 'yes' : 'no'}`]);
    console.error(`  ${name}: ${r.importance_order.map(head).join(' ')}`);
  };
  for (const v of VARIANTS) {
    const r = await computeImportance({ model, data, examples, ...(v.steps !== undefined ? { steps: v.steps } : {}), ...(v.sampleAlpha !== undefined ? { sampleAlpha: v.sampleAlpha, seed: 0 } : {}) });
    save(v.name, r);
    line(v.name, r);
  }
  line(`m = ${referenceSteps}`, reference);
  console.log(`importance agreement: spam-bert, first ${examples} dev examples, integrated gradients (${reference.engine ?? 'evaluator'})`);
  console.log(table(rows));
}

export const importanceAgreementBenchmark: Benchmark = {
  name: 'importance-agreement',
  summary: 'IG with fewer steps or sampled alphas vs m = 50 and vs the PyTorch file (spam-bert, 50 examples)',
  cases: ['spam-bert'],
  run: () => agreementTable(50, 50),
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await agreementTable(Number(arg('--examples') ?? 200), Number(arg('--reference-steps') ?? 50), arg('--out'));
}
