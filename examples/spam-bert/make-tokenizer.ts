// Writes examples/spam-bert/tokenizer.json: spam-bert's tokenizer (../shared/fixtures/README.md,
// section 5, steps 5-9) as a HuggingFace tokenizer.json over the fixtures' vocab.txt.
//
//   npx tsx examples/spam-bert/make-tokenizer.ts [VOCAB] [-o FILE]
//
// normalizer: HTML/SGML tags to one space, then A-Z to a-z (ASCII only: a Lowercase normalizer
// would also fold non-ASCII letters, some of them into ASCII ones). pre-tokenizer: the words
// are the matches of [a-z0-9]+|[!$]. model: WordPiece with no "##" pieces in the vocabulary,
// which makes it word-level (a word is its id or [UNK]); WordPiece rather than WordLevel
// because tokenizers.js (the JavaScript library ig3dc uses) implements no WordLevel model.
// post-processor: [CLS] words [SEP]; `ig3dc data` truncates to 126 words and pads to 128.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const out = args.includes('-o') ? args[args.indexOf('-o') + 1]! : join(import.meta.dirname, 'tokenizer.json');
const vocabFile = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '-o') ?? join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'vocab.txt');

const words = readFileSync(vocabFile, 'utf8').replace(/\n$/, '').split('\n');
const vocab = Object.fromEntries(words.map((w, i) => [w, i]));
const special = (content: string) => ({ id: vocab[content]!, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const upper = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i));

const tokenizer = {
  version: '1.0',
  truncation: { direction: 'Right', max_length: 128, strategy: 'LongestFirst', stride: 0 },
  padding: { strategy: { Fixed: 128 }, direction: 'Right', pad_to_multiple_of: null, pad_id: vocab['[PAD]'], pad_type_id: 0, pad_token: '[PAD]' },
  added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]'].map(special),
  normalizer: {
    type: 'Sequence',
    normalizers: [{ type: 'Replace', pattern: { Regex: '<[^>]*>' }, content: ' ' }, ...upper.map((c) => ({ type: 'Replace', pattern: { String: c }, content: c.toLowerCase() }))],
  },
  pre_tokenizer: { type: 'Split', pattern: { Regex: '[a-z0-9]+|[!$]' }, behavior: 'Removed', invert: true },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
    special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [vocab[t]!], tokens: [t] }])),
  },
  decoder: null,
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 1000000, vocab },
};
writeFileSync(out, `${JSON.stringify(tokenizer)}\n`);
console.log(`wrote ${out}: ${words.length} words`);
