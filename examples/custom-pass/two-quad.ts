// MPCFormer's "2Quad" attention (Li et al., ICLR 2023) as a custom pass:
//
//   Softmax(x) over the last axis  ->  (x + c)^2 / sum((x + c)^2) along that axis
//
// Softmax needs exp, max and a division in MPC, each many communication rounds; 2Quad
// needs one square and one division. The model is meant to be distilled with the
// approximation in place (MPCFormer), so the logits change; the argmax mostly does not.
//
// The exported BERT masks padding additively before Softmax: Softmax(Add(s, m)) with
// m = (1 - mask) * -3.4e38. Exp makes that weight 0, but (s + m + c)^2 would be huge, so
// the masked rule matches the Add, squares s alone and multiplies by the keep mask
// 1 - m / min (exactly 1 or 0): masked positions get exactly zero weight.
//
// Written only against the public pass API (passes/index.ts): a pattern, two rules and a
// registered pass `two-quad{c=5}`. Use it with
//   npx ig3dc opt examples/bert-tiny.onnx --load-pass examples/custom-pass/two-quad.ts --passes 'two-quad{c=5}'

import {
  type Node,
  type PassContext,
  type PassOptions,
  type Rule,
  allEqual,
  any,
  constant,
  normalizeAxis,
  numberOption,
  op,
  registerPass,
  rewritePass,
  rule,
} from '../../passes/index.ts';

/** Softmax over the last axis (the attention-probability axis of a BERT export). */
const overLastAxis = (n: Node): boolean => {
  const rank = n.type.shape.length;
  return rank > 0 && normalizeAxis(n.attrs['axis'] as number, rank) === rank - 1;
};

/** The additive mask of an exported BERT: (1 - mask) * min, min a huge negative constant. */
const additiveMask = op('Mul', [any(), constant('min', (t) => t.size > 0 && t.at(0) <= -1e30 && allEqual(t, t.at(0)))], { commutative: true, capture: 'mask' });

/** Softmax(scores + mask) over the last axis. */
export const maskedSoftmax = op('Softmax', [op('Add', [any('scores'), additiveMask], { commutative: true })], { where: overLastAxis });

/** Any Softmax over the last axis. */
export const plainSoftmax = op('Softmax', [any('x')], { where: overLastAxis });

/** Whether `n` adds something computed from the client's input alone: a mask in a form the masked rule does not know. */
function addsUnknownMask(n: Node): boolean {
  return n.op === 'Add' && n.inputs.some((i) => i.type.vis === 'client');
}

export function twoQuadRules(options: PassOptions, ctx: PassContext): Rule[] {
  const c = numberOption(options, 'c');
  return [
    // Softmax(s + m) -> (s + c)^2 * keep / sum((s + c)^2 * keep), keep = 1 - m / min
    rule('MaskedSoftmaxToTwoQuad', 'Softmax(s + m) -> (s+c)^2*keep / sum((s+c)^2*keep), keep = 1 - m/min', maskedSoftmax, ({ scores, mask, min }, b) => {
      const axis = b.root.type.shape.length - 1;
      const shifted = b.build('Add', [scores!, b.scalar(c)]);
      const square = b.build('Mul', [shifted, shifted]);
      const keep = b.build('Sub', [b.scalar(1), b.build('Div', [mask!, min!])]);
      const weights = b.build('Mul', [square, keep]);
      return b.build('Div', [weights, b.build('ReduceSum', [weights], { axes: [axis], keepdims: 1 })]);
    }),
    // Softmax(x) -> (x + c)^2 / sum((x + c)^2)
    rule('SoftmaxToTwoQuad', 'Softmax(x) -> (x+c)^2 / sum((x+c)^2)', plainSoftmax, ({ x }, b) => {
      if (addsUnknownMask(x!)) {
        ctx.note('two-quad', `left Softmax ${b.root.loc.name ?? ''} alone: its input adds a mask in a form this pass does not recognize`);
        return undefined;
      }
      const axis = b.root.type.shape.length - 1;
      const shifted = b.build('Add', [x!, b.scalar(c)]);
      const square = b.build('Mul', [shifted, shifted]);
      return b.build('Div', [square, b.build('ReduceSum', [square], { axes: [axis], keepdims: 1 })]);
    }),
  ];
}

export const twoQuad = rewritePass({
  name: 'two-quad',
  summary: "MPCFormer's 2Quad: Softmax over the last axis -> (x+c)^2 / sum (x+c)^2, padding masked multiplicatively",
  options: { c: { kind: 'number', default: 5, min: 0, doc: 'the shift c in (x + c)^2 (MPCFormer uses 5)' } },
  rules: twoQuadRules,
});

registerPass(twoQuad);
