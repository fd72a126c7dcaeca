import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {auditLog} from '../support/backend.js';
import {deletePlaced, fixture, freshNamespace, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
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



  it.each([
    {mode: 'with in-tree autoscaling', name: 'auto', autoscaling: true},
    {mode: 'without autoscaling', name: 'manual', autoscaling: false},
  ])('$mode: swaps the Pending worker for a Running placeholder under KubeRay\'s group lock; nothing it ran is touched, nothing extra is made, and the placeholder is Ready once its remote worker is', async ({name, autoscaling}) => {
    const cloud = fleet.cluster('cloud');
    if (!autoscaling) await deletePlaced(fleet, namespace, 'auto', fleetArgs);
    const {podsOf, running, pending, onprem} = await placeAndGrow(name, autoscaling);
    const workersOf = async () => (await podsOf()).filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker');

    // Sample KubeRay's count every 20 ms while the span runs: every pod with the group's labels (the
    // count KubeRay acts on, Terminating ones included), the live ones, and every pod ever seen.
    const seen = new Map<string, Pod>();
    const samples: Array<{all: number; live: number; locked: boolean}> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pods = await workersOf();
        const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
        samples.push({all: pods.length, live: live.length, locked: pods.some((p) => p.metadata?.uid === pending.metadata?.uid && p.metadata?.deletionTimestamp)});
        for (const p of pods) if (!seen.has(p.metadata?.uid ?? '') || p.metadata?.deletionTimestamp) seen.set(p.metadata?.uid ?? '', p);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const spanned = await cli(['span', `raycluster/${name}`, '-n', namespace, '--wait', ...fleetArgs]);
    sampling = false;
    await sampler;
    expect(spanned.stderr).toBe('');
    expect(spanned.code).toBe(0);
    const line = new RegExp(`^${pending.metadata?.name}\\s+gpu\\s+(${name}-gpu-worker-\\S+)\\s+cloud$`, 'm').exec(spanned.stdout);
    expect(line, spanned.stdout).not.toBeNull();
    const placeholderName = line![1]!;

    // The Pending worker is gone, and nothing of the swap is left on any pod.
    expect(await onprem.find(RESOURCES.pods, pending.metadata?.name ?? '', namespace)).toBeUndefined();
    const after = await podsOf();
    expect(after.flatMap((p) => p.metadata?.finalizers ?? [])).toEqual([]);
    const placeholder = after.find((p) => p.metadata?.name === placeholderName)!;
    expect(placeholder.metadata?.labels).toMatchObject({'ray.io/cluster': name, 'ray.io/group': 'gpu', 'superskyray.io/role': 'placeholder'});
    expect(placeholder.metadata?.ownerReferences).toEqual([expect.objectContaining({kind: 'RayCluster', name, controller: true})]);
    expect(placeholder.metadata?.annotations).toMatchObject({'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false', 'karpenter.sh/do-not-disrupt': 'true'});
    // Bound at once to a home node, never in the scheduler's queue, and Ready through its gate.
    expect(placeholder.spec?.nodeName).toMatch(/^onprem-/);
    expect(placeholder.status?.conditions).toEqual(expect.not.arrayContaining([expect.objectContaining({type: 'PodScheduled', status: 'False'})]));
    expect(placeholder.status?.conditions).toEqual(
      expect.arrayContaining([expect.objectContaining({type: 'Ready', status: 'True'}), expect.objectContaining({type: 'superskyray.io/remote-worker-ready', status: 'True'})]),
    );
    const remote = await cloud.get<Pod>(RESOURCES.pods, placeholderName, namespace);
    expect(remote.status?.phase).toBe('Running');
    expect(remote.metadata?.labels).toMatchObject({'ray.io/cluster': name, 'ray.io/group': 'gpu', 'superskyray.io/role': 'remote-worker'});
    expect(remote.metadata?.annotations?.['superskyray.io/swap-to']).toBeUndefined();
    expect(remote.spec?.nodeName).toMatch(/^cloud-/);
    const copy = await cloud.get<KubeObject>(RESOURCES.services, `${name}-head-svc`, namespace);
    expect(copy.metadata?.annotations).toMatchObject({'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'});

    // KubeRay counts the placeholder as a ready worker, and the cluster stays ready.
    const rc = await waitFor('KubeRay to count the placeholder as a ready worker', async () => {
      const o = await onprem.get<KubeObject & {status?: {readyWorkerReplicas?: number; state?: string; conditions?: Array<{type: string; status: string}>}}>(RESOURCES.rayclusters, name, namespace);
      return o.status?.readyWorkerReplicas === 2 ? o : undefined;
    });
    expect(rc.status?.state).toBe('ready');
    expect(rc.status?.conditions).toEqual(expect.arrayContaining([expect.objectContaining({type: 'RayClusterProvisioned', status: 'True'})]));

    // Nothing it ran was touched, and the only pods KubeRay's count ever held: the running ones, the
    // Pending one, and the placeholder. The running ones were never deleted.
    const uids = (pods: Pod[]) => pods.filter((p) => !p.metadata?.labels?.['superskyray.io/role']).map((p) => p.metadata?.uid).sort();
    expect(uids(after)).toEqual(uids(running));
    const runningWorkers = running.filter((p) => p.metadata?.labels?.['ray.io/node-type'] === 'worker');
    expect([...seen.values()].map((p) => p.metadata?.name).sort()).toEqual([...runningWorkers.map((p) => p.metadata?.name), pending.metadata?.name, placeholderName].sort());
    for (const w of runningWorkers) expect(seen.get(w.metadata?.uid ?? '')?.metadata?.deletionTimestamp).toBeUndefined();
    const all = samples.map((s) => s.all);
    const live = samples.map((s) => s.live);
    console.log(
      `${name}: KubeRay's count while the span ran, over ${samples.length} samples 20 ms apart: all pods min ${Math.min(...all)} max ${Math.max(...all)}; ` +
        `live pods min ${Math.min(...live)} max ${Math.max(...live)}; ${samples.filter((s) => s.locked).length} samples inside the lock, ` +
        `${samples.filter((s) => s.live < 2).length} with one live pod too few`,
    );
    // One pod over replicas only while KubeRay has the group locked (the Pending worker Terminating).
    expect(samples.filter((s) => s.all > 2 && !s.locked)).toEqual([]);
    expect(Math.max(...all)).toBeLessThanOrEqual(3);
    expect(Math.min(...all)).toBe(2);

    // KubeRay manages the group on after the swap: asked for one more, it makes exactly one, deleting nothing.
    await onprem.patch(RESOURCES.rayclusters, name, namespace, {spec: {workerGroupSpecs: [{...gpuApp(name, autoscaling).spec.workerGroupSpecs[0], replicas: 3, maxReplicas: 3}]}}, 'merge');
    const added = await waitFor('the one worker KubeRay adds', async () => {
      const fresh = (await workersOf()).filter((p) => !after.some((a) => a.metadata?.uid === p.metadata?.uid));
      return fresh.length > 0 ? fresh : undefined;
    });
    expect(added).toHaveLength(1);
    const grown = await podsOf();
    expect(grown.map((p) => p.metadata?.uid).sort()).toEqual([...after.map((p) => p.metadata?.uid), added[0]!.metadata?.uid].sort());
  });

  it('a 2-host worker group moves by whole replicas: a host whose replica runs at home stays there, a replica all Pending goes to one cluster', async () => {
    await deletePlaced(fleet, namespace, 'manual', fleetArgs);
    const onprem = fleet.cluster('onprem');
    const app = gpuApp('slice', false);
    // Placed with no replica, then grown to one replica of two hosts of one GPU each: onprem's one
    // GPU runs the first, and cloud would have room for the second.
    Object.assign(app.spec.workerGroupSpecs[0]!, {replicas: 0, numOfHosts: 2});
    const file = path.join(tempDir(), 'slice.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    expect((await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', ...fleetArgs])).code).toBe(0);
    await onprem.patch(RESOURCES.rayclusters, 'slice', namespace, {spec: {workerGroupSpecs: [{...app.spec.workerGroupSpecs[0], replicas: 1}]}}, 'merge');
    const pending = await waitFor('one host Pending, unschedulable', async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=slice'})).items.find(PENDING));
    const since = new Date().toISOString();
    const spanned = await cli(['span', 'raycluster/slice', '-n', namespace, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    expect(spanned.stdout).toContain(`${pending.metadata?.name} stays at home: worker group gpu is multi-host (numOfHosts 2), and the other hosts of its replica run at home`);
    for (const context of ['onprem', 'cloud']) expect(toolRequests(auditLog(context), since).writes).toEqual([]);
    const cloud = fleet.cluster('cloud');
    expect((await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=slice'})).items).toEqual([]);

    // A second replica: its two hosts are Pending too, and go together to cloud (two nodes of one
    // GPU each); the host of the first replica still stays.
    await onprem.patch(RESOURCES.rayclusters, 'slice', namespace, {spec: {workerGroupSpecs: [{...app.spec.workerGroupSpecs[0], replicas: 2}]}}, 'merge');
    await waitFor('three hosts Pending, unschedulable', async () => ((await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=slice'})).items.filter(PENDING).length === 3 ? true : undefined));
    const whole = await cli(['span', 'raycluster/slice', '--wait', '-n', namespace, ...fleetArgs]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stdout).toMatch(/stays at home: worker group gpu is multi-host \(numOfHosts 2\), and the other hosts of its replica run at home/);
    const remote = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=slice'})).items;
    expect(remote, whole.stdout).toHaveLength(2);
    expect(remote.every((p) => p.metadata?.labels?.['superskyray.io/role'] === 'remote-worker' && p.status?.phase === 'Running')).toBe(true);
    const home = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=slice,ray.io/node-type=worker'})).items;
    expect(home.filter((p) => p.metadata?.labels?.['superskyray.io/role'] === 'placeholder').map((p) => p.metadata?.name).sort()).toEqual(remote.map((p) => p.metadata?.name).sort());
    // Without KubeRay's replica labels the hosts are alike: which one stays does not matter, one does.
    const stays = home.filter(PENDING);
    expect(stays).toHaveLength(1);
    expect(whole.stdout).toContain(`${stays[0]!.metadata?.name} stays at home`);
  });
});
