/**
 * `status GROUP`: where one Ray app runs across the fleet, as plain data. groupStatus is pure over
 * what observeGroup saw; observeGroupStatus adds the one read observeGroup does not make (the home
 * head Service) and writes nothing.
 */
import type {Fleet} from '../kube/fleet.js';
import type {KubeObject, Pod} from '../kube/types.js';
import {clusterSpecOf, type RayKind} from '../kuberay/demand.js';
import {desiredReplicas, type WorkerGroupBounds} from '../kuberay/scale.js';
import {POLICY_ANNOTATION, type GroupPolicy} from '../kuberay/group.js';
import {RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {headServiceName} from '../kuberay/names.js';
import {CILIUM_GLOBAL, CILIUM_SHARED, isInSwap, REMOTE_CLUSTER_ANNOTATION} from '../kuberay/swap.js';
import {isPodReady} from '../placement/capacity.js';
import {ClusterRoom} from '../placement/fit.js';
import {explainMiss} from '../placement/reasons.js';
import {podShape, RoomUnread} from '../placement/snapshot.js';
import type {ClusterProblem, ClusterState} from './fleet-status.js';
import {lookAtGroup, type GroupLook, type GroupState, type HeadServiceLook, type UnstartedGroup} from './group.js';
import {readRoom, type ObservedCluster} from './observe.js';
import {describeRepair, planPass, targetChecks, workerGroupSpecs} from './span.js';
import type {TargetChecks} from './preflight.js';

/**
 * single: everything at home. spanned: remote workers or placeholders exist. relocating: the group
 * moves whole to another cluster and its Ray object exists in both; the home stays the old one
 * until the move finishes. unstarted: KubeRay has made no RayCluster for the Ray object (yet).
 */
export type GroupMode = 'single' | 'spanned' | 'relocating' | 'unstarted';

export type MeshMode = GroupPolicy['mesh'];

/**
 * One worker group's pods in one cluster. The home cluster has local, Pending and placeholder
 * workers; another cluster has only remote workers, so the other counts are left out rather than
 * claimed to be zero.
 */
export interface WorkerCounts {
  workerGroup: string;
  /** Bound to a node at home, not a placeholder. */
  local?: number;
  /** At home, not bound, not a placeholder. */
  pending?: number;
  /** At home: pods KubeRay counts for workers that run in another cluster. */
  placeholders?: number;
  /** In that cluster, run for the home's RayCluster. */
  remote?: number;
  /** Of the local workers (at home) or the remote workers (elsewhere), those in phase Running. */
  running: number;
}

/** A Service (or a dependency copy) of the group in one cluster, as the mesh sees it. */
export interface GroupObject {
  /** kind/name, lower-case kind as kubectl writes it. */
  object: string;
  role: 'home head Service' | 'head-Service copy' | 'dependency copy';
  /** The service.cilium.io/global and service.cilium.io/shared annotations, when set. */
  global?: string;
  shared?: string;
  terminating?: boolean;
}

export interface GroupCluster {
  context: string;
  clusterId?: string;
  home: boolean;
  /** Ready only when the group's objects there were read; a cluster that did not answer is never shown as empty. */
  state: ClusterState;
  problems: ClusterProblem[];
  /** Absent when the cluster was not observed. */
  workers?: WorkerCounts[];
  /** Absent when the cluster was not observed; at home, also when the head Service could not be read. */
  objects?: GroupObject[];
}

export interface PlaceholderStatus {
  name: string;
  workerGroup: string;
  /** Whether KubeRay sees it Ready: its readiness gate follows the remote worker's Ready. */
  ready: boolean;
  /** The context its remote twin runs in (the cluster id when no fleet cluster has that id). */
  twinIn: string;
  /** The twin's phase, `missing` when its cluster answered without it, `unknown` when that cluster did not answer. */
  twin: string;
}

export interface PendingWorker {
  name: string;
  workerGroup: string;
  /** The context `span` would move it to now. */
  spanTo?: string;
  /** Why it waits, and what span can do about it. */
  reason: string;
}

export interface GroupStatus {
  group: string;
  kind: RayKind;
  namespace: string;
  home: string;
  homeClusterId: string;
  /** The live RayCluster; absent while the group is unstarted. */
  rayCluster?: string;
  mode: GroupMode;
  /** While relocating: the context the group moves to. */
  relocatingTo?: string;
  mesh: MeshMode;
  relocate: GroupPolicy['relocate'];
  autoscaling: boolean;
  head?: {name: string; phase: string; node?: string};
  /** Worker groups in spec order, with the replicas the RayCluster asks for; then any seen only on pods. */
  workerGroups: Array<{name: string; replicas?: number}>;
  /** The home cluster first, then the rest of the fleet in fleet order. */
  clusters: GroupCluster[];
  placeholders: PlaceholderStatus[];
  pending: PendingWorker[];
  /**
   * The group's other RayClusters that remote workers run for: a RayService's second one while it
   * switches (`exists`), or one KubeRay deleted whose remote workers go on the next pass.
   */
  otherRayClusters: Array<{name: string; exists: boolean; remote: Array<{context: string; workers: number}>}>;
  /** What a span would repair now: what an interrupted run left, or copies left after a collapse. */
  repairs: Array<{action: string; object: string; context: string; why: string}>;
  /** Clusters a Pending worker may not go to (the preflight's reads; with -o wide), and why. */
  skipped?: Array<{context: string; reasons: string[]}>;
  warnings: string[];
}

export type {HeadServiceLook} from './group.js';

const MESH_MODES: MeshMode[] = ['cilium', 'endpoints', 'mcs'];
const DEFAULT_RELOCATE: GroupPolicy['relocate'] = 'if-fits';

const nameOf = (o: KubeObject) => o.metadata?.name ?? '';
const workerGroupOf = (p: Pod) => p.metadata?.labels?.[RAY_GROUP_LABEL] ?? '';
const isWorker = (p: Pod) => p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'worker';
const isPlaceholder = (p: Pod) => p.metadata?.labels?.[ROLE_LABEL] === 'placeholder';
const terminating = (o: KubeObject) => o.metadata?.deletionTimestamp !== undefined;
const isRunning = (p: Pod) => p.status?.phase === 'Running';

/**
 * The relocate policy, and warnings about a policy the reconciler reads differently from what the
 * user wrote. The mesh itself comes from the state: it is the one span acts on.
 */
function policyOf(state: GroupLook, warnings: string[]): GroupPolicy['relocate'] {
  const what = `${state.kind.toLowerCase()}/${state.name}`;
  if (!MESH_MODES.includes(state.mesh)) warnings.push(`the policy of ${what} names mesh "${String(state.mesh)}", which this version does not know`);
  const text = state.object.metadata?.annotations?.[POLICY_ANNOTATION];
  if (!text) return DEFAULT_RELOCATE;
  try {
    return (JSON.parse(text) as Partial<GroupPolicy>).relocate ?? DEFAULT_RELOCATE;
  } catch {
    warnings.push(`the ${POLICY_ANNOTATION} annotation of ${what} is not JSON; assuming mesh ${state.mesh} and relocate ${DEFAULT_RELOCATE}`);
    return DEFAULT_RELOCATE;
  }
}

function countBy(pods: Pod[], groups: string[]): Map<string, number> {
  const counts = new Map(groups.map((g) => [g, 0]));
  for (const p of pods) counts.set(workerGroupOf(p), (counts.get(workerGroupOf(p)) ?? 0) + 1);
  return counts;
}

const idOf = (o: ObservedCluster) => o.snapshot?.id ?? o.status.clusterId;

/** A cluster that did not answer did not say its id either: then the id is all there is to show. */
function contextOf(state: GroupState, id: string): string {
  return state.fleet.find((o) => idOf(o) === id)?.client.context ?? id;
}

function objectOf(o: KubeObject, role: GroupObject['role']): GroupObject {
  const annotations = o.metadata?.annotations ?? {};
  return {
    object: `${(o.kind ?? '').toLowerCase()}/${nameOf(o)}`,
    role,
    ...(annotations[CILIUM_GLOBAL] !== undefined ? {global: annotations[CILIUM_GLOBAL]} : {}),
    ...(annotations[CILIUM_SHARED] !== undefined ? {shared: annotations[CILIUM_SHARED]} : {}),
    ...(terminating(o) ? {terminating: true} : {}),
  };
}

const MISSES_SHOWN = 2;

function explainMisses(context: string, misses: Array<{node: string; miss: Parameters<typeof explainMiss>[2]}>): string {
  const shown = misses.slice(0, MISSES_SHOWN).map((m) => explainMiss(context, m.node, m.miss));
  const more = misses.length - shown.length;
  return `${shown.join('; ')}${more > 0 ? `; and ${more} more node(s)` : ''}`;
}

/**
 * Why the home cluster does not take a Pending worker: node by node from what is bound there, then
 * with the Pending pods ahead of it; the scheduler's own words when neither model explains it.
 */
function whyNotHome(state: GroupState, pod: Pod): string {
  const context = state.home.client.context;
  const snapshot = state.home.snapshot;
  if (snapshot && pod.spec) {
    if (snapshot.nodes.length === 0) return `${context} has no nodes`;
    const shape = podShape(pod.spec);
    const bound = ClusterRoom.of(snapshot).misses(shape);
    if (bound.length === snapshot.nodes.length) return explainMisses(context, bound);
    const self = (p: {name: string; namespace: string}) => p.name === nameOf(pod) && p.namespace === state.namespace;
    const queued = ClusterRoom.afterPending(snapshot, self).misses(shape);
    if (queued.length === snapshot.nodes.length) return `${explainMisses(context, queued)} (after the Pending pods ahead of it)`;
  }
  const verdict = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return `${context}: ${verdict?.message ?? verdict?.reason ?? 'the scheduler found no node'}`;
}

function pendingWorkers(state: GroupState, pending: Pod[], checks?: TargetChecks): Pick<GroupStatus, 'pending' | 'repairs' | 'skipped'> {
  // A fixed source of names: only the target of each move is shown, never the name it would get.
  const pass = planPass(state, {random: () => 0, ...(checks ? {checks} : {})});
  const moves = new Map(pass.moves.map((m) => [nameOf(m.pod), m]));
  const stuck = new Map(pass.stuck.map((s) => [s.pending, s.reason]));
  const refused = new Set(pass.refused?.pending ?? []);
  const doomed = new Set(workerGroupSpecs(state).flatMap((g) => g.scaleStrategy?.workersToDelete ?? []));
  const repairing = new Map(pass.repairs.flatMap((r) => ('pod' in r ? [[nameOf(r.pod), r.why] as const] : [])));
  return {
    pending: pending.map((p): PendingWorker => {
      const name = nameOf(p);
      const base = {name, workerGroup: workerGroupOf(p)};
      const move = moves.get(name);
      if (move) return {...base, spanTo: move.to, reason: `${whyNotHome(state, p)}; fits ${move.to}, so span moves it there`};
      if (refused.has(name)) return {...base, reason: `${whyNotHome(state, p)}; not spanned: ${pass.refused!.message}`};
      const stuckWhy = stuck.get(name);
      if (stuckWhy !== undefined) return {...base, reason: `${whyNotHome(state, p)}; fits no other cluster either: ${stuckWhy}`};
      if (terminating(p)) return {...base, reason: 'being deleted'};
      if (p.status?.nominatedNodeName) return {...base, reason: `${state.home.client.context}: nominated to run on node ${p.status.nominatedNodeName} (the scheduler is making room there), so it stays`};
      if (doomed.has(name)) return {...base, reason: 'named in workersToDelete: KubeRay removes it'};
      const repair = repairing.get(name);
      if (repair) return {...base, reason: `left by an interrupted swap: ${repair}`};
      const verdict = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
      if (!verdict) return {...base, reason: `the scheduler of ${state.home.client.context} has not looked at it yet`};
      return {...base, reason: `${state.home.client.context}: ${verdict.reason ?? 'not scheduled'}${verdict.message ? `: ${verdict.message}` : ''}`};
    }),
    repairs: pass.repairs.map((r) => describeRepair(state, r)),
    ...(pass.skipped.length > 0 ? {skipped: pass.skipped} : {}),
  };
}

function placeholdersOf(state: GroupState, placeholders: Pod[]): PlaceholderStatus[] {
  return placeholders.map((p) => {
    const id = p.metadata?.annotations?.[REMOTE_CLUSTER_ANNOTATION] ?? '';
    const side = state.remotes.find((r) => idOf(r.cluster) === id);
    const twin = side?.workers.find((w) => nameOf(w) === nameOf(p));
    let twinState = 'unknown';
    if (side?.observed) twinState = twin ? `${twin.status?.phase ?? 'Unknown'}${terminating(twin) ? ' (terminating)' : ''}` : 'missing';
    return {
      name: nameOf(p),
      workerGroup: workerGroupOf(p),
      ready: isPodReady(p),
      twinIn: id ? contextOf(state, id) : 'unknown',
      twin: twinState,
    };
  });
}

/** The group's RayClusters other than the live one, with the remote workers each has per cluster. */
function otherRayClusters(look: GroupLook & {rayCluster?: GroupState['rayCluster']}): GroupStatus['otherRayClusters'] {
  const live = look.rayCluster?.metadata.uid;
  const names = new Map(look.rayClusters.filter((rc) => rc.uid !== live).map((rc) => [rc.name, true]));
  for (const side of look.remotes) for (const w of side.others) names.set(w.metadata?.labels?.[RAY_CLUSTER_LABEL] ?? '', names.get(w.metadata?.labels?.[RAY_CLUSTER_LABEL] ?? '') ?? false);
  return [...names].map(([name, exists]) => ({
    name,
    exists,
    remote: look.remotes
      .map((side) => ({context: side.cluster.client.context, workers: side.others.filter((w) => w.metadata?.labels?.[RAY_CLUSTER_LABEL] === name && !terminating(w)).length}))
      .filter((r) => r.workers > 0),
  }));
}

/** Where one group runs across the fleet, from one observation. Pure. */
export function groupStatus(state: GroupState, head: HeadServiceLook = {read: false, problem: 'it was not read'}, checks?: TargetChecks): GroupStatus {
  const warnings: string[] = [];
  const relocate = policyOf(state, warnings);
  const specs = workerGroupSpecs(state);
  const homeWorkers = state.homePods.filter(isWorker);
  const remoteWorkers = state.remotes.flatMap((r) => r.workers);
  const groups = [...new Set([...specs.map((g) => g.groupName ?? ''), ...homeWorkers.map(workerGroupOf), ...remoteWorkers.map(workerGroupOf)])];

  const placeholders = homeWorkers.filter(isPlaceholder);
  const local = homeWorkers.filter((p) => !isPlaceholder(p) && p.spec?.nodeName);
  // A Pending worker under swap is on its way out: its placeholder stands for it.
  const pending = homeWorkers.filter((p) => !isPlaceholder(p) && !p.spec?.nodeName && !isInSwap(p));
  const counts = {local: countBy(local, groups), pending: countBy(pending, groups), placeholders: countBy(placeholders, groups), running: countBy(local.filter(isRunning), groups)};

  const homeContext = state.home.client.context;
  // A drain that waits on a placeholder's budget (autoscaled groups only) says which pod it waits
  // for; this says why, and what ends the wait.
  const watched = state.autoscaling ? placeholders.filter((p) => !p.metadata?.deletionTimestamp) : [];
  const cordoned = new Set(watched.length > 0 ? state.home.snapshot?.nodes.filter((n) => n.unschedulable).map((n) => n.name) : []);
  for (const p of watched) {
    const node = p.spec?.nodeName ?? '';
    if (!cordoned.has(node)) continue;
    const n = p.metadata?.name;
    warnings.push(`placeholder ${n} is on cordoned node ${node}, and its budget keeps a drain from evicting it: autoscaler v2 would lose track of remote worker ${n} if it moved; the node drains once the autoscaler scales ${n} in`);
  }
  const headName = headServiceName('RayCluster', state.rayCluster.metadata.name, state.rayCluster.spec);
  const homeProblems: ClusterProblem[] = [];
  let homeObjects: GroupObject[] | undefined;
  if (head.read) {
    homeObjects = head.service ? [objectOf({kind: 'Service', ...head.service}, 'home head Service')] : [];
    if (!head.service) warnings.push(`the head Service ${headName} is missing in ${homeContext}: no worker can reach the head`);
  } else {
    homeProblems.push({reason: 'HeadServiceUnread', message: `the head Service ${headName} could not be read: ${head.problem}`});
  }
  const homeCluster: GroupCluster = {
    context: homeContext,
    clusterId: idOf(state.home),
    home: true,
    state: homeProblems.length > 0 ? 'Degraded' : state.home.status.state,
    problems: [...state.home.status.problems, ...homeProblems],
    workers: groups.map((g) => ({workerGroup: g, local: counts.local.get(g)!, pending: counts.pending.get(g)!, placeholders: counts.placeholders.get(g)!, running: counts.running.get(g)!})),
    ...(homeObjects ? {objects: homeObjects} : {}),
  };

  const others = state.fleet
    .filter((o) => o !== state.home)
    .map((o): GroupCluster => {
      const side = state.remotes.find((r) => r.cluster === o);
      const base = {context: o.client.context, ...(o.status.clusterId ? {clusterId: o.status.clusterId} : {}), home: false};
      if (!side?.observed) {
        // Answered the fleet's questions but not the group's: nothing of it may be taken as missing.
        if (o.status.state === 'Ready') {
          return {...base, state: 'Degraded', problems: [{reason: 'GroupUnobserved', message: `the remote workers and copies of ${state.name} could not be listed`}]};
        }
        return {...base, state: o.status.state, problems: o.status.problems};
      }
      const remote = countBy(side.workers, groups);
      const running = countBy(side.workers.filter(isRunning), groups);
      const headCopies = side.copies.filter((c) => c.metadata?.labels?.[ROLE_LABEL] === 'head-service-copy');
      const dependencyCopies = side.copies.filter((c) => c.metadata?.labels?.[ROLE_LABEL] !== 'head-service-copy');
      // mcs reaches the head through a ServiceExport at home, so only the other modes need a copy here.
      if (state.mesh !== 'mcs' && side.workers.some((w) => !terminating(w)) && !headCopies.some((c) => c.kind === 'Service')) {
        warnings.push(`${o.client.context} runs remote workers of ${state.name} but has no head-Service copy: they cannot reach the head`);
      }
      return {
        ...base,
        state: o.status.state,
        problems: o.status.problems,
        workers: groups.map((g) => ({workerGroup: g, remote: remote.get(g)!, running: running.get(g)!})),
        objects: [...headCopies.map((c) => objectOf(c, 'head-Service copy')), ...dependencyCopies.map((c) => objectOf(c, 'dependency copy'))],
      };
    });

  const spanned = placeholders.length > 0 || remoteWorkers.length > 0;
  const mode: GroupMode = state.relocation ? 'relocating' : spanned ? 'spanned' : 'single';
  const homeHead = head.read ? head.service : undefined;
  if (spanned && state.mesh === 'cilium' && homeHead && homeHead.metadata?.annotations?.[CILIUM_GLOBAL] !== 'true') {
    warnings.push(`the head Service ${headName} in ${homeContext} is not annotated ${CILIUM_GLOBAL}: "true", so remote workers cannot reach the head`);
  }
  const headPod = state.homePods.find((p) => p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'head' && !terminating(p));
  return {
    group: state.name,
    kind: state.kind,
    namespace: state.namespace,
    home: homeContext,
    homeClusterId: homeCluster.clusterId ?? '',
    rayCluster: state.rayCluster.metadata.name,
    mode,
    ...(state.relocation ? {relocatingTo: state.relocation.target.client.context} : {}),
    mesh: state.mesh,
    relocate,
    autoscaling: state.autoscaling,
    ...(headPod ? {head: {name: nameOf(headPod), phase: headPod.status?.phase ?? 'Unknown', ...(headPod.spec?.nodeName ? {node: headPod.spec.nodeName} : {})}} : {}),
    workerGroups: groups.map((g) => {
      // What KubeRay runs: replicas held within min and max (the autoscaler writes replicas itself).
      const spec = specs.find((s) => (s.groupName ?? '') === g);
      return spec === undefined ? {name: g} : {name: g, replicas: desiredReplicas(spec)};
    }),
    clusters: [homeCluster, ...others],
    otherRayClusters: otherRayClusters(state),
    placeholders: placeholdersOf(state, placeholders),
    ...pendingWorkers(state, pending, checks),
    warnings,
  };
}

/**
 * A Ray object with no RayCluster: its home, the sizes its cluster spec asks for, and anything of
 * the tool's still left for it (remote workers of an earlier RayCluster, copies). Pure.
 */
export function unstartedStatus(look: UnstartedGroup): GroupStatus {
  const why = look.named ? 'KubeRay deleted it (a RayJob does once its job ends) or has yet to make it' : 'it is suspended, or its KubeRay operator is not running';
  const warnings = [`${look.unstarted}: ${why}; there is nothing to span until KubeRay makes one`];
  const relocate = policyOf(look, warnings);
  const spec = clusterSpecOf(look.kind, look.object.spec);
  const specs = (spec?.workerGroupSpecs ?? []) as WorkerGroupBounds[];
  const groups = specs.map((g) => g.groupName ?? '');
  const others = look.fleet
    .filter((o) => o !== look.home)
    .map((o): GroupCluster => {
      const side = look.remotes.find((r) => r.cluster === o);
      const base = {context: o.client.context, ...(o.status.clusterId ? {clusterId: o.status.clusterId} : {}), home: false, state: o.status.state, problems: o.status.problems};
      if (!side?.observed) return base;
      const remote = countBy(side.workers, groups);
      return {
        ...base,
        workers: [...remote].map(([g, n]) => ({workerGroup: g, remote: n, running: side.workers.filter((w) => workerGroupOf(w) === g && isRunning(w)).length})),
        objects: side.copies.map((c) => objectOf(c, c.metadata?.labels?.[ROLE_LABEL] === 'head-service-copy' ? 'head-Service copy' : 'dependency copy')),
      };
    });
  const homeId = idOf(look.home) ?? '';
  return {
    group: look.name,
    kind: look.kind,
    namespace: look.namespace,
    home: look.home.client.context,
    homeClusterId: homeId,
    mode: 'unstarted',
    mesh: look.mesh,
    relocate,
    autoscaling: (spec as {enableInTreeAutoscaling?: boolean} | undefined)?.enableInTreeAutoscaling === true,
    workerGroups: specs.map((g) => ({name: g.groupName ?? '', replicas: desiredReplicas(g)})),
    clusters: [{context: look.home.client.context, clusterId: homeId, home: true, state: look.home.status.state, problems: look.home.status.problems, workers: [], objects: []}, ...others],
    otherRayClusters: otherRayClusters(look),
    placeholders: [],
    pending: [],
    repairs: [],
    warnings,
  };
}

/**
 * Observes the group (its home head Service included), and describes it. Reads only: a status never
 * writes, whatever it finds out of step.
 */
export async function observeGroupStatus(fleet: Fleet, group: string, namespace: string, signal?: AbortSignal, options: {preflight?: boolean} = {}): Promise<GroupStatus> {
  // Every node and pod of every cluster, which is most of what a status reads on a large fleet, is
  // read only when the group has something placement would answer (a Pending worker, say).
  const state = await lookAtGroup(fleet, group, namespace, signal, {room: false});
  if ('unstarted' in state) return unstartedStatus(state);
  // -o wide: which clusters a Pending worker could not go to, and why, from reads only (no dry-run create).
  // Its reads do not depend on the room: once made, they are kept.
  let checks: {value?: TargetChecks} | undefined;
  // Each part of the room (nodes, pods) is read at most once: three looks at most.
  for (let looks = 1; ; looks++) {
    try {
      checks ??= {value: options.preflight ? await targetChecks(state, {copySecrets: false, signal, dryRunCreate: false}) : undefined};
      return groupStatus(state, state.homeHead, checks.value);
    } catch (err) {
      if (!(err instanceof RoomUnread) || looks === 3) throw err;
      await readRoom(state.fleet, err.part, signal);
    }
  }
}
