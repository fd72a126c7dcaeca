import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

describe('a Ray object KubeRay has made no RayCluster for: a suspended RayJob', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'rayjob');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('can be looked at and deleted; scale says why it cannot resize it', async () => {
    const cluster = fixture<KubeObject & {spec: unknown}>('raycluster-small.yaml');
    const job = {apiVersion: 'ray.io/v1', kind: 'RayJob', metadata: {name: 'nightly'}, spec: {suspend: true, entrypoint: 'python -c "print(1)"', rayClusterSpec: cluster.spec}};
    const file = path.join(tempDir(), 'job.yaml');
    fs.writeFileSync(file, yaml.dump(job));
    const args = ['-n', namespace, ...fleetArgs];
    expect((await cli(['place', '-f', file, ...args])).code).toBe(0);

    const status = await cli(['status', 'rayjob/nightly', ...args]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^rayjob\/nightly in \S+: unstarted, home onprem, RayCluster none yet,/m);
    expect(status.stderr).toContain('RayJob "nightly" in context "onprem" has no RayCluster yet: it is suspended, or its KubeRay operator is not running');
    const json = JSON.parse((await cli(['status', 'rayjob/nightly', '-o', 'json', ...args])).stdout) as {mode: string; workerGroups: unknown};
    expect(json).toMatchObject({mode: 'unstarted', workerGroups: [{name: 'cpu', replicas: 2}]});

    const scaled = await cli(['scale', 'rayjob/nightly', '--replicas', '3', ...args]);
    expect(scaled.code).toBe(1);
    expect(scaled.stderr).toBe(`error: RayJob "nightly" in context "onprem" has no RayCluster yet; try again once KubeRay has made it\n`);

    // watch waits for KubeRay without counting it as a failure: a suspended job is not one.
    const once = await cli(['watch', '--once', ...args]);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/rayjob\/nightly: RayJob "nightly" in context "onprem" has no RayCluster yet/);

    const dry = await cli(['delete', 'rayjob/nightly', '--dry-run', ...args]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('rayjob/nightly deleted (onprem) (dry run)');
    expect(await fleet.cluster('onprem').find(RESOURCES.rayjobs, 'nightly', namespace)).toBeDefined();

    const deleted = await cli(['delete', 'rayjob/nightly', ...args]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await fleet.cluster('onprem').find(RESOURCES.rayjobs, 'nightly', namespace)).toBeUndefined();
  });
});
