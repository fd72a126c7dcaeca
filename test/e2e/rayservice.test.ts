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

type WorkerGroup = {replicas: number; scaleStrategy?: {workersToDelete?: string[]}; template: {spec: {containers: Array<{resources: unknown}>}}};
type ClusterSpec = {workerGroupSpecs: WorkerGroup[]};
type RayClusterObject = KubeObject & {metadata: {name: string; uid?: string}; spec: ClusterSpec};
type RayServiceObject = KubeObject & {
  metadata: {name: string};
  spec: {serveConfigV2: string; rayClusterConfig: ClusterSpec};
  status?: {activeServiceStatus?: {rayClusterName?: string}; pendingServiceStatus?: {rayClusterName?: string}};
};

/**
 * The seed's manual-scaling app as a RayService: the cluster of raycluster-small.yaml with 3-cpu
 * workers (two fit onprem's 8 cpus beside the head, a third does not), serving one application.
 */
function seedService(name: string): RayServiceObject {
  const cluster = fixture<RayClusterObject>('raycluster-small.yaml');
  cluster.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
  return {
    apiVersion: 'ray.io/v1',
    kind: 'RayService',
    metadata: {name},
    spec: {
      serveConfigV2: yaml.dump({
        applications: [{name: 'app', import_path: 'app:graph', route_prefix: '/', deployments: [{name: 'Model', num_replicas: 1}]}],
      }),
      rayClusterConfig: cluster.spec,
    },
  };
}

const role = (p: Pod) => p.metadata?.labels?.['superskyray.io/role'];

/**
 * What KubeRay v1.5.0 does with a RayService here (fake KWOK pods run no Ray): it names a pending
 * RayCluster `<service>-<5 chars>` in status.pendingServiceStatus and creates it; Serve never
 * answers (the dashboard cannot be reached), so that cluster is never promoted to active, and the
 * operator keeps it, the same object, for as long as the RayService lives. Replicas are left out of
 * KubeRay's spec hash, so editing them in rayClusterConfig neither updates nor replaces it.
 */
