// `ig3dc data` beyond JSON Lines: CSV with a label column (RFC 4180 quoting), and PNG images
// into pixel_values as the digits ViTs take them. The first dev images of the ViT fixture,
// written as PNG files (8x8 grey, 16x16 grey, 8x8 RGB, every scanline filter), come back as
// exactly the fixture's pixel values; malformed CSV and PNG are errors naming the file and
// the line or what was expected.

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { caught } from './ig3d-helpers.ts';
import { dataCommand } from '../compiler/cli/commands/data.ts';
import { evalCases } from '../compiler/cli/commands/eval.ts';
import { parseCsv } from '../compiler/data/csv.ts';
import { decodePng, encodePng, pngChunk, type PngImage } from '../compiler/data/png.ts';
import { parseCsvRows } from '../compiler/data/rows.ts';
import { readDevSet } from '../compiler/tune/dev-set.ts';
import { readTensorBundle } from '../ir/tensor-json.ts';
import { filteredPng } from './fuzz-formats.ts';

const ROOT = join(import.meta.dirname, '..');
const FIX = join(ROOT, '..', 'shared', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'ig3dc-data-formats-'));
const haveVit = existsSync(join(FIX, 'vit-digits-p2.dev.json'));

describe('CSV (RFC 4180)', () => {
  it('reads quoted fields with commas, line breaks and doubled quotes, CRLF, a BOM and blank lines', () => {
    const t = parseCsv('\ufefftext,label\r\n"a, ""b""\r\nc",1\r\n\r\nplain,0\n"",2', 'x.csv');
    expect(t.header).toEqual(['text', 'label']);
    expect(t.rows.map((r) => r.fields)).toEqual([
      ['a, "b"\r\nc', '1'],
      ['plain', '0'],
      ['', '2'],
    ]);
    expect(t.rows.map((r) => r.line)).toEqual([2, 5, 6]);
  });

  it('names file, line and column of what is malformed', () => {
    expect(caught(() => parseCsv('text,label\n"open,1\n', 'a.csv')).message).toMatch(/a\.csv:2:1: unterminated quoted field/);
    expect(caught(() => parseCsv('text,label\nab"c,1\n', 'a.csv')).message).toMatch(/a\.csv:2:3: a double quote inside an unquoted field/);
    expect(caught(() => parseCsv('text,label\n"ab"c,1\n', 'a.csv')).message).toMatch(/a\.csv:2:5: expected a comma or the end of the line after a quoted field/);
    expect(caught(() => parseCsv('text,label\nx,1\ny\n', 'a.csv')).message).toMatch(/a\.csv:3:1: expected 2 fields \(as the header: text,label\), found 1/);
    expect(caught(() => parseCsv('text,label\rx,1', 'a.csv')).message).toMatch(/a\.csv:1:11: a carriage return/);
    expect(caught(() => parseCsv('', 'a.csv')).message).toMatch(/empty CSV/);
    expect(caught(() => parseCsv('a,a\n1,2\n', 'a.csv')).message).toMatch(/names column 'a' twice/);
    expect(caught(() => parseCsvRows('text,klass\nx,1\n', 'a.csv')).message).toMatch(/no label column 'label' \(columns: text, klass/);
    expect(caught(() => parseCsvRows('text,label\nx,spam\n', 'a.csv')).message).toMatch(/a\.csv:2:1: field 'label' must be a non-negative integer/);
  });

  it('gives the same bundle as the JSON Lines of the same rows', async () => {
    const vocab = join(dir, 'vocab.txt');
    writeFileSync(vocab, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'good', 'bad', ','].join('\n'));
    writeFileSync(join(dir, 'rows.jsonl'), '{"text": "good, bad", "label": "pos"}\n{"text": "bad\\ngood", "label": "neg"}\n');
    writeFileSync(join(dir, 'rows.csv'), 'id,text,label\r\n1,"good, bad",pos\r\n2,"bad\ngood",neg\r\n');
    for (const f of ['rows.jsonl', 'rows.csv']) {
      await dataCommand(join(dir, f), { tokenizer: vocab, labels: 'neg,pos', maxLen: 6, output: join(dir, `${f}.json`), json: true });
    }
    const a = readDevSet(join(dir, 'rows.jsonl.json'));
    const b = readDevSet(join(dir, 'rows.csv.json'));
    expect(Array.from(b.inputIds)).toEqual([2, 4, 6, 5, 3, 0, 2, 5, 4, 3, 0, 0]);
    expect(Array.from(b.inputIds)).toEqual(Array.from(a.inputIds));
    expect(Array.from(b.labels)).toEqual([1, 0]);
  });
});

