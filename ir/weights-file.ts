// The weights sidecar of a textual IR file: raw constant data, referenced as external<offset>.
//
// Format: the elements of each constant, little-endian, in the compact storage of its element
// type (f32 as 4 bytes, bool as 1 byte, i64 as 8 bytes, ...), each constant starting at a
// multiple of 8 bytes. There is no header: the .ir file holds the types, so a byte offset is
// all a constant needs. Keeping weights out of the text keeps dumps readable and diffable.

import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { Ig3dcError } from './diagnostics.ts';
import { allocStorage, writeValues, type Storage, type Tensor } from './tensor.ts';
import type { ElemType } from './types.ts';

export const WEIGHTS_ALIGNMENT = 8;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per element in the compact storage of an element type. */
export function elemByteSize(elem: ElemType): number {
  return allocStorage(elem, 0).BYTES_PER_ELEMENT;
}

/** The data of a tensor in the compact storage of its element type (a copy only if needed). */
export function compactStorage(t: Tensor): Storage {
  const want = allocStorage(t.dtype, 0);
  if (t.data.constructor === want.constructor) return t.data;
  const out = allocStorage(t.dtype, t.size);
  writeValues(out, t.dtype, t.data);
  return out;
}

function swapInPlace(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

/** Collects constants into one sidecar buffer; `add` returns each constant's byte offset. */
export class WeightsWriter {
  /** The sidecar's file name as the .ir file names it (relative to the .ir file). */
  readonly fileName: string;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #offsets = new Map<Tensor, number>();

  constructor(fileName: string) {
    this.fileName = fileName;
  }

  /** Appends a tensor's elements (once per tensor object) and returns their byte offset. */
  add(t: Tensor): number {
    const known = this.#offsets.get(t);
    if (known !== undefined) return known;
    const pad = (WEIGHTS_ALIGNMENT - (this.#size % WEIGHTS_ALIGNMENT)) % WEIGHTS_ALIGNMENT;
    if (pad > 0) {
      this.#chunks.push(new Uint8Array(pad));
      this.#size += pad;
    }
    const data = compactStorage(t);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    if (!HOST_LITTLE_ENDIAN) swapInPlace(bytes, data.BYTES_PER_ELEMENT);
    const offset = this.#size;
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    this.#offsets.set(t, offset);
    return offset;
  }

  /** Number of bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /** True when no constant was added. */
  get isEmpty(): boolean {
    return this.#offsets.size === 0;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  writeTo(path: string): void {
    try {
      writeFileSync(path, this.bytes());
    } catch (e) {
      throw new Ig3dcError('io', `cannot write weights file: ${(e as Error).message}`, { file: path });
    }
  }
}

/** Reads constants back from a sidecar. */
export interface WeightsReader {
  /** The file the data comes from, for messages. */
  readonly source: string;
  /** `count` elements of type `elem` starting at byte `offset`; an Ig3dcError('io') if out of range. */
  read(elem: ElemType, offset: number, count: number): Storage;
  /** Releases the file (a no-op for in-memory readers). */
  close(): void;
}

abstract class ReaderBase implements WeightsReader {
  abstract readonly source: string;
  protected abstract get byteLength(): number;
  protected abstract readBytes(offset: number, length: number): Uint8Array;

  read(elem: ElemType, offset: number, count: number): Storage {
    const out = allocStorage(elem, count);
    const length = out.byteLength;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.byteLength) {
      throw new Ig3dcError(
        'io',
        `weights data at byte ${offset} (${length} bytes of ${elem}) lies outside the ${this.byteLength}-byte weights file`,
        { file: this.source },
      );
    }
    const bytes = new Uint8Array(out.buffer, 0, length);
    bytes.set(this.readBytes(offset, length));
    if (!HOST_LITTLE_ENDIAN) swapInPlace(bytes, out.BYTES_PER_ELEMENT);
    return out;
  }

  close(): void {}
}

class BytesReader extends ReaderBase {
  readonly source: string;
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array, source: string) {
    super();
    this.#bytes = bytes;
    this.source = source;
  }
  protected get byteLength(): number {
    return this.#bytes.length;
  }
  protected readBytes(offset: number, length: number): Uint8Array {
    return this.#bytes.subarray(offset, offset + length);
  }
}

/** Reads ranges on demand through a file descriptor, so a large file is never held whole. */
class LazyFileReader extends ReaderBase {
  readonly source: string;
  #fd: number | undefined;
  readonly #size: number;
  constructor(path: string) {
    super();
    this.source = path;
    this.#fd = openSync(path, 'r');
    this.#size = fstatSync(this.#fd).size;
  }
  protected get byteLength(): number {
    return this.#size;
  }
  protected readBytes(offset: number, length: number): Uint8Array {
    if (this.#fd === undefined) throw new Ig3dcError('io', 'weights file read after close', { file: this.source });
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, buf, done, length - done, offset + done);
      if (n === 0) throw new Ig3dcError('io', `weights file ended early at byte ${offset + done}`, { file: this.source });
      done += n;
    }
    return buf;
  }
  override close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** A reader over bytes already in memory (e.g. `WeightsWriter.bytes()`). */
export function weightsFromBytes(bytes: Uint8Array, source = '<memory>'): WeightsReader {
  return new BytesReader(bytes, source);
}

/**
 * Opens a weights file. `lazy` (the default) reads each constant's bytes when asked for;
 * otherwise the whole file is loaded at once. Missing or unreadable files are Ig3dcError('io').
 */
export function openWeightsFile(path: string, options: { lazy?: boolean } = {}): WeightsReader {
  try {
    return options.lazy === false ? new BytesReader(readFileSync(path), path) : new LazyFileReader(path);
  } catch (e) {
    if (e instanceof Ig3dcError) throw e;
    throw new Ig3dcError('io', `cannot read weights file: ${(e as Error).message}`, { file: path });
  }
}
