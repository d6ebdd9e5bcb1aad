import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import {
  CircuitBuilder,
  beaverAnd,
  beaverMatmul,
  beaverMul,
  beaverSquare,
  checkLeakage,
  circuitCost,
  decodeCircuit,
  encodeCircuit,
  findLeaks,
  parseCircuit,
  printCircuit,
  schedule,
  verifyCircuit,
  type Circuit,
  type Reg,
} from '../ir/circuit/index.ts';

function errorOf(fn: () => unknown): Ig3dcError {
  try {
    fn();
  } catch (e) {
    if (e instanceof Ig3dcError) return e;
    throw new Error(`expected an Ig3dcError, got ${String(e)}`);
  }
  throw new Error('expected an error, none was thrown');
}

/** Index of the (only) instruction with this op, or of the k-th. */
function indexOf(c: Circuit, op: string, k = 0): number {
  const all = c.instructions.map((ins, i) => (ins.op === op ? i : -1)).filter((i) => i >= 0);
  return all[k]!;
}

describe('builder and verifier', () => {
  it('tracks kinds, shapes and scales', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 3]);
    const p = b.constant([1, 2, 3], 16);
    const y = b.mulPub(x, p);
    expect(y).toMatchObject({ kind: 'ashr', shape: [2, 3], scale: 32 });
    expect(b.trunc(y, 16)).toMatchObject({ scale: 16 });
    const ids = b.input('ids', 1, [4], { encoding: 'onehot', classes: 10 });
    expect(ids).toMatchObject({ shape: [4, 10], scale: 16 });
    expect(b.input('n', 1, [4], { encoding: 'int' }).scale).toBe(0);
    const w = b.constant(2, 16, [3, 5]);
    expect(b.matmulPub(x, w)).toMatchObject({ shape: [2, 5], scale: 32 });
    expect(b.matmulPub(b.constant(1, 16, [4, 2]), x)).toMatchObject({ shape: [4, 3], scale: 32 });
    expect(b.reduceSum(x, [1], false).shape).toEqual([2]);
    expect(b.transpose(x).shape).toEqual([3, 2]);
    expect(b.slice(x, [1], [-1], [1]).shape).toEqual([2, 1]);
    expect(b.concat([x, x], 0).shape).toEqual([4, 3]);
    expect(b.gather(x, b.constant([2, 0, 1, 1], 0), 1).shape).toEqual([2, 4]);
  });

  it('catches scale errors where they are made, with the provenance as place', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4]);
    const x2 = b.mulPub(x, b.constant(3, 16));
    const e = errorOf(() => b.withProvenance({ irNode: '/l0/Add' }, () => b.add(x, x2)));
    expect(e.kind).toBe('verify');
    expect(e.message).toMatch(/equal scales.*@16.*@32/);
    expect(e.place.node).toBe('/l0/Add');
    expect(errorOf(() => b.addPub(x, b.constant(1, 32))).message).toMatch(/equal scales/);
    expect(errorOf(() => b.trunc(x, 17)).message).toMatch(/negative scale/);
    expect(errorOf(() => b.add(x, b.input('z', 1, [3]))).message).toMatch(/do not broadcast/);
    expect(errorOf(() => b.openB([x])).message).toMatch(/must be bshr/);
    expect(errorOf(() => b.xor(x, x)).message).toMatch(/must be bshr/);
    expect(errorOf(() => b.emit('trunc', [x], { bits: 3, oops: 1 })).message).toMatch(/no attribute 'oops'/);
  });

  it('accepts an output or open of a share at any scale', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4]);
    const x2 = b.mulPub(x, b.constant(3, 16));
    const [a] = b.dealer.beaver([4], [32, 16]);
    b.open([b.sub(x2, a!)]);
    b.output(x2, 'y');
    expect(() => b.build()).not.toThrow();
  });

  it('the verifier rejects a circuit whose declared types are wrong, or that uses a register too early', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [4]);
    const y = b.mulPub(x, b.constant(3, 16));
    b.output(y, 'y');
    const c = b.build();
    const wrongScale: Circuit = { ...c, registers: c.registers.map((r, i) => (i === y.id ? { ...r, scale: 16 } : r)) };
    const e = errorOf(() => verifyCircuit(wrongScale));
    expect(e.message).toMatch(new RegExp(`%${y.id} is declared ashr\\[4\\]@16 but mul_pub gives ashr\\[4\\]@32`));
    const swapped: Circuit = { ...c, instructions: [c.instructions[0]!, c.instructions[2]!, c.instructions[1]!, ...c.instructions.slice(3)] };
    expect(errorOf(() => verifyCircuit(swapped)).message).toMatch(/before it is defined/);
    const undeclared: Circuit = { ...c, outputs: [{ name: 'z', reg: y.id }] };
    expect(errorOf(() => verifyCircuit(undeclared)).message).toMatch(/'z' is never revealed/);
  });

  it('stamps provenance; nested withProvenance merges and restores', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2]);
    b.withProvenance({ irNode: '/l1/mlp', layer: 1, opKind: 'activation' }, () => {
      b.withProvenance({ protocol: 'relu' }, () => b.neg(x));
      b.neg(x);
    });
    b.neg(x);
    const c = b.build();
    expect(c.instructions[1]!.prov).toEqual({ irNode: '/l1/mlp', layer: 1, opKind: 'activation', protocol: 'relu' });
    expect(c.instructions[2]!.prov).toEqual({ irNode: '/l1/mlp', layer: 1, opKind: 'activation', protocol: '' });
    expect(c.instructions[3]!.prov).toEqual({ irNode: '', opKind: 'other', protocol: '' });
  });
});

