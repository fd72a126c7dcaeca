import {InputError} from '../errors.js';
import type {ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {describeObject, RESOURCES, resourceForKind, type ResourceType} from '../kube/resources.js';
import type {KubeObject, Pod} from '../kube/types.js';
import {RAY_KINDS, type RayKind} from '../kuberay/demand.js';
import {GROUP_LABEL, HOME_CLUSTER_LABEL, MANAGED_BY, MANAGED_BY_LABEL, RAY_CLUSTER_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {
  CILIUM_GLOBAL,
  ciliumHeadServiceCopy,
  globalHeadServicePatch,
  holdPatch,
  ownerReferencePatch,
  placeholderName,
  placeholderPod,
  podReferences,
  remoteWorkerPod,
  type SwapContext,
} from '../kuberay/swap.js';
import {ClusterRoom} from '../placement/fit.js';
import {explainMiss} from '../placement/reasons.js';
import {podShape} from '../placement/snapshot.js';
import {recordEvent} from './events.js';
import {observeFleet, type ObservedCluster} from './observe.js';

export interface SpanOptions {
  /** GROUP: rayservice/NAME, raycluster/NAME, rayjob/NAME or a bare NAME. */
  group: string;
  namespace: string;
  /** --to: the only cluster to span to. */
  to?: string;
  dryRun: boolean;
  copySecrets: boolean;
  signal?: AbortSignal;
  /** Where placeholder names come from; tests may fix it. */
  random?: () => number;
}

export interface SpanMove {
  /** The Pending worker that moves. */
  pending: string;
  workerGroup: string;
  /** The name it runs under, as placeholder at home and as remote worker there. */
  name: string;
  to: string;
}

export interface SpanResult {
  group: string;
  kind: RayKind;
  namespace: string;
  home: string;
  rayCluster: string;
  moves: SpanMove[];
  /** Pending workers that fit no other cluster either, with the reason. */
  stuck: Array<{pending: string; reason: string}>;
  dryRun: boolean;
  warnings: string[];
}

function parseGroupRef(ref: string): {kind?: RayKind; name: string} {
  const slash = ref.indexOf('/');
  if (slash < 0) return {name: ref};
  const kindWord = ref.slice(0, slash).toLowerCase();
  const kind = RAY_KINDS.find((k) => k.toLowerCase() === kindWord || `${k.toLowerCase()}s` === kindWord);
  if (!kind) throw new InputError(`"${ref}" does not name a Ray app`, 'use rayservice/NAME, raycluster/NAME, rayjob/NAME or NAME');
  return {kind, name: ref.slice(slash + 1)};
}

/** Finds the group's Ray object in the fleet. Its cluster is the home. */
async function findGroup(usable: ObservedCluster[], ref: {kind?: RayKind; name: string}, namespace: string, signal?: AbortSignal) {
  const kinds = ref.kind ? [ref.kind] : RAY_KINDS;
  const found = (
    await Promise.all(
      usable.flatMap((o) =>
        kinds.map(async (kind) => {
          const object = await o.client.find<KubeObject>(resourceForKind(kind)!, ref.name, namespace, signal);
          return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? {home: o, kind, object} : undefined;
        }),
      ),
    )
  ).filter((f) => f !== undefined);
  return found;
}

/** The live RayCluster KubeRay counts the workers of. */
function liveRayClusterName(kind: RayKind, object: KubeObject): string | undefined {
  const status = object.status as {activeServiceStatus?: {rayClusterName?: string}; rayClusterName?: string} | undefined;
  if (kind === 'RayCluster') return object.metadata?.name;
  if (kind === 'RayService') return status?.activeServiceStatus?.rayClusterName;
  return status?.rayClusterName;
}

function isUnschedulable(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') ?? false;
}

function copyOf(obj: KubeObject, ctx: SwapContext, role: 'dependency-copy'): KubeObject {
  const {metadata, ...rest} = obj;
  const clean: KubeObject = {...rest, metadata: {name: metadata?.name, namespace: metadata?.namespace, labels: {...metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: ctx.group, [ROLE_LABEL]: role, [HOME_CLUSTER_LABEL]: ctx.homeClusterId}}};
  delete clean.status;
  delete (clean as {secrets?: unknown}).secrets;
  return clean;
}

interface PlannedMove extends SpanMove {
  pod: Pod;
  target: ObservedCluster;
}

/**
 * Moves the group's workers that the home cluster's scheduler could not place to other clusters,
 * by the swap of DESIGN.md §4: make the target ready, create a placeholder at home, create the
 * remote worker under its name, delete the Pending pod, then give the placeholder its controller
 * ownerReference. KubeRay's count is right at every step. Everything is checked before the first
 * write, so bad input changes nothing.
 */
export async function spanGroup(fleet: Fleet, options: SpanOptions): Promise<SpanResult> {
  const ref = parseGroupRef(options.group);
  const {namespace, signal} = options;
  if (options.to) fleet.cluster(options.to);
  const observed = await observeFleet(fleet, signal);
  const usable = observed.filter((o) => o.snapshot);
  const degraded = observed.filter((o) => !o.snapshot);
  const found = await findGroup(usable, ref, namespace, signal);
  if (found.length === 0) {
    if (degraded.length > 0) {
      throw new Error(`cannot find group "${ref.name}": context(s) ${degraded.map((d) => `"${d.client.context}"`).join(', ')} did not answer; retry when they do`);
    }
    throw new InputError(`group "${ref.name}" is not placed in namespace "${namespace}" of any fleet cluster`, 'place it first with "kubectl superskyray place -f FILE", or fix the name and -n');
  }
  if (found.length > 1) throw new InputError(`"${ref.name}" names several groups (${found.map((f) => f.kind).join(', ')})`, `say which, e.g. ${found[0]!.kind.toLowerCase()}/${ref.name}`);
  const {home, kind, object} = found[0]!;
  const rcName = liveRayClusterName(kind, object);
  if (!rcName) throw new Error(`${kind} "${ref.name}" in context "${home.client.context}" has no RayCluster yet; try again once KubeRay has made it`);
  const rayCluster = await home.client.get<KubeObject>(RESOURCES.rayclusters, rcName, namespace, signal);
  // With the autoscaler on, KubeRay never deletes a worker on its own, so a moment of one worker
  // too many is harmless and a new placeholder pod can take the Pending pod's place. Without it,
  // KubeRay deletes a random worker, running ones included, whenever it counts one too many (seen on
  // the real operator when a reconcile fell between "placeholder created" and "Pending deleted").
  // There the Pending pod itself becomes the placeholder: held by our finalizer and deleted, it
  // stays counted and is never scheduled, so the count never moves.
  const autoscaling = (rayCluster.spec as {enableInTreeAutoscaling?: boolean} | undefined)?.enableInTreeAutoscaling === true;

  const homePods = await home.client.list<Pod>(RESOURCES.pods, {namespace, labelSelector: `${RAY_CLUSTER_LABEL}=${rcName}`, signal});
  const pendingWorkers = homePods.items.filter(
    (p) =>
      p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'worker' &&
      !p.metadata?.labels?.[ROLE_LABEL] &&
      !p.spec?.nodeName &&
      !p.metadata?.deletionTimestamp &&
      isUnschedulable(p),
  );

  const targets = byPriority(usable.filter((o) => o !== home && (!options.to || o.client.context === options.to)));
  if (options.to && targets.length === 0) {
    throw new InputError(`context "${options.to}" cannot take workers: it is the home of "${ref.name}" or did not answer`, 'pick another cluster of the fleet with --to');
  }
  const rooms = new Map(targets.map((t) => [t, ClusterRoom.afterPending(t.snapshot!)]));
  const random = options.random ?? Math.random;
  const planned: PlannedMove[] = [];
  const stuck: SpanResult['stuck'] = [];
  for (const pod of pendingWorkers) {
    const shape = podShape(pod.spec!);
    const target = targets.find((t) => rooms.get(t)!.fit(shape, 1) === 1);
    const podName = pod.metadata?.name ?? '';
    if (!target) {
      const why = targets.flatMap((t) => rooms.get(t)!.misses(shape).slice(0, 2).map((m) => explainMiss(t.client.context, m.node, m.miss)));
      stuck.push({pending: podName, reason: why.join('; ') || 'no other cluster in the fleet'});
      continue;
    }
    planned.push({
      pod,
      target,
      pending: podName,
      workerGroup: pod.metadata?.labels?.['ray.io/group'] ?? '',
      name: autoscaling ? placeholderName(pod.metadata?.generateName ?? `${podName}-`, random) : podName,
      to: target.client.context,
    });
  }

  // Reads and checks for every move before the first write.
  const headName = headServiceName('RayCluster', rcName, rayCluster.spec);
  const headService = await home.client.get<KubeObject>(RESOURCES.services, headName, namespace, signal);
  const dependencies = new Map<ObservedCluster, {namespaceExists: boolean; copies: KubeObject[]}>();
  for (const move of planned) {
    if (dependencies.has(move.target)) continue;
    const refs = podReferences(move.pod.spec!);
    const copies: KubeObject[] = [];
    const ctx = swapContext(move, home, ref.name, rcName, rayCluster);
    const wanted: Array<[ResourceType, string]> = [
      ...refs.configMaps.map((n) => [RESOURCES.configmaps, n] as [ResourceType, string]),
      ...refs.secrets.map((n) => [RESOURCES.secrets, n] as [ResourceType, string]),
      ...(refs.serviceAccount !== 'default' ? [[RESOURCES.serviceaccounts, refs.serviceAccount] as [ResourceType, string]] : []),
    ];
    for (const [type, name] of wanted) {
      if (await move.target.client.find(type, name, namespace, signal)) continue;
      if (type === RESOURCES.secrets && !options.copySecrets) {
        throw new InputError(
          `${describeObject(type, name, namespace)} is missing in context "${move.target.client.context}", and the workers need it`,
          'create it there, or pass --copy-secrets to copy it from the home cluster',
        );
      }
      const source = await home.client.find<KubeObject>(type, name, namespace, signal);
      if (!source) throw new InputError(`${describeObject(type, name, namespace)} is missing in the home cluster "${home.client.context}" too`, 'create it, then run span again');
      copies.push(copyOf(source, ctx, 'dependency-copy'));
    }
    const namespaceExists = (await move.target.client.find(RESOURCES.namespaces, namespace, undefined, signal)) !== undefined;
    dependencies.set(move.target, {namespaceExists, copies});
  }

  const result: SpanResult = {
    group: ref.name,
    kind,
    namespace,
    home: home.client.context,
    rayCluster: rcName,
    moves: planned.map(({pending, workerGroup, name, to}) => ({pending, workerGroup, name, to})),
    stuck,
    dryRun: options.dryRun,
    warnings: [],
  };
  if (options.dryRun || planned.length === 0) return result;

  // Make every target ready: namespace, copies, the head Service reachable through the mesh.
  const headNeedsGlobal = headService.metadata?.annotations?.[CILIUM_GLOBAL] !== 'true';
  if (headNeedsGlobal) {
    await home.client.patch(RESOURCES.services, headName, namespace, globalHeadServicePatch(), 'merge', {signal});
  }
  for (const [target, needs] of dependencies) {
    const client = target.client;
    if (!needs.namespaceExists) {
      await createIfAbsent(client, RESOURCES.namespaces, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {name: namespace, labels: {[MANAGED_BY_LABEL]: MANAGED_BY, [GROUP_LABEL]: ref.name, [ROLE_LABEL]: 'dependency-copy'}},
      }, signal);
    }
    for (const copy of needs.copies) await createIfAbsent(client, resourceForKind(copy.kind)!, copy, signal);
    const ctx = swapContext(planned.find((m) => m.target === target)!, home, ref.name, rcName, rayCluster);
    if (!(await client.find(RESOURCES.services, headName, namespace, signal))) {
      await createIfAbsent(client, RESOURCES.services, ciliumHeadServiceCopy(headService, ctx), signal);
    }
  }

  // The swap, one worker at a time. The remote worker comes first (KubeRay does not count it), so
  // that the placeholder and the Pending pod coexist for one request only; with the autoscaler on,
  // a KubeRay reconcile in that moment sees one worker too many and leaves it alone.
  for (const move of planned) {
    const ctx = swapContext(move, home, ref.name, rcName, rayCluster);
    await createIfAbsent(move.target.client, RESOURCES.pods, remoteWorkerPod(move.pod, move.name, ctx), signal);
    if (autoscaling) {
      await createIfAbsent(home.client, RESOURCES.pods, placeholderPod(move.pod, move.name, ctx), signal);
    } else {
      await home.client.patch(RESOURCES.pods, move.pending, namespace, holdPatch(ctx), 'strategic', {signal});
    }
    try {
      await home.client.delete(RESOURCES.pods, move.pending, namespace, {uid: move.pod.metadata?.uid, signal});
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 404)) throw err;
    }
    if (autoscaling) {
      await home.client.patch(RESOURCES.pods, move.name, namespace, ownerReferencePatch({name: rcName, uid: rayCluster.metadata?.uid ?? ''}), 'merge', {signal});
    }
    const failed = await recordEvent(
      home.client,
      {...rayCluster, apiVersion: 'ray.io/v1', kind: 'RayCluster'},
      'Spanned',
      `worker ${move.pending} of group ${move.workerGroup} did not fit here; it runs in ${move.to} as ${move.name}, with a placeholder here`,
      signal,
    );
    if (failed) result.warnings.push(`the Spanned event was not recorded: ${failed}`);
  }
  return result;
}

function swapContext(move: PlannedMove, home: ObservedCluster, group: string, rcName: string, rayCluster: KubeObject): SwapContext {
  return {
    group,
    homeClusterId: home.snapshot!.id,
    remoteClusterId: move.target.snapshot!.id,
    rayCluster: {name: rcName, uid: rayCluster.metadata?.uid ?? ''},
  };
}

function byPriority(clusters: ObservedCluster[]): ObservedCluster[] {
  return [...clusters].sort((a, b) => b.snapshot!.priority - a.snapshot!.priority);
}

/** A create that is safe to repeat: an object already there (from an earlier, interrupted run) is fine. */
async function createIfAbsent(client: ClusterClient, type: ResourceType, obj: KubeObject, signal?: AbortSignal): Promise<void> {
  try {
    await client.create(type, obj, {signal});
  } catch (err) {
    if (!(err instanceof KubeError && err.code === 409 && err.reason === 'AlreadyExists')) throw err;
  }
}
