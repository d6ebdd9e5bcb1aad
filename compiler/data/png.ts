// PNG decoding for image datasets: 8-bit greyscale or RGB, non-interlaced (what digit scans
// and exported plots are); anything else is refused with what was found and what is read.
// Chunks are checked against their CRC, IDAT data is inflated with node:zlib and each
// scanline unfiltered (None, Sub, Up, Average, Paeth).

import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { Ig3dcError } from '../../ir/diagnostics.ts';

export interface PngImage {
  readonly width: number;
  readonly height: number;
  /** 1 (greyscale) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** Row-major samples, `channels` per pixel, 0..255. */
  readonly pixels: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Larger images are refused before their pixels are allocated. */
export const MAX_PNG_PIXELS = 1 << 26;

const COLOR_TYPES: Readonly<Record<number, string>> = { 0: 'greyscale', 2: 'RGB', 3: 'palette', 4: 'greyscale with alpha', 6: 'RGBA' };

export function decodePng(bytes: Uint8Array, file: string): PngImage {
  const fail = (why: string): never => {
    throw new Ig3dcError('input', `not a readable PNG: ${why}`, { file });
  };
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) fail('the file does not start with the PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let header: { width: number; height: number; channels: 1 | 3 } | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (!ended) {
    if (at + 12 > bytes.length) fail(`truncated at byte ${at}: expected a chunk${header === undefined ? ' (IHDR)' : ' (IEND missing)'}`);
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) fail(`byte ${at + 4}: expected a chunk type of four letters, found ${JSON.stringify(type)}`);
    if (at + 12 + length > bytes.length) fail(`chunk ${type} at byte ${at} declares ${length} bytes, past the end of the file`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    const crc = view.getUint32(at + 8 + length);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== crc) fail(`chunk ${type} at byte ${at} fails its CRC check (the file is damaged)`);
    if (header === undefined && type !== 'IHDR') fail(`expected IHDR as the first chunk, found ${type}`);
    switch (type) {
      case 'IHDR': {
        if (header !== undefined) fail('a second IHDR chunk');
        if (length !== 13) fail(`IHDR has ${length} bytes, expected 13`);
        const dv = new DataView(data.buffer, data.byteOffset, 13);
        const width = dv.getUint32(0);
        const height = dv.getUint32(4);
        const [depth, color, compression, filter, interlace] = [data[8]!, data[9]!, data[10]!, data[11]!, data[12]!];
        if (width === 0 || height === 0) fail(`image size ${width}x${height}: expected a positive width and height`);
        if (width * height > MAX_PNG_PIXELS) fail(`image size ${width}x${height} is larger than the ${MAX_PNG_PIXELS} pixels read`);
        if (color !== 0 && color !== 2) fail(`colour type ${color} (${COLOR_TYPES[color] ?? 'unknown'}): expected 8-bit greyscale (0) or RGB (2)`);
        if (depth !== 8) fail(`bit depth ${depth}: expected 8 bits per sample`);
        if (compression !== 0 || filter !== 0) fail(`compression method ${compression}, filter method ${filter}: expected 0 and 0`);
        if (interlace !== 0) fail(`interlace method ${interlace} (Adam7): expected a non-interlaced image`);
        header = { width, height, channels: color === 0 ? 1 : 3 };
        break;
      }
      case 'IDAT':
        idat.push(data);
        break;
      case 'IEND':
        ended = true;
        break;
      default:
        // an unknown critical chunk (upper-case first letter) cannot be ignored
        if (type[0]! >= 'A' && type[0]! <= 'Z' && type !== 'PLTE') fail(`unknown critical chunk ${type}`);
    }
    at += 12 + length;
  }
  if (idat.length === 0) fail('no IDAT chunk (no image data)');
  const { width, height, channels } = header!;
  const stride = width * channels;
  const expected = height * (stride + 1);
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch (e) {
    return fail(`the image data does not inflate: ${(e as Error).message}`);
  }
  if (raw.length !== expected) fail(`the image data holds ${raw.length} bytes, expected ${expected} for ${width}x${height} ${channels === 1 ? 'greyscale' : 'RGB'}`);
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    if (f > 4) fail(`scanline ${y} has filter type ${f}, expected 0 to 4`);
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : undefined;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels]! : 0;
      const b = up !== undefined ? up[x]! : 0;
      const c = up !== undefined && x >= channels ? up[x - channels]! : 0;
      row[x] = (src[x]! + filterPredictor(f, a, b, c)) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/**
 * The value a scanline filter predicts a byte from (PNG spec 9.2): a the byte to the left, b the
 * one above, c the one above-left (0 outside the image); f 0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth.
 */
export function filterPredictor(f: number, a: number, b: number, c: number): number {
  if (f === 1) return a;
  if (f === 2) return b;
  if (f === 3) return (a + b) >> 1;
  if (f === 4) {
    const p = a + b - c;
    const pa = Math.abs(p - a);
    const pb = Math.abs(p - b);
    const pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  }
  return 0;
}

/** One chunk: length, type, data and the CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** An 8-bit greyscale or RGB PNG (filter None on every row); for tests and examples. */
export function encodePng(img: PngImage, level = 9): Uint8Array {
  const stride = img.width * img.channels;
  const raw = Buffer.alloc(img.height * (stride + 1));
  for (let y = 0; y < img.height; y++) raw.set(img.pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr.set([8, img.channels === 1 ? 0 : 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from(SIGNATURE), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw, { level })), pngChunk('IEND', new Uint8Array(0))]);
}
