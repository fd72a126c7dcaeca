import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../../src/kube/fleet.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {cli, startWatch} from '../../support/cli.js';
import {removeNamespace, testFleet} from '../../support/e2e.js';
import {tempDir} from '../../support/kubeconfig.js';
import {waitFor} from '../../support/poll.js';
import {aliveNodes, podMemory, rayNodes} from '../../support/ray.js';
import {dataPlaneNamespace, realRayFixture} from './support.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

type RayCluster = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

/** Two 3-cpu workers fit onprem beside the head; a third does not. */
function seedCluster(): RayCluster {
  const [cluster] = realRayFixture('raycluster-real.yaml') as RayCluster[];
  const group = cluster!.spec.workerGroupSpecs[0]!;
  group.replicas = 2;
  group.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '2Gi'}, limits: {cpu: '3', memory: '2Gi'}};
  return cluster!;
}

const workers = (c: {list: Fleet['clusters'][number]['list']}, namespace: string) =>
  c.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=real,ray.io/node-type=worker'}).then((l) => l.items);

/**
 * Both mesh modes on real Ray: the remote worker reaches the head through the head-Service copy, by
 * Cilium's EndpointSlice sync of global Services (test/env's stand-in) or by the tool's own
 * EndpointSlice. Then the head pod is deleted: KubeRay makes a new one, with a new IP, and the remote
 * worker (or its replacement) joins it, with a `watch` running as a user would have it.
 */
