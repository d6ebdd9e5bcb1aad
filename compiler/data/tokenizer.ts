// Text to token ids with a model's tokenizer, through tokenizers.js (@huggingface/tokenizers):
// a HuggingFace tokenizer.json, or a BERT vocab.txt (the standard uncased BERT WordPiece
// pipeline over that vocabulary). Rows come out as BERT inputs: [CLS] tokens [SEP], truncated
// to the length, padded with [PAD].

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Ig3dcError } from '../../ir/diagnostics.ts';

export interface EncodedRow {
  readonly inputIds: readonly number[];
  readonly attentionMask: readonly number[];
}

export interface TextTokenizer {
  /** [CLS] + the text's token ids (at most length - 2) + [SEP], padded with [PAD] to `length`. */
  encodeRow(text: string, length: number): EncodedRow;
}

/** tokenizer.json for a vocab.txt: lowercasing BERT normalizer, BERT pre-tokenizer, WordPiece. */
function bertWordPieceJson(vocabText: string): object {
  const words = vocabText.replace(/\n$/, '').split('\n').map((w) => w.replace(/\r$/, ''));
  const vocab = Object.fromEntries(words.map((w, i) => [w, i]));
  return {
    version: '1.0',
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
      .filter((t) => vocab[t] !== undefined)
      .map((content) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

export function loadTokenizer(file: string): TextTokenizer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Ig3dcError('io', `cannot read the tokenizer: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { file });
  }
  let json: object;
  if (extname(file).toLowerCase() === '.txt') json = bertWordPieceJson(text);
  else {
    try {
      json = JSON.parse(text) as object;
    } catch (e) {
      throw new Ig3dcError('input', `not a tokenizer.json: ${(e as Error).message}`, { file });
    }
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, {});
  } catch (e) {
    throw new Ig3dcError('unsupported', `tokenizers.js cannot load this tokenizer: ${(e as Error).message}`, { file });
  }
  const special = (name: string): number => {
    const id = tok.token_to_id(name);
    if (id === undefined) throw new Ig3dcError('input', `the tokenizer has no ${name} token (a BERT input needs [CLS], [SEP] and [PAD])`, { file });
    return id;
  };
  const [cls, sep, pad] = [special('[CLS]'), special('[SEP]'), special('[PAD]')];
  return {
    encodeRow(input, length) {
      const ids = tok.encode(input, { add_special_tokens: false }).ids.slice(0, Math.max(0, length - 2));
      const real = [cls, ...ids, sep];
      return { inputIds: [...real, ...new Array<number>(length - real.length).fill(pad)], attentionMask: [...real.map(() => 1), ...new Array<number>(length - real.length).fill(0)] };
    },
  };
}
