// LayerNorm: the decomposed form torch exports below opset 17, and ONNX LayerNormalization,
// both over the last axis, become one LayerNorm op.

import type { Node } from '../../ir/node.ts';
import { constNode } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { any, constant, op, scalar } from '../pattern.ts';
import { type Rule, rule } from '../rewrite.ts';
import { cap, isLastAxis, isLastAxisOnly, isWeight, scalarValue } from './predicates.ts';

/** ReduceMean over the last axis only, keeping it (so it broadcasts back). */
const meanOverLastAxis = (n: Node): boolean =>
  n.attrs['keepdims'] === 1 && isLastAxisOnly(n.attrs['axes'], n.inputs[0]!.type.shape.length);

/** A non-negative single-element constant: the epsilon added to the variance. */
const epsilon = constant('eps', (t) => t.size === 1 && t.at(0) >= 0);

// c = x - mean(x); the Sub's input must be the ReduceMean's input (both captured as x).
const centered = op('Sub', [any('x'), op('ReduceMean', [any('x')], { where: meanOverLastAxis })], { capture: 'c' });
const variance = op('ReduceMean', [op('Pow', [any('c'), scalar(2)])], { where: meanOverLastAxis });
const normalized = op('Div', [centered, op('Sqrt', [op('Add', [variance, epsilon], { commutative: true })])]);

/** gamma and beta are [D], D the last axis of x, of x's element type (else the rule declines). */
function fitsLastAxis(x: Node, ...params: Node[]): boolean {
  const D = x.type.shape[x.type.shape.length - 1];
  return params.every((p) => p.type.shape.length === 1 && p.type.shape[0] === D && p.type.elem === x.type.elem);
}

export const LAYER_NORM_RULES: readonly Rule[] = [
  // (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta -> LayerNorm(x, gamma, beta)
  rule(
    'DecomposedLayerNormToLayerNorm',
    '(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta over the last axis -> LayerNorm{eps}(x, gamma, beta)',
    op(
      'Add',
      [op('Mul', [normalized, any('gamma', isWeight(1))], { commutative: true }), any('beta', isWeight(1))],
      { commutative: true },
    ),
    (c, ctx) => {
      const x = cap(c, 'x');
      const gamma = cap(c, 'gamma');
      const beta = cap(c, 'beta');
      if (!fitsLastAxis(x, gamma, beta)) return undefined;
      return ctx.build('LayerNorm', [x, gamma, beta], { epsilon: scalarValue(cap(c, 'eps'))! });
    },
  ),
  // LayerNormalization{axis=-1, eps}(x, scale, B) -> LayerNorm{eps}(x, scale, B)
  rule(
    'LayerNormalizationToLayerNorm',
    'LayerNormalization{axis = last, epsilon}(x, scale, bias?) -> LayerNorm{epsilon}(x, scale, bias or 0)',
    op('LayerNormalization', undefined, { where: (n) => isLastAxis(n.attrs['axis'], n.inputs[0]!.type.shape.length) }),
    (_c, ctx) => {
      const [x, gamma, given] = ctx.root.inputs as [Node, Node, Node | undefined];
      const beta = given ?? zeros(x);
      if (!fitsLastAxis(x, gamma, beta)) return undefined;
      return ctx.build('LayerNorm', [x, gamma, beta], { epsilon: ctx.root.attrs['epsilon'] as number });
    },
  ),
];

/** A public zero vector [D] of x's element type (the missing bias). */
function zeros(x: Node): Node {
  const shape = [x.type.shape[x.type.shape.length - 1] ?? 0];
  return constNode(Tensor.zeros(x.type.elem, shape), { elem: x.type.elem, shape, vis: 'public' });
}
