// Softmax: ONNX Softmax over an axis, and AttentionSoftmax with a per-head method. The
// heads of one method are sliced out of the head axis and concatenated, run through that
// method's lowering (attention-methods.ts) once, and put back in head order; so a layer whose
// heads are all "poly" has no exact-softmax step at all, and one protocol call covers
// every head of a method (its rounds are paid once per layer, not per head).
//
// Masking: PolySoftmax multiplies q(z) by the keep mask (q grows for very negative z, so an
// additive mask cannot zero it). Exact heads use the additive form, as the exported BERT
// does and as CrypTen runs it: scores + (keep - 1) * 64, a local step. exp(z - 64) by the
// limit approximation (1 + x/256)^256 is 0.75^256 < 2^-100, which is 0 in fixed point, and
// no multiplication by the mask (one round and 16(|scores| + |keep|) bytes) is needed. The
// shift keeps 1 + x/256 >= 0 for score spans up to 192. (A row with every key masked gets
// uniform weights here instead of zeros; BERT always keeps [CLS].)

import { intAttr } from '../../../ir/op.ts';
import type { Reg } from '../../../ir/circuit/types.ts';
import { attentionParams } from '../../../ir/ops/transformer/attention-softmax.ts';
import { normalizeAxis } from '../../../ir/types.ts';
import { attentionMethodLowering, loweredAttentionMethods, type KeepMask } from './attention-methods.ts';
import { isPublic, secretValue, type LowerContext, type LValue } from './context.ts';
import type { LoweringTable } from './lowering.ts';


/** Runs of consecutive heads with the same method: [start, end, method]. */
export function headRuns(methods: readonly string[]): [number, number, string][] {
  const runs: [number, number, string][] = [];
  methods.forEach((m, h) => {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[2] === m && last[1] === h) last[1] = h + 1;
    else runs.push([h, h + 1, m]);
  });
  return runs;
}

/** The keep mask as the methods take it: public, secret, or all kept. */
function keepMask(ctx: LowerContext, keep: LValue): KeepMask {
  if (isPublic(keep)) {
    const d = keep.value;
    for (let i = 0; i < d.size; i++) if (d.at(i) === 0) return { kind: 'public', value: d };
    return { kind: 'all' };
  }
  return { kind: 'secret', reg: ctx.share(keep) };
}

export const SOFTMAX_LOWERINGS: LoweringTable = {
  Softmax: {
    opKind: 'softmax',
    lower: (ctx, node, [x]) => {
      const axis = normalizeAxis(intAttr(node.attrs, 'axis'), node.type.shape.length)!;
      return secretValue(ctx.p.softmax(ctx.share(x!), axis));
    },
  },
  AttentionSoftmax: {
    opKind: 'softmax',
    lower: (ctx, node, [scores, keepV]) => {
      const x = ctx.share(scores!);
      const methods = node.attrs['methods'] as readonly string[];
      const params = attentionParams(node.attrs);
      const keep = keepMask(ctx, keepV!);
      const runs = headRuns(methods);
      const byMethod = new Map<string, [number, number][]>();
      for (const [s, e, m] of runs) byMethod.set(m, [...(byMethod.get(m) ?? []), [s, e]]);
      const b = ctx.b;
      const slice = (r: Reg, s: number, e: number): Reg => (s === 0 && e === r.shape[1] ? r : b.slice(r, [s], [e], [1]));
      const gather = (r: Reg, parts: readonly [number, number][]): Reg =>
        b.withProtocol('local', () => (parts.length === 1 ? slice(r, parts[0]![0], parts[0]![1]) : b.concat(parts.map(([s, e]) => slice(r, s, e)), 1)));
      // one protocol call per method, over that method's heads
      const results = new Map<string, Reg>();
      ctx.deferNow = byMethod.size === 1 && ctx.deferNormalization.has(node);
      for (const [m, parts] of byMethod) {
        const method = attentionMethodLowering(m);
        if (method === undefined) throw ctx.error('unsupported', `attention method "${m}" has no lowering (lowered: ${loweredAttentionMethods().join(', ')})`);
        const xs = gather(x, parts);
        results.set(m, method.lower(ctx, xs, keep, params));
      }
      ctx.deferNow = false;
      if (byMethod.size === 1) return secretValue(results.get(methods[0]!)!);
      // back in head order
      const offset = new Map<string, number>();
      const pieces = runs.map(([s, e, m]) => {
        const at = offset.get(m) ?? 0;
        offset.set(m, at + (e - s));
        return b.withProtocol('local', () => slice(results.get(m)!, at, at + (e - s)));
      });
      return secretValue(b.withProtocol('local', () => b.concat(pieces, 1)));
    },
  },
};
