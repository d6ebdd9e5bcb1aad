// Data movement and reductions on shares: all local (Reshape, Transpose, Slice, Concat,
// Gather with public indices, Expand, Tile, ReduceSum, ReduceMean); ReduceMax and
// ReduceMin use the max protocol.

import { intAttr, intsAttr } from '../../../ir/op.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { slicePlan } from '../../../ir/ops/slice.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { normalizeAxis, numel } from '../../../ir/types.ts';
import { isPublic, secretValue, type LowerContext, type LValue } from './context.ts';
import { mulPublic, reshapeTo, scalarTensor } from './local.ts';
import { lowerLookup } from './embedding.ts';
import { INPUT_OP, type Node } from '../../../ir/node.ts';
import type { LoweringTable } from './lowering.ts';

function local<T>(ctx: LowerContext, fn: () => T): T {
  return ctx.b.withProtocol('local', fn);
}

/** Integer indices as a scale-0 constant, negative ones wrapped by the axis size. */
export function indexConst(ctx: LowerContext, idx: Tensor, dim: number): Reg {
  const d = new Float64Array(idx.size);
  for (let i = 0; i < idx.size; i++) {
    const v = idx.at(i);
    const j = v < 0 ? v + dim : v;
    if (!(j >= 0 && j < dim)) throw ctx.error('input', `index ${v} is out of range for an axis of size ${dim}`);
    d[i] = j;
  }
  return ctx.constReg(new Tensor('f64', idx.shape, d), 0);
}

function sliceReg(ctx: LowerContext, x: Reg, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps: readonly number[]): Reg {
  const plan = slicePlan(x.shape, starts, ends, axes, steps);
  let v = x;
  const pStarts: number[] = [];
  const pEnds: number[] = [];
  const pAxes: number[] = [];
  const pSteps: number[] = [];
  const backwards: number[] = [];
  x.shape.forEach((d, a) => {
    const s = plan.start[a]!;
    const st = plan.step[a]!;
    const n = plan.shape[a]!;
    if (s === 0 && st === 1 && n === d) return;
    if (st > 0) {
      pStarts.push(s);
      pEnds.push(n === 0 ? s : s + st * (n - 1) + 1);
      pAxes.push(a);
      pSteps.push(st);
    } else backwards.push(a);
  });
  if (pAxes.length > 0) v = ctx.b.slice(v, pStarts, pEnds, pAxes, pSteps);
  for (const a of backwards) {
    const idx = Array.from({ length: plan.shape[a]! }, (_, i) => plan.start[a]! + i * plan.step[a]!);
    v = ctx.b.gather(v, ctx.constReg(new Tensor('f64', [idx.length], Float64Array.from(idx)), 0), a);
  }
  return v;
}

/** A Gather that is an embedding lookup: client ids into axis 0 of a 2-D table. */
function isLookup(node: Node): boolean {
  const [table, ids] = node.inputs;
  return ids!.op === INPUT_OP && table!.type.shape.length === 2 && normalizeAxis(intAttr(node.attrs, 'axis'), 2) === 0;
}

function reduceAxes(rank: number, axes: readonly number[]): number[] {
  return [...new Set(axes.map((a) => normalizeAxis(a, rank)!))].sort((p, q) => p - q);
}

function reduceSum(ctx: LowerContext, x: Reg, axes: readonly number[], keepdims: boolean, outShape: readonly number[]): Reg {
  if (axes.length === 0) return reshapeTo(ctx, x, outShape);
  return reshapeTo(ctx, ctx.b.reduceSum(x, axes, keepdims), outShape);
}

