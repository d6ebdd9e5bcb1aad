// A token-pruned model deployed as three processes (`ig3dc compile -o FILE.segments`, `ig3dc
// dealer`, `ig3dc serve` for P0 and P1) on 127.0.0.1: each segment one session, each party
// picking the next bucket from the count its boundary revealed, the dealer serving the bucket P1
// names. Counts, buckets and costs must be the in-process run's exactly, the logits within the
// bound of two secure runs, measured == static on every segment and role.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SegmentedRunReport } from '../compiler/cli/commands/run-segments.ts';
import type { ServeSegmentReport } from '../compiler/cli/commands/serve-segments.ts';
import { decodeSegmentBundle } from '../ir/circuit/segment-bundle.ts';
import { maxAbsDiff } from './ig3d-helpers.ts';
import { ig3dc, killAll, ROOT, tempDir } from './process-helpers.ts';

afterEach(killAll);

const TINY = join(ROOT, 'examples', 'bert-tiny.onnx');
const CASES = join(ROOT, 'examples', 'bert-tiny.cases.json');
// Row 0's 100 tokens each receive about 1/100 of the attention (scores in [0.0097, 0.0103]), row
// 1's from 0.0171 up: theta lies 3.4e-3 from every score, so two secure runs (fresh seeds each)
// must reveal the same counts. At 0.01, scores within 2e-6 of theta let the counts differ by one.
const PASSES = 'prune-tokens{theta=[0.0137],bucket=8}';

interface ServeReport {
  readonly party: 0 | 1;
  readonly segments: readonly ServeSegmentReport[];
  readonly outputs: Record<string, { shape: number[]; data: number[] }>;
  readonly countsMatch: boolean;
}

interface DealerReport {
  readonly segments: readonly { segment: number; tokens: number; sessionId: string; dealerBytes: number }[];
}

