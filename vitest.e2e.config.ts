import {configDefaults, defineConfig} from 'vitest/config';

export type Backend = 'real' | 'sandbox';

/**
 * The scenario suite (test/e2e) on one backend: the real local clusters of test/env, or a sandbox
 * fleet in the test process. SUPERSKYRAY_E2E_BACKEND selects it; the global setup reads it from here.
 */
export function scenarios(backend: Backend) {
  return {
    include: ['test/e2e/**/*.test.ts'],
    // The tests of the real test environment itself, those with real Ray, the drain (kubectl
    // drain evicts through pods/eviction, which the sandbox does not serve), a RayJob's retry
    // (the sandbox has no RayJob controller), admission that injects a sidecar (the sandbox
    // serves no MutatingAdmissionPolicy) and the connection faults (they run Toxiproxy, a Go binary
    // that test/env/build.sh builds, and the sandbox suite runs without Go) run only there.
    exclude: [
      ...configDefaults.exclude,
      ...(backend === 'sandbox'
        ? ['test/e2e/testenv.test.ts', 'test/e2e/real-ray/**', 'test/e2e/drain.test.ts', 'test/e2e/rayjob-retry.test.ts', 'test/e2e/admission-sidecar.test.ts', 'test/e2e/conn-faults.test.ts']
        : []),
    ],
    environment: 'node' as const,
    env: {SUPERSKYRAY_E2E_BACKEND: backend},
    globalSetup: ['test/e2e/global-setup.ts'],
    // One set of clusters: files run one after another, each in its own namespaces.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
  };
}

export default defineConfig({
  test: scenarios(process.env.SUPERSKYRAY_E2E_BACKEND === 'sandbox' ? 'sandbox' : 'real'),
});
