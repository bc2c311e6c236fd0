import { defineConfig } from 'vitest/config';

// CI runs `npm test` exactly as the README writes it and still wants a machine-readable report:
// KIMI_POOL_TEST_REPORT names the JSON file, which scripts/test-summary.mjs reads.
const report = process.env.KIMI_POOL_TEST_REPORT;

export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    include: ['test/**/*.test.ts'],
    // Tests assert behaviour, never speed, so files may share the machine: two at
    // a time (this machine has 2 cores; real-HTTP tests spawn processes of their own).
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
  },
});
