// The format fuzzers in CI: a fixed seed and a few hundred inputs per format; each must reach
// both its accept and its refuse path, with no uncaught exception and no hang.
// The large campaign (>= 10^5 inputs): npx tsx bench/fuzz-campaign.ts.

import { describe, expect, it } from 'vitest';
import { FUZZ_TARGETS, fuzz } from './fuzz-formats.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261202);

describe('format fuzzers (bytes and structure)', () => {
  for (const t of FUZZ_TARGETS) {
    it(`${t.name}: every input accepted or refused with an Ig3dcError`, () => {
      const st = fuzz(t, 400, SEED);
      expect(st.crashes, JSON.stringify(st.crashes, null, 1)).toEqual([]);
      expect(st.hangs).toBe(0);
      expect(st.accepted).toBeGreaterThan(0);
      expect(st.refused).toBeGreaterThan(0);
      // Beyond the unmutated seeds: some mutated inputs are accepted too.
      expect(st.accepted).toBeGreaterThan(t.seeds.length);
    }, 120_000);
  }
});
