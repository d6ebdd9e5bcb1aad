import { defineConfig } from 'vitest/config';

// The slow tier: suites that take minutes on two loaded cores (secure inference of whole models,
// the dev-set search, head importance). `npm test` runs everything else; `npm run test:slow`
// runs these; CI (.ci/run) runs both.
export const SLOW_TESTS = ['test/secure-spam.test.ts', 'test/tune.test.ts', 'test/importance.test.ts', 'test/compare-methods.test.ts'];

const slow = process.env['IG3DC_TEST_TIER'] === 'slow';

export default defineConfig({
  test: {
    include: slow ? SLOW_TESTS : ['test/**/*.test.ts'],
    exclude: slow ? [] : ['**/node_modules/**', ...SLOW_TESTS],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
