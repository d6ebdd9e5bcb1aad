import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../ir/build.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Graph } from '../ir/graph.ts';
import { constNode, inputNode, isElided, type Node } from '../ir/node.ts';
import { findOp } from '../ir/op.ts';
import { parseGraph, readIrFile } from '../ir/parser.ts';
import { formatFloat, printGraph, shortestF32, writeIrFile, type PrintOptions } from '../ir/printer.ts';
import { Tensor } from '../ir/tensor.ts';
import { verifyGraph } from '../ir/verifier.ts';
import { WeightsWriter, openWeightsFile, weightsFromBytes } from '../ir/weights-file.ts';
import { arbGraph, availableOps, GENERATED_OPS } from './arbitrary.ts';

// ---------------------------------------------------------------------------------------
// Helpers

/** Structural equality of two graphs, node by node in printing order; throws on the first difference. */
function expectSameGraph(a: Graph, b: Graph, opts: { elidedMatchesAny?: boolean } = {}): void {
  expect(b.name).toBe(a.name);
  expect(b.meta).toEqual(a.meta);
  expect(b.inputs.map((n) => n.name)).toEqual(a.inputs.map((n) => n.name));
  const na = a.nodes();
  const nb = b.nodes();
  expect(nb.length).toBe(na.length);
  const index = (nodes: readonly Node[]): Map<Node, number> => new Map(nodes.map((n, i) => [n, i]));
  const ia = index(na);
  const ib = index(nb);
  expect(b.outputs.map((o) => [o.name, ib.get(o.node)])).toEqual(a.outputs.map((o) => [o.name, ia.get(o.node)]));
  na.forEach((x, i) => {
    const y = nb[i]!;
    const where = `node ${i} (${x.op})`;
    expect(y.op, where).toBe(x.op);
    expect(y.type, where).toEqual(x.type);
    expect(y.loc, where).toEqual(x.loc);
    expect(y.name, where).toBe(x.name);
    expect(y.inputs.map((n) => ib.get(n)), where).toEqual(x.inputs.map((n) => ia.get(n)));
    expect(Object.keys(y.attrs).sort(), where).toEqual(Object.keys(x.attrs).sort());
    for (const k of Object.keys(x.attrs)) {
      const u = x.attrs[k]!;
      const v = y.attrs[k]!;
      if (Array.isArray(u)) expect((v as readonly unknown[]).every((e, j) => Object.is(e, u[j])) && (v as unknown[]).length === u.length, `${where} attr ${k}`).toBe(true);
      else expect(Object.is(u, v), `${where} attr ${k}: ${String(u)} vs ${String(v)}`).toBe(true);
    }
    if (x.data === undefined) {
      expect(y.data, where).toBeUndefined();
    } else if (isElided(x.data)) {
      expect(y.data !== undefined && isElided(y.data), where).toBe(true);
    } else if (!(opts.elidedMatchesAny && y.data !== undefined && isElided(y.data))) {
      const dy = y.data as Tensor;
      expect(dy.dtype, where).toBe(x.data.dtype);
      expect(dy.shape, where).toEqual(x.data.shape);
      expect(dy.data.constructor, where).toBe(x.data.data.constructor);
      for (let j = 0; j < x.data.size; j++) {
        if (!Object.is(dy.data[j], x.data.data[j])) throw new Error(`${where}: element ${j} is ${dy.data[j]} not ${x.data.data[j]}`);
      }
    }
  });
}

function roundTrips(g: Graph, options?: PrintOptions): string {
  const text = printGraph(g, options);
  const again = printGraph(parseGraph(text), options);
  expect(again).toBe(text);
  return text;
}

function errorOf(f: () => unknown): Ig3dcError {
  try {
    f();
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw new Error(`expected an Ig3dcError, got ${String(e)}`);
  }
  throw new Error('expected an error');
}

const hasOps = (...ops: string[]): boolean => ops.every((op) => findOp(op) !== undefined);

// ---------------------------------------------------------------------------------------

