// A small labelled tensor bundle for bert-tiny (vocab 2000), as `ig3dc data` writes them.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A labelled bundle of `rows` rows of length `seq` for bert-tiny (vocab 2000): ids, mask (padding at the end), labels. */
export function tinyBundle(dir: string, rows: number, seq: number, labels: number[]): { file: string; ids: number[][]; mask: number[][] } {
  const ids = Array.from({ length: rows }, (_, r) => Array.from({ length: seq }, (_, j) => (j === 0 ? 101 : (r * 37 + j * 11) % 2000)));
  const mask = Array.from({ length: rows }, (_, r) => Array.from({ length: seq }, (_, j) => (j < seq - r ? 1 : 0)));
  const i64 = (xs: number[]): Buffer => Buffer.from(BigInt64Array.from(xs, (x) => BigInt(x)).buffer);
  const parts = [i64(ids.flat()), i64(mask.flat()), i64(new Array(rows * seq).fill(0)), i64(labels)];
  const names = ['input_ids', 'attention_mask', 'token_type_ids', 'labels'];
  const tensors: Record<string, object> = {};
  let offset = 0;
  parts.forEach((p, k) => {
    tensors[names[k]!] = { dtype: 'int64', shape: k === 3 ? [rows] : [rows, seq], offset, nbytes: p.length };
    offset += p.length;
  });
  writeFileSync(join(dir, 'dev.bin'), Buffer.concat(parts));
  const file = join(dir, 'dev.json');
  writeFileSync(file, JSON.stringify({ format: 'ig3dc-tensor-bundle/1', bin: 'dev.bin', tensors }));
  return { file, ids, mask };
}
