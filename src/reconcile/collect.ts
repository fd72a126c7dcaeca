/**
 * Garbage collection across clusters (docs/span-mechanism.md, "Nothing left behind"): what the tool
 * made in a cluster for a RayCluster of another cluster goes once that RayCluster is gone, whoever
 * deleted it and whether or not the tool ran then. Kubernetes' own collector cannot do it: an
 * ownerReference cannot point into another cluster.
 */
import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES, resourceForKind, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Pod} from '../kube/types.js';
import {RAY_KINDS} from '../kuberay/demand.js';
import {DEPENDENCY_KINDS} from '../kuberay/manifest.js';
import {GROUP_LABEL, HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {RAYCLUSTER_UID_LABEL, SWAP_FINALIZER, unlockPatch} from '../kuberay/swap.js';
import {deleteObserved, type Step} from './act.js';
import {recordEvent} from './events.js';
import {listCopies} from './group.js';
import {KUBE_SYSTEM} from './fleet-status.js';

/** What one cluster holds that garbage collection looks at, and what it answers for as a home. */
export interface CollectedCluster {
  /** The cluster id (its kube-system namespace's UID). */
  id: string;
  context: string;
  /** Why it could not be read in full; then nothing in it is touched, and nothing is taken to be missing from it. */
  unobserved?: string;
  /**
   * Remote workers, head-Service copies and dependency copies the tool made here for other
   * clusters' groups, and (when asked for) what place applied here.
   */
  made: KubeObject[];
  /** Pending workers here that still carry the swap finalizer. */
  locked: Pod[];
  /** UIDs of the RayClusters here that are not being deleted. */
  rayClusters: Set<string>;
  /** The groups whose Ray object is here, as namespace/name. */
  groups: Set<string>;
  /** Those Ray objects, by namespace/name: what a collection of one of their RayClusters' leftovers is told on. */
  rayObjects?: Map<string, KubeObject>;
}

export interface Leftover {
  /** The cluster id it is in. */
  cluster: string;
  action: 'delete' | 'release';
  object: KubeObject;
  why: string;
}

const labelOf = (o: KubeObject, key: string) => o.metadata?.labels?.[key];
const terminating = (o: KubeObject) => o.metadata?.deletionTimestamp !== undefined;

/**
 * The pure decision: each object made for a home cluster goes when what it was made for is
 * gone there. A remote worker and a head-Service copy are matched by their RayCluster's UID, so a
 * RayCluster made again under the same name does not keep them; a dependency copy (shared by the
 * group's RayClusters) goes with the group's Ray object. A home that did not answer, or that is
 * not in the fleet, proves nothing, and what was made for it stays.
 */
export function leftovers(clusters: CollectedCluster[]): Leftover[] {
  const byId = new Map(clusters.map((c) => [c.id, c]));
  const out: Leftover[] = [];
  for (const here of clusters) {
    if (here.unobserved) continue;
    for (const object of here.made) {
      if (terminating(object)) continue;
      const group = `${object.metadata?.namespace}/${labelOf(object, GROUP_LABEL)}`;
      const role = labelOf(object, ROLE_LABEL);
      if (role === undefined) {
        // Applied at home by place, with the group's Ray object.
        if (!here.groups.has(group)) out.push({cluster: here.id, action: 'delete', object, why: `applied by place for group ${group}, whose Ray object is gone`});
        continue;
      }
      const home = byId.get(labelOf(object, HOME_CLUSTER_LABEL) ?? '');
      if (!home || home.unobserved || home === here) continue;
      const uid = labelOf(object, RAYCLUSTER_UID_LABEL);
      const byUid = uid !== undefined && (role === 'remote-worker' || role === 'head-service-copy');
      if (byUid ? home.rayClusters.has(uid) : home.groups.has(group)) continue;
      const what = role === 'remote-worker' ? 'remote worker' : role === 'head-service-copy' ? 'head-Service copy' : 'copy';
      const why = byUid
        ? `a ${what} for RayCluster ${labelOf(object, 'ray.io/cluster') ?? uid} of group ${group} in context "${home.context}", which is gone`
        : `a ${what} for group ${group} of context "${home.context}", whose Ray object is gone`;
      out.push({cluster: here.id, action: 'delete', object, why});
    }
    for (const pod of here.locked) {
      const owner = pod.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'RayCluster');
      if (owner && !here.rayClusters.has(owner.uid)) out.push({cluster: here.id, action: 'release', object: pod, why: `a Pending worker caught in a swap, whose RayCluster ${owner.name} is gone`});
    }
  }
  // Remote workers before copies, so that no worker is left without what it needs while it stops.
  const rank = (l: Leftover) => (l.action === 'release' ? 0 : l.object.kind === 'Pod' ? 1 : 2);
  return out.sort((a, b) => rank(a) - rank(b));
}

