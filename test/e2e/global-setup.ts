import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {TestProject} from 'vitest/node';
import {SandboxFleet} from '../../src/sandbox/cluster.js';
import {DEFAULT_PROFILE} from '../../src/sandbox/profile.js';
import {up} from '../env/testenv.js';
import {startControl} from '../support/sandbox-control.js';

/**
 * The clusters the suite runs on: the real local clusters (started unless they are up already;
 * `npm run testenv:down` stops them), or, with SUPERSKYRAY_E2E_BACKEND=sandbox in the project's
 * environment (vitest.e2e.config.ts), a sandbox fleet in this process, stopped when the run ends.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  if (project.config.env.SUPERSKYRAY_E2E_BACKEND !== 'sandbox') {
    project.provide('backend', 'real');
    project.provide('kubeconfig', await up());
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'superskyray-sandbox-e2e-'));
  const fleet = new SandboxFleet(['onprem', 'cloud'], DEFAULT_PROFILE, dir);
  await fleet.start();
  const control = await startControl(fleet, dir);
  project.provide('backend', 'sandbox');
  project.provide('kubeconfig', fleet.writeKubeconfig(dir));
  project.provide('sandboxDir', dir);
  project.provide('control', control.url);
  return async () => {
    await control.close();
    await fleet.stop();
    fs.rmSync(dir, {recursive: true, force: true});
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}
