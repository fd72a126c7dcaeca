import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {ClusterClient} from '../../../src/kube/client.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {SandboxFleet} from '../../../src/sandbox/cluster.js';
import {DEFAULT_PROFILE} from '../../../src/sandbox/profile.js';
import {cli, REPO} from '../../support/cli.js';
import {tempDir} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';

const RUNBOOKS = path.join(REPO, 'examples', 'runbooks');

// The seed's two scenarios, as the e2e suite runs them on the real clusters, on an in-process sandbox.
describe('the example runbooks on a sandbox fleet', () => {
  const fleet = new SandboxFleet(['onprem', 'cloud'], DEFAULT_PROFILE);
  let kubeconfig: string;
  const client = (name: string) => {
    const agent = new http.Agent({keepAlive: true});
    return new ClusterClient({context: name, server: fleet.clusters.find((c) => c.name === name)!.url, credentials: {prepare: async () => ({agent, headers: {}})}});
  };

  beforeAll(async () => {
    await fleet.start();
    kubeconfig = fleet.writeKubeconfig(tempDir());
  });
  afterAll(async () => {
    await fleet.stop();
  });

  it('manual scaling 2 -> 3 -> 2 spans the third worker to cloud and collapses back to onprem', async () => {
    const result = await cli(['runbook', 'run', path.join(RUNBOOKS, 'manual-scale.yaml'), '--kubeconfig', kubeconfig, '--set', 'namespace=manual']);
    expect(result.stderr).toMatch(/all 10 step\(s\) passed\n$/);
    expect(result.code).toBe(0);
    expect([...result.stdout.matchAll(/^raycluster\/manual-demo in \S+: (\w+), home onprem/gm)].map((m) => m[1])).toEqual(['single', 'spanned', 'single']);
    const rc = await client('onprem').get<KubeObject & {spec: {workerGroupSpecs: Array<{replicas: number}>}}>(RESOURCES.rayclusters, 'manual-demo', 'manual');
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(2);
    expect((await client('cloud').list<Pod>(RESOURCES.pods, {namespace: 'manual'})).items).toEqual([]);
    // Clean up for the next scenario, which needs onprem's room.
    expect((await cli(['delete', 'manual-demo', '-n', 'manual', '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'])).code).toBe(0);
    await waitFor('manual-demo pods gone', async () => ((await client('onprem').list<Pod>(RESOURCES.pods, {namespace: 'manual'})).items.length === 0 ? true : undefined));
  });

  it('autoscaler growth to 2 GPU workers: the watch spans the second one to cloud', async () => {
    const result = await cli(['runbook', 'run', path.join(RUNBOOKS, 'autoscaler-gpu.yaml'), '--kubeconfig', kubeconfig, '--set', 'namespace=gpu']);
    expect(result.stderr).toMatch(/all 9 step\(s\) passed\n$/);
    expect(result.code).toBe(0);
    const remote = (await client('cloud').list<Pod>(RESOURCES.pods, {namespace: 'gpu'})).items;
    expect(remote.map((p) => [p.metadata?.labels?.['superskyray.io/role'], p.status?.phase])).toEqual([['remote-worker', 'Running']]);
    expect((await client('onprem').list<KubeObject>(RESOURCES.leases, {namespace: 'gpu'})).items).toEqual([]);
  });

  it('writes a kubeconfig with one context per cluster and no credentials', () => {
    const text = fs.readFileSync(kubeconfig, 'utf8');
    expect(text).toMatch(/name: onprem/);
    expect(text).toMatch(/name: cloud/);
    expect(text).not.toMatch(/token|password|client-key/);
  });
});
