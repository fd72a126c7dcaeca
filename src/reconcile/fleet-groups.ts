/**
 * `status -A`, and `status -n NS` without GROUP: every group the tool manages in the fleet, read
 * from one list per kind and cluster (docs/fleet-scale.md), never with a request per group. Reads
 * only. listedGroup and homelessGroups are pure; listFleetGroups makes the reads.
 */
import {setMaxListeners} from 'node:events';
import type {ClusterClient} from '../kube/client.js';
import {InputError} from '../errors.js';
import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {ClusterCache} from '../kube/informer.js';
import {RESOURCES, type ResourceType} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import type {RayKind} from '../kuberay/demand.js';
import type {GroupPolicy} from '../kuberay/group.js';
import {GROUP_LABEL, HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {problemOf, stateAfter, type FleetStatus} from './fleet-status.js';
import {listCopies, lookAtGroup, managedRayObjects} from './group.js';
import {groupStatus, unstartedStatus, type GroupMode, type GroupStatus, type MeshMode} from './group-status.js';
import {listingSpecs} from './informed.js';
import {observeFleet, type ObservedCluster} from './observe.js';

/** degraded: its home, or a cluster its remote workers run in, could not be read. */
export type ListedMode = GroupMode | 'degraded';

/** The group's workers in one cluster; the counts are absent when that cluster could not be read. */
export interface ClusterWorkers {
  context: string;
  home: boolean;
  /** False when what the group has there could not be read: its counts are unknown, not zero. */
  observed: boolean;
  local?: number;
  placeholders?: number;
  remote?: number;
  pending?: number;
}

export interface ListedGroup {
  namespace: string;
  /** Unknown for a group whose home did not answer: its remote objects do not say. */
  kind?: RayKind;
  name: string;
  /** The home's context; for a home that did not answer, the only fleet context that did not, or its cluster id. */
  home: string;
  homeClusterId?: string;
  mode: ListedMode;
  mesh?: MeshMode;
  relocate?: GroupPolicy['relocate'];
  /** One entry per fleet cluster, in fleet order. */
  workers: ClusterWorkers[];
  /** When its Ray object was made, for AGE. */
  createdAt?: string;
  /** What a pass would change now (what `status GROUP` lists as repairs). */
  repairs: GroupStatus['repairs'];
  /** Why it is degraded, and what `status GROUP` would warn of. */
  reasons: string[];
}

export interface FleetGroups extends FleetStatus {
  /** The namespace listed; absent: every namespace. */
  namespace?: string;
  groups: ListedGroup[];
}

const sum = (counts: Array<number | undefined>) => counts.reduce<number>((a, b) => a + (b ?? 0), 0);

/** One row of the listing, from what `status GROUP` would show of the group. Pure. */
export function listedGroup(status: GroupStatus, createdAt?: string): ListedGroup {
  const twinsAway = new Set(status.placeholders.filter((p) => p.twin === 'unknown').map((p) => p.twinIn));
  const reasons: string[] = [];
  for (const cluster of status.clusters) {
    if (cluster.state === 'Ready' || !(cluster.home || twinsAway.has(cluster.context))) continue;
    for (const problem of cluster.problems) reasons.push(`${cluster.context} is ${cluster.state.toLowerCase()}: ${problem.message}`);
  }
  const home = status.clusters.find((c) => c.home);
  const degraded = home?.state !== 'Ready' || twinsAway.size > 0;
  for (const context of twinsAway) reasons.push(`the remote workers of its placeholders in ${context} could not be read`);
  return {
    namespace: status.namespace,
    kind: status.kind,
    name: status.group,
    home: status.home,
    ...(status.homeClusterId ? {homeClusterId: status.homeClusterId} : {}),
    mode: degraded ? 'degraded' : status.mode,
    mesh: status.mesh,
    relocate: status.relocate,
    workers: status.clusters.map((c): ClusterWorkers => {
      if (!c.workers) return {context: c.context, home: c.home, observed: false};
      if (!c.home) return {context: c.context, home: false, observed: true, remote: sum(c.workers.map((w) => w.remote))};
      return {context: c.context, home: true, observed: true, local: sum(c.workers.map((w) => w.local)), placeholders: sum(c.workers.map((w) => w.placeholders)), pending: sum(c.workers.map((w) => w.pending))};
    }),
    ...(createdAt ? {createdAt} : {}),
    repairs: status.repairs,
    reasons: [...reasons, ...status.warnings],
  };
}

/** What one cluster holds of the tool's that was made for groups of other clusters. */
export interface MadeElsewhere {
  context: string;
  /** Its cluster id; absent when it did not answer. */
  id?: string;
  /** False when it did not answer in full: it holds nothing that can be shown. */
  observed: boolean;
  /** The tool's remote workers and copies in it. */
  made: KubeObject[];
}

/**
 * The groups whose home did not answer (or is no cluster of the fleet), as the other clusters show
 * them: by the home cluster id their remote workers and copies carry. A group is never left out
 * because its home is down. Pure.
 */
export function homelessGroups(clusters: MadeElsewhere[]): ListedGroup[] {
  const answered = new Set(clusters.filter((c) => c.observed && c.id).map((c) => c.id!));
  const silent = clusters.filter((c) => !c.observed).map((c) => c.context);
  const found = new Map<string, {namespace: string; name: string; homeId: string; remote: Map<string, number>}>();
  for (const cluster of clusters) {
    if (!cluster.observed) continue;
    for (const o of cluster.made) {
      const homeId = o.metadata?.labels?.[HOME_CLUSTER_LABEL];
      const name = o.metadata?.labels?.[GROUP_LABEL];
      if (!homeId || !name || answered.has(homeId)) continue;
      const namespace = o.metadata?.namespace ?? '';
      const key = `${homeId}/${namespace}/${name}`;
      const group = found.get(key) ?? {namespace, name, homeId, remote: new Map<string, number>()};
      found.set(key, group);
      const remote = o.kind === 'Pod' && o.metadata?.labels?.[ROLE_LABEL] === 'remote-worker' && !o.metadata.deletionTimestamp ? 1 : 0;
      group.remote.set(cluster.context, (group.remote.get(cluster.context) ?? 0) + remote);
    }
  }
  return [...found.values()].map((g) => {
    const home = silent.length === 1 ? silent[0]! : `cluster ${g.homeId}`;
    const where = [...g.remote.keys()].join(', ');
    const why =
      silent.length === 0
        ? `its home cluster ${g.homeId} is not in the fleet; shown from what ${where} hold(s) for it`
        : `its home cluster ${g.homeId} did not answer${silent.length === 1 ? ` (the only fleet context that did not is "${silent[0]}")` : ''}; shown from what ${where} hold(s) for it`;
    return {
      namespace: g.namespace,
      name: g.name,
      home,
      homeClusterId: g.homeId,
      mode: 'degraded' as const,
      workers: clusters.map((c): ClusterWorkers => (c.observed ? {context: c.context, home: false, observed: true, remote: g.remote.get(c.context) ?? 0} : {context: c.context, home: !c.observed && silent.length === 1, observed: false})),
      repairs: [],
      reasons: [why],
    };
  });
}

const RAY_TYPES: ResourceType[] = [RESOURCES.rayclusters, RESOURCES.rayservices, RESOURCES.rayjobs];
const isTools = (o: KubeObject) => o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;

/**
 * One list of each kind. A kind refused cluster-wide (the apps role is bound per namespace) is listed
 * again in each namespace where the tool's groups or objects are in any cluster of the fleet (a group
 * at home is looked for in the others too), which the Ray objects and pods, readable cluster-wide,
 * tell.
 */
async function loadListings(caches: ClusterCache[], namespace: string | undefined, signal: AbortSignal): Promise<void> {
  await Promise.all(caches.map((cache) => cache.load(signal)));
  if (namespace !== undefined) return;
  const refused = caches.map((cache) => cache.informers.filter((i) => i.failing?.code === 403 && i.spec.namespace === undefined && i.spec.type.namespaced));
  if (refused.every((r) => r.length === 0)) return;
  const namespaces = new Set<string>();
  for (const i of caches.flatMap((cache) => cache.informers)) {
    if (!i.usable || !(RAY_TYPES.includes(i.spec.type) || i.spec.type === RESOURCES.pods)) continue;
    for (const o of i.list({}).items) if (isTools(o)) namespaces.add(o.metadata?.namespace ?? '');
  }
  await Promise.all(caches.flatMap((cache, c) => refused[c]!.map((i) => cache.narrow(i, [...namespaces].sort(), signal))));
}

/** The tool's remote workers and copies in one cluster, from its listing; undefined when some of it could not be read. */
async function madeIn(client: ClusterClient, namespace: string | undefined, signal?: AbortSignal): Promise<KubeObject[] | undefined> {
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  try {
    const [pods, copies] = await Promise.all([client.list<KubeObject>(RESOURCES.pods, {namespace, labelSelector: selector, signal}), listCopies(client, namespace, selector, signal)]);
    return [...pods.items.map((o) => ({...o, kind: 'Pod'})), ...copies].filter((o) => o.metadata?.labels?.[ROLE_LABEL] !== undefined);
  } catch (err) {
    if (err instanceof KubeError) return undefined;
    throw err;
  }
}

interface Discovered {
  namespace: string;
  kind: RayKind;
  name: string;
  createdAt?: string;
}

/**
 * Every group of the tool in the fleet (in `namespace`, or in every one), each as `status GROUP`
 * would see it, from one list per kind and cluster. A cluster that does not answer is reported,
 * never taken to be empty; the groups whose home it is are shown from the other clusters.
 */
export async function listFleetGroups(fleet: Fleet, namespace: string | undefined, signal?: AbortSignal): Promise<FleetGroups> {
  const stop = signal ?? new AbortController().signal;
  // Every list of every cluster is in flight at once, each listening to the one signal: not a leak.
  setMaxListeners(fleet.clusters.length * (listingSpecs(namespace).length + 8) + 16, stop);
  const caches = fleet.clusters.map((client) => new ClusterCache(client, listingSpecs(namespace)));
  fleet.clusters.forEach((client, i) => (client.cache = caches[i]));
  try {
    await loadListings(caches, namespace, stop);
    const observed = await observeFleet(fleet, signal, {room: true});
    const rayObjects = await Promise.all(observed.map((o) => (o.snapshot ? rayObjectsIn(o, namespace, signal) : undefined)));
    const discovered = new Map<string, Discovered>();
    for (const objects of rayObjects) {
      for (const {kind, object} of objects ?? []) {
        const d: Discovered = {namespace: object.metadata?.namespace ?? '', kind, name: object.metadata?.name ?? ''};
        const key = `${d.namespace}/${kind}/${d.name}`;
        const createdAt = object.metadata?.creationTimestamp;
        // Relocating, it is in two clusters: the older object is the group's.
        const known = discovered.get(key);
        if (!known || (createdAt && known.createdAt && createdAt < known.createdAt)) discovered.set(key, {...d, ...(createdAt ? {createdAt} : {})});
      }
    }
    const groups = await Promise.all(
      [...discovered.values()].map(async (d): Promise<ListedGroup> => {
        try {
          const look = await lookAtGroup(fleet, `${d.kind.toLowerCase()}/${d.name}`, d.namespace, signal, {observed, copySources: false});
          return listedGroup('unstarted' in look ? unstartedStatus(look) : groupStatus(look, look.homeHead), d.createdAt);
        } catch (err) {
          // What makes one group unreadable (two groups of one name, a read refused) is said in its row; anything else is a bug.
          if (signal?.aborted || !(err instanceof InputError || err instanceof KubeError)) throw err;
          const home = observed.find((_, i) => rayObjects[i]?.some((r) => r.kind === d.kind && r.object.metadata?.name === d.name && r.object.metadata.namespace === d.namespace));
          return {...d, home: home?.client.context ?? '', mode: 'degraded', workers: observed.map((o) => ({context: o.client.context, home: o === home, observed: false})), repairs: [], reasons: [err.message]};
        }
      }),
    );
    const made = await Promise.all(
      observed.map(async (o, i): Promise<MadeElsewhere> => {
        const objects = o.snapshot && rayObjects[i] ? await madeIn(o.client, namespace, signal) : undefined;
        return {context: o.client.context, ...(o.status.clusterId ? {id: o.status.clusterId} : {}), observed: objects !== undefined, made: objects ?? []};
      }),
    );
    const order = (g: ListedGroup) => `${g.namespace}\u0000${g.name}\u0000${g.kind ?? ''}`;
    return {
      ...(namespace !== undefined ? {namespace} : {}),
      clusters: observed.map((o) => o.status),
      groups: [...groups, ...homelessGroups(made)].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0)),
    };
  } finally {
    for (const client of fleet.clusters) client.cache = undefined;
  }
}

