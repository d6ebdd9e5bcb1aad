// Creating op nodes: look the op up, validate and complete its attributes, infer its type.

import { Ig3dcError } from './diagnostics.ts';
import type { Attrs, Loc, Node } from './node.ts';
import { rawNode } from './node.ts';
import { completeAttrs, findOp } from './op.ts';
import { joinVisibility, type Visibility } from './types.ts';
import './ops/index.ts';

/**
 * A new node for `op` applied to `inputs`. Throws an Ig3dcError naming the node (its
 * loc name) when the op is unknown, an attribute is wrong or the type rule fails.
 */
export function build(op: string, inputs: readonly Node[], attrs: Attrs = {}, loc: Loc = {}): Node {
  const place = loc.name !== undefined ? { node: loc.name } : {};
  const def = findOp(op);
  if (def === undefined) throw new Ig3dcError('unsupported', `unknown op '${op}'`, place);
  try {
    const [min, max] = def.arity;
    if (inputs.length < min || inputs.length > max) {
      const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
      throw new Ig3dcError('shape', `${op} takes ${want} input${want === '1' ? '' : 's'}, got ${inputs.length}`);
    }
    const full = completeAttrs(def, attrs);
    const types = inputs.map((i) => i.type);
    const inferred = def.infer(types, full);
    const vis: Visibility = def.visibility
      ? def.visibility(types, full)
      : types.reduce<Visibility>((v, t) => joinVisibility(v, t.vis), 'public');
    return rawNode({
      op,
      inputs: [...inputs],
      attrs: full,
      type: { elem: inferred.elem, shape: [...inferred.shape], vis },
      loc,
    });
  } catch (e) {
    if (e instanceof Ig3dcError) throw e.within(place);
    throw e;
  }
}
