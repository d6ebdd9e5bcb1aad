// No silent wrong answer: inputs out of their type's range, sizes past the limit, misaligned
// weight offsets, malformed masks, empty case lists, huge names: each a clear error.

import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { parseGraph } from '../ir/parser.ts';
import { Tensor } from '../ir/tensor.ts';
import { parseCases, tensorFromJson } from '../ir/tensor-json.ts';
import { CircuitBuilder } from '../ir/circuit/index.ts';
import { runCircuit } from '../runtime/index.ts';
import { clientInputs } from '../compiler/cli/commands/run.ts';

const tensor = (dtype: string, data: unknown[]): unknown => ({ dtype, shape: [data.length], data });

describe('integers in JSON are checked against their dtype, never wrapped', () => {
  it('accepts values in range (the accept path) exactly', () => {
    expect(tensorFromJson(tensor('int8', [-128, 127]), 'x').toNumbers()).toEqual([-128, 127]);
    expect(tensorFromJson(tensor('uint64', ['18446744073709551615']), 'x').data[0]).toBe(18446744073709551615n);
    expect(tensorFromJson(tensor('int64', ['-9223372036854775808', 5]), 'x').data[0]).toBe(-9223372036854775808n);
  });
  it('refuses values that do not fit', () => {
    expect(() => tensorFromJson(tensor('int64', ['18446744073709551617']), 'x')).toThrow(/x.data\[0\]: 18446744073709551617 does not fit int64/);
    expect(() => tensorFromJson(tensor('int8', [323]), 'x')).toThrow(/x.data\[0\]: 323 does not fit int8 \(-128..127\)/);
    expect(() => tensorFromJson(tensor('uint8', [-1]), 'x')).toThrow(/does not fit uint8/);
    expect(() => tensorFromJson(tensor('int32', [2 ** 31]), 'x')).toThrow(/does not fit int32/);
    expect(() => tensorFromJson(tensor('int64', [2 ** 60]), 'x')).toThrow(/beyond 2\^53 and not exact as a JSON number: write it as a string/);
    expect(() => tensorFromJson(tensor('bool', [3]), 'x')).toThrow(/expected true, false, 0 or 1/);
  });
});

describe('sizes are checked before anything is allocated', () => {
  it('a JSON tensor, an IR constant (splat or external) past the limit', () => {
    expect(() => tensorFromJson({ dtype: 'float32', shape: [4294967296], data: [] }, 'x')).toThrow(/x.shape: a tensor of shape \[4294967296\] has 4294967296 elements, more than the limit/);
    const ir = (type: string, data: string): string => `graph g {\n  %c = Const : ${type} public = ${data}\n  output c = %c\n}\n`;
    const err = (text: string): Ig3dcError => {
      try {
        parseGraph(text, { file: 'big.ir' });
      } catch (e) {
        if (e instanceof Ig3dcError) return e;
        throw e;
      }
      throw new Error('parsed');
    };
    const t0 = performance.now();
    expect(err(ir('f32[4294967296]', 'splat<1>')).message).toMatch(/big.ir:2:\d+: .*has 4294967296 elements, more than the limit/);
    expect(err(ir('f32[99999999999]', 'splat<1>')).message).toMatch(/has 99999999999 elements, more than the limit/);
    expect(err(ir('f32[65536,65536]', 'external<0>')).message).toMatch(/more than the limit/);
    expect(performance.now() - t0).toBeLessThan(5000); // refused, not allocated (a generous bound: no timing claim)
    // The accept path still parses.
    expect(parseGraph(ir('f32[2,2]', 'splat<1>')).outputs.length).toBe(1);
  });
  it('a misaligned external offset is refused', () => {
    const text = `weights "w.bin"\ngraph g {\n  %c = Const : f32[4] public = external<1023999>\n  output c = %c\n}\n`;
    expect(() => parseGraph(text, { file: 'm.ir' })).toThrow(/external<1023999>: the weights file starts every constant at a multiple of 8 bytes/);
  });
});

describe('masks, cases and names', () => {
  it('a keep mask holds 0 or 1 (not 3) in secure runs', () => {
    const b = new CircuitBuilder();
    b.output(b.input('attention_mask', 1, [3], { encoding: 'keepmask' }), 'm');
    const c = b.build();
    const run = (xs: number[]): unknown => runCircuit(c, { inputs: new Map([['attention_mask', Tensor.from('i64', [3], xs.map(BigInt))]]), weights: new Map(), checkLeakage: false });
    expect(() => run([1, 3, 0])).toThrow(/'attention_mask' element 1 is 3: a mask holds 0 \(padding\) or 1 \(attend\)/);
    expect(() => run([1, 1, 0])).not.toThrow();
  });
  it('an empty list of cases is an error; a 1 MB input name is quoted by a bounded prefix', () => {
    expect(() => parseCases(JSON.stringify({ format: 'ig3dc-cases/1', cases: [] }), 'c.json')).toThrow(/the list of cases is empty/);
    const b = new CircuitBuilder();
    b.output(b.input('x', 1, [1]), 'y');
    const huge = 'n'.repeat(1 << 20);
    const cs = parseCases(JSON.stringify({ [huge]: { dtype: 'float64', shape: [1], data: [1] } }))[0]!;
    let msg = '';
    try {
      clientInputs(b.build(), cs);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/has an input 'n{80}\.\.\. \(1048576 characters\)' that the circuit does not take/);
    expect(msg.length).toBeLessThan(400);
  });
});