describe('round trip of random graphs', () => {
  it('print(parse(print(g))) === print(g)', () => {
    fc.assert(
      fc.property(arbGraph(), (g) => {
        roundTrips(g);
      }),
      { numRuns: 400 },
    );
  });

  it('with every constant inlined, parsing gives back the same graph (data bit-exact)', () => {
    fc.assert(
      fc.property(arbGraph(), (g) => {
        roundTrips(g, { weights: 'inline' });
        expectSameGraph(g, parseGraph(printGraph(g, { weights: 'inline' })));
      }),
      { numRuns: 300 },
    );
  });

  it('with a sidecar, parsing gives back the same graph', () => {
    fc.assert(
      fc.property(arbGraph(), fc.integer({ min: 0, max: 20 }), (g, inlineLimit) => {
        const sidecar = new WeightsWriter('mem.weights');
        const text = printGraph(g, { weights: { sidecar }, inlineLimit });
        const back = parseGraph(text, { weights: weightsFromBytes(sidecar.bytes()) });
        expectSameGraph(g, back);
        const sidecar2 = new WeightsWriter('mem.weights');
        expect(printGraph(back, { weights: { sidecar: sidecar2 }, inlineLimit })).toBe(text);
        expect(sidecar2.bytes()).toEqual(sidecar.bytes());
      }),
      { numRuns: 200 },
    );
  });

  it('the elided default keeps everything but the data of big constants', () => {
    fc.assert(
      fc.property(arbGraph(), (g) => {
        expectSameGraph(g, parseGraph(printGraph(g)), { elidedMatchesAny: true });
      }),
      { numRuns: 200 },
    );
  });

  it('random graphs pass the verifier, before and after the round trip', () => {
    fc.assert(
      fc.property(arbGraph(), (g) => {
        verifyGraph(g);
        verifyGraph(parseGraph(printGraph(g)));
      }),
      { numRuns: 200 },
    );
  });

  it('the generator reaches every registered op it knows, every element type and every data form', () => {
    const ops = new Set<string>();
    const constElems = new Set<string>();
    const forms = new Set<string>();
    for (const g of fc.sample(arbGraph(), { numRuns: 600, seed: 42 })) {
      const text = printGraph(g);
      for (const form of ['dense<[', 'splat<', 'elided', '= dense<', 'loc(layer', '%"', 'output "']) if (text.includes(form)) forms.add(form);
      for (const n of g.nodes()) {
        ops.add(n.op);
        if (n.op === 'Const') constElems.add(n.type.elem);
      }
    }
    const missing = availableOps().filter((op) => !ops.has(op));
    expect(missing, `ops never generated (their generator in test/arbitrary.ts no longer fits the type rule?)`).toEqual([]);
    expect([...constElems].sort()).toEqual(['bool', 'f32', 'f64', 'i32', 'i64', 'i8', 'ring64', 'u32', 'u64', 'u8']);
    expect(forms.size).toBe(7);
    expect(GENERATED_OPS.length).toBeGreaterThan(40);
  });
});

// ---------------------------------------------------------------------------------------

