import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

const PENDING = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable');

/** A RayCluster whose GPU workers fit one per GPU node; `autoscaling` as the Ray autoscaler would run it. */
function gpuApp(name: string, autoscaling: boolean): RayClusterObject {
  const app = fixture<RayClusterObject & {spec: Record<string, unknown>}>('raycluster-small.yaml');
  app.metadata.name = name;
  // Autoscaler v2, which matches Ray nodes to pods by name: a group on v1 is never spanned.
  if (autoscaling) Object.assign(app.spec, {enableInTreeAutoscaling: true, autoscalerOptions: {version: 'v2'}});
  const group = app.spec.workerGroupSpecs[0]! as unknown as Record<string, unknown> & {template: {spec: {containers: Array<{resources: unknown}>}}};
  Object.assign(group, {groupName: 'gpu', replicas: 1, minReplicas: 0, maxReplicas: 2});
  group.template.spec.containers[0]!.resources = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};
  return app;
}

describe('kubectl superskyray span', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'span');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  async function placeAndGrow(name: string, autoscaling: boolean) {
    const onprem = fleet.cluster('onprem');
    const app = gpuApp(name, autoscaling);
    const file = path.join(tempDir(), `${name}.yaml`);
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.stderr).toBe('');
    expect(placed.code).toBe(0);
    const podsOf = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})).items;
    const running = await waitFor('head and 1 worker Running on onprem', async () => {
      const pods = await podsOf();
      return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running') ? pods : undefined;
    });
    // The test plays the Ray autoscaler (or `scale`): 2 GPU workers, and onprem has one GPU.
    await onprem.patch(RESOURCES.rayclusters, name, namespace, {spec: {workerGroupSpecs: [{...app.spec.workerGroupSpecs[0], replicas: 2}]}}, 'merge');
    const pending = await waitFor('the second worker Pending, unschedulable', async () => (await podsOf()).find(PENDING));
    return {onprem, podsOf, running, pending};
  }

  it('swaps the Pending worker of an autoscaled RayCluster for a placeholder at home and a remote worker in cloud, restarting nothing', async () => {
    const cloud = fleet.cluster('cloud');
    const {podsOf, running, pending, onprem} = await placeAndGrow('auto', true);
    const workersOf = async () => (await podsOf()).filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker');

    // Sample KubeRay's count (pods with the group's labels) and every pod seen, while the span runs.
    const seen = new Map<string, string>();
    const counts: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pods = await workersOf();
        counts.push(pods.length);
        for (const p of pods) seen.set(p.metadata?.uid ?? '', p.metadata?.name ?? '');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const spanned = await cli(['span', 'raycluster/auto', '-n', namespace, ...fleetArgs]);
    sampling = false;
    await sampler;
    expect(spanned.stderr).toBe('');
    expect(spanned.code).toBe(0);
    expect(spanned.stdout).toMatch(new RegExp(`^${pending.metadata?.name}\\s+gpu\\s+auto-gpu-worker-\\S+\\s+cloud$`, 'm'));

    const placeholder = await waitFor('the placeholder owned by the RayCluster', async () =>
      (await workersOf()).find((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder' && p.metadata.ownerReferences?.[0]?.controller),
    );
    const remote = await waitFor('the remote worker Running in cloud', async () => {
      const pod = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
      return pod.status?.phase === 'Running' ? pod : undefined;
    });
    expect(remote.metadata?.labels).toMatchObject({'ray.io/cluster': 'auto', 'ray.io/group': 'gpu', 'superskyray.io/role': 'remote-worker'});
    expect(remote.spec?.nodeName).toMatch(/^cloud-/);

    const copy = await cloud.get<KubeObject>(RESOURCES.services, 'auto-head-svc', namespace);
    expect(copy.metadata?.annotations).toMatchObject({'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'});
    const homeService = await onprem.get<KubeObject>(RESOURCES.services, 'auto-head-svc', namespace);
    expect(homeService.metadata?.annotations?.['service.cilium.io/global']).toBe('true');

    // Wait for KubeRay to reconcile the swapped state (it reports the Running placeholder as a ready
    // worker: 2, where it was 1 before), then look: nothing it ran was replaced or deleted.
    await waitFor('KubeRay to count the placeholder as a ready worker', async () => {
      const rc = await onprem.get<KubeObject & {status?: {readyWorkerReplicas?: number}}>(RESOURCES.rayclusters, 'auto', namespace);
      return rc.status?.readyWorkerReplicas === 2 ? true : undefined;
    });
    const after = await podsOf();
    const uids = (pods: Pod[]) => pods.filter((p) => !p.metadata?.labels?.['superskyray.io/role']).map((p) => p.metadata?.uid).sort();
    expect(uids(after)).toEqual(uids(running));
    expect(after.map((p) => p.metadata?.name).sort()).toEqual([...running.map((p) => p.metadata?.name), placeholder.metadata?.name].sort());
    // The only workers KubeRay's count ever saw: the running one, the Pending one, the placeholder.
    const runningWorkers = running.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker').map((p) => p.metadata?.name);
    expect([...seen.values()].sort()).toEqual([...runningWorkers, pending.metadata?.name, placeholder.metadata?.name].sort());
    console.log(`KubeRay's label count while the span ran: min ${Math.min(...counts)}, max ${Math.max(...counts)} over ${counts.length} samples`);
    expect(Math.min(...counts)).toBe(2);
  });

  it('without autoscaling, keeps the Pending worker as its own placeholder, so KubeRay never counts one too many', async () => {
    // Free onprem's one GPU from the test before.
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    await onprem.delete(RESOURCES.rayclusters, 'auto', namespace);
    await waitFor('the pods of the earlier RayCluster to be gone', async () =>
      (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=auto'})).items.length === 0 ? true : undefined,
    );
    const {podsOf, running, pending} = await placeAndGrow('manual', false);
    const workersOf = async () => (await podsOf()).filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker');

    const counts: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        counts.push((await workersOf()).length);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const result = await cli(['span', 'raycluster/manual', '-n', namespace, ...fleetArgs]);
    sampling = false;
    await sampler;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    // The Pending worker stays as it is, the same pod, labelled as the placeholder: counted by KubeRay.
    // It is not deleted: a deleted unscheduled pod is soon marked Failed, and KubeRay would stop
    // managing the worker group until it was gone.
    const held = await onprem.get<Pod>(RESOURCES.pods, pending.metadata?.name ?? '', namespace);
    expect(held.metadata?.uid).toBe(pending.metadata?.uid);
    expect(held.metadata?.deletionTimestamp).toBeUndefined();
    expect(held.metadata?.finalizers ?? []).toEqual([]);
    expect(held.metadata?.labels?.['superskyray.io/role']).toBe('placeholder');
    expect(held.spec?.nodeName).toBeUndefined();
    // Its remote twin runs in cloud under the same name.
    const remote = await waitFor('the remote worker Running in cloud', async () => {
      const pod = await cloud.get<Pod>(RESOURCES.pods, pending.metadata?.name ?? '', namespace);
      return pod.status?.phase === 'Running' ? pod : undefined;
    });
    expect(remote.spec?.nodeName).toMatch(/^cloud-/);

    // Prove KubeRay counts the held worker: ask for one more, and it makes exactly one more (it would
    // make two if it did not count it), deleting nothing.
    await onprem.patch(RESOURCES.rayclusters, 'manual', namespace, {spec: {workerGroupSpecs: [{...gpuApp('manual', false).spec.workerGroupSpecs[0], replicas: 3, maxReplicas: 3}]}}, 'merge');
    const added = await waitFor('the one worker KubeRay adds', async () => {
      const fresh = (await workersOf()).filter((p) => !running.some((r) => r.metadata?.uid === p.metadata?.uid) && p.metadata?.uid !== held.metadata?.uid);
      return fresh.length > 0 ? fresh : undefined;
    });
    const after = await podsOf();
    expect(added).toHaveLength(1);
    expect(after.filter((p) => p.metadata?.uid !== held.metadata?.uid).map((p) => p.metadata?.uid).sort()).toEqual(
      [...running.map((p) => p.metadata?.uid), added[0]!.metadata?.uid].sort(),
    );
    expect(after.some((p) => p.metadata?.uid === held.metadata?.uid)).toBe(true);
    console.log(`KubeRay's label count while the span ran (no autoscaler): min ${Math.min(...counts)}, max ${Math.max(...counts)} over ${counts.length} samples`);
    expect([Math.min(...counts), Math.max(...counts)]).toEqual([2, 2]);
  });
});