describe.each(['cilium', 'endpoints'])('--mesh %s on real Ray', (mesh) => {
  let fleet: Fleet;
  let namespace: string;
  let watch: ReturnType<typeof startWatch> | undefined;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await dataPlaneNamespace(fleet, `mesh-${mesh}`);
  });
  afterAll(async () => {
    if (watch && watch.child.exitCode === null) {
      watch.child.kill('SIGINT');
      await watch.exited;
    }
    await removeNamespace(fleet, namespace);
  });

  it('joins the spanned worker to the head, and again to the head KubeRay recreates after its pod is deleted', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const file = path.join(tempDir(), 'real.yaml');
    fs.writeFileSync(file, yaml.dump(seedCluster()));
    const placed = await cli(['place', '-f', file, '-n', namespace, '--mesh', mesh, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    const gcs = `real-head-svc.${namespace}.svc.cluster.local:6379`;
    await aliveNodes('onprem', gcs, 3);

    const grown = await cli(['scale', 'raycluster/real', '--replicas', '3', '-n', namespace, ...fleetArgs]);
    expect(grown.code, grown.stdout + grown.stderr).toBe(0);
    const remote = await waitFor('the remote worker with an IP in cloud', async () => (await workers(cloud, namespace)).find((p) => p.status?.podIP));
    const joined = await waitFor('the remote worker ALIVE in the head\'s node table', async () => {
      const nodes = await rayNodes('onprem', gcs).catch(() => []);
      return nodes.find((n) => n.state === 'ALIVE' && n.instanceId === remote.metadata?.name);
    }, {timeoutMs: 180_000, intervalMs: 1000});
    expect(joined.ip).toBe(remote.status?.podIP);
    // The head's address, as the remote worker's cluster resolves it, is the home head pod's.
    const [oldHead] = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=real,ray.io/node-type=head'})).items;
    const fromCloud = await rayNodes('cloud', gcs);
    expect(fromCloud.find((n) => n.nodeType === 'headgroup' && n.state === 'ALIVE')?.ip).toBe(oldHead!.status?.podIP);
    for (const [pod, mib] of Object.entries(podMemory(namespace))) process.stdout.write(`--mesh ${mesh}: pod ${pod}: ${mib} MiB PSS\n`);

    watch = startWatch(['real', '-n', namespace, ...fleetArgs]);
    await waitFor('watch to report the group', () => (watch!.lines.some((l) => l.includes(`${namespace}/raycluster/real`)) ? true : undefined), {timeoutMs: 30_000});

    // KWOK hands a pod any address freed before it, the old head's included: with a few more freed
    // first, and the head deleted again while its successor got the old address, the new head gets
    // an address of its own, as in a cluster whose CNI does not reuse one at once.
    await freeSomeAddresses(onprem, namespace);
    const deleted = Date.now();
    let newHead: Pod | undefined;
    let gone = oldHead!;
    for (let attempt = 0; attempt < 6 && (!newHead || newHead.status?.podIP === oldHead!.status?.podIP); attempt++) {
      await onprem.delete(RESOURCES.pods, gone.metadata!.name!, namespace);
      const previous = gone;
      newHead = await waitFor('KubeRay\'s new head pod, with its IP', async () => {
        const heads = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=real,ray.io/node-type=head'})).items;
        return heads.find((h) => h.metadata?.uid !== previous.metadata?.uid && h.status?.podIP && !h.metadata?.deletionTimestamp);
      }, {timeoutMs: 60_000});
      gone = newHead;
    }
    expect(newHead!.status?.podIP, 'the new head has an address of its own').not.toBe(oldHead!.status?.podIP);
    const rejoined = await waitFor('a worker in cloud ALIVE in the new head\'s node table', async () => {
      const nodes = await rayNodes('onprem', gcs).catch(() => []);
      const inCloud = new Set((await workers(cloud, namespace)).map((p) => p.metadata?.name));
      const head = nodes.find((n) => n.nodeType === 'headgroup' && n.state === 'ALIVE');
      return head?.instanceId === newHead!.metadata?.name ? nodes.find((n) => n.state === 'ALIVE' && inCloud.has(n.instanceId)) : undefined;
    }, {timeoutMs: 120_000, intervalMs: 2000});
    const rejoinMs = Date.now() - deleted;
    process.stdout.write(
      `--mesh ${mesh}: head ${oldHead!.status?.podIP} -> ${newHead!.status?.podIP}; remote worker ${rejoined.instanceId} ALIVE on the new head ${rejoinMs} ms after the delete\n`,
    );
    expect(rejoinMs).toBeLessThanOrEqual(120_000);
    // Seen from cloud too: its copy of the head Service now leads to the new head.
    const fromCloudAfter = await rayNodes('cloud', gcs);
    expect(fromCloudAfter.find((n) => n.nodeType === 'headgroup' && n.state === 'ALIVE')?.instanceId).toBe(newHead!.metadata?.name);
  }, 600_000);
});

/** Runs and deletes a few plain pods (no Ray: the data plane leaves them to KWOK), so that KWOK has freed addresses to hand out. */
async function freeSomeAddresses(cluster: Fleet['clusters'][number], namespace: string): Promise<void> {
  const names = ['spare-a', 'spare-b', 'spare-c', 'spare-d'];
  for (const name of names) {
    await cluster.create(RESOURCES.pods, {apiVersion: 'v1', kind: 'Pod', metadata: {name}, spec: {containers: [{name: 'c', image: 'registry.k8s.io/pause:3.10', resources: {requests: {cpu: '1m', memory: '4Mi'}}}]}}, {namespace});
  }
  await waitFor('the spare pods to get addresses', async () => {
    const pods = (await cluster.list<Pod>(RESOURCES.pods, {namespace})).items.filter((p) => names.includes(p.metadata?.name ?? ''));
    return pods.length === names.length && pods.every((p) => p.status?.podIP) ? true : undefined;
  }, {timeoutMs: 60_000});
  for (const name of names) await cluster.delete(RESOURCES.pods, name, namespace);
  await waitFor('the spare pods gone', async () => {
    const pods = (await cluster.list<Pod>(RESOURCES.pods, {namespace})).items.filter((p) => names.includes(p.metadata?.name ?? ''));
    return pods.length === 0 ? true : undefined;
  }, {timeoutMs: 60_000});
}
