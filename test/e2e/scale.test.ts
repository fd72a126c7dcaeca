import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import {isPodReady} from '../../src/placement/capacity.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, toolRequests, sampleKubeRayCount} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

type RayClusterObject = KubeObject & {
  metadata: {name: string};
  spec: {workerGroupSpecs: Array<{replicas: number; scaleStrategy?: {workersToDelete?: string[]}; template: {spec: {containers: Array<{resources: unknown}>}}}>};
};

/** The seed's manual-scaling app: 3-cpu workers, so that two fit onprem's 8 cpus beside the head and a third does not. */
function seedApp(name: string): RayClusterObject {
  const app = fixture<RayClusterObject>('raycluster-small.yaml');
  app.metadata.name = name;
  app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
  return app;
}

const role = (p: Pod) => p.metadata?.labels?.['superskyray.io/role'];

describe('kubectl superskyray scale: the seed\'s manual scaling past capacity', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'scale');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('spans a RayCluster 2 -> 3 with no restart and KubeRay\'s count at 3 throughout, then shrinks it back to one cluster', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const app = seedApp('seed');
    const file = path.join(tempDir(), 'seed.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(placed.stderr).toBe('');
    expect(placed.stdout).toContain('raycluster/seed placed on onprem');

    const homePods = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=seed'})).items;
    const before = await waitFor('the head and 2 workers Running on onprem', async () => {
      const pods = await homePods();
      return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running') ? pods : undefined;
    });
    const uids = (pods: Pod[]) => pods.map((p) => p.metadata?.uid).sort();

    // KubeRay's own count: pods with the group's labels, less those named in workersToDelete.
    const sampleCount = () => sampleKubeRayCount(onprem, namespace, 'seed');
    const stopGrowthSampler = sampleCount();
    const grown = await cli(['scale', 'raycluster/seed', '--replicas', '3', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs]);
    const {counts, locked} = await stopGrowthSampler();
    expect(grown.stderr).toBe('');
    expect(grown.code).toBe(0);
    expect(grown.stdout).toContain('raycluster/seed: worker group cpu 2 -> 3, grows across clusters (home onprem)');

    const after = await homePods();
    const placeholders = after.filter((p) => role(p) === 'placeholder');
    expect(placeholders).toHaveLength(1);
    const placeholder = placeholders[0]!;
    // Nothing that ran before was restarted or replaced, and it all still runs.
    expect(uids(after.filter((p) => role(p) === undefined))).toEqual(uids(before));
    expect(after.filter((p) => role(p) === undefined).every((p) => p.status?.phase === 'Running')).toBe(true);
    const remote = await waitFor('the remote worker Running on cloud', async () => {
      const pod = await cloud.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace);
      return pod.status?.phase === 'Running' ? pod : undefined;
    });
    expect(remote.metadata?.labels).toMatchObject({'ray.io/cluster': 'seed', 'ray.io/group': 'cpu', 'superskyray.io/role': 'remote-worker'});
    const copy = await cloud.get<KubeObject>(RESOURCES.services, 'seed-head-svc', namespace);
    expect(copy.metadata?.annotations).toMatchObject({'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'});
    expect((await onprem.get<KubeObject>(RESOURCES.services, 'seed-head-svc', namespace)).metadata?.annotations).toMatchObject({'service.cilium.io/global': 'true', 'superskyray.io/made-global': 'true'});
    const firstThree = counts.findIndex((c) => c === 3);
    console.log(`KubeRay's count while scale 2 -> 3 ran: ${counts.length} samples, ${counts.slice(0, firstThree).length} at 2 before the resize, then ${[...new Set(counts.slice(firstThree))].join(',')}; ${locked} more inside the swap's lock, where KubeRay does not count`);
    expect(firstThree).toBeGreaterThanOrEqual(0);
    expect(counts.slice(0, firstThree).every((c) => c === 2)).toBe(true);
    expect(counts.slice(firstThree).every((c) => c === 3)).toBe(true);

    // status shows it spanned: the home's 2 local workers and placeholder, the remote worker in cloud.
    const status = await cli(['status', 'raycluster/seed', '-n', namespace, ...fleetArgs]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^raycluster\/seed in \S+: spanned, home onprem/);
    expect(status.stdout).toMatch(/^onprem \(home\)\s+Ready\s+cpu\s+3\s+2\s+0\s+1\s+-$/m);
    expect(status.stdout).toMatch(/^cloud\s+Ready\s+cpu\s+-\s+-\s+-\s+-\s+1$/m);

    // The placeholder's readiness gate follows its remote worker, written by the tool's passes, and
    // scale without --wait may return before the remote worker is Ready: settle it first.
    const settled = await cli(['span', 'raycluster/seed', '--wait', '-n', namespace, ...fleetArgs]);
    expect(settled.code, settled.stderr).toBe(0);
    expect(isPodReady(await onprem.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace))).toBe(true);

    // The same commands again change nothing: not one write, in either cluster. Re-applying the
    // manifest (2 replicas) keeps the live 3 rather than shrinking the group behind KubeRay's back.
    const since = new Date().toISOString();
    const placeAgain = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(placeAgain.code).toBe(0);
    expect(placeAgain.stdout).toMatch(/^raycluster\/seed\s+onprem\s+unchanged$/m);
    const again = await cli(['scale', 'raycluster/seed', '--replicas', '3', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('worker group cpu 3 -> 3, keeps its size');
    const spanAgain = await cli(['span', 'raycluster/seed', '-n', namespace, ...fleetArgs]);
    expect(spanAgain.code).toBe(0);
    // Bad input is refused with one line and exit 2, and changes nothing either.
    const noGroup = await cli(['scale', 'seed', '--replicas', '4', '--worker-group', 'gpu', '-n', namespace, ...fleetArgs]);
    expect(noGroup.code).toBe(2);
    expect(noGroup.stderr).toBe('error: raycluster/seed in context "onprem" has no worker group "gpu" (it has cpu); pass one of those to --worker-group\n');
    const serveOnCluster = await cli(['scale', 'seed', '--serve', 'app.Model=2', '-n', namespace, ...fleetArgs]);
    expect(serveOnCluster.code).toBe(2);
    expect(serveOnCluster.stderr).toMatch(/^error: --serve applies to a RayService, and raycluster\/seed in context "onprem" is a RayCluster; drop --serve\n$/);
    for (const cluster of ['onprem', 'cloud']) expect(toolRequests(auditLog(cluster), since).writes).toEqual([]);

    // 3 -> 2: the remote worker goes first, with its copies; the local workers stay untouched.
    const stopShrinkSampler = sampleCount();
    const shrunk = await cli(['scale', 'raycluster/seed', '--replicas', '2', '-n', namespace, ...fleetArgs]);
    const {counts: shrinkCounts} = await stopShrinkSampler();
    console.log(`KubeRay's count while scale 3 -> 2 ran: ${shrinkCounts.length} samples, min ${Math.min(...shrinkCounts)}, max ${Math.max(...shrinkCounts)}`);
    expect(shrinkCounts.every((c) => c === 3 || c === 2)).toBe(true);
    expect(shrinkCounts.at(-1)).toBe(2);
    expect(shrunk.stderr).toBe('');
    expect(shrunk.code).toBe(0);
    expect(shrunk.stdout).toMatch(new RegExp(`^${placeholder.metadata?.name}\\s+remote$`, 'm'));
    const final = await homePods();
    expect(uids(final)).toEqual(uids(before));
    expect(final.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)).toBe(true);
    const rc = await onprem.get<RayClusterObject>(RESOURCES.rayclusters, 'seed', namespace);
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(2);
    expect(rc.spec.workerGroupSpecs[0]!.scaleStrategy?.workersToDelete ?? []).toEqual([]);
    const left = await Promise.all([
      cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=seed'}),
      cloud.list<KubeObject>(RESOURCES.services, {namespace, labelSelector: 'superskyray.io/group=seed'}),
      cloud.list<KubeObject>(RESOURCES.configmaps, {namespace, labelSelector: 'superskyray.io/group=seed'}),
    ]);
    expect(left.flatMap((l) => l.items.filter((o) => !o.metadata?.deletionTimestamp).map((o) => o.metadata?.name))).toEqual([]);
    // Back on one cluster, the head Service the tool made global is local again.
    const headService = await onprem.get<KubeObject>(RESOURCES.services, 'seed-head-svc', namespace);
    expect(headService.metadata?.annotations?.['service.cilium.io/global']).toBeUndefined();
    expect(headService.metadata?.annotations?.['superskyray.io/made-global']).toBeUndefined();
  });

  it('delete removes a spanned group and everything made for it, in both clusters', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    // The group before leaves onprem full; delete frees it (single-cluster: just the Ray object and its pods).
    const first = await cli(['delete', 'seed', '-n', namespace, ...fleetArgs]);
    expect(first.stdout).toBe('raycluster/seed deleted (onprem)\n');
    await waitFor('the pods of seed to be gone', async () =>
      (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=seed'})).items.length === 0 ? true : undefined,
    );
    const file = path.join(tempDir(), 'gone.yaml');
    fs.writeFileSync(file, yaml.dump(seedApp('gone')));
    expect((await cli(['place', '-f', file, '-n', namespace, ...fleetArgs])).code).toBe(0);
    const grown = await cli(['scale', 'gone', '--replicas', '3', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs]);
    expect(grown.stderr).toBe('');
    expect(grown.stdout).toContain('grows across clusters');
    await waitFor('the remote worker Running on cloud', async () => {
      const pods = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=gone'})).items;
      return pods.length === 1 && pods[0]!.status?.phase === 'Running' ? true : undefined;
    });
    // Growing again while spanned: KubeRay still manages the worker group (its placeholder is the
    // Pending pod itself, never deleted), makes the 4th worker, and that one spans too.
    const more = await cli(['scale', 'gone', '--replicas', '4', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs]);
    expect(more.stderr).toBe('');
    expect(more.stdout).toContain('worker group cpu 3 -> 4, grows across clusters');
    expect((await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=gone'})).items).toHaveLength(2);

    const dry = await cli(['delete', 'raycluster/gone', '--dry-run', '-n', namespace, ...fleetArgs]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^raycluster\/gone deleted \(onprem\) \(dry run\)$/m);
    await onprem.get(RESOURCES.rayclusters, 'gone', namespace);

    const removed = await cli(['delete', 'raycluster/gone', '-n', namespace, ...fleetArgs]);
    expect(removed.stderr).toBe('');
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^service\/gone-head-svc deleted \(cloud\)$/m);
    await waitFor('every pod and object of the group gone from both clusters', async () => {
      const lists = await Promise.all([
        onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=gone'}),
        onprem.list<KubeObject>(RESOURCES.rayclusters, {namespace}),
        cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=gone'}),
        cloud.list<KubeObject>(RESOURCES.services, {namespace, labelSelector: 'superskyray.io/group=gone'}),
        onprem.list<KubeObject>(RESOURCES.leases, {namespace}),
      ]);
      const left = lists.flatMap((l) => l.items.filter((o) => o.metadata?.name === 'gone' || o.metadata?.labels?.['ray.io/cluster'] === 'gone' || o.metadata?.labels?.['superskyray.io/group'] === 'gone' || o.metadata?.name?.includes('gone')));
      return left.length === 0 ? true : undefined;
    });
    const again = await cli(['delete', 'raycluster/gone', '-n', namespace, ...fleetArgs]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^error: group "gone" is not placed in namespace/);
  });

  it('relocates the group whole to cloud when the policy allows and cloud fits it, make before break', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const file = path.join(tempDir(), 'move.yaml');
    fs.writeFileSync(file, yaml.dump(seedApp('move')));
    expect((await cli(['place', '-f', file, '-n', namespace, ...fleetArgs])).stdout).toContain('raycluster/move placed on onprem');
    await waitFor('move Running on onprem', async () => {
      const pods = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=move'})).items;
      return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running') ? true : undefined;
    });

    const dry = await cli(['scale', 'move', '--replicas', '3', '--dry-run', '-o', 'wide', '-n', namespace, ...fleetArgs]);
    expect(dry.stdout).toContain('raycluster/move would move whole from onprem to cloud, make before break');
    expect(dry.stdout).toMatch(/cloud fits the whole group, so it moves there/);

    // Watch both clusters: the old home may go only once the new one is ready.
    type Rc = KubeObject & {status?: {state?: string}};
    let readyAt: number | undefined;
    let goneAt: number | undefined;
    let watching = true;
    const gone = async () => {
      const here = await onprem.find<Rc>(RESOURCES.rayclusters, 'move', namespace);
      if (goneAt === undefined && (!here || here.metadata?.deletionTimestamp)) goneAt = Date.now();
    };
    const watcher = (async () => {
      while (watching) {
        const there = await cloud.find<Rc>(RESOURCES.rayclusters, 'move', namespace);
        if (readyAt === undefined && there?.status?.state === 'ready') readyAt = Date.now();
        await gone();
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      // The delete can land in the last few ms of the command, between two looks: one more look at
      // the old home (readiness must still have been seen while the command ran).
      await gone();
    })();
    const moved = await cli(['scale', 'move', '--replicas', '3', '-n', namespace, ...fleetArgs]);
    watching = false;
    await watcher;
    expect(moved.stderr).toBe('');
    expect(moved.code).toBe(0);
    expect(moved.stdout).toContain('raycluster/move moved whole from onprem to cloud, make before break');
    expect(readyAt).toBeDefined();
    expect(goneAt).toBeDefined();
    console.log(`relocation: cloud ready ${goneAt! - readyAt!} ms before onprem's RayCluster went`);
    expect(readyAt!).toBeLessThanOrEqual(goneAt!);

    const there = await cloud.get<RayClusterObject>(RESOURCES.rayclusters, 'move', namespace);
    expect(there.spec.workerGroupSpecs[0]!.replicas).toBe(3);
    expect(there.metadata?.annotations?.['superskyray.io/relocated-from']).toBeUndefined();
    const pods = (await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=move'})).items;
    expect(pods.filter((p) => p.status?.phase === 'Running')).toHaveLength(4);
    await waitFor('nothing of move left on onprem', async () =>
      (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=move'})).items.length === 0 ? true : undefined,
    );
    const status = await cli(['scale', 'move', '--replicas', '3', '-n', namespace, ...fleetArgs]);
    expect(status.stdout).toContain('raycluster/move: worker group cpu 3 -> 3, keeps its size (home cloud)');
  });
});