export const MOVEMENT_LOWERINGS: LoweringTable = {
  Reshape: { lower: (ctx, node, [x]) => secretValue(local(ctx, () => reshapeTo(ctx, ctx.share(x!), node.type.shape))) },
  Transpose: { lower: (ctx, node, [x]) => secretValue(local(ctx, () => ctx.b.transpose(ctx.share(x!), intsAttr(node.attrs, 'perm')))) },
  Expand: { lower: (ctx, node, [x]) => secretValue(local(ctx, () => ctx.b.expand(ctx.share(x!), node.type.shape))) },
  Slice: {
    lower: (ctx, node, [x]) =>
      secretValue(
        local(ctx, () =>
          sliceReg(ctx, ctx.share(x!), intsAttr(node.attrs, 'starts'), intsAttr(node.attrs, 'ends'), intsAttr(node.attrs, 'axes'), intsAttr(node.attrs, 'steps')),
        ),
      ),
  },
  Concat: {
    lower: (ctx, node, xs) => {
      const axis = normalizeAxis(intAttr(node.attrs, 'axis'), node.type.shape.length)!;
      const parts = xs.filter((v) => numel(v.kind === 'secret' ? v.reg.shape : v.kind === 'input' ? v.node.type.shape : v.value.shape) > 0 || xs.length === 1);
      return secretValue(local(ctx, () => (parts.length === 1 ? ctx.share(parts[0]!) : ctx.b.concat(parts.map((v) => ctx.share(v)), axis))));
    },
  },
  Tile: {
    lower: (ctx, node, [x]) => {
      const reps = intsAttr(node.attrs, 'repeats');
      let v = ctx.share(x!);
      reps.forEach((r, a) => {
        if (r === 1) return;
        v = local(ctx, () => (r === 0 ? ctx.b.slice(v, [0], [0], [a]) : ctx.b.concat(new Array<Reg>(r).fill(v), a)));
      });
      return secretValue(v);
    },
  },
  Gather: {
    indexInputs: [1],
    opKind: (node) => (isLookup(node) ? 'embedding' : 'other'),
    lower: (ctx, node, [data, idx]) => {
      const axis = normalizeAxis(intAttr(node.attrs, 'axis'), node.inputs[0]!.type.shape.length)!;
      if (idx!.kind === 'input' && isLookup(node)) return lowerLookup(ctx, node, data!, idx!, 'Gather');
      if (!isPublic(idx!)) throw ctx.error('unsupported', 'Gather with secret indices has no MPC lowering (only a client graph input used as the ids of a 2-D table, which becomes a one-hot product; raise-bert turns such gathers into Embedding)');
      const x = ctx.share(data!);
      return secretValue(local(ctx, () => reshapeTo(ctx, ctx.b.gather(x, indexConst(ctx, idx.value, x.shape[axis]!), axis), node.type.shape)));
    },
  },
  ReduceSum: {
    lower: (ctx, node, [x]) => {
      const s = ctx.share(x!);
      return secretValue(local(ctx, () => reduceSum(ctx, s, reduceAxes(s.shape.length, intsAttr(node.attrs, 'axes')), intAttr(node.attrs, 'keepdims') === 1, node.type.shape)));
    },
  },
  ReduceMean: {
    lower: (ctx, node, [x]) => {
      const s = ctx.share(x!);
      const axes = reduceAxes(s.shape.length, intsAttr(node.attrs, 'axes'));
      const n = axes.reduce((acc, a) => acc * s.shape[a]!, 1);
      const sum = local(ctx, () => reduceSum(ctx, s, axes, intAttr(node.attrs, 'keepdims') === 1, node.type.shape));
      return secretValue(n === 1 ? sum : mulPublic(ctx, sum, scalarTensor(1 / n)));
    },
  },
  ReduceMax: {
    lower: (ctx, node, [x]) => {
      let v = ctx.share(x!);
      for (const a of reduceAxes(v.shape.length, intsAttr(node.attrs, 'axes'))) if (v.shape[a]! > 1) v = ctx.p.max(v, a);
      return secretValue(reshapeTo(ctx, v, node.type.shape));
    },
  },
  ReduceMin: {
    lower: (ctx, node, [x]) => {
      let v = local(ctx, () => ctx.b.neg(ctx.share(x!)));
      for (const a of reduceAxes(v.shape.length, intsAttr(node.attrs, 'axes'))) if (v.shape[a]! > 1) v = ctx.p.max(v, a);
      return secretValue(local(ctx, () => reshapeTo(ctx, ctx.b.neg(v), node.type.shape)));
    },
  },
};
