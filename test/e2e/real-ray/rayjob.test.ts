import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {MANAGED_BY, MANAGED_BY_LABEL} from '../../../src/kuberay/labels.js';
import {cli, startWatch} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {waitFor} from '../../support/poll.js';
import {probe} from '../../support/ray.js';
import {dataPlaneNamespace, rayTrail} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
const FIXTURE = new URL('./fixtures/rayjob-answer.yaml', import.meta.url).pathname;
const SPREAD = new URL('./fixtures/rayjob-spread.yaml', import.meta.url).pathname;

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

  it('spanned from its start: place --wait spans the worker its home has no room for, KubeRay submits the job, which runs on every worker and SUCCEEDS, and watch removes the remote worker and copies when KubeRay deletes the cluster', async () => {
    const home = fleet.cluster('cloud');
    const away = fleet.cluster('onprem');
    const watch = startWatch(['-n', namespace, ...fleetArgs]);
    try {
      await waitFor('watch watching', () => (watch.lines.some((l) => l.includes('watching')) ? true : undefined));
      const placedAt = Date.now();
      const placed = await cli(['place', '-f', SPREAD, '-n', namespace, '--skip-capacity-relocate', '--wait', ...fleetArgs]);
      expect(placed.code, placed.stderr).toBe(0);
      // cloud has 2 GPUs and onprem 1: cloud is home, and onprem takes the third worker (spanned
      // by place or by watch, whichever comes first). --wait returned once all 3 were ready.
      expect(placed.stdout).toMatch(/^rayjob\/spread placed on cloud /m);
      const started = await home.get<RayJob>(RESOURCES.rayjobs, 'spread', namespace);
      const ready = await home.get<KubeObject & {status?: {state?: string; readyWorkerReplicas?: number}}>(RESOURCES.rayclusters, started.status!.rayClusterName!, namespace);
      expect(ready.status).toMatchObject({state: 'ready', readyWorkerReplicas: 3});
      let remoteName = '';
      const job = await waitFor('the spread job to end', async () => {
        const remote = (await away.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=spread,superskyray.io/role=remote-worker'})).items;
        if (remote[0]) remoteName = remote[0].metadata!.name!;
        const j = await home.get<RayJob>(RESOURCES.rayjobs, 'spread', namespace);
        return j.status?.jobStatus === 'SUCCEEDED' || j.status?.jobStatus === 'FAILED' ? j : undefined;
      }, {timeoutMs: 300_000, intervalMs: 1000});
      const endedAt = Date.now();
      expect(job.status?.jobStatus, `${JSON.stringify(job.status)}\nwhat Ray did:\n${rayTrail(namespace)}`).toBe('SUCCEEDED');
      expect(remoteName, 'a worker ran in onprem').not.toBe('');
      // The job's logs live as long as its cluster: the fixture keeps it 15 s past the end.
      const cluster = job.status!.rayClusterName!;
      const {logs} = await probe<{logs: string}>('cloud', 'job.py', ['status', `${cluster}-head-svc.${namespace}.svc.cluster.local:8265`, job.status!.jobId!]);
      const pods = /^spread over pods: (.*)$/m.exec(logs)?.[1]?.split(' ') ?? [];
      expect(pods, logs).toHaveLength(3);
      expect(pods).toContain(remoteName);
      await waitFor('KubeRay to delete the job\'s cluster, and watch to leave nothing of it anywhere', async () => {
        const left = [
          ...((await home.find(RESOURCES.rayclusters, cluster, namespace)) ? [cluster] : []),
          ...(await home.list(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${cluster}`})).items,
          ...(await away.list(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=spread'})).items,
          ...(await away.list(RESOURCES.services, {namespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},superskyray.io/group=spread`})).items,
        ];
        return left.length === 0 ? true : undefined;
      }, {timeoutMs: 120_000, intervalMs: 1000});
      process.stdout.write(`rayjob spanned from its start: place to SUCCEEDED ${endedAt - placedAt} ms; job end to nothing left anywhere ${Date.now() - endedAt} ms (the fixture keeps the cluster 15 s)\n`);
      expect(watch.lines.join('\n')).toContain(`onprem: delete pod/${remoteName} (its RayCluster ${cluster} is gone)`);
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
  }, 600_000);
});