describe('ig3dc serve / dealer with a .segments file (bert-tiny, prune-tokens, b2_s128)', () => {
  it('three processes take the in-process run\'s buckets, counts and costs; logits within 2e-3 of it', async () => {
    const dir = tempDir();
    const keys = join(dir, 'keys');
    const bundle = join(dir, 'tiny.segments');
    const [kg, cp] = await Promise.all([
      ig3dc(['keygen', '--out', keys]).done,
      ig3dc(['compile', TINY, '--batch', '2', '--seq', '128', '--passes', PASSES, '--protocols', 'best', '-o', bundle]).done,
    ]);
    expect(kg.code, kg.stderr).toBe(0);
    expect(cp.code, cp.stderr).toBe(0);
    // every bucket compiled ahead: segment 0 at 128 tokens, segment 1 at each multiple of 8
    const held = decodeSegmentBundle(readFileSync(bundle)).circuits.map((e) => `${e.segment}@${e.tokens}`);
    expect(held).toEqual(['0@128', ...Array.from({ length: 16 }, (_, i) => `1@${8 * (i + 1)}`)]);
    expect(cp.stdout).toMatch(/every bucket compiled ahead \(17 circuits/);

    const t = ['--timeout', '120', '--connect-timeout', '120', '--json'];
    const dealer = ig3dc(['dealer', bundle, '--key', join(keys, 'dealer.key'), '--listen', '127.0.0.1:0', ...t], 600_000);
    const p0 = ig3dc(['serve', bundle, '--party', '0', '--key', join(keys, 'party0.key'), '--listen', '127.0.0.1:0', ...t], 600_000);
    const [dp, pp] = await Promise.all([dealer.port, p0.port]);
    const p1 = ig3dc(['serve', bundle, '--party', '1', '--key', join(keys, 'party1.key'), '--connect', `127.0.0.1:${pp}`, '--dealer', `127.0.0.1:${dp}`, '--inputs', CASES, '--case', 'b2_s128', ...t], 600_000);
    const local = ig3dc(['run', TINY, '--inputs', CASES, '--case', 'b2_s128', '--passes', PASSES, '--protocols', 'best', '--threads', '1', '--json'], 600_000);
    const [r0, r1, rd, rl] = await Promise.all([p0.done, p1.done, dealer.done, local.done]);
    // every role's stderr: a failing role's error often names another role as the cause
    const all = [r0, r1, rd, rl].map((r, i) => `--- ${['p0', 'p1', 'dealer', 'local'][i]} (exit ${r.code}, ${r.seconds.toFixed(1)} s)\n${r.stderr}`).join('\n');
    for (const r of [r0, r1, rd, rl]) expect(r.code, all).toBe(0);
    const j0 = JSON.parse(r0.stdout) as ServeReport;
    const j1 = JSON.parse(r1.stdout) as ServeReport;
    const jd = JSON.parse(rd.stdout) as DealerReport;
    const inproc = (JSON.parse(rl.stdout) as SegmentedRunReport).cases[0]!;

    // the same buckets and counts as in process (which equal the plaintext evaluator's)
    const buckets = inproc.segments.map((s) => s.tokens);
    expect(buckets).toEqual([128, 64]);
    for (const j of [j0, j1]) {
      expect(j.segments.map((s) => s.tokens)).toEqual(buckets);
      expect(j.segments.map((s) => s.counts)).toEqual(inproc.segments.map((s) => s.counts));
      expect(j.countsMatch).toBe(true);
      expect(j.segments.every((s) => s.match)).toBe(true);
    }
    // one session per segment, the same on all three roles; the dealer learns the bucket taken
    expect(j0.segments.map((s) => s.sessionId)).toEqual(j1.segments.map((s) => s.sessionId));
    expect(jd.segments.map((s) => s.sessionId)).toEqual(j1.segments.map((s) => s.sessionId));
    expect(new Set(j1.segments.map((s) => s.sessionId)).size).toBe(2);
    expect(jd.segments.map((s) => [s.segment, s.tokens])).toEqual([[0, 128], [1, 64]]);
    // costs: each segment's measurement is the in-process one (dealer words all go to P1 here)
    j1.segments.forEach((s, k) => {
      const m = inproc.segments[k]!.measured;
      expect([s.measured.rounds, s.measured.bytesTotal, ...s.measured.bytesPerParty]).toEqual([m.rounds, m.bytesTotal, ...m.bytesPerParty]);
      expect(s.measured.dealerBytes).toBe(m.dealerBytes);
      expect(jd.segments[k]!.dealerBytes).toBe(m.dealerBytes);
      expect(j0.segments[k]!.measured.bytesTotal).toBe(m.bytesTotal);
    });
    // the server learns the counts only; the client the logits
    expect(j0.outputs).toEqual({});
    const got = j1.outputs['logits']!.data;
    const want = inproc.outputs['logits']!.data as number[];
    expect(got.length).toBe(4);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(2e-3);
    expect(inproc.maxAbsError['logits']).toBeLessThanOrEqual(2e-3);
  }, 900_000);

  it('bad input: a .segments file without prune-tokens, the server without its weights, a model pipeline on a compiled file: clear errors', async () => {
    const dir = tempDir();
    const out = join(dir, 'x.segments');
    const noPrune = await ig3dc(['compile', TINY, '--seq', '8', '-o', out]).done;
    expect(noPrune.code).toBe(2);
    expect(noPrune.stderr).toMatch(/a \.segments file is a token-pruned model's circuits for every bucket; give --passes with prune-tokens/);
    const cp = await ig3dc(['compile', TINY, '--seq', '8', '--passes', 'prune-tokens{theta=[0.13],bucket=4}', '-o', out]).done;
    expect(cp.code, cp.stderr).toBe(0);
    const kg = await ig3dc(['keygen', '--out', join(dir, 'keys')]).done;
    expect(kg.code, kg.stderr).toBe(0);
    const serve0 = (extra: string[]): Promise<{ code: number | null; stderr: string }> => ig3dc(['serve', out, '--party', '0', '--key', join(dir, 'keys', 'party0.key'), '--listen', '127.0.0.1:0', '--timeout', '2', ...extra]).done;
    const noWeights = await serve0(['--weights', join(dir, 'nope.weights.json')]);
    expect(noWeights.code).toBe(1);
    expect(noWeights.stderr).toMatch(/the segments need the server's weights: no weights bundle at .*nope\.weights\.json/);
    const passes = await serve0(['--passes', 'raise-bert']);
    expect(passes.code).toBe(2);
    expect(passes.stderr).toMatch(/--passes is for compiling a model on the fly; a \.segments file is compiled already/);
    const notBundle = join(dir, 'y.segments');
    writeFileSync(notBundle, 'IG3DCIRC and more');
    const bad = await ig3dc(['dealer', notBundle, '--key', join(dir, 'keys', 'dealer.key'), '--listen', '127.0.0.1:0']).done;
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/y\.segments: not a segments file/);
  }, 300_000);
});
