import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Tensor } from '../ir/tensor.ts';
import {
  CircuitBuilder,
  beaverMatmul,
  beaverMul,
  beaverSquare,
  circuitCost,
  costSummary,
  decodeCircuit,
  decodeCircuitFile,
  encodeCircuit,
  type Circuit,
} from '../ir/circuit/index.ts';
import { PROTOCOL_VERSION, runCircuit, runCircuitWorkers, runPartyTcp, type RunResult } from '../runtime/index.ts';

const t64 = (shape: number[], xs: readonly number[]): Tensor => Tensor.from('f64', shape, xs);

/** A small model-like circuit: matmul with a weight (preprocessing), square, mul, data movement, outputs. */
function circuit(): Circuit {
  const b = new CircuitBuilder({ name: 'modes' });
  const x = b.input('x', 1, [3, 4]);
  const w = b.input('w', 0, [4, 5]);
  const y = beaverMatmul(b, x, w);
  const y2 = beaverSquare(b, y);
  const z = beaverMul(b, y2, b.expand(b.reduceSum(y, [1], true), [3, 5]));
  b.output(z, 'z');
  b.output(b.transpose(y, [1, 0]), 'yT');
  return b.build();
}
const inputs = new Map([['x', t64([3, 4], Array.from({ length: 12 }, (_, i) => Math.sin(i) * 0.8))]]);
const weights = new Map([['w', t64([4, 5], Array.from({ length: 20 }, (_, i) => Math.cos(i * 1.3) * 0.5))]]);
const seed = new Uint8Array(16).fill(7);

