import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {ClusterClient} from '../../src/kube/client.js';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES, type ResourceType} from '../../src/kube/resources.js';
import type {KubeObject} from '../../src/kube/types.js';
import {auditLog, startApiserver, stopApiserver} from '../support/backend.js';
import {cli, startWatch} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, toolRequests} from '../support/e2e.js';
import {tempDir} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

const kubeconfig = inject('kubeconfig');
const fleetArgs = ['--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud'];
type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

/** Every kind the tool or KubeRay makes for a group, in either cluster. */
const KINDS: ResourceType[] = [
  RESOURCES.rayclusters,
  RESOURCES.pods,
  RESOURCES.services,
  RESOURCES.endpointslices,
  RESOURCES.configmaps,
  RESOURCES.serviceaccounts,
  RESOURCES.secrets,
  RESOURCES.poddisruptionbudgets,
  RESOURCES.leases,
];

/**
 * Deletion by someone else (kubectl, a GitOps prune, a TTL) of a group the tool spanned: what the
 * tool made for it in the other cluster goes, by the RayCluster's UID, whether watch runs then or
 * starts later, and never on the strength of a cluster that did not answer. Copies follow their
 * source at home; an object of the head-Service copy's name that the tool did not make is refused.
 */
describe("a spanned group's objects in another cluster: nothing left behind, copies kept current, nothing foreign taken", () => {
  let fleet: Fleet;
  let namespace: string;
  let onprem: ClusterClient;
  let cloud: ClusterClient;

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    onprem = fleet.cluster('onprem');
    cloud = fleet.cluster('cloud');
    namespace = await freshNamespace(fleet, 'gc');
  });
  afterAll(async () => {
    await startApiserver('cloud');
    await startApiserver('onprem');
    await removeNamespace(fleet, namespace);
  });

  /** Places `name` on onprem with a ConfigMap its workers read, and spans its third worker to cloud. */
  async function spanned(name: string): Promise<void> {
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = name;
    const pod = app.spec.workerGroupSpecs[0]!.template.spec as {containers: Array<{resources: unknown; envFrom?: unknown}>};
    pod.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
    pod.containers[0]!.envFrom = [{configMapRef: {name: `${name}-settings`}}];
    const settings = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: `${name}-settings`}, data: {MODE: 'test'}};
    const file = path.join(tempDir(), `${name}.yaml`);
    fs.writeFileSync(file, `${yaml.dump(settings)}---\n${yaml.dump(app)}`);
    expect((await cli(['place', '-f', file, '-n', namespace, ...fleetArgs])).code).toBe(0);
    const scaled = await cli(['scale', name, '--replicas', '3', '--skip-capacity-relocate', '--wait', '-n', namespace, ...fleetArgs]);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(await remoteObjects(name)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^pod\//), `configmap/${name}-settings`, `service/${name}-head-svc`]),
    );
  }

  /** What carries the group's label in `client`, by kind/name; terminating objects count. */
  async function objectsIn(client: ClusterClient, name: string): Promise<string[]> {
    const lists = await Promise.all(
      KINDS.map(async (type) => (await client.list<KubeObject>(type, {namespace, labelSelector: `superskyray.io/group=${name}`})).items.map((o) => `${type.kind.toLowerCase()}/${o.metadata?.name}`)),
    );
    return lists.flat().sort();
  }
  const remoteObjects = (name: string) => objectsIn(cloud, name);

  /** What the tool made in cloud for the group: not the slices the EndpointSlice controller or the mesh keeps there. */
  async function madeInCloud(name: string): Promise<string[]> {
    const lists = await Promise.all(
      KINDS.map(async (type) =>
        (await cloud.list<KubeObject>(type, {namespace, labelSelector: `superskyray.io/group=${name},superskyray.io/role`})).items
          .filter((o) => type !== RESOURCES.endpointslices || o.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'] === 'kubectl-superskyray')
          .map((o) => `${type.kind.toLowerCase()}/${o.metadata?.name}/${o.metadata?.uid}`),
      ),
    );
    return lists.flat().sort();
  }

  /**
   * Nothing with the group's label in either cluster: the placeholders, the budget and what place
   * applied at home go with the RayCluster through Kubernetes' own collector, the rest through
   * the tool's.
   */
  async function nothingLeft(name: string): Promise<void> {
    await waitFor(
      `nothing of ${name} left in either cluster`,
      async () => {
        const left = [...(await objectsIn(onprem, name)).map((o) => `onprem ${o}`), ...(await remoteObjects(name)).map((o) => `cloud ${o}`)];
        if (left.length > 0) throw new Error(`left: ${left.join(', ')}`);
        return true;
      },
      {timeoutMs: 60_000},
    );
  }

  it('kubectl delete raycluster, then one watch --once: the remote worker and its copies go', async () => {
    await spanned('gone-once');
    await onprem.delete(RESOURCES.rayclusters, 'gone-once', namespace);
    const once = await cli(['watch', '--once', '-n', namespace, ...fleetArgs]);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/cloud: delete pod\/gone-once-\S+ \(a remote worker for RayCluster gone-once of group .*\/gone-once in context "onprem", which is gone\)/);
    expect(once.stdout).toMatch(/cloud: delete configmap\/gone-once-settings/);
    await nothingLeft('gone-once');
  });

  it('watch running through the delete removes them on the event', async () => {
    await spanned('gone-live');
    const watch = startWatch(['-n', namespace, ...fleetArgs]);
    try {
      await waitFor('watch watching the group', () => (watch.lines.some((l) => l.includes('/raycluster/gone-live')) ? true : undefined), {giveUp: () => (watch.child.exitCode !== null ? 'watch exited' : undefined)});
      await onprem.delete(RESOURCES.rayclusters, 'gone-live', namespace);
      await nothingLeft('gone-live');
      await waitFor('watch to drop the group', () => (watch.lines.some((l) => /watching 0 group/.test(l)) ? true : undefined));
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
  });

  it('watch stopped during the delete and started later removes them at start-up', async () => {
    await spanned('gone-later');
    await onprem.delete(RESOURCES.rayclusters, 'gone-later', namespace);
    const watch = startWatch(['-n', namespace, ...fleetArgs]);
    try {
      await nothingLeft('gone-later');
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
    expect(watch.lines.join('\n')).toMatch(/cloud: delete pod\/gone-later-/);
  });

  it('with its home down, nothing made for it is deleted; once home answers, it goes', async () => {
    await spanned('gone-away');
    const before = await madeInCloud('gone-away');
    await onprem.delete(RESOURCES.rayclusters, 'gone-away', namespace);
    // Home's own controllers finish with it first. An API server killed right after the delete can
    // leave KubeRay's cache without it, and KubeRay then makes its pods again once home is back,
    // taking the room the next cases place on (seen on freshly started clusters).
    await waitFor('its pods at home to be gone', async () => ((await onprem.list<KubeObject>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=gone-away'})).items.length === 0 ? true : undefined));
    await stopApiserver('onprem');
    const since = new Date().toISOString();
    const once = await cli(['watch', '--once', '-n', namespace, ...fleetArgs, '--request-timeout', '3s']);
    expect(once.code).toBe(1);
    expect(toolRequests(auditLog('cloud'), since).writes).toEqual([]);
    expect(await madeInCloud('gone-away')).toEqual(before);
    await startApiserver('onprem');
    const again = await cli(['watch', '--once', '-n', namespace, ...fleetArgs]);
    expect(again.code, again.stderr).toBe(0);
    await nothingLeft('gone-away');
  });

  it('with the remote cluster down, GC touches nothing, and finishes when it is back', async () => {
    await spanned('gone-far');
    const before = await madeInCloud('gone-far');
    await onprem.delete(RESOURCES.rayclusters, 'gone-far', namespace);
    await stopApiserver('cloud');
    const once = await cli(['watch', '--once', '-n', namespace, ...fleetArgs, '--request-timeout', '3s']);
    expect(once.code).toBe(1);
    await startApiserver('cloud');
    expect(await madeInCloud('gone-far')).toEqual(before);
    const again = await cli(['watch', '--once', '-n', namespace, ...fleetArgs]);
    expect(again.code, again.stderr).toBe(0);
    await nothingLeft('gone-far');
  });

  it('delete GROUP works once the Ray object is gone: it removes what is left, and what place applied', async () => {
    await spanned('gone-delete');
    // As a version of the tool before dependencies were owned placed it: nothing collects it at home.
    const settings = await onprem.get<KubeObject>(RESOURCES.configmaps, 'gone-delete-settings', namespace);
    expect(settings.metadata?.ownerReferences).toEqual([expect.objectContaining({kind: 'RayCluster', name: 'gone-delete'})]);
    await onprem.patch(RESOURCES.configmaps, 'gone-delete-settings', namespace, {metadata: {ownerReferences: null}}, 'merge');
    await onprem.delete(RESOURCES.rayclusters, 'gone-delete', namespace);
    const dry = await cli(['delete', 'gone-delete', '--dry-run', '-n', namespace, ...fleetArgs]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^pod\/gone-delete-\S+ deleted \(cloud\) \(dry run\)$/m);
    expect(dry.stdout).toMatch(/^configmap\/gone-delete-settings deleted \(onprem\) \(dry run\)$/m);
    const removed = await cli(['delete', 'gone-delete', '-n', namespace, ...fleetArgs]);
    expect(removed.code, removed.stderr).toBe(0);
    await waitFor('nothing of it left, what place applied included', async () => {
      const left = [...(await objectsIn(onprem, 'gone-delete')), ...(await remoteObjects('gone-delete'))];
      return left.length === 0 ? true : undefined;
    });
    const nothing = await cli(['delete', 'gone-delete', '-n', namespace, ...fleetArgs]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/group "gone-delete" is not placed/);
  });

  it('a ConfigMap edited at home reaches its copy in one pass', async () => {
    await spanned('edited');
    await onprem.patch(RESOURCES.configmaps, 'edited-settings', namespace, {data: {MODE: 'live', LEVEL: '2'}}, 'merge');
    const pass = await cli(['span', 'edited', '-n', namespace, ...fleetArgs]);
    expect(pass.code, pass.stderr).toBe(0);
    expect(pass.stdout).toMatch(/update-copy\s+configmap\/edited-settings\s+cloud\s+its source at home changed/);
    const copy = await cloud.get<KubeObject & {data?: Record<string, string>}>(RESOURCES.configmaps, 'edited-settings', namespace);
    expect(copy.data).toEqual({MODE: 'live', LEVEL: '2'});
    const source = await onprem.get<KubeObject>(RESOURCES.configmaps, 'edited-settings', namespace);
    expect(copy.metadata?.annotations?.['superskyray.io/source-resource-version']).toBe(source.metadata?.resourceVersion);
    // In step now: the next pass writes nothing.
    const since = new Date().toISOString();
    expect((await cli(['span', 'edited', '-n', namespace, ...fleetArgs])).code).toBe(0);
    for (const context of ['onprem', 'cloud']) expect(toolRequests(auditLog(context), since).writes).toEqual([]);
    // The room it takes at home is the next case's.
    expect((await cli(['delete', 'edited', '-n', namespace, ...fleetArgs])).code).toBe(0);
    await nothingLeft('edited');
  });

  it("a Service of the head-Service copy's name that the tool did not make: span exits 2 naming it, and writes nothing", async () => {
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'foreign';
    app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
    const file = path.join(tempDir(), 'foreign.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
    expect(placed.stdout).toMatch(/raycluster\/foreign\s+onprem\s+created/);
    await cloud.create(RESOURCES.services, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'foreign-head-svc', namespace}, spec: {ports: [{name: 'gcs', port: 6379}], selector: {app: 'someone-else'}}});
    // The test plays the Ray autoscaler: a third worker, which onprem has no room for.
    await onprem.patch(RESOURCES.rayclusters, 'foreign', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 3}], 'json');
    await waitFor('the third worker Pending at home', async () =>
      (await onprem.list<KubeObject & {status?: {conditions?: Array<{reason?: string}>}}>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=foreign'})).items.find((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable')),
    );
    await waitFor('the head Service at home', () => onprem.find(RESOURCES.services, 'foreign-head-svc', namespace));
    const since = new Date().toISOString();
    for (const args of [['--dry-run'], []]) {
      const span = await cli(['span', 'foreign', ...args, '-n', namespace, ...fleetArgs]);
      expect(span.code).toBe(2);
      expect(span.stderr).toContain("Service foreign-head-svc in cloud is not kubectl-superskyray's head-Service copy, and the head address there would resolve to it");
    }
    for (const context of ['onprem', 'cloud']) expect(toolRequests(auditLog(context), since).writes).toEqual([]);
    expect((await cloud.get<KubeObject & {spec?: {selector?: Record<string, string>}}>(RESOURCES.services, 'foreign-head-svc', namespace)).spec?.selector).toEqual({app: 'someone-else'});
  });
});
