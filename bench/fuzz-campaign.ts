// The fuzz campaign: N inputs per format (default 20000, five formats: 10^5 in all) through
// the fuzzers of test/fuzz-formats.ts, with a hang limit of 2 s per input and the element
// limit of every reader in force. Prints per format: inputs, accepted, refused, uncaught
// exceptions, hangs, slowest input; then the peak RSS of the whole campaign.
//
//   nice -n 10 npx tsx bench/fuzz-campaign.ts [N] [seed]

import { loadavg } from 'node:os';
import { FUZZ_TARGETS, fuzz } from '../test/fuzz-formats.ts';
import { table } from './table.ts';

const n = Number(process.argv[2] ?? 20_000);
const seed = Number(process.argv[3] ?? 1);
const rows: string[][] = [['format', 'inputs', 'accepted', 'refused', 'uncaught', 'hangs', 'slowest ms', 'seconds']];
let total = 0;
let uncaught = 0;
for (const t of FUZZ_TARGETS) {
  const t0 = performance.now();
  const st = fuzz(t, n, seed);
  total += st.inputs;
  uncaught += st.crashCount + st.hangs;
  rows.push([t.name, String(st.inputs), String(st.accepted), String(st.refused), String(st.crashCount), String(st.hangs), st.slowestMs.toFixed(1), ((performance.now() - t0) / 1000).toFixed(1)]);
  for (const c of st.crashes) console.log(`${t.name} (${c.mode}): ${c.error}\n  input: ${JSON.stringify(c.input.slice(0, 200))}`);
}
console.log(table(rows));
console.log(`${total} inputs, ${uncaught} uncaught or hung; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
if (uncaught > 0) process.exitCode = 1;
