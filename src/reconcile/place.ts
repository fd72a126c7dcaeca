import {InputError} from '../errors.js';
import {FIELD_MANAGER, type ClusterClient} from '../kube/client.js';
import {KubeError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {describeObject, RESOURCES, resourceForKind} from '../kube/resources.js';
import type {KubeObject} from '../kube/types.js';
import {CLUSTER_SPEC_FIELD, clusterSpecOf, rayDemand, type RayKind} from '../kuberay/demand.js';
import {desiredGroupObjects, keepLiveSizes, ownedBy, PLACEMENT_ANNOTATION, type GroupPolicy} from '../kuberay/group.js';
import {policyOf} from './group.js';
import {readGroupManifest} from '../kuberay/manifest.js';
import {decidePlace, type Decision} from '../placement/decide.js';
import {explain} from '../placement/reasons.js';
import {isUpToDate} from './diff.js';
import {recordEvent} from './events.js';
import type {ClusterStatus} from './fleet-status.js';
import {observeFleet, type ObservedCluster} from './observe.js';
import type {LeaseSlot} from './lease.js';
import {settleGroup, waitingFor, type Settled} from './settle.js';
import {preflightTargets, refusalsFor, templateWorker, type PreflightSubject} from './preflight.js';
import {headServiceName} from '../kuberay/names.js';
import {workerGroupTemplate} from '../kuberay/swap.js';

export interface PlaceOptions {
  /** The file name, for messages. */
  source: string;
  text: string;
  /** -n; else the manifest's namespace; else the fleet's contexts'; else "default". */
  namespace?: string;
  /** Undefined: keep what the group was placed with (if-fits for a new group). */
  relocate?: GroupPolicy['relocate'];
  /** Undefined: keep what the group was placed with (cilium for a new group). */
  mesh?: GroupPolicy['mesh'];
  dryRun: boolean;
  forceConflicts: boolean;
  /** Also wait until every worker runs, the remote ones included, and KubeRay counts them ready. */
  wait?: boolean;
  /** Copy the Secrets the workers placed in other clusters need (never done without it). */
  copySecrets?: boolean;
  signal?: AbortSignal;
  /** Told each write of the span as it is made. */
  say?: (line: string) => void;
}

export type ObjectOutcome = 'created' | 'configured' | 'unchanged';

export interface PlacedObject {
  kind: string;
  name: string;
  context: string;
  outcome: ObjectOutcome;
}

export interface PlaceResult {
  group: string;
  kind: RayKind;
  namespace: string;
  home: {context: string; clusterId: string};
  /** True when the group was already placed: it stays where it is. */
  alreadyPlaced: boolean;
  /** The decision, with its reasons, for a group placed now. */
  decision?: Decision;
  reasons: string[];
  objects: PlacedObject[];
  dryRun: boolean;
  /** Clusters that took no part because they did not answer in full. */
  degraded: ClusterStatus[];
  /** Things that went wrong without failing the placement (an Event that could not be recorded). */
  warnings: string[];
  /**
   * The workers the placement put in other clusters, spanned there once KubeRay made them (and
   * the writes of that): only for a placement across clusters, or with --wait.
   */
  span?: Settled;
}

/** A placement that cannot be made: nothing was changed. Exit code 1. */
export class PlacementError extends Error {
  override readonly name = 'PlacementError';
}

async function findExisting(observed: ObservedCluster[], kind: RayKind, name: string, namespace: string, signal?: AbortSignal) {
  const type = resourceForKind(kind)!;
  const found = await Promise.all(
    observed.map(async ({client}) => {
      const object = await client.find<KubeObject>(type, name, namespace, signal);
      return object ? {client, object} : undefined;
    }),
  );
  return found.filter((f) => f !== undefined);
}

export async function hasKubeRay(client: ClusterClient, signal?: AbortSignal): Promise<boolean> {
  try {
    await client.request({path: '/apis/ray.io/v1', object: 'the ray.io/v1 API', signal});
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.code === 404) return false;
    throw err;
  }
}

