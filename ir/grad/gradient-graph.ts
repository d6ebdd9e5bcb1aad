// Reverse-mode differentiation into the graph: the backward pass built as IR nodes on top
// of the forward ones, so a gradient is an ordinary graph output. The walk is the one the
// numeric GradientPlan takes (backwardSteps); each op's graph rule (graph-rules.ts) adds
// the nodes of its input gradients, and gradients reaching a node twice are added.

import { build } from '../build.ts';
import { Ig3dcError } from '../diagnostics.ts';
import type { Graph } from '../graph.ts';
import type { Node } from '../node.ts';
import { shapesEqual } from '../types.ts';
import { fmtShape } from '../ops/broadcast.ts';
import { backwardSteps } from './backward.ts';
import { findGraphVjp } from './graph-rules.ts';
import { GradBuilder } from './graph-vjp.ts';

/**
 * Nodes computing d(sum over seeds of <seed gradient, seed value>)/d(wrt), given a node
 * holding each seed's gradient (same shape as the seed). A wrt node that no seed depends
 * on gets zeros.
 */
export function gradientNodes(graph: Graph, wrt: readonly Node[], seeds: ReadonlyMap<Node, Node>): Map<Node, Node> {
  for (const [s, g] of seeds) {
    if (!shapesEqual(s.type.shape, g.type.shape)) {
      throw new Ig3dcError('shape', `the gradient seed of ${s.loc.name ?? s.op} must be ${fmtShape(s.type.shape)}, got ${fmtShape(g.type.shape)}`);
    }
  }
  const steps = backwardSteps(graph, wrt, [...seeds.keys()], (op) => findGraphVjp(op) !== undefined);
  const grads = new Map<Node, Node>(seeds);
  for (const { node, needs } of steps) {
    const g = grads.get(node);
    if (g === undefined) continue;
    const out = findGraphVjp(node.op)!({ node, grad: g, needs, b: new GradBuilder(node) });
    node.inputs.forEach((input, k) => {
      const gi = out[k];
      if (!needs[k] || gi === undefined) return;
      if (!shapesEqual(gi.type.shape, input.type.shape)) {
        throw new Error(`gradient rule of ${node.op} gave ${fmtShape(gi.type.shape)} for input ${k} of shape ${fmtShape(input.type.shape)}`);
      }
      const prev = grads.get(input);
      grads.set(input, prev === undefined ? gi : build('Add', [prev, gi], {}, gi.loc));
    });
  }
  const result = new Map<Node, Node>();
  for (const w of wrt) result.set(w, grads.get(w) ?? new GradBuilder(w).zeros(w.type.shape));
  return result;
}
