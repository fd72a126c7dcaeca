import {afterEach, describe, expect, it} from 'vitest';
import {SandboxCluster} from '../../../src/sandbox/cluster.js';
import type {Json} from '../../../src/sandbox/json.js';
import type {ClusterProfile} from '../../../src/sandbox/profile.js';
import type {StoredObject} from '../../../src/sandbox/store.js';
import {waitFor} from '../../support/poll.js';

type JsonMap = {[key: string]: Json};
const NS = 'default';
let cluster: SandboxCluster | undefined;

async function start(profile: ClusterProfile): Promise<SandboxCluster> {
  cluster = new SandboxCluster('c', 0, profile);
  await cluster.start();
  return cluster;
}

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const pod = (name: string, requests: Record<string, string>, spec: JsonMap = {}): JsonMap => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name, namespace: NS},
  spec: {containers: [{name: 'c', image: 'pause', resources: {requests}}], ...spec},
});
const pods = (c: SandboxCluster) => c.store.list('pods', NS);
const statusOf = (p: StoredObject | undefined) => (p?.status ?? {}) as {phase?: string; podIP?: string; conditions?: Array<{type: string; status: string; message?: string}>};

describe('the sandbox scheduler and kubelet', () => {
  it('binds a pod to a node it fits, per node, and runs it with a loopback IP', async () => {
    const c = await start({nodes: [{name: 'small', count: 2, cpu: '2', memory: '4Gi'}]});
    c.server.createAs('test', 'pods', pod('a', {cpu: '1500m'}));
    c.server.createAs('test', 'pods', pod('b', {cpu: '1500m'}));
    // 3 cpus are free in total, but on two nodes: a third 1500m pod fits neither.
    c.server.createAs('test', 'pods', pod('c', {cpu: '1500m'}));
    const running = await waitFor('a and b Running', () => {
      const ps = pods(c).filter((p) => statusOf(p).phase === 'Running');
      return ps.length === 2 ? ps : undefined;
    });
    expect(new Set(running.map((p) => (p.spec as {nodeName: string}).nodeName))).toEqual(new Set(['c-small-0', 'c-small-1']));
    for (const p of running) expect(statusOf(p).podIP).toMatch(/^10\.100\.\d+\.\d+$/);
    const waiting = await waitFor('c marked unschedulable', () => statusOf(c.store.get({resource: 'pods', namespace: NS, name: 'c'})).conditions?.find((k) => k.type === 'PodScheduled' && k.status === 'False'));
    expect(waiting.message).toBe('0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.');
    expect(c.store.list('events', NS).some((e) => (e as JsonMap).reason === 'FailedScheduling')).toBe(true);
  });

  it('keeps a pod off a node whose taint it does not tolerate, or whose labels its selector does not match', async () => {
    const c = await start({
      nodes: [
        {name: 'gpu', cpu: '8', memory: '8Gi', gpu: 1, taints: [{key: 'dedicated', value: 'ray', effect: 'NoSchedule'}]},
        {name: 'cpu', cpu: '8', memory: '8Gi', labels: {pool: 'cpu'}},
      ],
    });
    c.server.createAs('test', 'pods', pod('needs-gpu', {'nvidia.com/gpu': '1'}));
    c.server.createAs('test', 'pods', pod('tolerates', {'nvidia.com/gpu': '1'}, {tolerations: [{key: 'dedicated', operator: 'Equal', value: 'ray', effect: 'NoSchedule'}]}));
    c.server.createAs('test', 'pods', pod('selects', {cpu: '1'}, {nodeSelector: {pool: 'gpu'}}));
    await waitFor('tolerates Running on the GPU node', () => (statusOf(c.store.get({resource: 'pods', namespace: NS, name: 'tolerates'})).phase === 'Running' ? true : undefined));
    const message = (name: string) => statusOf(c.store.get({resource: 'pods', namespace: NS, name})).conditions?.find((k) => k.type === 'PodScheduled')?.message;
    expect(await waitFor('needs-gpu unschedulable', () => message('needs-gpu'))).toBe(
      '0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint {dedicated: ray}. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.',
    );
    expect(await waitFor('selects unschedulable', () => message('selects'))).toMatch(/^0\/2 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector, 1 node\(s\) had untolerated taint/);
  });
  it('keeps a pod with a readiness gate Running but not Ready until its condition is True, and Ready follows it both ways, as a kubelet does', async () => {
    const c = await start({nodes: [{name: 'n', cpu: '2', memory: '4Gi'}]});
    c.server.createAs('test', 'pods', pod('gated', {cpu: '1m'}, {nodeName: 'c-n-0', readinessGates: [{conditionType: 'example.com/gate'}]}));
    const get = () => c.store.get({resource: 'pods', namespace: NS, name: 'gated'})!;
    const condition = (type: string) => statusOf(get()).conditions?.find((k) => k.type === type)?.status;
    await waitFor('gated Running', () => (statusOf(get()).phase === 'Running' ? true : undefined));
    expect(condition('Ready')).toBe('False');
    expect(condition('example.com/gate')).toBeUndefined();
    const setGate = (status: string) => {
      const live = structuredClone(get());
      const st = statusOf(live);
      st.conditions = [...(st.conditions ?? []).filter((k) => k.type !== 'example.com/gate'), {type: 'example.com/gate', status}];
      c.store.update('pods', live);
    };
    setGate('True');
    await waitFor('Ready True', () => (condition('Ready') === 'True' ? true : undefined));
    setGate('False');
    await waitFor('Ready False', () => (condition('Ready') === 'False' ? true : undefined));
  });
});

