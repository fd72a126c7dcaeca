import {InputError} from '../errors.js';
import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES, resourceForKind, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Pod} from '../kube/types.js';
import {RAY_KINDS, type RayKind} from '../kuberay/demand.js';
import {headServiceName} from '../kuberay/names.js';
import {placeholderBudgetName, SLICE_MANAGED_BY_LABEL} from '../kuberay/swap.js';
import {POLICY_ANNOTATION, RELOCATED_FROM_ANNOTATION, type GroupPolicy} from '../kuberay/group.js';
import {GROUP_LABEL, HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {observeFleet, type ObservedCluster} from './observe.js';

export interface GroupRef {
  kind?: RayKind;
  name: string;
}

/** GROUP as users write it: rayservice/NAME, raycluster/NAME, rayjob/NAME (plurals too) or NAME. */
export function parseGroupRef(ref: string): GroupRef {
  const slash = ref.indexOf('/');
  if (slash < 0) return {name: ref};
  const kindWord = ref.slice(0, slash).toLowerCase();
  const kind = RAY_KINDS.find((k) => k.toLowerCase() === kindWord || `${k.toLowerCase()}s` === kindWord);
  if (!kind || slash === ref.length - 1) throw new InputError(`"${ref}" does not name a Ray app`, 'use rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME');
  return {kind, name: ref.slice(slash + 1)};
}

/** What the tool made for a group in a cluster other than its home. */
export interface RemoteSide {
  cluster: ObservedCluster;
  /** False when the cluster did not answer in full: nothing of it may be taken to be missing. */
  observed: boolean;
  /** Remote workers of the group's live RayCluster. */
  workers: Pod[];
  /**
   * Remote workers of the group's other RayClusters: a RayService's other one while it upgrades,
   * or one that KubeRay deleted (a RayJob's earlier attempt, an upgrade's old cluster).
   */
  others: Pod[];
  /** Head-Service copies and dependency copies (ConfigMaps, Secrets, ServiceAccounts). */
  copies: KubeObject[];
}

/** What every look at a placed group finds, whether or not KubeRay has made its RayCluster yet. */
export interface GroupLook {
  name: string;
  kind: RayKind;
  namespace: string;
  home: ObservedCluster;
  /** The top Ray object: the RayService, RayCluster or RayJob. */
  object: KubeObject;
  /** Every pod of the live RayCluster at home, terminating ones included; without one, the group's own pods there. */
  homePods: Pod[];
  remotes: RemoteSide[];
  /** The whole fleet as observed, for placement decisions. */
  fleet: ObservedCluster[];
  /**
   * Every RayCluster at home that belongs to the group's Ray object and is not being deleted:
   * remote objects made for any other are left over, matched by RayCluster UID.
   */
  rayClusters: GroupRayCluster[];
  /** What `place` recorded: the fleet, the relocate policy and the mesh mode. */
  policy?: Partial<GroupPolicy>;
  /** How remote workers reach the head (the policy's mesh mode). */
  mesh: GroupPolicy['mesh'];
  /** The image of the placeholders made for it (--placeholder-image, the fleet file); the default when unset. */
  placeholderImage?: string;
  /** How long a remote worker may take to start before it is given up on (--join-timeout); the default when unset. */
  joinTimeoutMs?: number;
  /** When it was looked at (ms since the epoch): how old a remote worker is, is judged from it. */
  observedAt?: number;
  /** --claim and the fleet file's claims: the claim remote workers mount in place of a home one. */
  claims?: Readonly<Record<string, string>>;
}

export interface GroupRayCluster {
  name: string;
  uid: string;
  /** Its head Service's name: a head-Service copy of another name is not for it. */
  headService: string;
}

/** The home head Service as read with the group: `service` is absent when it is not there. */
export type HeadServiceLook = {read: true; service?: KubeObject} | {read: false; problem: string};

/** One group as the reconciler sees it, across the fleet. */
export interface GroupState extends GroupLook {
  /** The live RayCluster whose pods KubeRay counts. */
  rayCluster: KubeObject & {metadata: {name: string; uid: string}};
  /** With in-tree autoscaling the Ray autoscaler owns replicas and workersToDelete. */
  autoscaling: boolean;
  /** The home head Service, read with the group: it decides collapse and what status shows. */
  homeHead: HeadServiceLook;
  /**
   * The objects at home that the dependency copies in other clusters were made from, as they are
   * now (a copy follows its source); one that is gone, or could not be read, is not among them.
   */
  copySources: KubeObject[];
  /** Whether home has the placeholders' PodDisruptionBudget; undefined when it could not be read. */
  placeholderBudget: boolean | undefined;
  /** Set while the group moves whole to another cluster: it already runs there too. */
  relocation?: {target: ObservedCluster; object: KubeObject};
}

/**
 * A RayService or RayJob for which KubeRay has made no RayCluster (yet): a suspended RayJob, or one
 * whose operator is not running. It can still be looked at and deleted; there is nothing to span.
 */
export interface UnstartedGroup extends GroupLook {
  unstarted: string;
  /** The RayCluster the Ray object names, which is not there: KubeRay deleted it (a RayJob's, once the job ended) or has yet to make it. */
  named?: string;
}

interface Found {
  home: ObservedCluster;
  kind: RayKind;
  object: KubeObject;
}

/** Two copies of a group, one made by relocating the other: the old one is still the home until the move finishes. */
function relocationOf(found: Found[]): {from: Found; to: Found} | undefined {
  if (found.length !== 2) return undefined;
  const pairs: Array<[Found, Found]> = [[found[0]!, found[1]!], [found[1]!, found[0]!]];
  for (const [to, from] of pairs) {
    if (to.kind === from.kind && to.object.metadata?.annotations?.[RELOCATED_FROM_ANNOTATION] === from.home.snapshot?.id) return {from, to};
  }
  return undefined;
}

/** The policy `place` recorded on the Ray object; undefined when it is missing or unreadable. */
export function policyOf(object: KubeObject): Partial<GroupPolicy> | undefined {
  try {
    const text = object.metadata?.annotations?.[POLICY_ANNOTATION];
    return text ? (JSON.parse(text) as Partial<GroupPolicy>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The live RayCluster KubeRay counts the workers of. A RayService's is the active one, or, before
 * any has served, the pending one it is bringing up.
 */
export function liveRayClusterName(kind: RayKind, object: KubeObject): string | undefined {
  const status = object.status as
    | {activeServiceStatus?: {rayClusterName?: string}; pendingServiceStatus?: {rayClusterName?: string}; rayClusterName?: string}
    | undefined;
  if (kind === 'RayCluster') return object.metadata?.name;
  if (kind === 'RayService') return status?.activeServiceStatus?.rayClusterName || status?.pendingServiceStatus?.rayClusterName || undefined;
  return status?.rayClusterName;
}

/** Every RayCluster the Ray object names: the live one first, then a RayService's pending one while it upgrades. */
export function rayClusterNames(kind: RayKind, object: KubeObject): string[] {
  const live = liveRayClusterName(kind, object);
  const pending = kind === 'RayService' ? (object.status as {pendingServiceStatus?: {rayClusterName?: string}} | undefined)?.pendingServiceStatus?.rayClusterName : undefined;
  return [...new Set([live, pending].filter((n): n is string => Boolean(n)))];
}

function contexts(clusters: ObservedCluster[]): string {
  return clusters.map((c) => `"${c.client.context}"`).join(', ');
}

/**
 * Finds a placed group and observes everything the tool knows of it: the home's pods of the live
 * RayCluster, and in every other cluster the remote workers and copies made for it. One list per
 * kind and cluster, selected by label; never one GET per pod. A cluster that does not answer stops
 * the search for the group (it might be the home); once the home is known, other clusters that do
 * not answer are kept as unobserved.
 */
export async function observeGroup(fleet: Fleet, refText: string, namespace: string, signal?: AbortSignal, options: {rayCluster?: string} = {}): Promise<GroupState> {
  const look = await lookAtGroup(fleet, refText, namespace, signal, options);
  if ('unstarted' in look) throw new UnstartedError(`${look.unstarted}; try again once KubeRay has made it`, look.kind);
  return look;
}

/** No fleet cluster that answered holds the group's Ray object: never placed, or deleted since. */
export class NotPlacedError extends InputError {}

/** The group's Ray object has no RayCluster yet: nothing to act on until KubeRay makes one. */
export class UnstartedError extends Error {
  override readonly name = 'UnstartedError';

  constructor(
    message: string,
    /** The Ray object's kind: KubeRay always makes a RayService a RayCluster, a RayJob not always again. */
    readonly kind?: RayKind,
  ) {
    super(message);
  }
}

export interface LookOptions {
  rayCluster?: string;
  /** false: who each cluster is, and nothing of its room until readRoom. */
  room?: boolean;
  /** The fleet as already observed, in fleet order (status -A, which reads every group from one look). */
  observed?: ObservedCluster[];
  /** false: the dependency copies' sources are not read (one GET each), and no copy is found out of date. */
  copySources?: false;
}

/** observeGroup, but a Ray object without a RayCluster is an answer too (for status and delete). */
export async function lookAtGroup(
  fleet: Fleet,
  refText: string,
  namespace: string,
  signal?: AbortSignal,
  options: LookOptions = {},
): Promise<GroupState | UnstartedGroup> {
  const ref = parseGroupRef(refText);
  const kinds = ref.kind ? [ref.kind] : RAY_KINDS;
  // Asked of every cluster together with who it is, a round trip sooner. Only the answers of the
  // clusters that answered every question count; the others' failures are observeFleet's to report.
  const finds = fleet.clusters.map((client, i) =>
    options.observed && !options.observed[i]?.snapshot
      ? Promise.resolve([])
      : Promise.all(kinds.map(async (kind) => ({kind, object: await client.find<KubeObject>(resourceForKind(kind)!, ref.name, namespace, signal)}))),
  );
  for (const f of finds) f.catch(() => undefined);
  const observed = options.observed ?? (await observeFleet(fleet, signal, {room: options.room ?? true}));
  const degraded = observed.filter((o) => !o.snapshot);
  const found = (await Promise.all(observed.map(async (o, i) => (o.snapshot ? (await finds[i]!).map((f) => ({home: o, ...f})) : []))))
    .flat()
    .filter((f): f is {home: ObservedCluster; kind: RayKind; object: KubeObject} => f.object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
  if (found.length === 0) {
    if (degraded.length > 0) throw new Error(`cannot find group "${ref.name}": context(s) ${contexts(degraded)} did not answer; retry when they do`);
    throw new NotPlacedError(`group "${ref.name}" is not placed in namespace "${namespace}" of any fleet cluster`, 'place it first with "kubectl superskyray place -f FILE", or fix the name and -n');
  }
  const relocation = relocationOf(found);
  if (relocation) {
    found.splice(found.indexOf(relocation.to), 1);
  }
  if (found.length > 1) {
    const where = found.map((f) => `${f.kind.toLowerCase()}/${ref.name} in "${f.home.client.context}"`).join(', ');
    throw new InputError(`"${refText}" names several groups: ${where}`, `say which kind, e.g. ${found[0]!.kind.toLowerCase()}/${ref.name}, or narrow the fleet with --context`);
  }
  const {home, kind, object} = found[0]!;
  const rcName = options.rayCluster ?? liveRayClusterName(kind, object);
  const homeId = home.snapshot!.id;
  // Everything the tool makes carries its managed-by label: with it, watch's cache answers this list.
  const toolSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY},${GROUP_LABEL}=${ref.name},${HOME_CLUSTER_LABEL}=${homeId}`;
  // Without a live RayCluster, what is the group's is what carries its label.
  const homeSelector = rcName ? `${RAY_CLUSTER_LABEL}=${rcName}` : `${GROUP_LABEL}=${ref.name}`;

  // What was made for a RayCluster is read before the RayClusters themselves: a remote object
  // whose RayCluster is then missing was made for one that is gone, never for one made since.
  const [homePods, remotes] = await Promise.all([
    home.client.list<Pod>(RESOURCES.pods, {namespace, labelSelector: homeSelector, signal}),
    Promise.all(
      observed
        .filter((o) => o !== home)
        .map(async (cluster): Promise<RemoteSide> => {
          if (!cluster.snapshot) return {cluster, observed: false, workers: [], others: [], copies: []};
          try {
            const [pods, copies] = await Promise.all([
              cluster.client.list<Pod>(RESOURCES.pods, {namespace, labelSelector: toolSelector, signal}),
              listCopies(cluster.client, namespace, toolSelector, signal),
            ]);
            const live = (p: Pod) => !rcName || p.metadata?.labels?.[RAY_CLUSTER_LABEL] === rcName;
            return {cluster, observed: true, workers: pods.items.filter(live), others: pods.items.filter((p) => !live(p)), copies};
          } catch (err) {
            if (err instanceof KubeError && err.code !== 403) return {cluster, observed: false, workers: [], others: [], copies: []};
            throw err;
          }
        }),
    ),
  ]);
  const [rayCluster, groupClusters] = await Promise.all([
    // A RayService names its new RayCluster in its status a moment before KubeRay creates it.
    rcName ? home.client.find<GroupState['rayCluster']>(RESOURCES.rayclusters, rcName, namespace, signal) : undefined,
    // Every RayCluster of the namespace, not only those with the group's labels: KubeRay copies a
    // RayService's labels onto a RayCluster only when it makes it, and one made before place
    // labelled the RayService would otherwise look gone. Owner UIDs decide.
    home.client.list<KubeObject>(RESOURCES.rayclusters, {namespace, signal}),
  ]);
  const look: GroupLook = {
    name: ref.name,
    kind,
    namespace,
    home,
    object: {...object, apiVersion: 'ray.io/v1', kind},
    policy: policyOf(object),
    mesh: policyOf(object)?.mesh ?? 'cilium',
    ...(fleet.placeholderImage ? {placeholderImage: fleet.placeholderImage} : {}),
    ...(fleet.joinTimeoutMs !== undefined ? {joinTimeoutMs: fleet.joinTimeoutMs} : {}),
    observedAt: Date.now(),
    ...(Object.keys(fleet.claims).length > 0 ? {claims: fleet.claims} : {}),
    homePods: homePods.items.map((p) => ({...p, apiVersion: 'v1', kind: 'Pod'})),
    remotes,
    fleet: observed,
    rayClusters: groupClusters.items.filter((rc) => belongsTo(rc, kind, object) && !rc.metadata?.deletionTimestamp).map(groupRayCluster),
  };
  if (!rayCluster) {
    return rcName
      ? {...look, named: rcName, unstarted: `${kind} "${ref.name}" in context "${home.client.context}" has no RayCluster: "${rcName}" is not there`}
      : {...look, unstarted: `${kind} "${ref.name}" in context "${home.client.context}" has no RayCluster yet`};
  }
  // Either one unreadable leaves the group observed: status says so, and nothing is decided from it.
  const [homeHead, placeholderBudget, copySources] = await Promise.all([
    home.client.find<KubeObject>(RESOURCES.services, headServiceName('RayCluster', rayCluster.metadata.name, rayCluster.spec), namespace, signal).then(
      (service): HeadServiceLook => ({read: true as const, ...(service ? {service} : {})}),
      (err: unknown): HeadServiceLook => {
        if (err instanceof KubeError) return {read: false as const, problem: err.detail};
        throw err;
      },
    ),
    home.client.find<KubeObject>(RESOURCES.poddisruptionbudgets, placeholderBudgetName(rayCluster.metadata.name), namespace, signal).then(
      (pdb) => pdb !== undefined && !pdb.metadata?.deletionTimestamp,
      (err: unknown) => {
        if (err instanceof KubeError) return undefined;
        throw err;
      },
    ),
    options.copySources === false ? [] : readCopySources(home, namespace, remotes, signal),
  ]);
  return {
    ...(relocation ? {relocation: {target: relocation.to.home, object: {...relocation.to.object, apiVersion: 'ray.io/v1', kind}}} : {}),
    ...look,
    rayCluster: {...rayCluster, apiVersion: 'ray.io/v1', kind: 'RayCluster'},
    homeHead,
    placeholderBudget,
    copySources,
    autoscaling: (rayCluster.spec as {enableInTreeAutoscaling?: boolean} | undefined)?.enableInTreeAutoscaling === true,
  };
}

/** One GET per object that some dependency copy was made from (a few per group), never a list of all ConfigMaps. */
async function readCopySources(home: ObservedCluster, namespace: string, remotes: RemoteSide[], signal?: AbortSignal): Promise<KubeObject[]> {
  const wanted = new Map<string, {kind: string; name: string}>();
  for (const side of remotes) {
    for (const c of side.copies) {
      if (c.metadata?.labels?.[ROLE_LABEL] === 'dependency-copy' && c.kind) wanted.set(`${c.kind}/${c.metadata.name}`, {kind: c.kind, name: c.metadata.name ?? ''});
    }
  }
  const found = await Promise.all(
    [...wanted.values()].map(async ({kind, name}) => {
      try {
        const source = await home.client.find<KubeObject>(resourceForKind(kind)!, name, namespace, signal);
        return source ? [{...source, apiVersion: 'v1', kind}] : [];
      } catch (err) {
        // Unreadable (no Secrets role, say): the copy stays as it is.
        if (err instanceof KubeError) return [];
        throw err;
      }
    }),
  );
  return found.flat();
}

/** A RayCluster of the group: the group itself, or one its RayService or RayJob controls. */
function belongsTo(rc: KubeObject, kind: RayKind, object: KubeObject): boolean {
  const uid = object.metadata?.uid;
  if (kind === 'RayCluster') return rc.metadata?.uid === uid;
  return rc.metadata?.ownerReferences?.some((r) => r.controller && r.uid === uid) ?? false;
}

function groupRayCluster(rc: KubeObject): GroupRayCluster {
  const name = rc.metadata?.name ?? '';
  return {name, uid: rc.metadata?.uid ?? '', headService: headServiceName('RayCluster', name, rc.spec)};
}

const COPY_TYPES: ResourceType[] = [RESOURCES.services, RESOURCES.endpointslices, RESOURCES.configmaps, RESOURCES.serviceaccounts, RESOURCES.secrets];

/** The head-Service and dependency copies in one cluster that `selector` picks (undefined namespace: all). */
export async function listCopies(client: ClusterClient, namespace: string | undefined, selector: string, signal?: AbortSignal): Promise<KubeObject[]> {
  const lists = await Promise.all(
    COPY_TYPES.map(async (type) => {
      try {
        const list = await client.list<KubeObject>(type, {namespace, labelSelector: selector, signal});
        // The EndpointSlice controller copies a Service's labels onto the slices it keeps for it:
        // only the slices we keep ourselves are copies of ours.
        const ours = type === RESOURCES.endpointslices ? list.items.filter((o) => o.metadata?.labels?.[SLICE_MANAGED_BY_LABEL] === MANAGED_BY) : list.items;
        return ours.map((item) => ({...item, apiVersion: type.group ? `${type.group}/${type.version}` : type.version, kind: type.kind}));
      } catch (err) {
        // Secrets are copied only with --copy-secrets; a user who may not list them has none of ours.
        if (type === RESOURCES.secrets && err instanceof KubeError && err.code === 403) return [];
        throw err;
      }
    }),
  );
  return lists.flat();
}

/**
 * Whether a Ray object is a group of the tool's. A RayCluster that KubeRay made for a RayService or
 * RayJob carries the labels of its owner too; it belongs to that owner's group, not its own.
 */
export function isGroup(kind: RayKind, o: KubeObject): boolean {
  return o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && (kind !== 'RayCluster' || !o.metadata.ownerReferences?.some((r) => r.controller));
}

/** The Ray objects the tool manages, in one cluster. */
export async function managedRayObjects(client: ClusterClient, namespace: string | undefined, signal?: AbortSignal): Promise<Array<{kind: RayKind; object: KubeObject}>> {
  const lists = await Promise.all(
    RAY_KINDS.map(async (kind) => {
      const list = await client.list<KubeObject>(resourceForKind(kind)!, {namespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`, signal});
      return list.items.filter((o) => isGroup(kind, o)).map((object) => ({kind, object}));
    }),
  );
  return lists.flat();
}

/** The IP of the group's running head pod at home, if it has one. */
export function headPodIP(state: GroupState): string | undefined {
  const head = state.homePods.find((p) => p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'head' && !p.metadata.deletionTimestamp && p.status?.podIP);
  return head?.status?.podIP;
}