describe('schedule', () => {
  it('depth is the number of communication rounds before an instruction; rounds = critical path', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [3]);
    const y = b.input('y', 1, [3]);
    const m1 = beaverMul(b, x, y); // open at depth 1
    const m2 = beaverMul(b, x, m1); // open at depth 2
    const m3 = beaverSquare(b, y); // open at depth 1 (merged with m1's)
    b.output(b.add(m2, m3), 'z'); // depth 3
    const c = b.build();
    const s = schedule(c);
    expect(s.depth[indexOf(c, 'open', 0)]).toBe(1);
    expect(s.depth[indexOf(c, 'open', 1)]).toBe(2);
    expect(s.depth[indexOf(c, 'open', 2)]).toBe(1);
    expect(s.depth[indexOf(c, 'output')]).toBe(3);
    expect(s.depth[indexOf(c, 'trunc', 0)]).toBe(1);
    expect(s.rounds).toBe(3);
    expect(s.unmergedRounds).toBe(4);
    expect(s.roundsOf.online.map((r) => r.length)).toEqual([2, 1, 1]);
    expect(s.preprocessingRounds).toBe(0);
  });

  it('a chain of n multiplications takes n rounds; n independent ones take 1', () => {
    for (const n of [1, 2, 5]) {
      const chain = new CircuitBuilder();
      let v: Reg = chain.input('x', 1, [2]);
      for (let i = 0; i < n; i++) v = beaverSquare(chain, v);
      expect(schedule(chain.build()).rounds).toBe(n);
      const par = new CircuitBuilder();
      const x = par.input('x', 1, [2]);
      for (let i = 0; i < n; i++) beaverSquare(par, x);
      const s = schedule(par.build());
      expect([s.rounds, s.unmergedRounds]).toEqual([1, n]);
    }
  });

  it('opens that depend on no client input are preprocessing', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 3]);
    const w = b.input('w', 0, [3, 4]);
    const w2 = beaverSquare(b, beaverSquare(b, w)); // two preprocessing rounds
    const y = beaverMatmul(b, x, w2); // W - B preprocessing (round 3), X - A online (round 1)
    b.output(y, 'y'); // online round 2
    const c = b.build();
    const s = schedule(c);
    const opens = c.instructions.map((ins, i) => i).filter((i) => c.instructions[i]!.op === 'open');
    expect(opens.map((i) => s.phase[i])).toEqual(['pre', 'pre', 'online', 'pre']);
    expect(opens.map((i) => s.depth[i])).toEqual([1, 2, 1, 3]);
    expect(s.preprocessingRounds).toBe(3);
    expect(s.rounds).toBe(2);
    expect(s.phase[indexOf(c, 'beaver_matmul')]).toBe('pre');
    // CrypTen's way (both masked operands in one open) puts W - B online.
    const b2 = new CircuitBuilder();
    beaverMatmul(b2, b2.input('x', 1, [2, 3]), b2.input('w', 0, [3, 4]), { separateWeightOpen: false });
    const s2 = schedule(b2.build());
    expect([s2.rounds, s2.preprocessingRounds]).toEqual([1, 0]);
  });
});