describe('the sandbox KubeRay operator', () => {
  const rayCluster = (replicas: number, extra: JsonMap = {}): JsonMap => ({
    apiVersion: 'ray.io/v1',
    kind: 'RayCluster',
    metadata: {name: 'app', namespace: NS},
    spec: {
      headGroupSpec: {rayStartParams: {}, template: {spec: {containers: [{name: 'ray-head', image: 'ray', resources: {requests: {cpu: '1'}}}]}}},
      workerGroupSpecs: [{groupName: 'cpu', replicas, minReplicas: 0, maxReplicas: 5, rayStartParams: {}, template: {spec: {containers: [{name: 'ray-worker', image: 'ray', resources: {requests: {cpu: '1'}}}]}}, ...extra}],
    },
  });
  const workers = (c: SandboxCluster) => pods(c).filter((p) => (p.metadata.labels as JsonMap)['ray.io/node-type'] === 'worker');

  it('makes the head, the headless head Service and the workers, with KubeRay\'s names and labels', async () => {
    const c = await start({nodes: [{name: 'n', cpu: '16', memory: '64Gi'}]});
    c.server.createAs('test', 'rayclusters.ray.io', rayCluster(2));
    const ready = await waitFor('the RayCluster ready', () => {
      const rc = c.store.get({resource: 'rayclusters.ray.io', namespace: NS, name: 'app'});
      return (rc?.status as JsonMap | undefined)?.state === 'ready' ? rc : undefined;
    });
    expect(ready.status).toMatchObject({desiredWorkerReplicas: 2, availableWorkerReplicas: 2, readyWorkerReplicas: 2});
    const head = pods(c).find((p) => (p.metadata.labels as JsonMap)['ray.io/node-type'] === 'head')!;
    expect(head.metadata.name).toMatch(/^app-head-\w{5}$/);
    expect(head.metadata.labels).toMatchObject({'ray.io/cluster': 'app', 'ray.io/group': 'headgroup', 'ray.io/is-ray-node': 'yes', 'ray.io/identifier': 'app-head'});
    expect(workers(c).map((p) => p.metadata.name)).toEqual([expect.stringMatching(/^app-cpu-worker-\w{5}$/), expect.stringMatching(/^app-cpu-worker-\w{5}$/)]);
    expect(workers(c)[0]!.metadata.ownerReferences).toEqual([expect.objectContaining({kind: 'RayCluster', name: 'app', controller: true, blockOwnerDeletion: true})]);
    const svc = c.store.get({resource: 'services', namespace: NS, name: 'app-head-svc'})!;
    expect(svc.spec).toMatchObject({clusterIP: 'None', selector: {'ray.io/cluster': 'app', 'ray.io/node-type': 'head'}});
  });

  const resize = (c: SandboxCluster, change: (spec: JsonMap, group: JsonMap) => void) => {
    const rc = c.store.get({resource: 'rayclusters.ray.io', namespace: NS, name: 'app'})!;
    change(rc.spec as JsonMap, (rc.spec as {workerGroupSpecs: JsonMap[]}).workerGroupSpecs[0]!);
    c.store.update('rayclusters.ray.io', rc);
  };
  /** The operator wrote the status of the new spec: it has reconciled it. */
  const reconciled = (c: SandboxCluster, desired: number) =>
    waitFor(`status.desiredWorkerReplicas ${desired}`, () => ((c.store.get({resource: 'rayclusters.ray.io', namespace: NS, name: 'app'})?.status as JsonMap | undefined)?.desiredWorkerReplicas === desired ? true : undefined));

  it('counts a labelled pod it does not own, and deletes what workersToDelete names whatever replicas says, never clearing the list', async () => {
    const c = await start({nodes: [{name: 'n', cpu: '16', memory: '64Gi'}]});
    c.server.createAs('test', 'rayclusters.ray.io', rayCluster(2));
    await waitFor('2 workers', () => (workers(c).length === 2 ? true : undefined));
    // A pod with the group's labels and no owner: KubeRay counts it, so 3 replicas make no new worker.
    c.server.createAs('test', 'pods', {...pod('app-cpu-worker-extra', {cpu: '1m'}), metadata: {name: 'app-cpu-worker-extra', namespace: NS, labels: {'ray.io/cluster': 'app', 'ray.io/group': 'cpu', 'ray.io/node-type': 'worker'}}});
    resize(c, (_spec, group) => void (group.replicas = 3));
    await reconciled(c, 3);
    expect(workers(c)).toHaveLength(3);

    resize(c, (_spec, group) => void (group.scaleStrategy = {workersToDelete: ['app-cpu-worker-extra']}));
    await waitFor('the named pod gone, and a worker made in its place', () => (workers(c).length === 3 && !workers(c).some((p) => p.metadata.name === 'app-cpu-worker-extra') ? true : undefined));
    const after = c.store.get({resource: 'rayclusters.ray.io', namespace: NS, name: 'app'})!;
    expect((after.spec as {workerGroupSpecs: Array<{scaleStrategy: unknown}>}).workerGroupSpecs[0]!.scaleStrategy).toEqual({workersToDelete: ['app-cpu-worker-extra']});
  });

  it('deletes some worker on a decrease without the autoscaler, and none with it', async () => {
    const c = await start({nodes: [{name: 'n', cpu: '16', memory: '64Gi'}]});
    c.server.createAs('test', 'rayclusters.ray.io', rayCluster(3));
    await waitFor('3 workers', () => (workers(c).length === 3 ? true : undefined));
    resize(c, (_spec, group) => void (group.replicas = 2));
    await waitFor('2 workers', () => (workers(c).filter((p) => p.metadata.deletionTimestamp === undefined).length === 2 ? true : undefined));

    // The autoscaler chooses: with in-tree autoscaling, a lower replicas deletes nothing by itself.
    resize(c, (spec, group) => {
      spec.enableInTreeAutoscaling = true;
      group.replicas = 1;
    });
    await reconciled(c, 1);
    expect(workers(c)).toHaveLength(2);
  });
});

describe('a sandbox cluster without KubeRay', () => {
  it('serves no ray.io API, as a cluster without the CRDs', async () => {
    const c = await start({kuberay: false, nodes: [{name: 'n'}]});
    const groups = (await (await fetch(`${c.url}/apis`)).json()) as {groups: Array<{name: string}>};
    expect(groups.groups.map((g) => g.name)).not.toContain('ray.io');
    expect((await fetch(`${c.url}/apis/ray.io/v1/rayclusters`)).status).toBe(404);
  });
});
