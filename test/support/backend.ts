import * as path from 'node:path';
import {inject} from 'vitest';
import * as testenv from '../env/testenv.js';
import type {ClusterProfile} from '../../src/sandbox/profile.js';

/**
 * The e2e suite's clusters, whichever backend runs them: the real local clusters of test/env (the
 * authority), or a sandbox fleet (SUPERSKYRAY_E2E_BACKEND=sandbox). Tests reach the clusters' audit
 * logs and outages through these, never through one backend directly.
 */
const sandbox = () => inject('backend') === 'sandbox';

async function control(action: string, name: string, body?: unknown): Promise<unknown> {
  // One connection per call: a kept-alive one would hold the test worker open at the end of the run.
  const res = await fetch(`${inject('control')}/${action}/${name}`, {method: 'POST', headers: {connection: 'close'}, body: body === undefined ? undefined : JSON.stringify(body)});
  if (!res.ok) throw new Error(`sandbox ${action} ${name}: ${await res.text()}`);
  return res.json();
}

/** The API server's audit log of one cluster: one JSON event per request. */
export function auditLog(cluster: string): string {
  return sandbox() ? path.join(inject('sandboxDir'), cluster, 'audit.log') : testenv.auditLog(cluster);
}

export async function stopApiserver(cluster: string): Promise<void> {
  if (sandbox()) await control('stop-apiserver', cluster);
  else await testenv.stopApiserver(cluster);
}

export async function startApiserver(cluster: string): Promise<void> {
  if (sandbox()) await control('start-apiserver', cluster);
  else await testenv.startApiserver(cluster);
}

/** One more cluster, for a test that needs a different kind; the returned kubeconfig has its one context. */
export async function addCluster(name: string, profile: ClusterProfile): Promise<string> {
  if (sandbox()) return ((await control('add-cluster', name, profile)) as {kubeconfig: string}).kubeconfig;
  return testenv.addCluster(name, profile);
}

export async function removeCluster(name: string): Promise<void> {
  if (sandbox()) await control('remove-cluster', name);
  else await testenv.removeCluster(name);
}

declare module 'vitest' {
  export interface ProvidedContext {
    backend: 'real' | 'sandbox';
    sandboxDir: string;
    control: string;
  }
}
