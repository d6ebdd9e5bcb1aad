// Activations: Gelu (erf or tanh form), GeluMix (lambda Gelu + (1 - lambda) Relu, both in
// parallel), Relu, Tanh, Erf, Sigmoid.

import { floatAttr, stringAttr } from '../../../ir/op.ts';
import { secretValue } from './context.ts';
import { mulPublic, scalarTensor } from './local.ts';
import type { LoweringTable } from './lowering.ts';

export const ACTIVATION_LOWERINGS: LoweringTable = {
  Gelu: {
    opKind: 'activation',
    lower: (ctx, node, [x]) => secretValue(ctx.p.gelu(ctx.share(x!), stringAttr(node.attrs, 'approximate') === 'tanh' ? 'tanh' : 'erf')),
  },
  GeluMix: {
    opKind: 'activation',
    lower: (ctx, node, [x]) => {
      const l = floatAttr(node.attrs, 'lambda');
      const xs = ctx.share(x!);
      if (l === 1) return secretValue(ctx.p.gelu(xs, 'erf'));
      if (l === 0) return secretValue(ctx.p.relu(xs));
      const g = mulPublic(ctx, ctx.p.gelu(xs, 'erf'), scalarTensor(l));
      const r = mulPublic(ctx, ctx.p.relu(xs), scalarTensor(1 - l));
      return secretValue(ctx.b.withProtocol('local', () => ctx.b.add(g, r)));
    },
  },
  Relu: { opKind: 'activation', lower: (ctx, _n, [x]) => secretValue(ctx.p.relu(ctx.share(x!))) },
  Tanh: { opKind: 'activation', lower: (ctx, _n, [x]) => secretValue(ctx.p.tanh(ctx.share(x!))) },
  Erf: { opKind: 'activation', lower: (ctx, _n, [x]) => secretValue(ctx.p.erf(ctx.share(x!))) },
  Sigmoid: { opKind: 'activation', lower: (ctx, _n, [x]) => secretValue(ctx.p.sigmoid(ctx.share(x!))) },
};