describe('kubectl superskyray scale: the seed\'s manual scaling past capacity, for a RayService', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'rayservice');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('spans a RayService\'s live RayCluster 2 -> 3 with no restart and KubeRay\'s count at 3, then shrinks it back to one cluster', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const file = path.join(tempDir(), 'svc.yaml');
    fs.writeFileSync(file, yaml.dump(seedService('svc')));
    const placed = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(placed.stderr).toBe('');
    expect(placed.stdout).toContain('rayservice/svc placed on onprem');

    const service = () => onprem.get<RayServiceObject>(RESOURCES.rayservices, 'svc', namespace);
    const liveName = await waitFor('KubeRay to name the RayService\'s pending RayCluster', async () => (await service()).status?.pendingServiceStatus?.rayClusterName || undefined);
    expect(liveName).toMatch(/^svc-[a-z0-9]{5}$/);
    const live = await waitFor(`raycluster/${liveName} to exist`, () => onprem.get<RayClusterObject>(RESOURCES.rayclusters, liveName, namespace));
    const liveUid = live.metadata.uid;
    expect(live.metadata.ownerReferences?.[0]).toMatchObject({kind: 'RayService', name: 'svc', controller: true});

    const homePods = async () => (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${liveName}`})).items;
    const before = await waitFor('the head and 2 workers Running on onprem', async () => {
      const pods = await homePods();
      return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running') ? pods : undefined;
    });
    const uids = (pods: Pod[]) => pods.map((p) => p.metadata?.uid).sort();

    // KubeRay's own count: the live cluster's worker pods, less those named in workersToDelete.
    const sampleCount = () => sampleKubeRayCount(onprem, namespace, liveName);
    // Kept running until the shrink: the count must stay at 3 while the group is spanned, not only while the command runs.
    const stopGrowthSampler = sampleCount();
    const grown = await cli(['scale', 'rayservice/svc', '--replicas', '3', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs]);
    expect(grown.stderr).toBe('');
    expect(grown.code).toBe(0);
    expect(grown.stdout).toContain('rayservice/svc: worker group cpu 2 -> 3, grows across clusters (home onprem)');

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
    expect(remote.metadata?.labels).toMatchObject({'ray.io/cluster': liveName, 'ray.io/group': 'cpu', 'superskyray.io/role': 'remote-worker', 'superskyray.io/group': 'svc'});
    // Workers dial the live RayCluster's head Service, not the RayService's own <service>-head-svc.
    const copy = await cloud.get<KubeObject>(RESOURCES.services, `${liveName}-head-svc`, namespace);
    expect(copy.metadata?.annotations).toMatchObject({'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'});
    expect(await cloud.find<KubeObject>(RESOURCES.services, 'svc-head-svc', namespace)).toBeUndefined();

    // Both objects hold the new size: the live RayCluster, and the RayService's own cluster spec.
    expect((await onprem.get<RayClusterObject>(RESOURCES.rayclusters, liveName, namespace)).spec.workerGroupSpecs[0]!.replicas).toBe(3);
    expect((await service()).spec.rayClusterConfig.workerGroupSpecs[0]!.replicas).toBe(3);

    // The placeholder's readiness gate follows its remote worker, written by the tool's passes, and
    // scale without --wait may return before the remote worker is Ready: settle it first.
    const settled = await cli(['span', 'rayservice/svc', '--wait', '-n', namespace, ...fleetArgs]);
    expect(settled.code, settled.stderr).toBe(0);
    expect(isPodReady(await onprem.get<Pod>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace))).toBe(true);

    // The same command again changes nothing: not one write, in either cluster.
    const since = new Date().toISOString();
    const again = await cli(['scale', 'rayservice/svc', '--replicas', '3', '--skip-capacity-relocate', '-n', namespace, ...fleetArgs]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('worker group cpu 3 -> 3, keeps its size');
    const spanAgain = await cli(['span', 'rayservice/svc', '-n', namespace, ...fleetArgs]);
    expect(spanAgain.code).toBe(0);
    for (const cluster of ['onprem', 'cloud']) expect(toolRequests(auditLog(cluster), since).writes).toEqual([]);

    const {counts, locked} = await stopGrowthSampler();
    const firstThree = counts.findIndex((c) => c === 3);
    console.log(`KubeRay's count from scale 2 -> 3 until the shrink: ${counts.length} samples, ${counts.slice(0, firstThree).length} at 2 before the resize, then ${[...new Set(counts.slice(firstThree))].join(',')}; ${locked} more inside the swap's lock, where KubeRay does not count`);
    expect(firstThree).toBeGreaterThanOrEqual(0);
    expect(counts.slice(0, firstThree).every((c) => c === 2)).toBe(true);
    expect(counts.slice(firstThree).every((c) => c === 3)).toBe(true);

    // 3 -> 2: the remote worker goes first, with its copies; the local workers stay untouched.
    const stopShrinkSampler = sampleCount();
    const shrunk = await cli(['scale', 'rayservice/svc', '--replicas', '2', '-n', namespace, ...fleetArgs]);
    const {counts: shrinkCounts} = await stopShrinkSampler();
    console.log(`KubeRay's count while scale 3 -> 2 ran: ${shrinkCounts.length} samples, min ${Math.min(...shrinkCounts)}, max ${Math.max(...shrinkCounts)}`);
    expect(shrinkCounts.every((c) => c === 3 || c === 2)).toBe(true);
    expect(shrinkCounts.at(-1)).toBe(2);
    expect(shrunk.stderr).toBe('');
    expect(shrunk.code).toBe(0);
    expect(shrunk.stdout).toContain('rayservice/svc: worker group cpu 3 -> 2');
    expect(shrunk.stdout).toMatch(new RegExp(`^${placeholder.metadata?.name}\\s+remote$`, 'm'));
    const final = await homePods();
    expect(uids(final)).toEqual(uids(before));
    expect(final.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)).toBe(true);
    const rc = await onprem.get<RayClusterObject>(RESOURCES.rayclusters, liveName, namespace);
    expect(rc.spec.workerGroupSpecs[0]!.replicas).toBe(2);
    expect(rc.spec.workerGroupSpecs[0]!.scaleStrategy?.workersToDelete ?? []).toEqual([]);
    const own = await service();
    expect(own.spec.rayClusterConfig.workerGroupSpecs[0]!.replicas).toBe(2);
    // workersToDelete names pods of the live cluster only; it never goes into the RayService.
    expect(own.spec.rayClusterConfig.workerGroupSpecs[0]!.scaleStrategy?.workersToDelete ?? []).toEqual([]);
    const left = await Promise.all([
      cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=svc'}),
      cloud.list<KubeObject>(RESOURCES.services, {namespace, labelSelector: 'superskyray.io/group=svc'}),
      cloud.list<KubeObject>(RESOURCES.configmaps, {namespace, labelSelector: 'superskyray.io/group=svc'}),
    ]);
    expect(left.flatMap((l) => l.items.filter((o) => !o.metadata?.deletionTimestamp).map((o) => o.metadata?.name))).toEqual([]);

    // Throughout, KubeRay kept the one RayCluster it made: same object, still the RayService's.
    const clusters = (await onprem.list<RayClusterObject>(RESOURCES.rayclusters, {namespace})).items;
    expect(clusters.map((c) => `${c.metadata.name}/${c.metadata.uid}`)).toEqual([`${liveName}/${liveUid}`]);
    const status = own.status;
    expect(status?.pendingServiceStatus?.rayClusterName || status?.activeServiceStatus?.rayClusterName).toBe(liveName);
  });

  it('scale --serve alone changes num_replicas and says so: action serve, the change from -> to, the dry run, an Event', async () => {
    const onprem = fleet.cluster('onprem');
    const since = new Date().toISOString();
    const dry = await cli(['scale', 'rayservice/svc', '--serve', 'app.Model=3', '--dry-run', '-o', 'json', '-n', namespace, ...fleetArgs]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({action: 'serve', dryRun: true, serve: [{app: 'app', deployment: 'Model', from: 1, to: 3}]});
    const table = await cli(['scale', 'rayservice/svc', '--serve', 'app.Model=3', '--dry-run', '-n', namespace, ...fleetArgs]);
    expect(table.stdout).toContain('rayservice/svc: Serve deployment app.Model num_replicas 1 -> 3 (would be set)');
    expect(toolRequests(auditLog('onprem'), since).writes).toEqual([]);

    const done = await cli(['scale', 'rayservice/svc', '--serve', 'app.Model=3', '-o', 'json', '-n', namespace, ...fleetArgs]);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({action: 'serve', serve: [{app: 'app', deployment: 'Model', from: 1, to: 3}]});
    const config = yaml.load((await onprem.get<RayServiceObject>(RESOURCES.rayservices, 'svc', namespace)).spec.serveConfigV2) as {applications: Array<{deployments: Array<{num_replicas: number}>}>};
    expect(config.applications[0]!.deployments[0]!.num_replicas).toBe(3);
    const events = await onprem.list<KubeObject & {message?: string; involvedObject?: {kind?: string}}>(RESOURCES.events, {namespace, fieldSelector: 'reason=Scaled'});
    expect(events.items.filter((e) => e.involvedObject?.kind === 'RayService').map((e) => e.message)).toContain('Serve num_replicas app.Model 1 -> 3');
  });
});

