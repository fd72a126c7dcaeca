import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {ciliumHeadServiceCopy, placeholderName, placeholderPod, remoteWorkerPod, workerGroupTemplate} from '../../src/kuberay/swap.js';
import {fixture, freshNamespace, removeNamespace, testFleet} from '../support/e2e.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');

/**
 * The swap's objects, built from a worker the real KubeRay operator made and the real scheduler
 * could not place, are accepted by real API servers: the placeholder at home (server-side dry run,
 * since a real one would change KubeRay's count), the remote worker and the head-Service copy in the
 * other cluster for real, where the remote worker runs.
 */
describe('the objects of the swap, against real API servers', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'swap');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('are valid where they go, and the remote worker runs in the other cluster', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const app = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}}>(
      'raycluster-small.yaml',
    );
    app.metadata.name = 'swapme';
    app.spec.workerGroupSpecs[0]!.replicas = 1;
    // A worker only cloud's nodes can take: the scheduler leaves it Pending at home.
    const template = app.spec.workerGroupSpecs[0]!.template as {spec: {containers: Array<{resources: unknown}>; nodeSelector?: Record<string, string>}};
    template.spec.containers[0]!.resources = {requests: {cpu: '1', 'nvidia.com/gpu': '1'}, limits: {cpu: '1', 'nvidia.com/gpu': '1'}};
    template.spec.nodeSelector = {'superskyray.io/test-cluster': 'cloud'};
    const rayCluster = await onprem.create(RESOURCES.rayclusters, app, {namespace});

    const pending = await waitFor('a worker the scheduler could not place', async () => {
      const pods = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=swapme,ray.io/node-type=worker'});
      return pods.items.find((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'));
    });
    const head = await onprem.get<KubeObject>(RESOURCES.services, 'swapme-head-svc', namespace);
    const [homeId, remoteId] = await Promise.all([onprem, cloud].map(async (c) => (await c.get(RESOURCES.namespaces, 'kube-system')).metadata?.uid ?? ''));
    const ctx = {group: 'swapme', homeClusterId: homeId!, remoteClusterId: remoteId!, rayCluster: {name: 'swapme', uid: rayCluster.metadata?.uid ?? ''}};
    const name = placeholderName(pending.metadata?.generateName ?? '', Math.random);

    const node = (await onprem.list<KubeObject>(RESOURCES.nodes)).items[0]!.metadata!.name!;
    const placeholder = await onprem.create(RESOURCES.pods, placeholderPod(pending, name, ctx, node), {namespace, dryRun: true});
    expect(placeholder.metadata?.name).toBe(name);

    await cloud.create(RESOURCES.services, ciliumHeadServiceCopy(head, ctx), {namespace});
    await cloud.create(RESOURCES.pods, remoteWorkerPod(pending, workerGroupTemplate(rayCluster.spec, 'cpu')!, name, ctx), {namespace});
    const running = await waitFor('the remote worker Running in cloud', async () => {
      const pod = await cloud.get<Pod>(RESOURCES.pods, name, namespace);
      return pod.status?.phase === 'Running' ? pod : undefined;
    });
    expect(running.spec?.nodeName).toMatch(/^cloud-/);
    // An address of cloud's own pods (cluster 1 of the fleet), as both backends give them.
    expect(running.status?.podIP).toMatch(/^10\.101\.\d+\.\d+$/);
    // The home cluster is untouched: KubeRay still has exactly its one Pending worker.
    const home = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=swapme,ray.io/node-type=worker'});
    expect(home.items.map((p) => p.metadata?.name)).toEqual([pending.metadata?.name]);
  });
});