function expectSameRun(a: RunResult, b: { outputs: Map<string, Tensor>; cost: RunResult['cost']; transcriptHash: string }): void {
  expect([...b.outputs.keys()].sort()).toEqual([...a.outputs.keys()].sort());
  for (const [k, t] of a.outputs) expect(b.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
  expect(b.cost).toEqual(a.cost);
  expect(b.transcriptHash).toBe(a.transcriptHash);
}

describe('two worker threads', () => {
  it('give the same outputs, counts and transcript as the in-process run', async () => {
    const c = circuit();
    const a = runCircuit(c, { inputs, weights, seed });
    const { byRound, ...measured } = a.cost;
    expect(measured).toEqual(costSummary(circuitCost(c)));
    expect(byRound.length).toBe(a.cost.rounds + a.cost.preprocessingRounds);
    const w = await runCircuitWorkers(c, { inputs, weights, seed });
    expectSameRun(a, w);
  }, 60_000);

  it('report a bad input before starting, as an Ig3dcError', async () => {
    await expect(runCircuitWorkers(circuit(), { inputs: new Map([['x', t64([4, 3], new Array(12).fill(0))]]), weights, seed })).rejects.toThrow(
      /'x' has shape \[4,3\], the circuit expects \[3,4\]/,
    );
  });
});

describe('inputs that do not fit the circuit', () => {
  const c = circuit();
  const err = (opts: { inputs?: Map<string, Tensor>; weights?: Map<string, Tensor> }): Ig3dcError => {
    try {
      runCircuit(c, { inputs: opts.inputs ?? inputs, weights: opts.weights ?? weights });
    } catch (e) {
      if (e instanceof Ig3dcError) return e;
      throw e;
    }
    throw new Error('no error');
  };
  it('wrong shape, missing weight, non-finite value, wrong type for an integer input', () => {
    expect(err({ inputs: new Map([['x', t64([12], new Array(12).fill(0))]]) }).message).toMatch(/'x' has shape \[12\], the circuit expects \[3,4\]/);
    expect(err({ weights: new Map() }).message).toMatch(/missing weight 'w'/);
    expect(err({ inputs: new Map([['x', t64([3, 4], [Infinity, ...new Array(11).fill(0)])]]) }).kind).toBe('input');
    const b = new CircuitBuilder();
    b.output(b.input('ids', 1, [2], { encoding: 'onehot', classes: 3 }), 'o');
    const oc = b.build();
    const e = (() => {
      try {
        runCircuit(oc, { inputs: new Map([['ids', t64([2], [1.5, 0])]]), weights: new Map() });
      } catch (x) {
        return x as Ig3dcError;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(Ig3dcError);
    expect(e.message).toMatch(/element 0 is 1.5, outside 0..2/);
  });
});

describe('circuit files', () => {
  it('a corrupt or truncated file, or one of another version, is a clear Ig3dcError', () => {
    const bytes = encodeCircuit(circuit());
    const flip = Uint8Array.from(bytes);
    flip[bytes.length - 3]! ^= 0xff;
    expect(() => decodeCircuit(flip, 'c.circuit')).toThrow(/c.circuit: corrupt circuit file/);
    expect(() => decodeCircuit(bytes.subarray(0, bytes.length - 8), 'c.circuit')).toThrow(/truncated|corrupt/);
    const v2 = Uint8Array.from(bytes);
    new DataView(v2.buffer).setUint32(8, 99, true);
    expect(() => decodeCircuit(v2, 'c.circuit')).toThrow(/version 99 is not supported/);
    expect(() => decodeCircuit(new Uint8Array(40), 'c.circuit')).toThrow(/not a circuit file/);
  });
});

// ── two processes' worth of parties over loopback TCP (both in this process, each with its own socket)

function hashOf(c: Circuit): string {
  return decodeCircuitFile(encodeCircuit(c)).header.hash;
}

async function tcpPair(c: Circuit, opts: { seed1?: Uint8Array; hash1?: string; timeoutMs?: number } = {}) {
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  const p0 = runPartyTcp({
    circuit: c,
    circuitHash: hashOf(c),
    party: 0,
    listen: { host: '127.0.0.1', port: 0 },
    tensors: weights,
    seed,
    timeoutMs: opts.timeoutMs ?? 10_000,
    onListening: listening,
  });
  const p1 = port.then((p) =>
    runPartyTcp({
      circuit: c,
      circuitHash: opts.hash1 ?? hashOf(c),
      party: 1,
      connect: { host: '127.0.0.1', port: p },
      tensors: inputs,
      seed: opts.seed1 ?? seed,
      timeoutMs: opts.timeoutMs ?? 10_000,
    }),
  );
  return Promise.allSettled([p0, p1]);
}

/** Frame header as the wire format defines it: "IG3F", type, 3 zero bytes, round, length (LE). */
function frame(type: number, round: number, payload: Uint8Array, magic = 'IG3F'): Buffer {
  const h = Buffer.alloc(16);
  h.write(magic, 0, 'latin1');
  h.writeUInt8(type, 4);
  h.writeUInt32LE(round, 8);
  h.writeUInt32LE(payload.length, 12);
  return Buffer.concat([h, Buffer.from(payload)]);
}

/** Starts a real party 0 and connects a scripted fake party 1 to it; returns party 0's outcome. */
async function againstFake(script: (sock: Socket, hello: Buffer) => void, timeoutMs = 10_000): Promise<unknown> {
  const c = circuit();
  let listening!: (port: number) => void;
  const port = new Promise<number>((r) => (listening = r));
  const p0 = runPartyTcp({ circuit: c, circuitHash: hashOf(c), party: 0, listen: { host: '127.0.0.1', port: 0 }, tensors: weights, seed, timeoutMs, onListening: listening });
  const sock = connect({ host: '127.0.0.1', port: await port });
  sock.on('error', () => {});
  // Learn the seed check from party 0's own hello and echo a valid party-1 hello.
  const hello0 = await new Promise<Buffer>((r) => sock.once('data', (d: Buffer) => r(d)));
  const h0 = JSON.parse(hello0.subarray(16, 16 + hello0.readUInt32LE(12)).toString('utf8')) as Record<string, unknown>;
  const hello1 = frame(1, 0, Buffer.from(JSON.stringify({ ...h0, party: 1 })));
  script(sock, hello1);
  try {
    await p0;
    return 'finished';
  } catch (e) {
    return e;
  } finally {
    sock.destroy();
  }
}

describe('two parties over TCP (loopback)', () => {
  it('give the same outputs and counts as the in-process run', async () => {
    const c = circuit();
    const a = runCircuit(c, { inputs, weights, seed });
    const [r0, r1] = await tcpPair(c);
    if (r0.status !== 'fulfilled' || r1.status !== 'fulfilled') throw new Error(`failed: ${JSON.stringify([r0, r1].map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')))}`);
    expectSameRun(a, r1.value);
    expect(r0.value.outputs.size).toBe(0); // the server learns nothing
    expect(r0.value.cost.bytesPerParty).toEqual(a.cost.bytesPerParty);
    expect(r0.value.cost.byRound).toEqual(a.cost.byRound);
  }, 30_000);

  it('the handshake rejects another circuit, another seed, and the same party twice', async () => {
    const [a0, a1] = await tcpPair(circuit(), { hash1: 'f'.repeat(64) });
    expect(a1.status === 'rejected' && String(a1.reason)).toMatch(/handshake failed: the peer loaded a different circuit/);
    expect(a0.status === 'rejected' && String(a0.reason)).toMatch(/handshake failed|peer stopped/);
    const [b0] = await tcpPair(circuit(), { seed1: new Uint8Array(16).fill(8) });
    expect(b0.status === 'rejected' && String(b0.reason)).toMatch(/different seed/);
    const e = await againstFake((sock, hello) => {
      const h = JSON.parse(hello.subarray(16).toString('utf8')) as Record<string, unknown>;
      sock.write(frame(1, 0, Buffer.from(JSON.stringify({ ...h, party: 0 }))));
    });
    expect(String(e)).toMatch(/both sides are party 0/);
    const v = await againstFake((sock, hello) => {
      const h = JSON.parse(hello.subarray(16).toString('utf8')) as Record<string, unknown>;
      sock.write(frame(1, 0, Buffer.from(JSON.stringify({ ...h, protocol: 'ig3dc-2pc/0' }))));
    });
    expect(String(v)).toMatch(new RegExp(`protocol version mismatch: this side speaks ${PROTOCOL_VERSION}`));
  }, 30_000);

  it('a peer that closes mid-round gives a clear error, not a hang', async () => {
    const e = await againstFake((sock, hello) => {
      sock.write(hello);
      setTimeout(() => sock.destroy(), 50);
    });
    expect(e).toBeInstanceOf(Ig3dcError);
    expect(String(e)).toMatch(/the peer closed the connection during round 1/);
  }, 30_000);

  it('a malformed frame (bad magic, wrong length) is rejected', async () => {
    const bad = await againstFake((sock, hello) => sock.write(Buffer.concat([hello, frame(2, 1, new Uint8Array(8), 'XXXX')])));
    expect(String(bad)).toMatch(/malformed frame from the peer: a frame without the IG3F magic/);
    const len = await againstFake((sock, hello) => sock.write(Buffer.concat([hello, frame(2, 1, new Uint8Array(8))])));
    expect(String(len)).toMatch(/malformed frame from the peer: round 1 with 8 bytes where round 1 with \d+ bytes was expected/);
  }, 30_000);

  it('a silent peer times out', async () => {
    const e = await againstFake((sock, hello) => sock.write(hello), 400);
    expect(String(e)).toMatch(/timed out after 0.4 s waiting for the peer's preprocessing round 1 message/);
  }, 30_000);
});
