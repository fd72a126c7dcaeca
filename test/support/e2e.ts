import {randomBytes} from 'node:crypto';
import * as fs from 'node:fs';
import yaml from 'js-yaml';
import type {ClusterClient} from '../../src/kube/client.js';
import {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {KubeError} from '../../src/kube/errors.js';
import * as path from 'node:path';
import {cli} from './cli.js';
import {tempDir} from './kubeconfig.js';
import {waitFor} from './poll.js';

/** The real local clusters, through the tool's own fleet layer. */
export function testFleet(kubeconfig: string, contexts = ['onprem', 'cloud']): Fleet {
  return Fleet.open({contexts, kubeconfig, env: {}});
}

/** A namespace of its own for one test, so tests never see each other's objects. */
export async function freshNamespace(fleet: Fleet, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await Promise.all(fleet.clusters.map((c) => c.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name}})));
  return name;
}

export function fixture<T extends KubeObject>(file: string): T {
  return yaml.load(fs.readFileSync(new URL(`../e2e/fixtures/${file}`, import.meta.url), 'utf8')) as T;
}

/**
 * Deletes a test's namespace in every cluster and waits until it is gone, pods included, so that
 * the next test finds the clusters' capacity as the profile gives it.
 */
export async function removeNamespace(fleet: Fleet, name: string): Promise<void> {
  await (await releaseNamespace(fleet, name)).gone;
}

/**
 * Deletes a test's namespace in every cluster and waits only until no pod is left in it: the room
 * is free again then. `gone` settles once the namespace itself is gone, which takes the namespace
 * controller seconds more (it sweeps every kind), for a test that makes many to wait on once.
 */
export async function releaseNamespace(fleet: Fleet, name: string): Promise<{gone: Promise<void>}> {
  const released = await Promise.all(
    fleet.clusters.map(async (c) => {
      // Workers held by the tool's finalizer would keep the namespace from ever going away.
      const pods = await c.list<KubeObject>(RESOURCES.pods, {namespace: name}).catch(() => ({items: [] as KubeObject[]}));
      for (const pod of pods.items.filter((p) => p.metadata?.finalizers?.length)) {
        await c.patch(RESOURCES.pods, pod.metadata?.name ?? '', name, {metadata: {finalizers: null}}, 'merge').catch(() => undefined);
      }
      await c.delete(RESOURCES.namespaces, name).catch(() => undefined);
      await waitFor(`the pods of namespace ${name} to be gone from ${c.context}`, async () => ((await c.list<KubeObject>(RESOURCES.pods, {namespace: name})).items.length === 0 ? true : undefined), {
        timeoutMs: 120_000,
        intervalMs: 250,
      });
      const gone = waitFor(
        `namespace ${name} to be gone from ${c.context}`,
        () =>
          c.get(RESOURCES.namespaces, name).then(
            () => undefined,
            (err: unknown) => (err instanceof KubeError && err.code === 404 ? true : undefined),
          ),
        {timeoutMs: 120_000, intervalMs: 250},
      );
      // Awaited later, by whoever wants it gone: not an unhandled rejection meanwhile.
      gone.catch(() => undefined);
      return {gone};
    }),
  );
  return {gone: Promise.all(released.map((r) => r.gone)).then(() => undefined)};
}

/** One request as the API server's audit log recorded it, at ResponseComplete. */
export interface AuditEntry {
  verb: string;
  requestURI: string;
  requestReceivedTimestamp: string;
  userAgent?: string;
  objectRef?: {resource?: string; namespace?: string; name?: string; subresource?: string};
  requestObject?: {status?: {conditions?: Array<{type: string; reason?: string}>}};
  stage: string;
}

/** A server-side dry run (the preflight's create of a remote worker): it changes nothing. */
export function isDryRun(request: {requestURI?: string; uri?: string}): boolean {
  return /[?&]dryRun=All\b/.test(request.requestURI ?? request.uri ?? '');
}

/** Every completed request in an audit log file, whoever made it. */
export function auditEntries(auditFile: string): AuditEntry[] {
  return fs
    .readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditEntry)
    .filter((e) => e.stage === 'ResponseComplete');
}

export interface AuditedRequest {
  verb: string;
  uri: string;
  userAgent: string;
  at: string;
}

const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/**
 * The requests kubectl-superskyray made to a test cluster since `since` (an ISO time), as the API
 * server's audit log recorded them. `writes` keeps the ones that change something: not dry runs.
 */
