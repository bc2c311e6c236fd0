import { defineConfig } from 'vitest/config';

// CI runs `npm test` exactly as the README writes it and still wants a machine-readable report:
// KIMI_POOL_TEST_REPORT names the JSON file, which scripts/test-summary.mjs reads.
const report = process.env.KIMI_POOL_TEST_REPORT;

export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests measure makespans in real time against real HTTP and
    // Redis: files run one at a time so they never compete for the 2 cores.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
  },
});