describe('static cost', () => {
  const n = 128 * 3072;
  it('Beaver mul: 1 round, 32 bytes per element on the wire (CrypTen: 12.58 MB for [128,3072])', () => {
    const b = new CircuitBuilder();
    beaverMul(b, b.input('x', 1, [128, 3072]), b.input('y', 1, [128, 3072]));
    const cost = circuitCost(b.build());
    expect(cost.rounds).toBe(1);
    expect(cost.bytesTotal).toBe(32 * n);
    expect(cost.bytesTotal).toBe(12_582_912);
    expect(cost.bytesPerParty).toEqual([16 * n, 16 * n]);
    expect(cost.dealerBytes).toBe(8 * n);
  });

  it('square: 16 bytes per element; matmul of two private operands: 16(mk+kn)', () => {
    const b = new CircuitBuilder();
    beaverSquare(b, b.input('x', 1, [128, 3072]));
    expect(circuitCost(b.build())).toMatchObject({ rounds: 1, bytesTotal: 16 * n, dealerBytes: 8 * n });
    const [m, k, nn] = [128, 768, 768];
    const b2 = new CircuitBuilder();
    beaverMatmul(b2, b2.input('x', 1, [m, k]), b2.input('y', 1, [k, nn]));
    const c2 = circuitCost(b2.build());
    expect(c2).toMatchObject({ rounds: 1, unmergedRounds: 1, bytesTotal: 16 * (m * k + k * nn), dealerBytes: 8 * m * nn });
    expect(c2.bytesTotal).toBe(11_010_048); // CrypTen's table: 11.01 MB
  });

  it('a weight operand moves its share of the bytes to preprocessing; output costs 8n from P0 only', () => {
    const b = new CircuitBuilder();
    const y = beaverMatmul(b, b.input('x', 1, [2, 3]), b.input('w', 0, [3, 4]));
    b.output(y, 'y');
    const cost = circuitCost(b.build());
    expect(cost).toMatchObject({
      rounds: 2,
      preprocessingRounds: 1,
      onlineBytes: 16 * 6 + 8 * 8,
      preprocessingBytes: 16 * 12,
      bytesTotal: 16 * 18 + 8 * 8,
      dealerBytes: 8 * 8,
    });
    expect(cost.bytesPerParty).toEqual([8 * 18 + 8 * 8, 8 * 18]);
    expect(cost.byRound).toEqual([
      { phase: 'pre', round: 1, bytesP0: 96, bytesP1: 96, comms: 1, opKinds: ['other'] },
      { phase: 'online', round: 1, bytesP0: 48, bytesP1: 48, comms: 1, opKinds: ['other'] },
      { phase: 'online', round: 2, bytesP0: 64, bytesP1: 0, comms: 1, opKinds: ['other'] },
    ]);
  });

  it('breaks costs down by op kind, layer and round', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [10]);
    const [s1, s2] = b.withProvenance({ opKind: 'softmax', layer: 0 }, () => [beaverSquare(b, x), beaverSquare(b, x)]);
    const g = b.withProvenance({ opKind: 'activation', layer: 1 }, () => beaverMul(b, s1!, s2!));
    b.withProvenance({ opKind: 'activation', layer: 1 }, () => beaverAnd(b, b.a2bOwn(g, 0), b.a2bOwn(g, 1)));
    const cost = circuitCost(b.build());
    // Two squares in one round: 1 round, 2 unmerged, 2 * 160 bytes.
    expect(cost.byOpKind['softmax']).toEqual({ rounds: 1, preprocessingRounds: 0, unmergedRounds: 2, bytes: 320, preprocessingBytes: 0, dealerBytes: 160 });
    // The mul (round 2) and the AND (round 3).
    expect(cost.byOpKind['activation']).toEqual({ rounds: 2, preprocessingRounds: 0, unmergedRounds: 2, bytes: 640, preprocessingBytes: 0, dealerBytes: 160 });
    expect(Object.keys(cost.byLayer).sort()).toEqual(['-', 'L0', 'L1']);
    expect(cost.byLayer['L1']!.bytes).toBe(640);
    expect(cost.byRound.map((r) => [r.round, r.bytesP0 + r.bytesP1, r.comms])).toEqual([
      [1, 320, 2],
      [2, 320, 1],
      [3, 320, 1],
    ]);
    expect(cost.rounds).toBe(3);
  });
});