export function toolRequests(auditFile: string, since: string): {all: AuditedRequest[]; writes: AuditedRequest[]} {
  const all = fs
    .readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as {verb: string; requestURI: string; userAgent?: string; requestReceivedTimestamp: string; stage: string})
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        (e.userAgent ?? '').startsWith('kubectl-superskyray/') &&
        Date.parse(e.requestReceivedTimestamp) >= Date.parse(since),
    )
    .map((e) => ({verb: e.verb, uri: e.requestURI, userAgent: e.userAgent ?? '', at: e.requestReceivedTimestamp}));
  return {all, writes: all.filter((r) => WRITES.has(r.verb) && !isDryRun(r))};
}

/**
 * Samples KubeRay's own count of a RayCluster's first worker group (its worker pods, less those
 * named in workersToDelete) until the returned function is called, which gives the samples.
 */
export function sampleKubeRayCount(client: ClusterClient, namespace: string, rayCluster: string): () => Promise<{counts: number[]; locked: number}> {
  const counts: number[] = [];
  let locked = 0;
  let sampling = true;
  const done = (async () => {
    while (sampling) {
      const [pods, rc] = await Promise.all([
        client.list<KubeObject>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${rayCluster},ray.io/node-type=worker`}),
        client.get<KubeObject & {spec: {workerGroupSpecs: Array<{scaleStrategy?: {workersToDelete?: string[]}}>}}>(RESOURCES.rayclusters, rayCluster, namespace),
      ]);
      // While a pod KubeRay deleted is kept by the swap's finalizer, KubeRay does not count the group
      // at all (its delete expectation): such a sample has no count to check.
      if (pods.items.some((p) => p.metadata?.deletionTimestamp && p.metadata.finalizers?.includes('superskyray.io/swap'))) locked++;
      else {
        const doomed = new Set(rc.spec.workerGroupSpecs[0]?.scaleStrategy?.workersToDelete ?? []);
        counts.push(pods.items.filter((p) => !doomed.has(p.metadata?.name ?? '')).length);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return async () => {
    sampling = false;
    await done;
    return {counts, locked};
  };
}

/**
 * The remote worker a Pending worker was swapped to: the pod in `remote` named as the home
 * placeholder that replaces it (superskyray.io/replaces), once both exist.
 */
export async function remoteWorkerOf(home: ClusterClient, remote: ClusterClient, namespace: string, pending: string): Promise<KubeObject | undefined> {
  const placeholders = await home.list<KubeObject>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/role=placeholder'});
  const placeholder = placeholders.items.find((p) => p.metadata?.annotations?.['superskyray.io/replaces'] === pending);
  return placeholder ? remote.find<KubeObject>(RESOURCES.pods, placeholder.metadata?.name ?? '', namespace) : undefined;
}

/**
 * Deletes a RayCluster the tool placed, with `delete` (what it made in every cluster goes too), and
 * waits until its pods are gone from every cluster, so that the next case finds the room free.
 */
export async function deletePlaced(fleet: Fleet, namespace: string, name: string, fleetArgs: string[]): Promise<void> {
  const removed = await cli(['delete', `raycluster/${name}`, '-n', namespace, ...fleetArgs]);
  if (removed.code !== 0) throw new Error(`delete raycluster/${name} exited ${removed.code}: ${removed.stderr}`);
  await waitFor(`the pods of ${name} to be gone`, async () => {
    const left = await Promise.all(fleet.clusters.map((c) => c.list<KubeObject>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})));
    return left.every((l) => l.items.length === 0) ? true : undefined;
  });
}

/**
 * Places the small app (raycluster-small.yaml) as `name`, with 3-cpu workers: two fit onprem beside
 * the head, a third does not. Waits for the head and both workers Running there, and returns what
 * reads the app's pods at home.
 */
export async function placeRunning(fleet: Fleet, namespace: string, name: string, fleetArgs: string[]): Promise<() => Promise<Pod[]>> {
  const app = fixture<KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{template: {spec: {containers: Array<{resources: unknown}>}}}>}}>('raycluster-small.yaml');
  app.metadata.name = name;
  app.spec.workerGroupSpecs[0]!.template.spec.containers[0]!.resources = {requests: {cpu: '3', memory: '4Gi'}, limits: {cpu: '3', memory: '4Gi'}};
  const file = path.join(tempDir(), `${name}.yaml`);
  fs.writeFileSync(file, yaml.dump(app));
  const placed = await cli(['place', '-f', file, '-n', namespace, ...fleetArgs]);
  if (placed.code !== 0) throw new Error(`place ${name} exited ${placed.code}: ${placed.stderr}`);
  const podsOf = async () => (await fleet.cluster('onprem').list<Pod>(RESOURCES.pods, {namespace, labelSelector: `ray.io/cluster=${name}`})).items;
  await waitFor(`the head and 2 workers of ${name} Running`, async () => {
    const pods = await podsOf();
    return pods.length === 3 && pods.every((p) => p.status?.phase === 'Running') ? true : undefined;
  });
  return podsOf;
}
