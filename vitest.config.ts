import { defineConfig } from 'vitest/config';

// Two tiers in one run: fast unit tests on the pure core, and integration tests
// against real daemons that share one environment started by the global setup.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // Real VMs cost ~0.3-0.5 GB and a core each: run files one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