describe('leakage checker', () => {
  it('accepts the Beaver protocols', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [2, 2]);
    const y = beaverMatmul(b, beaverMul(b, x, x), beaverSquare(b, b.input('w', 0, [2, 2])));
    beaverAnd(b, b.a2bOwn(y, 0), b.a2bOwn(y, 1));
    b.output(y, 'y');
    expect(findLeaks(b.build())).toEqual([]);
  });

  it('rejects the open of an unmasked share', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [3]);
    b.open([x]);
    const c = b.build();
    expect(findLeaks(c)).toHaveLength(1);
    expect(errorOf(() => checkLeakage(c)).message).toMatch(/open reveals %0, defined by input/);
  });

  it('rejects a mask used by two opens, a non-random mask and a broadcast mask', () => {
    const b = new CircuitBuilder();
    const x = b.input('x', 1, [3]);
    const y = b.input('y', 1, [3]);
    const [a, , c] = b.dealer.beaver([3]);
    b.open([b.sub(x, a!)]);
    b.open([b.sub(y, a!)]);
    expect(findLeaks(b.build()).map((l) => l.message)).toEqual([expect.stringMatching(/mask %\d+ is used by more than one open/)]);
    const b2 = new CircuitBuilder();
    const x2 = b2.input('x', 1, [3]);
    const [, , c2] = b2.dealer.beaver([3], [8, 8]);
    b2.open([b2.sub(x2, c2!)]);
    expect(findLeaks(b2.build())[0]!.message).toMatch(/not a random dealer mask/);
    const b3 = new CircuitBuilder();
    const [r] = b3.dealer.beaverSquare([3]);
    b3.open([b3.sub(b3.input('x', 1, [4, 3]), r!)]);
    expect(findLeaks(b3.build())[0]!.message).toMatch(/broadcast/);
    expect(c).toBeDefined();
  });

  it('rejects an output that is not declared', () => {
    const b = new CircuitBuilder();
    b.output(b.input('x', 1, [3]), 'x');
    const c = b.build();
    expect(findLeaks(c)).toEqual([]);
    expect(findLeaks({ ...c, outputs: [] })[0]!.message).toMatch(/not a declared output/);
  });
});