/** `why`: how this cluster came to be the home, when that is not plain (the preferred one was full). */
async function requireNamespace(client: ClusterClient, namespace: string, why: string | undefined, signal?: AbortSignal): Promise<void> {
  if (!(await client.find(RESOURCES.namespaces, namespace, undefined, signal))) {
    throw new InputError(
      `namespace "${namespace}" does not exist in context "${client.context}"${why ? `, which is to be the home because ${why}` : ''}`,
      `create it (kubectl --context ${client.context} create namespace ${namespace}) or pass another with -n`,
    );
  }
}

/** Whether an apply conflict names no field manager but this tool's own (its updates by patch). */
function conflictsOnlyWithUs(message: string): boolean {
  const managers = [...message.matchAll(/conflicts? with "([^"]+)"/g)].map((m) => m[1]);
  return managers.length > 0 && managers.every((m) => m === FIELD_MANAGER);
}

/** Server-side apply of one of the group's objects at its home, with our field manager. */
async function applyAtHome(client: ClusterClient, desired: KubeObject, options: PlaceOptions): Promise<KubeObject> {
  const type = resourceForKind(desired.kind ?? '')!;
  const name = desired.metadata?.name ?? '';
  const namespace = desired.metadata?.namespace;
  try {
    const apply = (force: boolean) => client.patch<KubeObject>(type, name, namespace, desired, 'apply', {force, signal: options.signal});
    return await apply(options.forceConflicts).catch((err: unknown) => {
      // scale resizes with JSON patches under our own manager name; those fields are ours to take back.
      if (err instanceof KubeError && err.code === 409 && conflictsOnlyWithUs(err.detail)) return apply(true);
      throw err;
    });
  } catch (err) {
    if (err instanceof KubeError && err.code === 409) {
      throw new InputError(
        `${describeObject(type, name, namespace)} in context "${client.context}": ${err.detail}`,
        'another field manager owns those fields; pass --force-conflicts to take them over',
      );
    }
    throw err;
  }
}

/**
 * The clusters other than the planned home that the plan gives workers, which the preflight finds
 * may run none of them (with the remote workers built from the manifest's templates).
 */
async function refusedTargets(
  decision: Decision,
  candidates: ObservedCluster[],
  ray: KubeObject,
  options: {namespace: string; group: string; mesh: GroupPolicy['mesh']; copySecrets: boolean; claims: Readonly<Record<string, string>>; signal?: AbortSignal},
): Promise<Array<{cluster: ObservedCluster; refusals: string[]}>> {
  const away = decision.assignments.filter((a) => a.cluster !== decision.home && Object.values(a.workers).some((n) => n > 0));
  const home = candidates.find((o) => o.snapshot!.id === decision.home);
  if (away.length === 0 || !home) return [];
  const kind = ray.kind as RayKind;
  const clusterSpec = clusterSpecOf(kind, ray.spec);
  const subject: PreflightSubject = {
    namespace: options.namespace,
    // A RayService's and a RayJob's RayCluster is named by KubeRay: no object can be in its way yet.
    rayCluster: options.group,
    ...(kind === 'RayCluster' ? {headService: headServiceName('RayCluster', options.group, clusterSpec)} : {}),
    mesh: options.mesh,
    homeClusterId: home.snapshot!.id,
    claims: options.claims,
  };
  const ctx = {group: options.group, homeClusterId: home.snapshot!.id, remoteClusterId: '', rayCluster: {name: options.group, uid: ''}, claims: options.claims};
  const groups = [...new Set(away.flatMap((a) => Object.entries(a.workers).flatMap(([g, n]) => (n > 0 ? [g] : []))))];
  const workers = new Map(
    groups.flatMap((g) => {
      const template = workerGroupTemplate(clusterSpec, g);
      return template ? [[g, templateWorker(subject, template, ctx)] as const] : [];
    }),
  );
  const targets = away.map((a) => candidates.find((o) => o.snapshot!.id === a.cluster)!).filter(Boolean);
  const checks = await preflightTargets(subject, workers, targets, {copySecrets: options.copySecrets, signal: options.signal, dryRunCreate: true});
  // A cluster is left out of the plan if a group it was to take may not run there: the plan is made again without it.
  return targets.flatMap((cluster) => {
    const planned = Object.entries(away.find((a) => a.cluster === cluster.snapshot!.id)!.workers).flatMap(([g, n]) => (n > 0 ? [g] : []));
    const refusals = refusalsFor(checks.get(cluster.snapshot!.id), planned);
    return refusals.length > 0 ? [{cluster, refusals}] : [];
  });
}

