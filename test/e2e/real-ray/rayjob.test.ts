import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject} from '../../../src/kube/types.js';
import {cli} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {waitFor} from '../../support/poll.js';
import {probe} from '../../support/ray.js';
import {dataPlaneNamespace} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
const FIXTURE = new URL('./fixtures/rayjob-answer.yaml', import.meta.url).pathname;

type RayJob = KubeObject & {status?: {jobStatus?: string; jobDeploymentStatus?: string; jobId?: string; rayClusterName?: string}};

/**
 * The KubeRay operator runs in the pod network: its RayJob controller reaches the head's dashboard by
 * the head Service's name and submits the job, which real Ray runs to the end.
 */
describe('a RayJob on real Ray', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await dataPlaneNamespace(fleet, 'rayjob');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('is submitted by KubeRay through the dashboard and SUCCEEDS, its task run on the worker', async () => {
    const onprem = fleet.cluster('onprem');
    const placed = await cli(['place', '-f', FIXTURE, '-n', namespace, ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    const job = await waitFor('the RayJob to succeed', async () => {
      const j = await onprem.get<RayJob>(RESOURCES.rayjobs, 'answer', namespace);
      if (j.status?.jobStatus === 'FAILED') throw new Error(`the job failed: ${JSON.stringify(j.status)}`);
      return j.status?.jobStatus === 'SUCCEEDED' ? j : undefined;
    }, {timeoutMs: 300_000, intervalMs: 2000});
    const dashboard = `${job.status!.rayClusterName}-head-svc.${namespace}.svc.cluster.local:8265`;
    const {logs} = await probe<{logs: string}>('onprem', 'job.py', ['status', dashboard, job.status!.jobId!]);
    expect(logs).toMatch(new RegExp(`answer 42 from ${job.status!.rayClusterName}-cpu-worker-\\w{5}`));
  }, 600_000);
});