export interface CollectScope {
  /** Undefined: every namespace. */
  namespace?: string;
  /** Only these groups (names); undefined: every group. */
  groups?: string[];
  /**
   * Also what place applied at home for a group whose Ray object is gone (delete GROUP asks for
   * it). Never on its own: place applies those just before the Ray object.
   */
  placed?: boolean;
}

export interface CollectResult {
  /** Every delete or release made, or on a dry run to be made, in order. */
  steps: Step[];
  /** Contexts that did not answer in full, and why: nothing they hold, or that was made for them, was touched. */
  unobserved: Array<{context: string; reason: string}>;
  dryRun: boolean;
  /** What went wrong without failing the collection (an Event that could not be recorded). */
  warnings: string[];
}

const MADE_ROLES = '(remote-worker,head-service-copy,dependency-copy)';

function groupSelector(scope: CollectScope): string {
  return scope.groups ? `,${GROUP_LABEL} in (${scope.groups.join(',')})` : '';
}

/**
 * What place applied in a cluster for groups (`groups` a selector tail: `,superskyray.io/group=app`):
 * labelled as theirs, with no role, and without a controller (KubeRay copies the Ray object's
 * labels onto what it makes, and controls it; place's own owner reference is not a controller one).
 */
export async function listPlaced(client: ClusterClient, namespace: string | undefined, groups: string, signal?: AbortSignal): Promise<Array<{type: ResourceType; object: KubeObject}>> {
  const lists = await Promise.all(
    DEPENDENCY_KINDS.map(async (kind) => {
      const type = resourceForKind(kind)!;
      try {
        const list = await client.list<KubeObject>(type, {namespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},!${ROLE_LABEL}${groups}`, signal});
        return list.items.filter((o) => !o.metadata?.ownerReferences?.some((r) => r.controller)).map((o) => ({type, object: {...o, apiVersion: 'v1', kind}}));
      } catch (err) {
        // A user who may not read Secrets (no --copy-secrets role) cannot have placed any either.
        if (type === RESOURCES.secrets && err instanceof KubeError && err.code === 403) return [];
        throw err;
      }
    }),
  );
  return lists.flat();
}

/** What the tool made in a cluster for other clusters, and the Pending workers it locked there. */
async function madeHere(client: ClusterClient, scope: CollectScope, signal?: AbortSignal): Promise<{made: KubeObject[]; locked: Pod[]}> {
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY},${ROLE_LABEL} in ${MADE_ROLES}${groupSelector(scope)}`;
  const [remoteWorkers, copies, workers] = await Promise.all([
    client.list<Pod>(RESOURCES.pods, {namespace: scope.namespace, labelSelector: selector, signal}),
    listCopies(client, scope.namespace, selector, signal),
    client.list<Pod>(RESOURCES.pods, {namespace: scope.namespace, labelSelector: `${RAY_NODE_TYPE_LABEL}=worker`, signal}),
  ]);
  const placed = scope.placed ? await listPlaced(client, scope.namespace, groupSelector(scope), signal) : [];
  const asPods = (pods: Pod[]) => pods.map((p) => ({...p, apiVersion: 'v1', kind: 'Pod'}));
  return {
    made: [...asPods(remoteWorkers.items), ...copies, ...placed.map((p) => p.object)],
    locked: asPods(workers.items.filter((p) => p.metadata?.finalizers?.includes(SWAP_FINALIZER))),
  };
}

/**
 * The RayClusters and groups a cluster is home to. Every RayCluster counts, labelled or not: one a
 * RayService made before place labelled it carries none of the tool's labels, and its remote
 * workers are no less live.
 */
async function ownersHere(client: ClusterClient, scope: CollectScope, signal?: AbortSignal): Promise<Pick<CollectedCluster, 'rayClusters' | 'groups' | 'rayObjects'>> {
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  const [clusters, ...tops] = await Promise.all([
    client.list<KubeObject>(RESOURCES.rayclusters, {namespace: scope.namespace, signal}),
    ...RAY_KINDS.filter((kind) => kind !== 'RayCluster').map(async (kind) =>
      (await client.list<KubeObject>(resourceForKind(kind)!, {namespace: scope.namespace, labelSelector: selector, signal})).items.map((o) => ({...o, apiVersion: 'ray.io/v1', kind})),
    ),
  ]);
  const rayClusters = new Set<string>();
  const groups = new Set<string>();
  const rayObjects = new Map<string, KubeObject>();
  for (const o of clusters.items) if (!terminating(o)) rayClusters.add(o.metadata?.uid ?? '');
  // A group is its top Ray object, found by name as every command finds it: a RayCluster a RayService
  // or RayJob controls belongs to that one's group.
  const own = clusters.items.filter((o) => labelOf(o, MANAGED_BY_LABEL) === MANAGED_BY && !o.metadata?.ownerReferences?.some((r) => r.controller)).map((o) => ({...o, apiVersion: 'ray.io/v1', kind: 'RayCluster'}));
  for (const o of [...own, ...tops.flat()]) {
    const name = o.metadata?.name ?? '';
    if (scope.groups && !scope.groups.includes(name)) continue;
    groups.add(`${o.metadata?.namespace}/${name}`);
    rayObjects.set(`${o.metadata?.namespace}/${name}`, o);
  }
  return {rayClusters, groups, rayObjects};
}

/**
 * Looks at the whole fleet, then removes what was made for RayClusters and groups that are gone.
 * What each cluster holds is read before any cluster's RayClusters: an object whose owner is then
 * missing was made for one that is gone, never for one made since.
 */
export async function collectLeftovers(
  fleet: Fleet,
  scope: CollectScope,
  options: {dryRun: boolean; signal?: AbortSignal; /** Change nothing unless every cluster answered (delete GROUP). */ allOrNothing?: boolean},
): Promise<CollectResult> {
  const {signal} = options;
  const reasonOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
  const first = await Promise.all(
    fleet.clusters.map(async (client) => {
      try {
        const [ns, held] = await Promise.all([client.get<KubeObject>(RESOURCES.namespaces, KUBE_SYSTEM, undefined, signal), madeHere(client, scope, signal)]);
        return {client, id: ns.metadata?.uid ?? client.context, ...held};
      } catch (err) {
        if (signal?.aborted) throw err;
        return {client, id: client.context, unobserved: reasonOf(err), made: [], locked: []};
      }
    }),
  );
  const clusters: CollectedCluster[] = await Promise.all(
    first.map(async (c): Promise<CollectedCluster> => {
      const base = {id: c.id, context: c.client.context, made: c.made, locked: c.locked, rayClusters: new Set<string>(), groups: new Set<string>()};
      if ('unobserved' in c) return {...base, unobserved: c.unobserved};
      try {
        return {...base, ...(await ownersHere(c.client, scope, signal))};
      } catch (err) {
        if (signal?.aborted) throw err;
        return {...base, unobserved: reasonOf(err)};
      }
    }),
  );
  const unobserved = clusters.filter((c) => c.unobserved).map((c) => ({context: c.context, reason: c.unobserved!}));
  const dryRun = options.dryRun || (options.allOrNothing === true && unobserved.length > 0);
  const result: CollectResult = {steps: [], unobserved, dryRun, warnings: []};
  const collected: Array<{leftover: Leftover; step: Step}> = [];
  for (const l of leftovers(clusters)) {
    const client = fleet.clusters[clusters.findIndex((c) => c.id === l.cluster)]!;
    const type = resourceForKind(l.object.kind!)!;
    const name = l.object.metadata?.name ?? '';
    const step: Step = {action: l.action, object: `${type.kind.toLowerCase()}/${name}`, context: client.context, why: l.why};
    if (dryRun) {
      result.steps.push(step);
      continue;
    }
    if (l.action === 'release') {
      try {
        await client.patch(RESOURCES.pods, name, l.object.metadata?.namespace, unlockPatch(), 'strategic', {signal});
        result.steps.push(step);
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 404)) throw err;
      }
    } else if (await deleteObserved(client, type, l.object, signal)) {
      result.steps.push(step);
      collected.push({leftover: l, step});
    }
  }
  await tellCollected(fleet, clusters, collected, result, signal);
  return result;
}

/**
 * A Collected Event on each Ray object that is still there (a RayJob that retried, a RayService
 * that upgraded) for what went of its gone RayClusters, so that `kubectl describe` tells it. A
 * group whose Ray object is gone has nothing to tell it on.
 */
async function tellCollected(fleet: Fleet, clusters: CollectedCluster[], collected: Array<{leftover: Leftover; step: Step}>, result: CollectResult, signal?: AbortSignal): Promise<void> {
  const told = new Map<string, {home: number; object: KubeObject; lines: string[]}>();
  for (const {leftover, step} of collected) {
    const homeIndex = clusters.findIndex((c) => c.id === labelOf(leftover.object, HOME_CLUSTER_LABEL));
    const key = `${leftover.object.metadata?.namespace}/${labelOf(leftover.object, GROUP_LABEL)}`;
    const object = clusters[homeIndex]?.rayObjects?.get(key);
    if (!object) continue;
    const entry = told.get(`${homeIndex} ${key}`) ?? {home: homeIndex, object, lines: []};
    entry.lines.push(`${step.action} ${step.object} in ${step.context}: ${step.why}`);
    told.set(`${homeIndex} ${key}`, entry);
  }
  for (const {home, object, lines} of told.values()) {
    const failed = await recordEvent(fleet.clusters[home]!, object, 'Collected', lines.join('; '), signal);
    if (failed) result.warnings.push(`the Collected event was not recorded: ${failed}`);
  }
}
