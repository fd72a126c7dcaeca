import type {TestProject} from 'vitest/node';
import {up} from '../env/testenv.js';

/** Starts the real local clusters unless they are already up; `npm run testenv:down` stops them. */
export default async function setup(project: TestProject): Promise<void> {
  const kubeconfig = await up();
  project.provide('kubeconfig', kubeconfig);
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}
