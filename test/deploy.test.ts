import { describe, expect, it } from 'vitest';
import { circuitCost, costSummary } from '../ir/circuit/index.ts';
import { parseKeyFile, runCircuit, runCircuitWorkers, simulatedSessionSeeds } from '../runtime/index.ts';
import { allPairKeys, freshKeys, hashOf, reason, smallCircuit, smallInputs, smallWeights, threeRoles, value } from './deploy-helpers.ts';

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