/**
 * Places a group: reads and checks the manifest, observes the fleet, picks the home (or keeps the
 * one it has), and applies every object there with server-side apply, writing only what differs.
 * Bad input fails before anything is contacted; an unreachable cluster stops it, because the group
 * might already live there.
 */
export async function placeGroup(fleet: Fleet, options: PlaceOptions): Promise<PlaceResult> {
  const manifest = readGroupManifest(options.text, options.source, {namespace: options.namespace});
  const namespace = options.namespace ?? manifest.namespace ?? fleet.namespace ?? 'default';
  const demand = rayDemand(manifest.ray, namespace);
  const kind = manifest.ray.kind;
  const group = demand.name;

  const observed = await observeFleet(fleet, options.signal);
  const degraded = observed.filter((o) => !o.snapshot).map((o) => o.status);
  const usable = observed.filter((o) => o.snapshot);
  const existing = await findExisting(usable, kind, group, namespace, options.signal);
  if (existing.length > 1) {
    throw new PlacementError(
      `${kind} "${group}" in namespace "${namespace}" exists in several clusters (${existing.map((e) => e.client.context).join(', ')}); remove all but one copy first`,
    );
  }
  if (existing.length === 0 && degraded.length > 0) {
    const names = degraded.map((d) => `"${d.context}" (${d.state})`).join(', ');
    throw new PlacementError(
      `cannot tell whether ${kind} "${group}" is already placed in ${names}; retry when it answers, or leave it out of the fleet`,
    );
  }

  let home: ObservedCluster;
  let decision: Decision | undefined;
  let placement: unknown;
  const reasons: string[] = [];
  if (existing[0]) {
    const found = existing[0];
    home = usable.find((o) => o.client === found.client)!;
    reasons.push(`${home.client.context}: ${kind} "${group}" is already there, so it stays`);
    const kept = found.object.metadata?.annotations?.[PLACEMENT_ANNOTATION];
    placement = kept ? JSON.parse(kept) : {home: home.status.clusterId};
  } else {
    const withKubeRay = await Promise.all(usable.map(async (o) => ((await hasKubeRay(o.client, options.signal)) ? o : undefined)));
    const candidates = withKubeRay.filter((o): o is ObservedCluster => o !== undefined);
    for (const o of usable) if (!candidates.includes(o)) reasons.push(`${o.client.context}: has no KubeRay CRDs (ray.io/v1), so it cannot be home`);
    if (candidates.length === 0) {
      throw new InputError('no cluster of the fleet has the KubeRay CRDs (ray.io/v1)', 'install the KubeRay operator in the cluster that should run the app');
    }
    decision = decidePlace(demand, candidates.map((o) => o.snapshot!));
    // Workers the plan puts in other clusters: those clusters are checked first, and one that may
    // run none of them is left out of the plan, with its reasons.
    const skipped = await refusedTargets(decision, candidates, manifest.ray, {namespace, group, mesh: options.mesh ?? 'cilium', copySecrets: options.copySecrets ?? false, claims: fleet.claims, signal: options.signal});
    if (skipped.length > 0) {
      reasons.push(...skipped.map((s) => `${s.cluster.client.context} is skipped: ${s.refusals.join('; ')}`));
      decision = decidePlace(demand, candidates.filter((o) => !skipped.some((s) => s.cluster === o)).map((o) => o.snapshot!));
    }
    reasons.push(...decision.reasons.map(explain));
    if (!decision.home) throw new PlacementError(`${kind} "${group}": the head fits no cluster of the fleet (${reasons.join('; ')})`);
    home = candidates.find((o) => o.snapshot!.id === decision!.home)!;
    placement = {home: decision.home, action: decision.action, assignments: decision.assignments, unplaced: decision.unplaced};
  }

  const preferred = usable[0];
  const passedOver = decision && preferred && home !== preferred ? reasons.find((r) => r.startsWith(`${preferred.client.context}:`)) : undefined;
  await requireNamespace(home.client, namespace, passedOver, options.signal);
  // A group already placed keeps the policy it was placed with, unless a flag names another.
  const recorded = existing[0] ? policyOf(existing[0].object) : undefined;
  const policy: GroupPolicy = {
    fleet: usable.map((o) => o.snapshot!.id),
    relocate: options.relocate ?? recorded?.relocate ?? 'if-fits',
    mesh: options.mesh ?? recorded?.mesh ?? 'cilium',
  };
  const warnings: string[] = [];
  if (recorded) {
    if (recorded.relocate && recorded.relocate !== policy.relocate) warnings.push(`the group's relocate policy changes from ${recorded.relocate} to ${policy.relocate}`);
    if (recorded.mesh && recorded.mesh !== policy.mesh) warnings.push(`the group's mesh mode changes from ${recorded.mesh} to ${policy.mesh}; remote workers placed before keep the way they reach the head until they are replaced`);
  }
  const objects: PlacedObject[] = [];
  let rayObject: KubeObject | undefined;
  const owner = existing[0] ? {...existing[0].object, apiVersion: 'ray.io/v1', kind} : undefined;
  const desiredObjects = desiredGroupObjects(manifest, namespace, policy, placement, owner);
  for (let desired of desiredObjects) {
    const type = resourceForKind(desired.kind)!;
    const name = desired.metadata?.name ?? '';
    const live = await home.client.find<KubeObject>(type, name, namespace, options.signal);
    if (live && desired.kind === kind) {
      const {object, kept} = keepLiveSizes(desired, live, CLUSTER_SPEC_FIELD[kind]);
      desired = object;
      for (const k of kept) {
        const manifest = k.manifest === undefined ? 'the manifest does not set it' : `the manifest says ${k.manifest}`;
        warnings.push(`worker group ${k.group} keeps ${k.field} ${k.live} as it is live (${manifest}); change sizes with "kubectl superskyray scale"`);
      }
    }
    const outcome: ObjectOutcome = isUpToDate(live, desired) ? 'unchanged' : live ? 'configured' : 'created';
    objects.push({kind: desired.kind ?? '', name, context: home.client.context, outcome});
    if (outcome === 'unchanged' || options.dryRun) {
      if (desired.kind === kind) rayObject = live;
      continue;
    }
    const applied = await applyAtHome(home.client, desired, options);
    if (desired.kind === kind) rayObject = applied;
  }
  // A first placement: the Ray object exists only now, so its dependencies become its own now.
  if (!owner && rayObject && !options.dryRun) {
    for (const desired of desiredObjects.filter((d) => d.kind !== kind)) await applyAtHome(home.client, ownedBy(desired, {...rayObject, apiVersion: 'ray.io/v1', kind}), options);
  }

  const changed = objects.some((o) => o.outcome !== 'unchanged');
  if (changed && !options.dryRun && rayObject) {
    const failed = await recordEvent(home.client, rayObject, 'Placed', reasons.join('; '), options.signal);
    if (failed) warnings.push(`the Placed event was not recorded: ${failed}`);
  }
  // A plan across clusters is applied whole: the workers it put elsewhere are spanned there as
  // soon as KubeRay has made them and the home scheduler has found no room for them.
  const across = decision?.assignments.some((a) => a.cluster !== home.snapshot!.id && Object.values(a.workers).some((n) => n > 0)) ?? false;
  let span: Settled | undefined;
  if (!options.dryRun && (across || options.wait)) {
    span = {steps: [], moves: [], stuck: [], warnings: []};
    const slot: LeaseSlot = {};
    try {
      const groups = demand.workers.map((g) => g.group);
      await settleGroup(
        fleet,
        {group: `${kind.toLowerCase()}/${group}`, namespace, copySecrets: options.copySecrets ?? false, signal: options.signal, say: options.say},
        slot,
        span,
        (state, pass) => waitingFor(state, groups, options.wait ?? false, pass),
        across ? 'is placed across clusters' : 'is placed',
      );
    } finally {
      await slot.lease?.release();
    }
    warnings.push(...span.warnings);
  }
  return {
    group,
    kind,
    namespace,
    home: {context: home.client.context, clusterId: home.snapshot!.id},
    alreadyPlaced: existing.length > 0,
    decision,
    reasons,
    objects,
    dryRun: options.dryRun,
    degraded,
    warnings,
    ...(span ? {span} : {}),
  };
}
