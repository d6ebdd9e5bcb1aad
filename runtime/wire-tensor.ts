// Tensors as plain data for postMessage / structured clone (a Tensor is a class instance).

import { Tensor, type Storage } from '../ir/tensor.ts';
import type { ElemType } from '../ir/types.ts';

export interface WireTensor {
  readonly dtype: ElemType;
  readonly shape: readonly number[];
  readonly data: Storage;
}

export function toWire(m: ReadonlyMap<string, Tensor>): [string, WireTensor][] {
  return [...m].map(([k, t]) => [k, { dtype: t.dtype, shape: [...t.shape], data: t.data }]);
}

export function fromWire(entries: readonly (readonly [string, WireTensor])[]): Map<string, Tensor> {
  return new Map(entries.map(([k, t]) => [k, new Tensor(t.dtype, t.shape, t.data)]));
}