describe('a RayService caught in the middle of a move', () => {
  let fleet: Fleet;
  let namespace: string;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'moving');
  });
  afterAll(async () => {
    await removeNamespace(fleet, namespace);
  });

  it('takes its --serve change along, and delete removes both copies', async () => {
    const file = path.join(tempDir(), 'mover.yaml');
    fs.writeFileSync(file, yaml.dump(seedService('mover')));
    const args = ['-n', namespace, ...fleetArgs];
    expect((await cli(['place', '-f', file, ...args])).code).toBe(0);
    const onprem = fleet.cluster('onprem');
    await waitFor('the head and 2 workers Running on onprem', async () => {
      const pods = (await onprem.list<Pod>(RESOURCES.pods, {namespace})).items;
      return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running') ? true : undefined;
    });
    // 4 three-cpu workers do not fit onprem, and cloud fits the whole group: it moves. Its new
    // RayCluster never serves here (no Ray runs), so the move is still under way at --timeout.
    const moving = await cli(['scale', 'rayservice/mover', '--replicas', '4', '--serve', 'app.Model=2', '--timeout', '10s', ...args]);
    expect(moving.code, moving.stderr).toBe(3);
    expect(moving.stderr).toMatch(/is moving to "cloud" and was not ready there within --timeout/);
    const copy = await fleet.cluster('cloud').get<RayServiceObject>(RESOURCES.rayservices, 'mover', namespace);
    const served = yaml.load(copy.spec.serveConfigV2) as {applications: Array<{deployments: Array<{num_replicas: number}>}>};
    expect(served.applications[0]!.deployments[0]!.num_replicas).toBe(2);
    expect(copy.spec.rayClusterConfig.workerGroupSpecs[0]!.replicas).toBe(4);

    const status = await cli(['status', 'rayservice/mover', ...args]);
    expect(status.stdout).toMatch(/^rayservice\/mover in \S+: relocating to cloud, home onprem,/m);
    const deleted = await cli(['delete', 'rayservice/mover', ...args]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain('rayservice/mover deleted (cloud)');
    expect(deleted.stdout).toContain('rayservice/mover deleted (onprem)');
    for (const context of ['onprem', 'cloud']) {
      expect(await fleet.cluster(context).find(RESOURCES.rayservices, 'mover', namespace), context).toBeUndefined();
    }
  });
});