describe('numbers', () => {
  const f32FromBits = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0]!;
  const significantDigits = (s: string): number => {
    const mantissa = s.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.max(mantissa.length, 1);
  };

  it('shortestF32 is the shortest decimal that rounds back to the same float32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (bits) => {
        const x = f32FromBits(bits);
        if (!Number.isFinite(x)) return;
        const s = shortestF32(x);
        expect(Object.is(Math.fround(Number(s)), x)).toBe(true);
        const digits = significantDigits(s);
        if (digits > 1) expect(Math.fround(Number(x.toPrecision(digits - 1)))).not.toBe(x);
      }),
      { numRuns: 5000 },
    );
  });

  it('known float32 values', () => {
    expect(shortestF32(Math.fround(0.1))).toBe('0.1');
    expect(shortestF32(Math.fround(1 / 3))).toBe('0.33333334');
    expect(shortestF32(Math.fround(3.4028234663852886e38))).toBe('3.4028235e+38');
    expect(shortestF32(Math.fround(1.401298464324817e-45))).toBe('1e-45');
    expect(shortestF32(16777216)).toBe('16777216');
  });

  it('float literals always show they are floats', () => {
    expect(formatFloat(1)).toBe('1.0');
    expect(formatFloat(-2)).toBe('-2.0');
    expect(formatFloat(-0)).toBe('-0.0');
    expect(formatFloat(NaN)).toBe('nan');
    expect(formatFloat(Infinity)).toBe('inf');
    expect(formatFloat(-Infinity)).toBe('-inf');
    expect(formatFloat(1e21)).toBe('1e+21');
    expect(formatFloat(1e-7)).toBe('1e-7');
    expect(formatFloat(Math.fround(0.1), true)).toBe('0.1');
    expect(formatFloat(Math.fround(0.1))).toBe('0.10000000149011612');
  });

  it('doubles round-trip exactly through f64 constants', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { minLength: 2, maxLength: 12 }), (xs) => {
        const c = constNode(Tensor.from('f64', [xs.length], xs), { elem: 'f64', shape: [xs.length], vis: 'public' });
        const back = parseGraph(printGraph(new Graph('g', [], [{ name: 'c', node: c }]))).outputs[0]!.node.data as Tensor;
        xs.forEach((x, i) => expect(Object.is(back.data[i], x)).toBe(true));
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------

describe('hand-written text', () => {
  it('a BERT-like fragment: parses to the expected nodes and prints back unchanged', () => {
    expect(hasOps('Gather', 'Reshape', 'Transpose', 'Div', 'Softmax', 'Cast', 'Sub', 'Mul', 'Clip')).toBe(true);
    const text = `# ig3dc IR — bert_tiny (from bert-tiny.onnx, producer pytorch, opset 14)
meta {source = "bert-tiny.onnx", producer = "pytorch", opset = 14}
graph bert_tiny {
  input %input_ids : i64[1,8] secret(client)
  input %attention_mask : i64[1,8] secret(client)
  %0 = Const : f32[30,16] secret(server) = elided loc("bert.embeddings.word_embeddings.weight")
  %1 = Gather(%0, %input_ids) : f32[1,8,16] secret loc("/bert/embeddings/word_embeddings/Gather")
  %2 = Reshape(%1) {shape = [1,8,2,8]} : f32[1,8,2,8] secret loc("/bert/encoder/layer.0/attention/self/Reshape", layer = 0)
  %3 = Transpose(%2) {perm = [0,2,1,3]} : f32[1,2,8,8] secret loc(layer = 0)
  %4 = Const : f32[] public = dense<2.828427> loc("/bert/encoder/layer.0/attention/self/Constant")
  %5 = Div(%3, %4) : f32[1,2,8,8] secret loc(layer = 0)
  %6 = Softmax(%5) : f32[1,2,8,8] secret loc(layer = 0)
  %7 = Cast(%attention_mask) {to = "f32"} : f32[1,8] secret(client)
  %8 = Const : f32[] public = dense<1.0>
  %9 = Sub(%8, %7) : f32[1,8] secret(client)
  %10 = Const : f32[] public = dense<-3.4028235e+38>
  %11 = Mul(%9, %10) : f32[1,8] secret(client)
  %12 = Const : f32[4] public = dense<[0.1, -0.0, inf, nan]>
  %13 = Clip(%12) {min = 0.0} : f32[4] public
  output logits = %6
  output mask = %11
  output "clip me" = %13
}
`;
    const g = parseGraph(text);
    expect(g.name).toBe('bert_tiny');
    expect(g.meta).toEqual({ source: 'bert-tiny.onnx', producer: 'pytorch', opset: 14 });
    expect(g.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask']);
    expect(g.outputs.map((o) => o.name)).toEqual(['logits', 'mask', 'clip me']);
    const nodes = g.nodes();
    expect(nodes.map((n) => n.op)).toEqual([
      'Input', 'Input', 'Const', 'Gather', 'Reshape', 'Transpose', 'Const', 'Div', 'Softmax',
      'Cast', 'Const', 'Sub', 'Const', 'Mul', 'Const', 'Clip',
    ]);
    const gather = nodes[3]!;
    expect(gather.attrs.axis).toBe(0); // default filled in
    expect(gather.type).toEqual({ elem: 'f32', shape: [1, 8, 16], vis: 'shared' });
    expect(gather.inputs[1]).toBe(g.inputs[0]);
    expect(nodes[4]!.loc).toEqual({ name: '/bert/encoder/layer.0/attention/self/Reshape', layer: 0 });
    expect(nodes[5]!.loc).toEqual({ layer: 0 });
    expect(nodes[5]!.attrs.perm).toEqual([0, 2, 1, 3]);
    expect(isElided(nodes[2]!.data!)).toBe(true);
    expect((nodes[6]!.data as Tensor).data[0]).toBe(Math.fround(Math.sqrt(8)));
    expect((nodes[12]!.data as Tensor).data[0]).toBe(-Math.fround(3.4028234663852886e38));
    const clipData = (nodes[14]!.data as Tensor).data;
    expect([...clipData].map((v) => Object.is(v, -0) ? '-0' : String(v))).toEqual([String(Math.fround(0.1)), '-0', 'Infinity', 'NaN']);
    expect(nodes[15]!.attrs).toEqual({ min: 0, max: Infinity });
    expect(nodes[9]!.attrs).toEqual({ to: 'f32' });
    expect(printGraph(g)).toBe(text);
  });

  it('non-canonical input: named results, comments, splat of an int literal, dead code', () => {
    expect(hasOps('Add', 'Softmax')).toBe(true);
    const text = `// a pass test
graph g {
  input %x : f32[2,3] secret(client)
  %h = Relu(%x) : f32[2,3] secret(client)   # named result
  %s = Const : f32[2,3] public = splat<1>
  %unused = Const : f32[] public = dense<[2.5]>
  %y = Add(%h, %s) : f32[2,3] secret(client) loc(layer = 2)
  %z = Softmax(%y) {axis = 1} : f32[2,3] secret(client)
  %w = Softmax(%y) {axis = -1} : f32[2,3] secret(client)
  %one = Const : f32[1] public = dense<[2.5]>
  %dead = Relu(%x) : f32[2,3] secret(client)
  output y = %z
  output "w" = %w
  output one = %one
}`;
    const canonical = `# ig3dc IR — g
graph g {
  input %x : f32[2,3] secret(client)
  %0 = Relu(%x) : f32[2,3] secret(client)
  %1 = Const : f32[2,3] public = splat<1.0>
  %2 = Add(%0, %1) : f32[2,3] secret(client) loc(layer = 2)
  %3 = Softmax(%2) {axis = 1} : f32[2,3] secret(client)
  %4 = Softmax(%2) : f32[2,3] secret(client)
  %5 = Const : f32[1] public = dense<2.5>
  output y = %3
  output w = %4
  output one = %5
}
`;
    const g = parseGraph(text);
    expect(g.nodes().length).toBe(7);
    expect([...((g.nodes()[2]!.data as Tensor).data as Float32Array)]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(printGraph(g)).toBe(canonical);
  });

  it('odd names are quoted; an input named like a number moves the numbering', () => {
    expect(hasOps('Add')).toBe(true);
    const text = `# ig3dc IR — my graph
graph "my graph" {
  input %"onnx::x" : f32[2] public loc("in\\"put")
  input %0 : f32[2] public
  %1 = Add(%"onnx::x", %0) : f32[2] public
  output "a b" = %1
}
`;
    const g = parseGraph(text);
    expect(g.name).toBe('my graph');
    expect(g.inputs.map((i) => i.name)).toEqual(['onnx::x', '0']);
    expect(g.inputs[0]!.loc).toEqual({ name: 'in"put' });
    expect(g.outputs[0]!.name).toBe('a b');
    expect(printGraph(g)).toBe(text);
    // %"0" and %0 are the same name.
    expect(printGraph(parseGraph(text.replace('Add(%"onnx::x", %0)', 'Add(%"onnx::x", %"0")')))).toBe(text);
  });

  it('constants of every element type', () => {
    const text = `# ig3dc IR — consts
graph consts {
  %0 = Const : i8[3] public = dense<[-128, 0, 127]>
  %1 = Const : u8[2] public = dense<[0, 255]>
  %2 = Const : i32[2] public = dense<[-2147483648, 2147483647]>
  %3 = Const : u32[1] public = dense<4294967295>
  %4 = Const : i64[2] public = dense<[-9223372036854775808, 9223372036854775807]>
  %5 = Const : u64[2] public = dense<[0, 18446744073709551615]>
  %6 = Const : ring64[2] secret = dense<[1, 18446744073709551615]>
  %7 = Const : bool[3] public = dense<[true, false, true]>
  %8 = Const : f64[3] public = dense<[0.1, 5e-324, -1.7976931348623157e+308]>
  %9 = Const : f32[0] public = dense<[]>
  %10 = Const : f32[2,2] secret(server) = splat<-0.0>
  %11 = Const : bool[] public = dense<false>
  output o0 = %0
  output o1 = %1
  output o2 = %2
  output o3 = %3
  output o4 = %4
  output o5 = %5
  output o6 = %6
  output o7 = %7
  output o8 = %8
  output o9 = %9
  output o10 = %10
  output o11 = %11
}
`;
    const g = parseGraph(text);
    const data = g.outputs.map((o) => (o.node.data as Tensor).data);
    expect(data[0]).toEqual(new Int8Array([-128, 0, 127]));
    expect(data[1]).toEqual(new Uint8Array([0, 255]));
    expect(data[2]).toEqual(new Int32Array([-(2 ** 31), 2 ** 31 - 1]));
    expect(data[3]).toEqual(new Uint32Array([2 ** 32 - 1]));
    expect(data[4]).toEqual(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]));
    expect(data[5]).toEqual(new BigUint64Array([0n, 2n ** 64n - 1n]));
    expect(data[6]).toEqual(new BigUint64Array([1n, 2n ** 64n - 1n]));
    expect(data[7]).toEqual(new Uint8Array([1, 0, 1]));
    expect([...data[8]!]).toEqual([0.1, 5e-324, -Number.MAX_VALUE]);
    expect(data[9]).toEqual(new Float32Array(0));
    expect([...data[10]!].every((v) => Object.is(v, -0))).toBe(true);
    expect(g.outputs[6]!.node.type.vis).toBe('shared');
    expect(printGraph(g)).toBe(text);
    verifyGraph(g);
  });

  it('attributes: int vs float, strings with escapes, lists, defaults omitted', () => {
    expect(hasOps('Gemm', 'Cast')).toBe(true);
    const text = `# ig3dc IR — g
graph g {
  input %a : f32[2,3] secret(client)
  %0 = Const : f32[4,3] secret(server) = elided
  %1 = Gemm(%a, %0) {alpha = 0.5, beta = 1e-7, transB = 1} : f32[2,4] secret
  output y = %1
}
`;
    const g = parseGraph(text);
    const gemm = g.outputs[0]!.node;
    expect(gemm.attrs).toEqual({ alpha: 0.5, beta: 1e-7, transA: 0, transB: 1 });
    expect(printGraph(g)).toBe(text);
    // an integer literal is fine for a float attribute, and prints back as a float
    const intAlpha = parseGraph(text.replace('alpha = 0.5', 'alpha = 2'));
    expect(intAlpha.outputs[0]!.node.attrs.alpha).toBe(2);
    expect(printGraph(intAlpha)).toContain('{alpha = 2.0, beta = 1e-7, transB = 1}');
    // a default written out is dropped when printing
    expect(printGraph(parseGraph(text.replace('transB = 1', 'transA = 0, transB = 1')))).toBe(text);
  });
});

// ---------------------------------------------------------------------------------------

describe('errors carry line:column', () => {
  const base = ['graph g {', '  input %x : f32[2,3] secret(client)', '  %0 = Relu(%x) : f32[2,3] secret(client)', '  output y = %0', '}'];
  const withLine3 = (line: string): string => [base[0], base[1], line, base[3], base[4]].join('\n');

  const cases: { name: string; text: string; kind: string; line: number; column: number; message: RegExp }[] = [
    { name: 'bad token', text: withLine3('  %0 = Relu(%x) ! : f32[2,3] secret(client)'), kind: 'syntax', line: 3, column: 17, message: /unexpected character "!"/ },
    { name: 'missing paren', text: withLine3('  %0 = Relu(%x : f32[2,3] secret(client)'), kind: 'syntax', line: 3, column: 16, message: /expected '\)' but found ':'/ },
    { name: 'unknown op', text: withLine3('  %0 = Frobnicate(%x) : f32[2,3] secret(client)'), kind: 'verify', line: 3, column: 8, message: /%0: unknown op 'Frobnicate'/ },
    { name: 'undefined value', text: withLine3('  %0 = Relu(%nope) : f32[2,3] secret(client)'), kind: 'verify', line: 3, column: 13, message: /%nope is not defined/ },
    {
      name: 'type mismatch (shape)',
      text: withLine3('  %0 = Relu(%x) : f32[2,4] secret(client)'),
      kind: 'verify',
      line: 3,
      column: 19,
      message: /^3:19: %0: declared type f32\[2,4\] secret\(client\) but Relu gives f32\[2,3\] secret\(client\)$/,
    },
    { name: 'type mismatch (visibility)', text: withLine3('  %0 = Relu(%x) : f32[2,3] public'), kind: 'verify', line: 3, column: 19, message: /declared type f32\[2,3\] public but Relu gives f32\[2,3\] secret\(client\)/ },
    { name: 'malformed number in data', text: withLine3('  %1 = Const : f32[2] public = dense<[1.5, 2.5.1]>'), kind: 'syntax', line: 3, column: 44, message: /malformed number '2.5.1'/ },
    { name: 'malformed number in an attribute', text: withLine3('  %0 = Softmax(%x) {axis = 1x} : f32[2,3] secret(client)'), kind: 'syntax', line: 3, column: 28, message: /malformed number '1x'/ },
    { name: 'unterminated string', text: withLine3('  %0 = Relu(%x) : f32[2,3] secret(client) loc("abc'), kind: 'syntax', line: 3, column: 47, message: /unterminated string/ },
    { name: 'missing closing brace', text: base.slice(0, 4).join('\n'), kind: 'syntax', line: 4, column: 16, message: /expected '}' but found the end of the input/ },
    { name: 'redefinition', text: withLine3('  %x = Relu(%x) : f32[2,3] secret(client)'), kind: 'verify', line: 3, column: 3, message: /%x is defined twice \(first at 2:9\)/ },
    { name: 'integer out of range', text: withLine3('  %1 = Const : i8[2] public = dense<[1, 300]>'), kind: 'syntax', line: 3, column: 41, message: /300 is out of range for i8/ },
    { name: 'float for an int attribute', text: withLine3('  %0 = Softmax(%x) {axis = 1.0} : f32[2,3] secret(client)'), kind: 'verify', line: 3, column: 28, message: /Softmax attribute 'axis' must be an integer, got 1.0/ },
    { name: 'unknown attribute', text: withLine3('  %0 = Softmax(%x) {axes = 1} : f32[2,3] secret(client)'), kind: 'verify', line: 3, column: 21, message: /Softmax has no attribute 'axes'/ },
    { name: 'wrong element count', text: withLine3('  %1 = Const : f32[3] public = dense<[1.0, 2.0]>'), kind: 'verify', line: 3, column: 32, message: /dense data has 2 elements but f32\[3\] public has 3/ },
    { name: 'unknown element type', text: base.join('\n').replace('f32[2,3] secret(client)\n  %0', 'f33[2,3] secret(client)\n  %0'), kind: 'syntax', line: 2, column: 14, message: /unknown element type 'f33'/ },
    { name: 'type rule failure', text: withLine3('  %0 = Relu(%x, %x) : f32[2,3] secret(client)'), kind: 'verify', line: 3, column: 8, message: /%0: Relu takes 1 input, got 2/ },
    { name: 'duplicate output', text: [...base.slice(0, 4), '  output y = %x', '}'].join('\n'), kind: 'verify', line: 5, column: 10, message: /output 'y' is defined twice \(first at 4:10\)/ },
    { name: 'external data without a weights file', text: withLine3('  %1 = Const : f32[3] public = external<0>'), kind: 'io', line: 3, column: 32, message: /no weights file/ },
    { name: 'lone %', text: withLine3('  %0 = Relu(% x) : f32[2,3] secret(client)'), kind: 'syntax', line: 3, column: 13, message: /unexpected character "%"/ },
    { name: 'bad party', text: withLine3('  %0 = Relu(%x) : f32[2,3] secret(dealer)'), kind: 'syntax', line: 3, column: 35, message: /unknown party 'dealer'/ },
    { name: 'text after the graph', text: `${base.join('\n')}\ngraph h {}`, kind: 'syntax', line: 6, column: 1, message: /unexpected 'graph' after the end of the graph/ },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const e = errorOf(() => parseGraph(c.text));
      expect(e.kind, e.message).toBe(c.kind);
      expect([e.place.line, e.place.column], e.message).toEqual([c.line, c.column]);
      expect(e.message).toMatch(c.message);
    });
  }

  it('puts the file name in front', () => {
    const e = errorOf(() => parseGraph(withLine3('  %0 = Relu(%x) ! : f32[2,3] secret(client)'), { file: 'model.ir' }));
    expect(e.message.startsWith('model.ir:3:17: ')).toBe(true);
    expect(e.place.file).toBe('model.ir');
  });

  it('the base text itself parses', () => {
    expect(parseGraph(base.join('\n')).nodes().length).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------

describe('weights sidecar', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ig3dc-ir-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function bigGraph(): Graph {
    const x = inputNode('x', { elem: 'f32', shape: [40], vis: 'client' });
    const f = Array.from({ length: 40 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
    const w = constNode(Tensor.from('f32', [40], f), { elem: 'f32', shape: [40], vis: 'server' }, { name: 'w' });
    const ids = constNode(Tensor.from('i64', [3, 7], Array.from({ length: 21 }, (_, i) => BigInt(i) * -(2n ** 40n) - 1n)), { elem: 'i64', shape: [3, 7], vis: 'public' });
    const mask = constNode(Tensor.from('bool', [33], Array.from({ length: 33 }, (_, i) => i % 3)), { elem: 'bool', shape: [33], vis: 'public' });
    const bytes = constNode(Tensor.from('u8', [17], Array.from({ length: 17 }, (_, i) => i * 15)), { elem: 'u8', shape: [17], vis: 'public' });
    const small = constNode(Tensor.from('f32', [2], [1.5, -2]), { elem: 'f32', shape: [2], vis: 'public' });
    const y = build('Add', [x, w]);
    return new Graph('g', [x], [
      { name: 'y', node: y },
      { name: 'ids', node: ids },
      { name: 'mask', node: mask },
      { name: 'bytes', node: bytes },
      { name: 'small', node: small },
      { name: 'w_again', node: w },
    ]);
  }

  it('writeIrFile / readIrFile round trip, with aligned little-endian data', () => {
    const g = bigGraph();
    const path = join(dir, 'model.ir');
    writeIrFile(g, path);
    expect(existsSync(`${path}.weights`)).toBe(true);
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('weights "model.ir.weights"\n');
    expect(text).toContain('dense<[1.5, -2.0]>');
    const offsets = [...text.matchAll(/external<(\d+)>/g)].map((m) => Number(m[1]));
    expect(offsets.length).toBe(4);
    for (const o of offsets) expect(o % 8).toBe(0);

    // The f32 weight is stored raw, little-endian, at its offset.
    const raw = readFileSync(`${path}.weights`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const wLine = text.split('\n').find((l) => l.includes('loc("w")'));
    if (wLine !== undefined) {
      const at = Number(/external<(\d+)>/.exec(wLine)![1]);
      expect(view.getFloat32(at + 4 * 5, true)).toBe(Math.fround(Math.sin(5) * 1e3));
    }

    const back = readIrFile(path);
    expectSameGraph(g, back);
    verifyGraph(back);
    // written again next to the first one: identical text and bytes
    const path2 = join(dir, 'again.ir');
    writeIrFile(back, path2);
    expect(readFileSync(path2, 'utf8')).toBe(text.replace('model.ir.weights', 'again.ir.weights'));
    expect(readFileSync(`${path2}.weights`)).toEqual(raw);
  });

  it('a graph without big constants writes no sidecar', () => {
    const x = inputNode('x', { elem: 'f32', shape: [2], vis: 'client' });
    const path = join(dir, 'small.ir');
    writeIrFile(new Graph('g', [x], [{ name: 'y', node: build('Relu', [x]) }]), path);
    expect(existsSync(`${path}.weights`)).toBe(false);
    expect(readFileSync(path, 'utf8')).not.toContain('weights');
    expect(readIrFile(path).nodes().length).toBe(2);
  });

  it('the same tensor is stored once', () => {
    const t = Tensor.from('f32', [20], new Array(20).fill(0).map((_, i) => i));
    const writer = new WeightsWriter('w');
    expect(writer.add(t)).toBe(0);
    expect(writer.add(Tensor.from('u8', [3], [1, 2, 3]))).toBe(80);
    expect(writer.add(t)).toBe(0);
    expect(writer.add(Tensor.from('f64', [1], [1]))).toBe(88);
    expect(writer.size).toBe(96);
  });

  it('lazy and whole-file readers agree', () => {
    const writer = new WeightsWriter('w');
    const t = Tensor.from('i64', [5], [1n, -2n, 3n, 2n ** 62n, -(2n ** 63n)]);
    const u = Tensor.from('f32', [3], [0.5, -1, 3]);
    const at = [writer.add(u), writer.add(t)];
    const path = join(dir, 'r.weights');
    writer.writeTo(path);
    for (const lazy of [true, false]) {
      const r = openWeightsFile(path, { lazy });
      expect(r.read('f32', at[0]!, 3)).toEqual(new Float32Array([0.5, -1, 3]));
      expect(r.read('i64', at[1]!, 5)).toEqual(t.data);
      expect(() => r.read('i64', at[1]!, 6)).toThrow(Ig3dcError);
      r.close();
    }
  });

  it('a truncated sidecar is an io error at the constant that reads past its end', () => {
    const path = join(dir, 'trunc.ir');
    writeIrFile(bigGraph(), path);
    truncateSync(`${path}.weights`, 100);
    const e = errorOf(() => readIrFile(path));
    expect(e.kind).toBe('io');
    expect(e.place.file).toBe(path);
    const lines = readFileSync(path, 'utf8').split('\n');
    const bytesPer: Record<string, number> = { f32: 4, i64: 8, bool: 1, u8: 1 };
    const firstBad = lines.findIndex((l) => {
      const m = /: (\w+)\[([\d,]*)\] .*external<(\d+)>/.exec(l);
      if (m === null) return false;
      const count = m[2]!.split(',').reduce((a, d) => a * Number(d), 1);
      return Number(m[3]) + count * bytesPer[m[1]!]! > 100;
    });
    expect(firstBad).toBeGreaterThan(0);
    expect(e.place.line).toBe(firstBad + 1);
    expect(e.message).toMatch(/outside the 100-byte weights file/);
  });

  it('a missing sidecar or .ir file is an io error', () => {
    const path = join(dir, 'nosidecar.ir');
    writeIrFile(bigGraph(), path);
    rmSync(`${path}.weights`);
    const e = errorOf(() => readIrFile(path));
    expect(e.kind).toBe('io');
    expect(e.place.line).toBeGreaterThan(0);
    expect(errorOf(() => readIrFile(join(dir, 'absent.ir'))).kind).toBe('io');
  });

  it('the weights line names a file relative to the .ir file', () => {
    const path = join(dir, 'moved.ir');
    writeIrFile(bigGraph(), path);
    const text = readFileSync(path, 'utf8');
    writeFileSync(join(dir, 'moved2.ir'), text);
    // the second file names the first one's sidecar, which sits next to it
    expectSameGraph(readIrFile(path), readIrFile(join(dir, 'moved2.ir')));
  });
});

// ---------------------------------------------------------------------------------------

describe('large graphs', () => {
  it('a chain of 20000 Relu prints and parses back without overflowing the stack', () => {
    const x = inputNode('x', { elem: 'f32', shape: [1, 8], vis: 'client' });
    let n: Node = x;
    for (let i = 0; i < 20000; i++) n = build('Relu', [n], {}, { name: `/encoder/layer.${i % 12}/Relu_${i}`, layer: i % 12 });
    const g = new Graph('chain', [x], [{ name: 'y', node: n }]);
    const text = printGraph(g);
    const back = parseGraph(text);
    verifyGraph(back);
    expect(back.nodes().length).toBe(20001);
    expect(printGraph(back)).toBe(text);
  });
});
