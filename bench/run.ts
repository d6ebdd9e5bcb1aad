// `npm run bench [filter...]`: runs every benchmark case whose "benchmark/case" name contains
// one of the filters (all cases without filters). Benchmarks print; they never fail the run.

import type { Benchmark } from './benchmark.ts';
import { evaluatorBenchmark } from './evaluator.ts';
import { frontendBenchmark } from './frontend.ts';
import { compileBenchmark } from './compile.ts';
import { fssBenchmark } from './fss.ts';
import { runtimeBenchmark } from './runtime.ts';
import { secureEvalBenchmark } from './secure-eval.ts';
import { importanceBenchmark } from './importance.ts';
import { importanceAgreementBenchmark } from './importance-agreement.ts';
import { vitEvalBenchmark } from './vit-eval.ts';
import { attentionMethodsBenchmark } from './attention-methods.ts';
import { foldBatchNormBenchmark } from './fold-batch-norm.ts';
import { startupBenchmark } from './startup.ts';
import { deployBenchmark } from './deploy.ts';
import { tokensBenchmark } from './tokens.ts';
import { tokensSecureBenchmark } from './tokens-secure.ts';
import { tokensReduceBenchmark } from './tokens-reduce.ts';
import { truncationBenchmark } from './truncation.ts';
import { embeddingBenchmark } from './embedding.ts';
import { linearBenchmark } from './linear.ts';

const BENCHMARKS: readonly Benchmark[] = [startupBenchmark, frontendBenchmark, evaluatorBenchmark, compileBenchmark, fssBenchmark, importanceBenchmark, importanceAgreementBenchmark, runtimeBenchmark, secureEvalBenchmark, vitEvalBenchmark, attentionMethodsBenchmark, foldBatchNormBenchmark, deployBenchmark, tokensBenchmark, tokensSecureBenchmark, tokensReduceBenchmark, truncationBenchmark, embeddingBenchmark, linearBenchmark];

const filters = process.argv.slice(2);
if (filters.includes('--help') || filters.includes('-h')) {
  console.log('usage: npm run bench [-- filter...]   e.g. npm run bench -- frontend/bert-tiny');
  for (const b of BENCHMARKS) console.log(`  ${b.name}: ${b.summary}; cases: ${b.cases.join(', ')}`);
} else {
  let ran = 0;
  for (const b of BENCHMARKS) {
    const cases = b.cases.filter((c) => filters.length === 0 || filters.some((f) => `${b.name}/${c}`.includes(f)));
    if (cases.length === 0) continue;
    await b.run(cases);
    ran += cases.length;
  }
  if (ran === 0) console.log(`no benchmark case matches ${filters.join(' ')} (try --help)`);
}
