// Matrix products: Linear {role}, MatMul, Gemm and the Pooler. A public matrix is local
// (matmul_pub); a secret matrix uses the matrix Beaver protocol; a server weight on the right
// is a cross product with `linear=cross` (protocols/linear.ts), else a Beaver matmul too, whose
// weight-side opening (W - B) depends on no client input and so lands in preprocessing.

import { floatAttr, intAttr, stringAttr } from '../../../ir/op.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import type { Node } from '../../../ir/node.ts';
import { Tensor } from '../../../ir/tensor.ts';
import { shapesEqual } from '../../../ir/types.ts';
import { isKnown, isPublic, secretValue, shapeOf, type LowerContext, type LValue } from './context.ts';
import { addValues } from './elementwise.ts';
import { matmulPublic, mulPublic, reshapeTo, scalarTensor } from './local.ts';
import type { LoweringTable } from './lowering.ts';
import { linearBound } from '../secure-range.ts';

function transposeTensor2(t: Tensor): Tensor {
  const [r, c] = t.shape as [number, number];
  const d = t.toFloat64();
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = d[i * c + j]!;
  return new Tensor('f64', [c, r], out);
}

/** Secret x secret matmul of operands of rank >= 2 (the protocol flattens or broadcasts batch dims). */
function matmulShares(ctx: LowerContext, x: Reg, y: Reg): Reg {
  return ctx.p.matmul(x, y);
}

/** ONNX MatMul semantics (rank-1 operands promoted and the added axis dropped). */
export function matmulValues(ctx: LowerContext, x: LValue, y: LValue, outShape: readonly number[]): Reg {
  const xs = shapeOf(x);
  const ys = shapeOf(y);
  const promote = (v: LValue, shape: readonly number[]): LValue => {
    if (v.kind === 'public') return { kind: 'public', value: new Tensor(v.value.dtype, shape, v.value.data) };
    return secretValue(reshapeTo(ctx, ctx.share(v), shape));
  };
  const x2 = xs.length === 1 ? promote(x, [1, xs[0]!]) : x;
  const y2 = ys.length === 1 ? promote(y, [ys[0]!, 1]) : y;
  let z: Reg;
  if (isPublic(y2)) z = matmulPublic(ctx, ctx.share(x2), y2.value, 'right');
  else if (isPublic(x2)) z = matmulPublic(ctx, ctx.share(y2), x2.value, 'left');
  else if (y2.kind === 'server' && y2.value.shape.length === 2 && x2.kind !== 'server' && ctx.config.linear === 'cross') {
    // the server keeps its weight: a cross product with the client's share of x
    z = ctx.p.linearCross(ctx.share(x2), ctx.heldServer(y2.node, y2.value));
  } else z = matmulShares(ctx, ctx.share(x2), ctx.share(y2));
  return shapesEqual(z.shape, outShape) ? z : ctx.b.withProtocol('local', () => ctx.b.reshape(z, outShape));
}

function linear(ctx: LowerContext, node: Node, [x, w, bias]: readonly LValue[]): Reg {
  const y = matmulValues(ctx, x!, w!, node.type.shape);
  return bias === undefined ? y : addValues(ctx, secretValue(y), bias);
}

function linearKind(node: Node): 'pooler' | 'linear' {
  const role = stringAttr(node.attrs, 'role');
  return role === 'pooler' || role === 'classifier' ? 'pooler' : 'linear';
}

export const LINEAR_LOWERINGS: LoweringTable = {
  Linear: { opKind: linearKind, lower: (ctx, node, inputs) => secretValue(linear(ctx, node, inputs)) },
  MatMul: { opKind: 'linear', lower: (ctx, node, [x, y]) => secretValue(matmulValues(ctx, x!, y!, node.type.shape)) },
  Gemm: {
    opKind: 'linear',
    lower: (ctx, node, [a, bm, c]) => {
      const t = (v: LValue, flag: number): LValue => {
        if (flag === 0) return v;
        if (v.kind === 'public') return { kind: 'public', value: transposeTensor2(v.value) };
        return secretValue(ctx.b.withProtocol('local', () => ctx.b.transpose(ctx.share(v), [1, 0])));
      };
      const A = t(a!, intAttr(node.attrs, 'transA'));
      const B = t(bm!, intAttr(node.attrs, 'transB'));
      const alpha = floatAttr(node.attrs, 'alpha');
      const beta = floatAttr(node.attrs, 'beta');
      let y = matmulValues(ctx, A, B, node.type.shape);
      if (alpha !== 1) y = mulPublic(ctx, y, scalarTensor(alpha));
      if (c === undefined || beta === 0) return secretValue(y);
      let cv: LValue = c;
      if (beta !== 1) cv = c.kind === 'public' ? { kind: 'public', value: scaleTensor(c.value, beta) } : secretValue(mulPublic(ctx, ctx.share(c), scalarTensor(beta)));
      return secretValue(addValues(ctx, secretValue(y), cv));
    },
  },
  Pooler: {
    opKind: 'pooler',
    lower: (ctx, node, [x, w, bias]) => {
      const xs = ctx.share(x!);
      const [B, , D] = xs.shape as [number, number, number];
      const first = ctx.b.withProtocol('local', () => ctx.b.reshape(ctx.b.slice(xs, [0], [1], [1]), [B, D]));
      const y = addValues(ctx, secretValue(matmulValues(ctx, secretValue(first), w!, node.type.shape)), bias!);
      // the tanh's input bound, for its FSS width (secure-range.ts's Linear rule)
      const bx = ctx.b.boundOf(first);
      if (bx !== undefined && isKnown(w!) && isKnown(bias!) && w!.value.shape.length === 2) {
        const [lo, hi] = linearBound(bx, w!.value, bias!.value, ctx.f);
        ctx.b.bound(y, lo, hi);
      }
      return secretValue(ctx.p.tanh(y));
    },
  },
};

function scaleTensor(t: Tensor, s: number): Tensor {
  const d = t.toFloat64();
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! * s;
  return new Tensor('f64', t.shape, out);
}
