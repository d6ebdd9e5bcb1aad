import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CircuitBuilder, beaverMul, circuitCost, costSummary, decodeCircuit, encodeCircuit, type Circuit } from '../ir/circuit/index.ts';
import { Tensor } from '../ir/tensor.ts';
import { connectTls, frame, FrameReader, T_CORRECTION, T_DONE, T_HELLO, T_ROUND, T_TICKET, writeFrame } from '../runtime/channel.ts';
import { roundWords } from '../runtime/party.ts';
import { planParty } from '../runtime/plan.ts';
import { parseKeyFile, PROTOCOL_VERSION, runCircuit, runCircuitWorkers, runPartyTcp, simulatedSessionSeeds, tlsPsk } from '../runtime/index.ts';
import { loadTarget } from '../compiler/cli/commands/run.ts';
import { tlsPair, allPairKeys, freshKeys, hashOf, reason, smallCircuit, smallInputs, smallWeights, threeRoles, value } from './deploy-helpers.ts';

describe('three roles over TLS on loopback', () => {
  it('give the outputs, counts and transcript of the in-process run with the same session seeds', async () => {
    const c = smallCircuit();
    const keys = freshKeys();
    const run = await threeRoles(c, { keys });
    const r1 = value(run.p1);
    const r0 = value(run.p0);
    const rd = value(run.dealer);
    expect(r0.sessionId).toBe(r1.sessionId);
    expect(rd.sessionId).toBe(r1.sessionId);
    const seeds = simulatedSessionSeeds(allPairKeys(keys), r1.sessionId, hashOf(c));
    const a = runCircuit(c, { inputs: smallInputs, weights: smallWeights, seeds });
    for (const [k, t] of a.outputs) expect(r1.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
    expect(r1.cost).toEqual(a.cost);
    expect(r1.transcriptHash).toBe(a.transcriptHash);
    expect(r0.outputs.size).toBe(0); // the server learns nothing
    expect(r0.cost.byRound).toEqual(a.cost.byRound);
    const { byRound: _, ...measured } = r1.cost;
    expect(measured).toEqual(costSummary(circuitCost(c)));
    expect(rd.bytes).toBe(a.cost.dealerBytes);
    // Workers replay the same session too.
    const w = await runCircuitWorkers(c, { inputs: smallInputs, weights: smallWeights, seeds });
    expect(w.transcriptHash).toBe(a.transcriptHash);
    // Two sessions with the same keys use unrelated seeds (fresh nonces).
    const again = value((await threeRoles(c, { keys })).p1);
    expect(again.sessionId).not.toBe(r1.sessionId);
    expect(again.transcriptHash).not.toBe(r1.transcriptHash);
  }, 60_000);

  it('a small read-ahead window still runs, holding no more than the largest stretch needs', async () => {
    const c = smallCircuit();
    const run = await threeRoles(c, { p1: { windowBytes: 1 } });
    const r1 = value(run.p1);
    expect(r1.corrections!.peakQueuedBytes).toBeLessThanOrEqual(r1.corrections!.windowBytes);
    expect(r1.corrections!.windowBytes).toBeLessThan(circuitCost(c).dealerBytes);
  }, 30_000);
});

describe('handshakes that must fail', () => {
  it('another circuit at P1 or at the dealer', async () => {
    const c = smallCircuit();
    const a = await threeRoles(c, { p1: { circuitHash: 'f'.repeat(64) }, timeoutMs: 2000 });
    expect(reason(a.p1)).toMatch(/handshake failed: the peer loaded a different circuit/);
    expect(reason(a.p0)).toMatch(/handshake failed|stopped/);
    const b = await threeRoles(c, { dealer: { circuitHash: 'e'.repeat(64) }, timeoutMs: 5000 });
    expect(reason(b.dealer)).toMatch(/party 1 loaded a different circuit than the dealer/);
    expect(reason(b.p1)).toMatch(/the dealer stopped: .*different circuit/);
  }, 30_000);

  it("a wrong key: P1 from another keygen cannot reach P0; a dealer from another keygen refuses P0's ticket or the TLS handshake", async () => {
    const c = smallCircuit();
    const other = freshKeys();
    const a = await threeRoles(c, { p1: { keys: other.party1 }, timeoutMs: 1500 });
    expect(reason(a.p1)).toMatch(/TLS handshake with party0 .* failed: it does not hold the same key/);
    expect(reason(a.p0)).toMatch(/timed out after 1.5 s waiting for party1 to connect .*refused 1 connection/);
    const b = await threeRoles(c, { dealer: { keys: other.dealer }, timeoutMs: 1500 });
    expect(reason(b.p1)).toMatch(/TLS handshake with dealer .* failed/);
    // A dealer sharing P1's key but not P0's: TLS succeeds, P0's ticket does not verify.
    const keys = freshKeys();
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const mixed = parseKeyFile(
      JSON.stringify({ format: 'ig3dc-key/1', role: 'dealer', keys: { 'p0-dealer': hex(other.dealer.keys.get('p0-dealer')!), 'p1-dealer': hex(keys.dealer.keys.get('p1-dealer')!) } }),
      'mixed.key',
    );
    const m = await threeRoles(c, { keys, dealer: { keys: mixed }, timeoutMs: 3000 });
    expect(reason(m.dealer)).toMatch(/party 0 did not authorize this session for this circuit/);
    expect(reason(m.p1)).toMatch(/the dealer stopped: .*did not authorize/);
  }, 30_000);

  it('mismatched roles are usage errors before any connection', async () => {
    const k = freshKeys();
    const c = smallCircuit();
    const a = await threeRoles(c, { p0: { keys: k.party1 }, timeoutMs: 1000 });
    expect(reason(a.p0)).toMatch(/party 0 needs the party0 key file, not the party1 one/);
  }, 30_000);
});

describe('every role admits a circuit before running it', () => {
  /** The small circuit with the open of W - B edited to open W itself (the server's raw weight share). */
  function openRawWeight(): Circuit {
    const c = smallCircuit();
    const w = c.instructions.find((i) => i.op === 'input' && i.attrs['name'] === 'w')!.outputs[0]!;
    const shapeOf = (r: number): string => JSON.stringify(c.registers[r]!.shape);
    let edited = false;
    const instructions = c.instructions.map((ins) => {
      if (edited || ins.op !== 'open') return ins;
      const j = ins.inputs.findIndex((r) => shapeOf(r) === shapeOf(w));
      if (j < 0) return ins;
      edited = true;
      return { ...ins, inputs: ins.inputs.map((r, k) => (k === j ? w : r)) };
    });
    expect(edited).toBe(true);
    // Through the file format: the hash is recomputed, as anyone editing the file can.
    return decodeCircuit(encodeCircuit({ ...c, instructions }), 'edited.circuit');
  }

  it('a circuit that opens a raw weight share is refused by run, workers, both parties and the dealer', async () => {
    const c = openRawWeight();
    const leak = /leakage check failed \(1\):\s+instruction \d+: open reveals %\d+, defined by input, not a sub with a dealer mask/;
    expect(() => runCircuit(c, { inputs: smallInputs, weights: smallWeights })).toThrow(leak);
    await expect(runCircuitWorkers(c, { inputs: smallInputs, weights: smallWeights })).rejects.toThrow(leak);
    // The CLI's loader (run, serve, dealer) refuses the edited file too, naming it.
    const dir = mkdtempSync(join(tmpdir(), 'ig3dc-leak-'));
    const file = join(dir, 'edited.circuit');
    writeFileSync(file, encodeCircuit(c));
    await expect(loadTarget(file, { inputs: '' }, undefined, true)).rejects.toThrow(/edited.circuit: leakage check failed/);
    const run = await threeRoles(c, { timeoutMs: 1500 });
    expect(reason(run.p0)).toMatch(leak);
    expect(reason(run.dealer)).toMatch(leak);
    expect(reason(run.p1)).toMatch(leak);
  }, 30_000);
});

describe('hostile connections', () => {
  it('connections that grab the port first (idle, garbage, wrong key) do not block the real peer', async () => {
    const c = smallCircuit();
    const keys = freshKeys();
    const refused: string[] = [];
    const grabbers: Socket[] = [];
    const run = await threeRoles(c, {
      keys,
      p0: {
        onListening: (port: number) => {
          grabbers.push(netConnect({ host: '127.0.0.1', port }));
          const g = netConnect({ host: '127.0.0.1', port }, () => g.write(Buffer.from('GET / HTTP/1.0\r\n\r\n'.repeat(100))));
          grabbers.push(g);
          for (const s of grabbers) s.on('error', () => {});
        },
        onRefused: (why: string) => refused.push(why),
      },
    });
    for (const s of grabbers) s.destroy();
    expect(value(run.p1).outputs.size).toBe(2);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatch(/refused a connection that did not authenticate as party1/);
  }, 30_000);

  it('an authenticated peer sending garbage, or a frame of the wrong size, is stopped with a clear error', async () => {
    const c = smallCircuit();
    const keys = freshKeys();
    const garbage = async (bytes: (hello: Buffer) => Buffer): Promise<string> => {
      let port!: (n: number) => void;
      const at = new Promise<number>((r) => (port = r));
      const p0 = runPartyTcp({ circuit: c, circuitHash: hashOf(c), party: 0, listen: { host: '127.0.0.1', port: 0 }, tensors: smallWeights, keys: keys.party0, timeoutMs: 3000, onListening: port });
      const psk = tlsPsk(keys.party1.keys.get('p0-p1')!, 'p0-p1');
      const sock = await connectTls({ host: '127.0.0.1', port: await at }, { psk, self: 'party1', peer: 'party0' }, 3000);
      sock.on('error', () => {});
      const hello = frame(T_HELLO, 0, Buffer.from(JSON.stringify({ protocol: PROTOCOL_VERSION, party: 1, circuitHash: hashOf(c), nonce: 'ab'.repeat(16) })));
      sock.write(bytes(hello));
      const e = await p0.then(
        () => 'finished',
        (x: unknown) => String(x),
      );
      sock.destroy();
      return e;
    };
    expect(await garbage(() => Buffer.alloc(64, 0x5a))).toMatch(/malformed frame from party 1: a frame without the IG3F magic/);
    expect(await garbage((h) => Buffer.concat([h, Buffer.alloc(40, 0x11)]))).toMatch(/malformed frame from party 1: a frame of type 17 where type 4|malformed frame from party 1/);
    expect(await garbage((h) => Buffer.concat([h, frame(T_ROUND, 1, new Uint8Array(8))]))).toMatch(/malformed frame from party 1: round 1 with 8 bytes where 1 with \d+ bytes was expected/);
    expect(await garbage((h) => h)).toMatch(/timed out after 3 s waiting for party 1's online round 1 message \(carrying preprocessing round 1\)/);
  }, 30_000);

  it('a recorded connection replayed to a fresh listener is refused (TLS with fresh key exchange), and the listener times out', async () => {
    const c = smallCircuit();
    const keys = freshKeys();
    // A recording proxy between P1 and P0.
    const recorded: Buffer[] = [];
    let p0Port!: number;
    const proxy = createServer((client) => {
      const up = netConnect({ host: '127.0.0.1', port: p0Port });
      client.on('data', (d: Buffer) => (recorded.push(d), up.write(d)));
      up.on('data', (d: Buffer) => client.write(d));
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.on('error', () => {});
      up.on('error', () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as { port: number }).port;
    const run = await threeRoles(c, {
      keys,
      p0: { onListening: (p: number) => void (p0Port = p) },
      p1: { connect: { host: '127.0.0.1', port: proxyPort } },
    });
    proxy.close();
    expect(value(run.p1).outputs.size).toBe(2);
    // Replay P1's bytes to a new P0 with the same keys.
    const refused: string[] = [];
    let port!: (n: number) => void;
    const at = new Promise<number>((r) => (port = r));
    const p0 = runPartyTcp({
      circuit: c,
      circuitHash: hashOf(c),
      party: 0,
      listen: { host: '127.0.0.1', port: 0 },
      tensors: smallWeights,
      keys: keys.party0,
      timeoutMs: 1500,
      onListening: port,
      onRefused: (w) => refused.push(w),
    });
    const replay = netConnect({ host: '127.0.0.1', port: await at }, () => replay.write(Buffer.concat(recorded)));
    replay.on('error', () => {});
    await expect(p0).rejects.toThrow(/timed out after 1.5 s waiting for party1 to connect .*refused 1 connection/);
    replay.destroy();
    expect(refused.length).toBe(1);
  }, 30_000);
});

describe('frames and flow control', () => {
  it('a frame larger than the read cap still arrives whole; frames past the cap wait in the sender', async () => {
    const [srv, client] = await tlsPair();
    // Per-frame time-outs long enough for 4 MiB through TLS on a loaded machine: the test is about order and wholeness.
    const reader = new FrameReader(srv, 30_000, 'party 1', 1024);
    const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => i & 255);
    const sent = Promise.all([1, 2, 3].map((k) => writeFrame(client, frame(T_ROUND, k, big), 30_000, 'party 0')));
    for (const k of [1, 2, 3]) {
      const f = await reader.next(T_ROUND, k, big.length, `round ${k}`);
      expect(Buffer.from(f.payload).equals(Buffer.from(big))).toBe(true);
    }
    await sent;
    client.destroy();
    srv.destroy();
  }, 120_000);
});

describe('a peer that closes after sending', () => {
  it('its frames still buffered here are served after the close; the next one is a clear error', async () => {
    const [srv, client] = await tlsPair('p1-dealer');
    const reader = new FrameReader(client, 5000, 'the dealer', 16 * 1024 * 1024);
    const payload = new Uint8Array(64 * 1024).fill(9);
    const closed = new Promise((r) => client.once('close', r));
    await Promise.all([1, 2, 3].map((k) => writeFrame(srv, frame(T_CORRECTION, k, payload), 5000, 'party 1')));
    srv.end();
    await closed; // everything arrived (under the read cap), then the close
    for (const k of [1, 2, 3]) expect((await reader.next(T_CORRECTION, k, payload.length, `correction ${k}`)).payload.length).toBe(payload.length);
    await expect(reader.next(T_CORRECTION, 4, payload.length, 'correction 4')).rejects.toThrow(/the dealer closed the connection before correction 4/);
  }, 30_000);
});

describe('the end of a session', () => {
  // P0 against a scripted P1 that runs every round (zeros of the right sizes: P0 checks framing,
  // not values) and then either ends the session as the protocol says or just closes.
  const scriptedP1 = async (sayDone: boolean): Promise<string> => {
    const c = smallCircuit();
    const keys = freshKeys();
    let port!: (n: number) => void;
    const at = new Promise<number>((r) => (port = r));
    const p0 = runPartyTcp({ circuit: c, circuitHash: hashOf(c), party: 0, listen: { host: '127.0.0.1', port: 0 }, tensors: smallWeights, keys: keys.party0, timeoutMs: 3000, onListening: port });
    const sock = await connectTls({ host: '127.0.0.1', port: await at }, { psk: tlsPsk(keys.party1.keys.get('p0-p1')!, 'p0-p1'), self: 'party1', peer: 'party0' }, 3000);
    sock.on('error', () => {});
    const reader = new FrameReader(sock, 3000, 'party 0');
    await writeFrame(sock, frame(T_HELLO, 0, Buffer.from(JSON.stringify({ protocol: PROTOCOL_VERSION, party: 1, circuitHash: hashOf(c), nonce: 'ab'.repeat(16) }))), 3000, 'party 0');
    await reader.next(T_HELLO, 0, 0, 'hello');
    await reader.next(T_TICKET, 0, 0, 'ticket');
    const rounds = planParty(c, 0).steps.filter((st) => st.kind === 'round');
    for (const [k, st] of rounds.entries()) {
      await writeFrame(sock, frame(T_ROUND, k + 1, new Uint8Array(8 * roundWords(c, st.comms, 1))), 3000, 'party 0');
      await reader.next(T_ROUND, k + 1, 8 * roundWords(c, st.comms, 0), `round ${k + 1}`);
    }
    if (sayDone) {
      await writeFrame(sock, frame(T_DONE, 0, new Uint8Array(0)), 3000, 'party 0');
      await reader.next(T_DONE, 0, 0, 'end of the session');
    }
    sock.end();
    return p0.then(
      (r) => `finished in ${r.cost.rounds} rounds`,
      (e: unknown) => String(e),
    );
  };

  it('each party says it is done and closes only after the other has: P0 finishes; a peer that closes without saying so is an error', async () => {
    expect(rounds(smallCircuit())).toBeGreaterThan(1);
    expect(await scriptedP1(true)).toBe(`finished in ${rounds(smallCircuit())} rounds`);
    expect(await scriptedP1(false)).toMatch(/party 1 closed the connection without ending the session/);
  }, 30_000);
});

const rounds = (c: Circuit): number => planParty(c, 0).steps.filter((st) => st.kind === 'round').length;

describe('large round messages', () => {
  it('both parties sending a round message past the 8 MiB read cap at once do not deadlock', async () => {
    const W = 3_000_000; // 24 MB per direction per round: more than the read cap plus both kernel buffers
    const b = new CircuitBuilder({ name: 'wide' });
    b.output(beaverMul(b, b.input('x', 1, [W]), b.input('w', 0, [W])), 'y');
    const c = b.build();
    const xs = Tensor.from('f32', [W], Array.from({ length: W }, (_, i) => ((i % 7) - 3) / 4));
    const run = await threeRoles(c, { inputs: new Map([['x', xs]]), weights: new Map([['w', xs]]), timeoutMs: 90_000 });
    const y = value(run.p1).outputs.get('y')!;
    expect(y.at(5)).toBeCloseTo((((5 % 7) - 3) / 4) ** 2, 3);
  }, 300_000);
});