/** A random well-formed circuit: a mix of protocols, local ops, constants and outputs. */
const arbCircuit = fc
  .record({
    shape: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 3 }),
    steps: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 8 }),
    consts: fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 4 }),
    layer: fc.option(fc.integer({ min: 0, max: 11 }), { nil: undefined }),
    node: fc.constantFrom('', '/bert/encoder/layer.0/MatMul', 'a node with spaces', '-', 'q"uote'),
  })
  .map(({ shape, steps, consts, layer, node }) => {
    const b = new CircuitBuilder({ name: 'random' });
    let v = b.input('x', 1, shape);
    const w = b.input('w', 0, shape);
    steps.forEach((s, i) => {
      b.withProvenance({ irNode: node, opKind: i % 2 ? 'linear' : 'softmax', ...(layer === undefined ? {} : { layer }) }, () => {
        if (s === 0) v = beaverMul(b, v, w);
        else if (s === 1) v = beaverSquare(b, v);
        else if (s === 2) v = b.addPub(v, b.constant(consts[i % consts.length]!, 16, shape));
        else if (s === 3) v = b.trunc(b.mulPub(v, b.constant(consts[0]!, 16)), 16);
        else if (s === 4) v = b.reshape(b.transpose(v), shape);
        else if (s === 5) v = b.sub(v, b.neg(w));
        else {
          const n = shape.reduce((x, y) => x * y, 1);
          const dot = beaverMatmul(b, b.reshape(v, [1, n]), b.reshape(w, [n, 1]));
          v = b.add(v, b.expand(b.reshape(dot, shape.map(() => 1)), shape));
        }
      });
    });
    b.output(v, 'y');
    return b.build();
  });

describe('text form', () => {
  it('print then parse is the identity (property)', () => {
    fc.assert(
      fc.property(arbCircuit, (c) => {
        const text = printCircuit(c);
        const back = parseCircuit(text);
        expect(back).toEqual(c);
        expect(printCircuit(back)).toBe(text);
      }),
      { numRuns: 60 },
    );
  });

  it('prints one instruction per line with depth and provenance', () => {
    const b = new CircuitBuilder({ name: 't' });
    const x = b.input('x', 1, [2]);
    const y = b.withProvenance({ irNode: '/l0/mul', layer: 0, opKind: 'linear' }, () => beaverSquare(b, x));
    b.output(y, 'y');
    const lines = printCircuit(b.build()).trim().split('\n');
    expect(lines[0]).toBe('circuit "t" {f=16, outputs=["y"]}');
    expect(lines).toContain('%0:ashr[2]@16 = input {party=1, name="x", encoding="fixed", shape=[2], classes=0, held=false}  ; d=0 other - - -');
    expect(lines).toContain('%4:pub[2]@16 = open %3  ; d=1 linear L0 /l0/mul beaver-square');
    expect(lines[lines.length - 1]).toMatch(/^output %\d+ \{name="y"\}  ; d=2 other - - -$/);
  });

  it('parses hand-written text (comments optional) and reports errors with line:column', () => {
    const text = [
      'circuit "h" {f=8, outputs=["y"]}',
      '; a comment line',
      '%5:ashr[2]@8 = input {party=1, name="x", shape=[2]}',
      '%7:pub[2]@8 = const {shape=[2], scale=8, data=[256,-128]}',
      '%8:ashr[2]@16 = mul_pub %5, %7',
      'output %8 {name="y"}',
    ].join('\n');
    const c = parseCircuit(text);
    expect(c.f).toBe(8);
    expect(c.registers.map((r) => r.scale)).toEqual([8, 8, 16]);
    expect(c.instructions[1]!.data).toEqual(BigUint64Array.of(256n, (1n << 64n) - 128n));
    expect(c.outputs).toEqual([{ name: 'y', reg: 2 }]);
    const bad = (src: string): Ig3dcError => errorOf(() => parseCircuit(src, 'x.circuit.txt'));
    let e = bad('circuit "h" {}\n%0:ashr[2]@16 = input {party=1, name="x", shape=[2]}\n%1:ashr[2]@16 = frob %0');
    expect([e.kind, e.place.file, e.place.line, e.place.column]).toEqual(['syntax', 'x.circuit.txt', 3, 16]);
    expect(e.message).toMatch(/unknown circuit op 'frob'/);
    e = bad('circuit "h" {}\n%1:ashr[2]@16 = neg %0');
    expect([e.place.line, e.place.column]).toEqual([2, 21]);
    expect(e.message).toMatch(/%0 is used before it is defined/);
    e = bad('circuit "h" {}\n%0:ashr[2]@16 = input {party=1, name="x", shape=[2]}\n%1:ashr[2]@16 = trunc %0 {bits=8}');
    expect(e.message).toMatch(/declared ashr\[2\]@16 but trunc gives ashr\[2\]@8/);
    expect(e.place.line).toBe(3);
    e = bad('%0:ashr[2]@16 = neg %0');
    expect(e.message).toMatch(/expected the header/);
  });
});