describe('PNG', () => {
  const grey: PngImage = { width: 3, height: 2, channels: 1, pixels: Uint8Array.of(0, 17, 255, 128, 64, 3) };
  const rgb: PngImage = { width: 2, height: 2, channels: 3, pixels: Uint8Array.from({ length: 12 }, (_, i) => (i * 37) % 256) };

  it('decodes greyscale and RGB with every scanline filter', () => {
    for (const img of [grey, rgb]) {
      expect(decodePng(encodePng(img), 'a.png')).toEqual(img);
      for (const f of [1, 2, 3, 4]) expect(decodePng(filteredPng(img, f), 'a.png').pixels, `filter ${f}`).toEqual(img.pixels);
    }
  });

  it('refuses what it does not read, saying what it found and what it expected', () => {
    const good = encodePng(grey);
    const ihdrWith = (at: number, v: number): Uint8Array => {
      const b = Uint8Array.from(good);
      b[16 + at] = v;
      new DataView(b.buffer).setUint32(29, crc32(b.subarray(12, 29)));
      return b;
    };
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('GIF89a'), /does not start with the PNG signature/],
      [good.subarray(0, 40), /truncated|past the end/],
      [Uint8Array.from(good, (v, i) => (i === 20 ? v ^ 1 : v)), /chunk IHDR at byte 8 fails its CRC check/],
      [ihdrWith(9, 3), /colour type 3 \(palette\): expected 8-bit greyscale \(0\) or RGB \(2\)/],
      [ihdrWith(9, 6), /colour type 6 \(RGBA\)/],
      [ihdrWith(8, 16), /bit depth 16: expected 8 bits per sample/],
      [ihdrWith(12, 1), /interlace method 1 \(Adam7\): expected a non-interlaced image/],
      [ihdrWith(0, 1), /larger than|the image data holds/],
    ];
    for (const [bytes, re] of cases) {
      const e = caught(() => decodePng(bytes, 'd/x.png'));
      expect(e.message).toMatch(/^d\/x\.png: not a readable PNG: /);
      expect(e.message).toMatch(re);
    }
    // wrong amount of image data for the size, and a bad filter byte
    const raw = Buffer.alloc(2 * 4);
    raw[4] = 9;
    const withIdat = (data: Uint8Array): Uint8Array => Buffer.concat([good.subarray(0, 33), pngChunk('IDAT', deflateSync(data)), pngChunk('IEND', new Uint8Array(0))]);
    expect(caught(() => decodePng(withIdat(raw), 'x.png')).message).toMatch(/scanline 1 has filter type 9, expected 0 to 4/);
    expect(caught(() => decodePng(withIdat(raw.subarray(0, 5)), 'x.png')).message).toMatch(/holds 5 bytes, expected 8 for 3x2 greyscale/);
  });
});

describe.skipIf(!haveVit)('images into pixel_values', () => {
  const N = 12;
  const dev = haveVit ? readTensorBundle(join(FIX, 'vit-digits-p2.dev.json')) : undefined;
  /** Dev image i's 0..16 intensities (pixel = (x/16 - 0.5)/0.5). */
  const intensities = (i: number): number[] => Array.from(dev!.tensors.get('pixel_values')!.toFloat64().subarray(i * 64, (i + 1) * 64), (p) => Math.round((p * 0.5 + 0.5) * 16));
  const byte = (x: number): number => Math.round((x * 255) / 16);

  it('the first dev images as PNG files (8x8, 16x16, RGB) give exactly the fixture pixel values, and the bundle evaluates', async () => {
    const lines = ['image,label'];
    for (let i = 0; i < N; i++) {
      const x = intensities(i);
      let img: PngImage;
      if (i % 3 === 0) img = { width: 8, height: 8, channels: 1, pixels: Uint8Array.from(x, byte) };
      else if (i % 3 === 1) {
        // each pixel as a 2x2 block: the area-averaged resize gives it back
        img = { width: 16, height: 16, channels: 1, pixels: Uint8Array.from({ length: 256 }, (_, k) => byte(x[(Math.floor(k / 32) * 8) + ((k % 16) >> 1)]!)) };
      } else img = { width: 8, height: 8, channels: 3, pixels: Uint8Array.from({ length: 192 }, (_, k) => byte(x[Math.floor(k / 3)]!)) };
      writeFileSync(join(dir, `digit${i}.png`), i % 2 === 0 ? encodePng(img) : filteredPng(img, 1 + (i % 4)));
      lines.push(`digit${i}.png,${dev!.tensors.get('labels')!.at(i)}`);
    }
    writeFileSync(join(dir, 'digits.csv'), `${lines.join('\r\n')}\r\n`);
    const out = join(dir, 'digits.json');
    await dataCommand(join(dir, 'digits.csv'), { output: out });
    const got = readTensorBundle(out);
    const px = got.tensors.get('pixel_values')!;
    expect(px.shape).toEqual([N, 1, 8, 8]);
    expect(Array.from(px.toFloat64())).toEqual(Array.from(dev!.tensors.get('pixel_values')!.toFloat64().subarray(0, N * 64)));
    expect(Array.from(got.tensors.get('labels')!.toNumbers())).toEqual(Array.from(dev!.tensors.get('labels')!.toNumbers().slice(0, N)));
    // eval reads the bundle as one case over its rows
    const [r] = evalCases(join(FIX, 'vit-digits-p2.onnx'), [{ name: 'digits', inputs: new Map([['pixel_values', px]]) }]);
    expect(r!.outputs['logits']!.shape).toEqual([N, 10]);
  });

  it('a row whose image is missing or malformed names the image and the rows file', async () => {
    writeFileSync(join(dir, 'broken.png'), 'not a png');
    writeFileSync(join(dir, 'bad.csv'), 'image,label\ndigit0.png,0\nbroken.png,1\n');
    await expect(dataCommand(join(dir, 'bad.csv'), { output: join(dir, 'bad.json') })).rejects.toThrow(/broken\.png: not a readable PNG: the file does not start with the PNG signature/);
    writeFileSync(join(dir, 'bad.csv'), 'image,label\ndigit0.png,0\nmissing.png,1\n');
    await expect(dataCommand(join(dir, 'bad.csv'), { output: join(dir, 'bad.json') })).rejects.toThrow(/cannot read the image 'missing\.png' of line 3 of .*bad\.csv: ENOENT/);
    await expect(dataCommand(join(dir, 'bad.csv'), { output: join(dir, 'bad.json'), imageShape: '2,8,8' })).rejects.toThrow(/--image-shape must be C,H,W with C 1 or 3/);
  });
});
