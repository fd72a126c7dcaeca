import {configDefaults, defineConfig} from 'vitest/config';

// SUPERSKYRAY_E2E_BACKEND=sandbox runs the same scenarios on a sandbox fleet; only the test of the
// real test environment itself stays with the real clusters.
const sandbox = process.env.SUPERSKYRAY_E2E_BACKEND === 'sandbox';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(sandbox ? ['test/e2e/testenv.test.ts'] : [])],
    environment: 'node',
    globalSetup: ['test/e2e/global-setup.ts'],
    // One set of clusters: files run one after another, each in its own namespaces.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