describe('circuit file', () => {
  function sample(): Circuit {
    const b = new CircuitBuilder({ name: 'file' });
    const x = b.withProvenance({ irNode: '/l0/x', layer: 0, opKind: 'linear' }, () => b.input('x', 1, [2, 3]));
    const y = beaverMatmul(b, x, b.input('w', 0, [3, 2]));
    b.output(b.addPub(y, b.constant([0.5, -0.25], 16)), 'y');
    return b.build();
  }

  it('round-trips a circuit and stores its hash, schedule and cost', () => {
    const c = sample();
    const bytes = encodeCircuit(c);
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe('IG3DCIRC');
    expect(bytes.length % 8).toBe(0);
    expect(decodeCircuit(bytes)).toEqual(c);
    const header = JSON.parse(Buffer.from(bytes.subarray(16, 16 + new DataView(bytes.buffer).getUint32(12, true))).toString()) as {
      hash: string;
      cost: { rounds: number; bytesTotal: number };
    };
    expect(header.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(header.cost.rounds).toBe(circuitCost(c).rounds);
    expect(header.cost.bytesTotal).toBe(circuitCost(c).bytesTotal);
    expect(encodeCircuit(c)).toEqual(bytes);
  });

  it('rejects corrupt, truncated and wrong-version files, naming the file', () => {
    const bytes = encodeCircuit(sample());
    const fails = (b: Uint8Array): Ig3dcError => errorOf(() => decodeCircuit(b, 'model.circuit'));
    const flipped = bytes.slice();
    flipped[bytes.length - 3]! ^= 0x10; // in the constant data
    let e = fails(flipped);
    expect([e.kind, e.place.file]).toEqual(['decode', 'model.circuit']);
    expect(e.message).toMatch(/^model\.circuit: corrupt circuit file: the content hash does not match/);
    const inHeader = bytes.slice();
    const at = Buffer.from(bytes).indexOf('"beaver_matmul"');
    inHeader[at + 1] = 'c'.charCodeAt(0);
    expect(fails(inHeader).message).toMatch(/content hash does not match/);
    expect(fails(bytes.subarray(0, bytes.length - 8)).message).toMatch(/truncated circuit file: constant data needs 16 bytes, only 8/);
    expect(fails(bytes.subarray(0, 100)).message).toMatch(/truncated circuit file: the header needs/);
    expect(fails(bytes.subarray(0, 5)).message).toMatch(/truncated/);
    const v2 = bytes.slice();
    new DataView(v2.buffer).setUint32(8, 2, true);
    e = fails(v2);
    expect(e.kind).toBe('unsupported');
    expect(e.message).toMatch(/version 2 is not supported \(this build reads version 1\)/);
    const magic = bytes.slice();
    magic[0] = 'X'.charCodeAt(0);
    expect(fails(magic).message).toMatch(/not a circuit file/);
    const json = bytes.slice();
    json[16] = '#'.charCodeAt(0);
    expect(fails(json).message).toMatch(/header is not valid JSON/);
    expect(fails(new Uint8Array([...bytes, 0, 0, 0, 0, 0, 0, 0, 0])).message).toMatch(/bytes after the constant data/);
  });
});
