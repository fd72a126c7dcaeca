import {defineConfig} from 'vitest/config';
import {scenarios} from './vitest.e2e.config.js';

// npm test: the unit tests, then the scenario suite on a sandbox fleet (no clusters, no Go). The
// same scenarios on the real clusters are `npm run test:e2e`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/unit/**/*.test.tsx'],
          environment: 'node',
          testTimeout: 20_000,
        },
      },
      {
        // After the unit tests, so that the scenarios' timing has the machine to itself.
        test: {name: 'scenarios (sandbox)', ...scenarios('sandbox'), sequence: {groupOrder: 1}},
      },
    ],
  },
});
