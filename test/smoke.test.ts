import { describe, expect, it } from 'vitest';
import { build } from '../ir/build.ts';
import { inputNode } from '../ir/node.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';

describe('build', () => {
  it('infers the type and visibility of a node', () => {
    const x = inputNode('x', { elem: 'f32', shape: [2, 3], vis: 'client' });
    const y = build('Relu', [x]);
    expect(y.type).toEqual({ elem: 'f32', shape: [2, 3], vis: 'client' });
  });
  it('names the node when the type rule fails', () => {
    const x = inputNode('x', { elem: 'i64', shape: [2], vis: 'public' });
    expect(() => build('Relu', [x], {}, { name: 'r0' })).toThrow(Ig3dcError);
    expect(() => build('Relu', [x], {}, { name: 'r0' })).toThrow(/node 'r0'.*float/);
  });
});