/**
 * The groups whose Ray object is in this cluster. A cluster whose Ray objects could not be listed
 * takes no part after this: it is shown degraded, and no group of it can be told.
 */
async function rayObjectsIn(o: ObservedCluster, namespace: string | undefined, signal?: AbortSignal): Promise<Array<{kind: RayKind; object: KubeObject}> | undefined> {
  try {
    return await managedRayObjects(o.client, namespace, signal);
  } catch (err) {
    if (!(err instanceof KubeError)) throw err;
    o.snapshot = undefined;
    o.status = {...o.status, state: stateAfter(err), problems: [...o.status.problems, problemOf(err)]};
    return undefined;
  }
}

/**
 * The groups' names for shell completion: the discovery of `status -A` alone (one list per Ray kind
 * and cluster, every namespace). `answered` names the clusters whose lists came back.
 */
export async function groupNames(fleet: Fleet, signal?: AbortSignal): Promise<{answered: string[]; groups: Array<{namespace: string; kind: RayKind; name: string; home: string}>}> {
  const found = await Promise.allSettled(fleet.clusters.map((client) => managedRayObjects(client, undefined, signal)));
  const answered = fleet.clusters.filter((_, i) => found[i]!.status === 'fulfilled').map((c) => c.context);
  const groups = fleet.clusters.flatMap((client, i) => {
    const result = found[i]!;
    if (result.status !== 'fulfilled') return [];
    return result.value.map(({kind, object}) => ({namespace: object.metadata?.namespace ?? '', kind, name: object.metadata?.name ?? '', home: client.context}));
  });
  return {answered, groups};
}
