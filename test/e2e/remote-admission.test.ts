import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {cli} from '../support/cli.js';
import {auditLog} from '../support/backend.js';
import {fixture, deletePlaced, freshNamespace, remoteWorkerOf, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];

type RayClusterObject = KubeObject & {
  metadata: {name: string};
  spec: {headGroupSpec: Record<string, unknown>; workerGroupSpecs: Array<{replicas: number; template: {spec: Record<string, unknown> & {containers: Array<Record<string, unknown>>}}}>};
};

const UNSCHEDULABLE = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable') ?? false;

/**
 * What the other clusters of a fleet lack, or would expose, that the home cluster has: the tool
 * either makes a remote worker that starts there, or refuses before its first write, naming what
 * is missing, the cluster and the fix, with exit code 2.
 */
describe('remote workers that start in any cluster, and copies that expose nothing', () => {
  let fleet: Fleet;
  let namespace: string;
  const cleanup: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'admit');
  });
  afterAll(async () => {
    for (const undo of cleanup) await undo();
    await removeNamespace(fleet, namespace);
  });

  /** A RayCluster whose one worker only cloud's nodes can take: Pending at home, as the scheduler left it. */
  async function pendingApp(name: string, change: (app: RayClusterObject) => void = () => undefined, ns = namespace) {
    const onprem = fleet.cluster('onprem');
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = name;
    const group = app.spec.workerGroupSpecs[0]!;
    group.replicas = 1;
    group.template.spec.containers[0]!.resources = {requests: {cpu: '1', memory: '1Gi'}, limits: {cpu: '1', memory: '1Gi'}};
    group.template.spec.nodeSelector = {'superskyray.io/test-cluster': 'cloud'};
    change(app);
    // Placed with no worker, which fits at home; then the test plays the autoscaler (or `scale`).
    group.replicas = 0;
    const file = path.join(tempDir(), `${name}.yaml`);
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', ns, '--skip-capacity-relocate', ...fleetArgs]);
    expect(placed.code, placed.stderr).toBe(0);
    await onprem.patch(RESOURCES.rayclusters, name, ns, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 1}], 'json');
    const pending = await waitFor(`the worker of ${name} Pending at home, unschedulable`, async () => {
      const pods = await onprem.list<Pod>(RESOURCES.pods, {namespace: ns, labelSelector: `ray.io/cluster=${name},ray.io/node-type=worker`});
      return pods.items.find(UNSCHEDULABLE);
    });
    await waitFor(`the head Service of ${name}`, () => onprem.find(RESOURCES.services, `${name}-head-svc`, ns));
    return pending;
  }

  /** Runs span, expecting it to refuse before any write: exit 2 and one line naming `what`. */
  async function refused(name: string, what: RegExp) {
    const since = new Date().toISOString();
    for (const dryRun of [['--dry-run'], []]) {
      const result = await cli(['span', `raycluster/${name}`, '-n', namespace, ...dryRun, ...fleetArgs]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(what);
      expect(result.stderr).toContain('cloud');
    }
    for (const context of ['onprem', 'cloud']) expect(toolRequests(auditLog(context), since).writes).toEqual([]);
  }

  it('refuses a worker whose PriorityClass is only at home, and spans it once cloud has one, which sets its priority there', async () => {
    const priorityClass = `${namespace}-batch`;
    const make = (value: number) => ({apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: priorityClass}, value});
    await fleet.cluster('onprem').create(RESOURCES.priorityclasses, make(1000));
    cleanup.push(...fleet.clusters.map((c) => () => c.delete(RESOURCES.priorityclasses, priorityClass).catch(() => undefined)));
    const pending = await pendingApp('prio', (app) => (app.spec.workerGroupSpecs[0]!.template.spec.priorityClassName = priorityClass));
    expect(pending.spec?.priority).toBe(1000);

    await refused('prio', new RegExp(`PriorityClass ${priorityClass} is not there in cloud`));
    const status = await cli(['status', 'raycluster/prio', '-n', namespace, '-o', 'wide', ...fleetArgs]);
    expect(status.stdout).toMatch(new RegExp(`SKIPPED CLUSTER\\s+WHY\\n\\s*cloud\\s+PriorityClass ${priorityClass} is not there in cloud`));

    await fleet.cluster('cloud').create(RESOURCES.priorityclasses, make(50));
    const spanned = await cli(['span', 'raycluster/prio', '-n', namespace, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    const remote = await waitFor('the remote worker of prio in cloud', () => remoteWorkerOf(fleet.cluster('onprem'), fleet.cluster('cloud'), namespace, pending.metadata!.name!));
    expect((remote as Pod).spec).toMatchObject({priorityClassName: priorityClass, priority: 50});
    await deletePlaced(fleet, namespace, 'prio', fleetArgs);
  });

  it("refuses a worker whose RuntimeClass cloud lacks; once cloud has one, the remote worker runs without home's overhead", async () => {
    const runtimeClass = `${namespace}-sandboxed`;
    const make = (overhead?: Record<string, string>) => ({apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: {name: runtimeClass}, handler: 'runsc', ...(overhead ? {overhead: {podFixed: overhead}} : {})});
    await fleet.cluster('onprem').create(RESOURCES.runtimeclasses, make({cpu: '250m', memory: '120Mi'}));
    cleanup.push(...fleet.clusters.map((c) => () => c.delete(RESOURCES.runtimeclasses, runtimeClass).catch(() => undefined)));
    const pending = await pendingApp('sandboxed', (app) => (app.spec.workerGroupSpecs[0]!.template.spec.runtimeClassName = runtimeClass));
    expect(pending.spec?.overhead).toEqual({cpu: '250m', memory: '120Mi'});

    await refused('sandboxed', new RegExp(`RuntimeClass ${runtimeClass} is not there in cloud`));

    await fleet.cluster('cloud').create(RESOURCES.runtimeclasses, make());
    const spanned = await cli(['span', 'raycluster/sandboxed', '-n', namespace, '--placeholder-image', 'registry.internal.example/pause:3.10', ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    const remote = (await waitFor('the remote worker of sandboxed in cloud', () => remoteWorkerOf(fleet.cluster('onprem'), fleet.cluster('cloud'), namespace, pending.metadata!.name!))) as Pod;
    expect(remote.spec?.runtimeClassName).toBe(runtimeClass);
    expect(remote.spec).not.toHaveProperty('overhead');
    const placeholder = await fleet.cluster('onprem').get<Pod>(RESOURCES.pods, remote.metadata!.name!, namespace);
    expect(placeholder.spec?.containers[0]?.image).toBe('registry.internal.example/pause:3.10');
    await deletePlaced(fleet, namespace, 'sandboxed', fleetArgs);
  });

  it('refuses a cluster where a RayCluster of the same name, not the group\'s, would count the remote workers as its own', async () => {
    const twin = fixture<RayClusterObject>('raycluster-small.yaml');
    twin.metadata.name = 'twin';
    (twin.spec as Record<string, unknown>).suspend = true;
    // Made once the group is placed at home: place would take a same-named Ray object for the group's own.
    await pendingApp('twin');
    await fleet.cluster('cloud').create(RESOURCES.rayclusters, twin, {namespace});
    await refused('twin', /RayCluster twin in cloud would count the remote workers as its own, since they carry its ray.io\/cluster label/);
    await fleet.cluster('cloud').delete(RESOURCES.rayclusters, 'twin', namespace);
    await deletePlaced(fleet, namespace, 'twin', fleetArgs);
  });

  it("makes the namespace in cloud with home's Pod Security labels, and copies the ServiceAccount with its cloud identity binding", async () => {
    const home = `${namespace}-home`;
    const onprem = fleet.cluster('onprem');
    await onprem.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: home, labels: {'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/warn': 'restricted'}}});
    cleanup.push(() => removeNamespace(fleet, home));
    const role = 'arn:aws:iam::123456789012:role/ray-worker';
    await onprem.create(RESOURCES.serviceaccounts, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'ray-worker', namespace: home, annotations: {'eks.amazonaws.com/role-arn': role}}});
    const pending = await pendingApp('identity', (app) => (app.spec.workerGroupSpecs[0]!.template.spec.serviceAccountName = 'ray-worker'), home);
    expect(await fleet.cluster('cloud').find(RESOURCES.namespaces, home)).toBeUndefined();

    const spanned = await cli(['span', 'raycluster/identity', '-n', home, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    await waitFor('the remote worker of identity in cloud', () => remoteWorkerOf(onprem, fleet.cluster('cloud'), home, pending.metadata!.name!));
    const made = await fleet.cluster('cloud').get<KubeObject>(RESOURCES.namespaces, home);
    expect(made.metadata?.labels).toMatchObject({'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/warn': 'restricted'});
    const account = await fleet.cluster('cloud').get<KubeObject>(RESOURCES.serviceaccounts, 'ray-worker', home);
    expect(account.metadata?.annotations?.['eks.amazonaws.com/role-arn']).toBe(role);
  });

  it('refuses a worker that mounts a PersistentVolumeClaim, whose data is at home, unless --claim names one in cloud', async () => {
    const pending = await pendingApp('claim', (app) => {
      const spec = app.spec.workerGroupSpecs[0]!.template.spec;
      spec.volumes = [{name: 'data', persistentVolumeClaim: {claimName: 'datasets'}}];
      spec.containers[0]!.volumeMounts = [{name: 'data', mountPath: '/data'}];
    });
    await refused('claim', /PersistentVolumeClaim\(s\) datasets, whose data is in the home cluster/);
    const claimArgs = ['--claim', 'datasets=datasets-replica'];
    const missing = await cli(['span', 'raycluster/claim', '-n', namespace, ...claimArgs, ...fleetArgs]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('PersistentVolumeClaim datasets-replica, which --claim names for the workers, is not there in cloud');

    const replica = {apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {name: 'datasets-replica', namespace}, spec: {accessModes: ['ReadOnlyMany'], resources: {requests: {storage: '1Gi'}}}};
    await fleet.cluster('cloud').create(RESOURCES.persistentvolumeclaims, replica);
    const spanned = await cli(['span', 'raycluster/claim', '-n', namespace, '--dry-run', ...claimArgs, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    expect(spanned.stdout).toMatch(/leaves out claim datasets of volume data: it mounts datasets-replica there instead \(--claim\)/);
    expect((await cli(['span', 'raycluster/claim', '-n', namespace, ...claimArgs, ...fleetArgs])).code).toBe(0);
    const remote = (await waitFor('the remote worker of claim in cloud', () => remoteWorkerOf(fleet.cluster('onprem'), fleet.cluster('cloud'), namespace, pending.metadata!.name!))) as Pod;
    expect(remote.spec?.volumes).toContainEqual({name: 'data', persistentVolumeClaim: {claimName: 'datasets-replica'}});
    await deletePlaced(fleet, namespace, 'claim', fleetArgs);
  });

  it('refuses a cluster whose quota could never hold the worker, saying how much it asks', async () => {
    await fleet.cluster('cloud').create(RESOURCES.resourcequotas, {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'small', namespace}, spec: {hard: {'requests.cpu': '500m'}}});
    await pendingApp('quota');
    await refused('quota', /ResourceQuota small could never hold one worker: it asks requests\.cpu 1000m, and the quota holds 500m in cloud/);
    await fleet.cluster('cloud').delete(RESOURCES.resourcequotas, 'small', namespace);
    await deletePlaced(fleet, namespace, 'quota', fleetArgs);
  });

  it('copies a LoadBalancer head Service as a ClusterIP one: no load balancer, no node port, none of its annotations', async () => {
    const pending = await pendingApp('lb', (app) => {
      app.spec.headGroupSpec.serviceType = 'LoadBalancer';
      app.spec.headGroupSpec.headService = {metadata: {annotations: {'service.beta.kubernetes.io/aws-load-balancer-internal': 'true'}}};
    });
    const home = await fleet.cluster('onprem').get<KubeObject & {spec: {type: string; ports: Array<{nodePort?: number}>}}>(RESOURCES.services, 'lb-head-svc', namespace);
    expect(home.spec.type).toBe('LoadBalancer');
    expect(home.spec.ports.every((p) => p.nodePort !== undefined)).toBe(true);

    const spanned = await cli(['span', 'raycluster/lb', '-n', namespace, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    await waitFor('the remote worker of lb in cloud', () => remoteWorkerOf(fleet.cluster('onprem'), fleet.cluster('cloud'), namespace, pending.metadata!.name!));
    const copy = await fleet.cluster('cloud').get<KubeObject & {spec: {type: string; ports: Array<Record<string, unknown>>}}>(RESOURCES.services, 'lb-head-svc', namespace);
    expect(copy.spec.type).toBe('ClusterIP');
    expect(copy.spec.ports.length).toBe(home.spec.ports.length);
    for (const port of copy.spec.ports) expect(port).not.toHaveProperty('nodePort');
    expect(copy.metadata?.annotations).toEqual({'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false'});

    // A copy an older version made as the home Service was is made ClusterIP again by the next pass.
    await fleet.cluster('cloud').patch(RESOURCES.services, 'lb-head-svc', namespace, {spec: {type: 'LoadBalancer'}}, 'merge');
    const repaired = await cli(['span', 'raycluster/lb', '-n', namespace, ...fleetArgs]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toMatch(/close-copy\s+service\/lb-head-svc\s+cloud\s+it is a LoadBalancer Service/);
    const closed = await fleet.cluster('cloud').get<KubeObject & {spec: {type: string; ports: Array<Record<string, unknown>>}}>(RESOURCES.services, 'lb-head-svc', namespace);
    expect(closed.spec.type).toBe('ClusterIP');
    for (const port of closed.spec.ports) expect(port).not.toHaveProperty('nodePort');
    await deletePlaced(fleet, namespace, 'lb', fleetArgs);
  });

  it('gives up on a remote worker whose image cannot be pulled there, once: its worker waits at home, saying why, and is not sent there again', async () => {
    const onprem = fleet.cluster('onprem');
    const cloud = fleet.cluster('cloud');
    const since = new Date().toISOString();
    const first = await pendingApp('nopull', (app) => (app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.image = 'unpullable.invalid/ray:2.9.0'));
    const spanned = await cli(['span', 'raycluster/nopull', '-n', namespace, ...fleetArgs]);
    expect(spanned.code, spanned.stderr).toBe(0);
    const remote = (await waitFor('the remote worker in ImagePullBackOff in cloud', async () => {
      const w = (await remoteWorkerOf(onprem, cloud, namespace, first.metadata!.name!)) as Pod | undefined;
      const statuses = (w?.status?.containerStatuses ?? []) as Array<{state?: {waiting?: {reason?: string}}}>;
      return statuses.some((c) => c.state?.waiting?.reason === 'ImagePullBackOff') ? w : undefined;
    })) as Pod;

    // A pull that backs off may yet succeed: a pass gives up on it once it has lasted the bound
    // (a minute at most; 30 s here), and not before.
    const early = await cli(['span', 'raycluster/nopull', '-n', namespace, '--join-timeout', '30s', ...fleetArgs]);
    expect(early.code, early.stderr).toBe(0);
    expect(early.stdout).not.toContain('give-up');
    const gaveUp = await waitFor(
      'a pass that gives up on it',
      async () => {
        const pass = await cli(['span', 'raycluster/nopull', '-n', namespace, '--join-timeout', '30s', ...fleetArgs]);
        if (pass.code !== 0) throw new Error(pass.stderr);
        return pass.stdout.includes('give-up') ? pass : undefined;
      },
      {timeoutMs: 90_000, intervalMs: 1000},
    );
    expect(gaveUp.stdout).toMatch(new RegExp(`give-up\\s+pod/${remote.metadata!.name}\\s+cloud\\s+remote worker ${remote.metadata!.name} did not join there: container \\S+ is ImagePullBackOff`));
    const rayCluster = await onprem.get<KubeObject>(RESOURCES.rayclusters, 'nopull', namespace);
    const record = JSON.parse(rayCluster.metadata?.annotations?.['superskyray.io/not-joined'] ?? '{}') as Record<string, Record<string, {reason: string}>>;
    expect(Object.values(record.cpu ?? {}).map((e) => e.reason)).toEqual([expect.stringMatching(/ImagePullBackOff/)]);
    const events = await onprem.list<KubeObject & {reason?: string; message?: string}>(RESOURCES.events, {namespace, fieldSelector: 'involvedObject.name=nopull,reason=NotJoined'});
    expect(events.items.map((e) => e.message)).toEqual([expect.stringMatching(/did not join in cloud: container \S+ is ImagePullBackOff/)]);

    // KubeRay makes a Pending worker again; it stays at home, and says why.
    const again = await waitFor('a new Pending worker at home', async () => {
      const pods = await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=nopull,ray.io/node-type=worker'});
      return pods.items.find((p) => p.metadata?.name !== first.metadata?.name && !p.metadata?.labels?.['superskyray.io/role'] && UNSCHEDULABLE(p));
    });
    const stays = await cli(['span', 'raycluster/nopull', '-n', namespace, ...fleetArgs]);
    expect(stays.code, stays.stderr).toBe(0);
    expect(stays.stdout).toContain(`${again.metadata!.name} fits no other cluster either`);
    expect(stays.stdout).toMatch(/cloud: a remote worker of group cpu did not join there at \S+ \(container \S+ is ImagePullBackOff/);
    const status = await cli(['status', 'raycluster/nopull', '-n', namespace, '-o', 'wide', ...fleetArgs]);
    expect(status.stdout).toMatch(/did not join there/);

    // One remote worker was ever made, and none is left.
    const creates = toolRequests(auditLog('cloud'), since).writes.filter((r) => r.verb === 'create' && /\/namespaces\/[^/]+\/pods(\?|$)/.test(r.uri));
    expect(creates).toHaveLength(1);
    expect((await cloud.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=nopull'})).items).toEqual([]);
    await deletePlaced(fleet, namespace, 'nopull', fleetArgs);
  });
});
