import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import {MANAGED_BY, MANAGED_BY_LABEL} from '../../../src/kuberay/labels.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {cli, startWatch} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {waitFor} from '../../support/poll.js';
import {aliveNodes, probe, rayNodes} from '../../support/ray.js';
import {dataPlaneNamespace, rayTrail} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
const FIXTURE = new URL('./fixtures/raycluster-gpu-autoscaled.yaml', import.meta.url).pathname;
const PY = new URL('./py/', import.meta.url).pathname;
/** What the fixture sets RAY_AUTOSCALER_RECONCILE_ALLOCATE_STATUS_TIMEOUT_S to. */
const ALLOCATE_TIMEOUT_MS = 30_000;

type RayCluster = KubeObject & {spec: {workerGroupSpecs: Array<{replicas: number; scaleStrategy?: {workersToDelete?: string[]}}>}};
type Job = {status: string; logs: string};

const TOOL_OBJECTS = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/**
 * Seed use case 2 on real Ray: the Ray autoscaler (v2, KubeRay's sidecar, real) raises the GPU
 * group for a job that needs 2 GPU workers; onprem has one GPU, so `watch` spans the second worker
 * to cloud. The autoscaler must keep managing it: count it, never terminate it as unregistered, and
 * scale it in with the rest when the demand goes.
 */
describe('seed use case 2 on real Ray: the autoscaler grows a GPU group past onprem, and watch spans it', () => {
  let fleet: Fleet;
  let namespace: string;
  let watch: ReturnType<typeof startWatch> | undefined;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await dataPlaneNamespace(fleet, 'autoscale');
  });
  afterAll(async () => {
    if (watch && watch.child.exitCode === null) {
      watch.child.kill('SIGINT');
      await watch.exited;
    }
    await removeNamespace(fleet, namespace);
  });

  it('the remote GPU worker joins, meets the demand, outlives allocate_status_timeout_s, and goes with the autoscaler\'s scale-down, leaving nothing behind', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const placed = await cli(['place', '-f', FIXTURE, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    const gcs = `auto-head-svc.${namespace}.svc.cluster.local:6379`;
    const dashboard = `auto-head-svc.${namespace}.svc.cluster.local:8265`;
    await aliveNodes('onprem', gcs, 1);
    watch = startWatch(['auto', '-n', namespace, ...fleetArgs]);

    // Real demand: a job whose two actors each need a GPU, uploaded as its working_dir.
    // The head's dashboard answers some seconds after its GCS: submit once it takes the job.
    const {id} = await waitFor('the head\'s dashboard to take the job', () => probe<{id: string}>('onprem', 'job.py', ['submit', dashboard, 'python gpu_demand.py', PY]), {timeoutMs: 120_000, intervalMs: 2000});
    const submitted = Date.now();
    const job = await waitFor('both GPU actors placed', async () => {
      const status = await probe<Job>('onprem', 'job.py', ['status', dashboard, id]);
      return /GPU actors on pods: \S+ \S+/.test(status.logs) ? status : undefined;
    }, {timeoutMs: 300_000, intervalMs: 2000});
    const remote = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/group=gpu'})).items;
    expect(remote).toHaveLength(1);
    const remoteName = remote[0]!.metadata!.name!;
    // One actor runs on the worker in cloud, the autoscaler's second instance.
    expect(/GPU actors on pods: (.*)/.exec(job.logs)![1]!.split(' ')).toContain(remoteName);
    const nodes = await rayNodes('onprem', gcs);
    expect(nodes.find((n) => n.instanceId === remoteName)).toMatchObject({state: 'ALIVE', ip: remote[0]!.status?.podIP, nodeType: 'gpu'});
    process.stdout.write(`use case 2: job submitted to both GPU actors placed (one in cloud) in ${Date.now() - submitted} ms\n`);

    // Held well past allocate_status_timeout_s: the autoscaler never takes the remote worker for an
    // instance that failed to start.
    const heldFrom = Date.now();
    await waitFor('the remote worker held past the allocate timeout', async () => {
      const [pod] = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/group=gpu'})).items;
      expect(pod?.metadata?.uid, 'the remote worker is the same pod').toBe(remote[0]!.metadata?.uid);
      const cluster = await onprem.get<RayCluster>(RESOURCES.rayclusters, 'auto', namespace);
      expect(cluster.spec.workerGroupSpecs[0]!.replicas).toBe(2);
      expect(cluster.spec.workerGroupSpecs[0]!.scaleStrategy?.workersToDelete ?? []).toEqual([]);
      expect((await rayNodes('onprem', gcs)).find((n) => n.instanceId === remoteName)?.state).toBe('ALIVE');
      return Date.now() - heldFrom > ALLOCATE_TIMEOUT_MS + 15_000 ? true : undefined;
    }, {timeoutMs: 120_000, intervalMs: 5000}).catch((err: Error) => {
      // Twice in CI, not here: the autoscaler took a home GPU worker in during the hold.
      throw new Error(`${err.message}\nwhat Ray did:\n${rayTrail(namespace)}`);
    });

    // The demand goes: the autoscaler drains and removes both GPU workers, the remote one included.
    await probe('onprem', 'job.py', ['stop', dashboard, id]);
    await waitFor('the autoscaler\'s scale-down to 0 GPU workers, and no worker left anywhere', async () => {
      const cluster = await onprem.get<RayCluster>(RESOURCES.rayclusters, 'auto', namespace);
      const home = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/group=gpu'})).items;
      const away = (await cloud.list<Pod>(RESOURCES.pods, {namespace})).items;
      return cluster.spec.workerGroupSpecs[0]!.replicas === 0 && home.length === 0 && away.length === 0 ? true : undefined;
    }, {timeoutMs: 180_000, intervalMs: 2000});
    const deadNode = (await rayNodes('onprem', gcs)).find((n) => n.instanceId === remoteName);
    expect(deadNode?.state).toBe('DEAD');
    // No orphan: nothing of the tool's is left in cloud, and no placeholder at home.
    await waitFor('the head-Service copy gone from cloud', async () => {
      const left = [
        ...(await cloud.list(RESOURCES.services, {namespace, labelSelector: TOOL_OBJECTS})).items,
        ...(await cloud.list(RESOURCES.pods, {namespace, labelSelector: TOOL_OBJECTS})).items,
        ...(await onprem.list(RESOURCES.pods, {namespace, labelSelector: TOOL_OBJECTS})).items,
      ];
      return left.length === 0 ? true : undefined;
    }, {timeoutMs: 30_000});
    const log = watch.lines.join('\n');
    expect(log).toMatch(/spanned auto-gpu-worker-\w+ to cloud as /);
  }, 900_000);
});
