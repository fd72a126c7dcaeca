import {InputError} from '../errors.js';
import type {Fleet} from '../kube/fleet.js';
import type {Pod} from '../kube/types.js';
import type {RayKind} from '../kuberay/demand.js';
import {RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, REPLICA_NAME_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {v1SpanRefusal} from '../kuberay/autoscaler.js';
import {headServiceName} from '../kuberay/names.js';
import {isInSwap, MADE_GLOBAL_ANNOTATION, PLACEHOLDER_RESOURCES, placeholderBudgetName, placeholderName, remoteWorker, remoteWorkerPod, swapTargetOf, workerGroupTemplate, type WorkerGroupTemplate} from '../kuberay/swap.js';
import {desiredReplicas, type WorkerGroupBounds} from '../kuberay/scale.js';
import {DEFAULT_JOIN_TIMEOUT_MS, notJoinedOf, notJoinedThere, templateHash} from '../kuberay/joins.js';
import {isPodReady} from '../placement/capacity.js';
import {ClusterRoom} from '../placement/fit.js';
import {explainMiss} from '../placement/reasons.js';
import {podShape} from '../placement/snapshot.js';
import {Actor, ALL_STEPS, checkTargets, swapContext, type Move, type Step} from './act.js';
import {preflightTargets, refusalsFor, subjectOf, type TargetChecks} from './preflight.js';
import {recordEvent} from './events.js';
import {headPodIP, lookAtGroup, observeGroup, rayClusterNames, UnstartedError, type GroupLook, type GroupState, type UnstartedGroup} from './group.js';
import {holdLease, type LeaseSlot} from './lease.js';
import {finishRelocation} from './relocate.js';
import type {ObservedCluster} from './observe.js';
import {leftoverRepairs, repairs, type GroupView, type Repair} from './repair.js';
import {settleGroup} from './settle.js';

export interface SpanOptions {
  /** GROUP: rayservice/NAME, raycluster/NAME, rayjob/NAME or a bare NAME. */
  group: string;
  namespace: string;
  /** --to: the only cluster to span to. */
  to?: string;
  dryRun: boolean;
  copySecrets: boolean;
  signal?: AbortSignal;
  /**
   * Also wait until every placeholder of the group is Ready, that is until each remote worker is,
   * taking the passes that keep the readiness gates (and any repair) as they come.
   */
  wait?: boolean;
  /** How often a wait looks again; default 500 ms. */
  pollMs?: number;
  /** Where placeholder names come from; tests may fix it. */
  random?: () => number;
  /** Told who holds the group's lease when another run makes this one wait. */
  onWait?: (holder: string) => void;
  /** How long to wait for another run's lease before giving up on this pass; default: until the deadline. */
  leaseWaitMs?: number;
  /**
   * A group whose Ray autoscaler is v1 is never spanned, nor one that no cluster may take (the
   * preflight): refuse (the commands: exit 2 before any write), or warn and leave its Pending
   * workers at home (watch, which goes on with the others).
   */
  onRefusal?: 'refuse' | 'warn';
}

export interface SpanMove {
  /** The Pending worker that moves. */
  pending: string;
  workerGroup: string;
  /** The name it runs under, as placeholder at home and as remote worker there. */
  name: string;
  to: string;
  /** What of the Pending worker as admitted at home its remote worker leaves out, and why. */
  leftOut?: string[];
}

export interface SpanResult {
  group: string;
  kind: RayKind;
  namespace: string;
  home: string;
  rayCluster: string;
  moves: SpanMove[];
  /**
   * Pending workers that fit no other cluster either, with the reason. `hold` says why one is left
   * at home whatever room there is elsewhere: its group is multi-host, or the head Service its
   * remote worker would reach the head by is not there yet.
   */
  stuck: Array<{pending: string; reason: string; hold?: 'multi-host' | 'head-service'}>;
  /** Repairs of an earlier, interrupted run and cleanup (planned, on a dry run). */
  repairs: Array<{action: string; object: string; context: string; why: string}>;
  /** Clusters that may take no remote worker of the group (the preflight), and why. */
  skipped?: Pass['skipped'];
  /** Every write made, in order. */
  steps: Step[];
  dryRun: boolean;
  warnings: string[];
}

function isUnschedulable(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') ?? false;
}

export function workerGroupSpecs(state: GroupState): WorkerGroupBounds[] {
  return ((state.rayCluster.spec as {workerGroupSpecs?: WorkerGroupBounds[]} | undefined)?.workerGroupSpecs ?? []);
}

/** What a placeholder asks of its home node. */
const PLACEHOLDER_SHAPE = podShape({containers: [{name: 'placeholder', resources: PLACEHOLDER_RESOURCES}]});

/**
 * The home nodes new placeholders are bound to, one after another; none when home was not seen. The
 * room is counted at the first placeholder: most passes bind none, and counting it goes through
 * every pod of the cluster.
 */
function placeholderRoom(state: GroupState): () => string | undefined {
  let room: ClusterRoom | undefined;
  return () => {
    if (!state.home.snapshot) return undefined;
    room ??= ClusterRoom.of(state.home.snapshot);
    return room.bind(PLACEHOLDER_SHAPE);
  };
}

function remoteViews(look: GroupLook): GroupView['remotes'] {
  return look.remotes.map((r) => ({id: r.cluster.status.clusterId ?? r.cluster.client.context, observed: r.observed, workers: r.workers, others: r.others, copies: r.copies}));
}

/** The group's RayClusters at home, the live one always among them (even if its labels were edited off). */
function liveRayClusters(state: GroupState): GroupView['rayClusters'] {
  const live = {uid: state.rayCluster.metadata.uid, headService: headServiceName('RayCluster', state.rayCluster.metadata.name, state.rayCluster.spec)};
  return [live, ...state.rayClusters.filter((rc) => rc.uid !== live.uid)];
}

export function groupView(state: GroupState, incoming: string[] = [], bindPlaceholder = placeholderRoom(state), copySecrets = false): GroupView {
  return {
    autoscaling: state.autoscaling,
    rayClusterUid: state.rayCluster.metadata.uid,
    rayClusters: liveRayClusters(state),
    workerGroups: workerGroupSpecs(state).map((g) => ({name: g.groupName ?? '', replicas: desiredReplicas(g), workersToDelete: g.scaleStrategy?.workersToDelete ?? []})),
    bindPlaceholder,
    homePods: state.homePods,
    remotes: remoteViews(state),
    placeholderBudget: state.placeholderBudget,
    copySources: state.copySources,
    copySecrets,
    incoming,
    now: state.observedAt ?? Date.now(),
    // 0: never given up on.
    joinTimeoutMs: state.joinTimeoutMs === 0 ? Infinity : (state.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS),
    ...(state.mesh === 'endpoints' ? {headEndpoint: headPodIP(state)} : {}),
    ...(state.homeHead.read && state.homeHead.service?.metadata?.annotations?.[MADE_GLOBAL_ANNOTATION] === 'true' ? {headMadeGlobal: state.homeHead.service.metadata.name} : {}),
  };
}


export interface Pass {
  repairs: Repair[];
  moves: Array<Move & {workerGroup: string; to: string; leftOut: string[]}>;
  stuck: SpanResult['stuck'];
  /** Pending workers left at home because the group's autoscaler is v1, and why. */
  refused?: {pending: string[]; message: string; fix: string};
  /** Clusters the preflight found may take no remote worker of the group, and why. */
  skipped: Array<{context: string; reasons: string[]}>;
  /** Pending workers left at home because the preflight refused every cluster they could go to. */
  noTarget?: {pending: string[]; message: string; fix: string};
}

/**
 * Pending workers the home scheduler gave up on, which no repair is about to touch. One with a
 * nominated node is not among them: the scheduler means to run it here (it is preempting others, or
 * waiting to bind).
 */
function spannable(state: GroupState, planned: Repair[]): Pod[] {
  const doomed = new Set(workerGroupSpecs(state).flatMap((g) => g.scaleStrategy?.workersToDelete ?? []));
  const touched = new Set(planned.flatMap((r) => ('pod' in r ? [r.pod.metadata?.name] : [])));
  return state.homePods.filter(
    (p) =>
      p.metadata?.labels?.[RAY_NODE_TYPE_LABEL] === 'worker' &&
      !p.metadata?.labels?.[ROLE_LABEL] &&
      !p.spec?.nodeName &&
      !p.metadata?.deletionTimestamp &&
      !p.status?.nominatedNodeName &&
      !isInSwap(p) &&
      p.status?.phase === 'Pending' &&
      !doomed.has(p.metadata?.name ?? '') &&
      !touched.has(p.metadata?.name) &&
      isUnschedulable(p),
  );
}

/**
 * One pass of the group's reconciler: the repairs the invariants ask for, then the swaps of the
 * Pending workers that fit another cluster (in fleet order, or only `to`). Pure over the state.
 */
export function planPass(state: GroupState, options: {to?: string; random?: () => number; copySecrets?: boolean; checks?: TargetChecks}): Pass {
  const bindPlaceholder = placeholderRoom(state);
  const first = repairs(groupView(state, [], bindPlaceholder, options.copySecrets));
  const reachable = spanTargets(state, options.to);
  const candidates = spannable(state, first);
  const groupOf = (p: Pod) => p.metadata?.labels?.[RAY_GROUP_LABEL] ?? '';
  const moving = [...new Set(candidates.map(groupOf))];
  const refusalsOf = (t: ObservedCluster, groups: string[]) => refusalsFor(options.checks?.get(t.snapshot!.id), groups);
  const skipped = reachable.flatMap((t) => (refusalsOf(t, moving).length > 0 ? [{context: t.client.context, reasons: refusalsOf(t, moving)}] : []));
  /** The clusters a worker group's remote workers may go to: those the preflight did not refuse for it. */
  const targetsFor = (group: string) => reachable.filter((t) => refusalsOf(t, [group]).length === 0);
  const quota = (t: ObservedCluster) => options.checks?.get(t.snapshot!.id)?.quota;
  // Counted for a target only once a worker is tried there, for the same reason as placeholderRoom.
  const rooms = new Map<ObservedCluster, ClusterRoom>();
  const roomIn = (t: ObservedCluster) => rooms.get(t) ?? rooms.set(t, ClusterRoom.afterPending(t.snapshot!)).get(t)!;
  const random = options.random ?? Math.random;
  const moves: Pass['moves'] = [];
  const stuck: Pass['stuck'] = [];
  const refusal = state.autoscaling ? v1SpanRefusal(state.rayCluster.spec, `${state.kind.toLowerCase()}/${state.name} in context "${state.home.client.context}"`) : undefined;
  if (refusal && candidates.length > 0) return {repairs: first, moves, stuck, skipped, refused: {...refusal, pending: candidates.map((p) => p.metadata?.name ?? '')}};
  // Remote workers given up on in this very pass: their group is not sent there again now either.
  const givingUp = new Set(first.flatMap((r) => (r.do === 'give-up' ? [`${r.workerGroup}@${r.cluster}`] : [])));
  const skippedFor = (group: string) => reachable.filter((t) => refusalsOf(t, [group]).length > 0).map((t) => `${t.client.context} is skipped: ${refusalsOf(t, [group]).join('; ')}`);
  if (candidates.length > 0 && reachable.length > 0 && moving.every((g) => targetsFor(g).length === 0)) {
    const where = `${state.kind.toLowerCase()}/${state.name} in context "${state.home.client.context}"`;
    const why = skipped.map((s) => `${s.context}: ${s.reasons.join('; ')}`).join('; ');
    return {
      repairs: first,
      moves,
      stuck: candidates.map((p) => ({pending: p.metadata?.name ?? '', reason: `every cluster it could go to is skipped: ${skippedFor(groupOf(p)).join('; ')}`})),
      skipped,
      noTarget: {pending: candidates.map((p) => p.metadata?.name ?? ''), message: `no cluster of the fleet may run the remote workers of ${where}: ${why}`, fix: 'make the cluster(s) named ready for them as said, or leave them out of the fleet'},
    };
  }
  const hosts = new Map(workerGroupSpecs(state).map((g) => [g.groupName ?? '', g.numOfHosts ?? 1]));
  const multiHost = new Map<string, Pod[]>();
  const move = (pod: Pod, target: ObservedCluster, node: string, leftOut: string[]) =>
    moves.push({
      pod,
      name: placeholderName(pod.metadata?.generateName ?? `${pod.metadata?.name}-`, random),
      node,
      cluster: target.snapshot!.id,
      workerGroup: pod.metadata?.labels?.[RAY_GROUP_LABEL] ?? '',
      to: target.client.context,
      leftOut,
    });
  const headMissing = state.homeHead.read && !state.homeHead.service;
  for (const pod of candidates) {
    const group = pod.metadata?.labels?.[RAY_GROUP_LABEL] ?? '';
    if (headMissing) {
      // KubeRay makes it with the head, a moment after the RayCluster: the next pass spans.
      const head = headServiceName('RayCluster', state.rayCluster.metadata.name, state.rayCluster.spec);
      stuck.push({pending: pod.metadata?.name ?? '', hold: 'head-service', reason: `the head Service ${head} is not there yet, and a remote worker reaches the head through it`});
      continue;
    }
    const podName = pod.metadata?.name ?? '';
    const template = workerGroupTemplate(state.rayCluster.spec, group);
    if (!template) {
      stuck.push({pending: podName, reason: `raycluster/${state.rayCluster.metadata.name} has no pod template for worker group ${group} any more, and its remote worker is built from it`});
      continue;
    }
    if ((hosts.get(group) ?? 1) > 1) {
      multiHost.set(group, [...(multiHost.get(group) ?? []), pod]);
      continue;
    }
    // What the remote worker asks there, without the sidecars and overhead home's admission added.
    const worker = remoteWorker(pod, template, state.claims);
    const shape = podShape(worker.spec);
    const {open, barred} = joinable(state, group, template, targetsFor(group), givingUp);
    const target = open.find((t) => !quota(t)?.check(worker.spec) && roomIn(t).fit(shape, 1) === 1);
    if (!target) {
      const why = open.flatMap((t) => {
        const over = quota(t)?.check(worker.spec);
        return over ? [`${t.client.context}: ${over}`] : roomIn(t).misses(shape).slice(0, 2).map((m) => explainMiss(t.client.context, m.node, m.miss));
      });
      stuck.push({pending: podName, reason: [...why, ...barred, ...skippedFor(group)].join('; ') || 'no other cluster of the fleet answered'});
      continue;
    }
    const node = bindPlaceholder();
    if (!node) {
      stuck.push({pending: podName, reason: `no Ready node in ${state.home.client.context} has room for its placeholder (1m CPU, 4Mi memory)`});
      continue;
    }
    quota(target)?.take(worker.spec);
    move(pod, target, node, worker.leftOut);
  }
  for (const [group, pending] of multiHost) {
    for (const set of replicaSets(state, group, hosts.get(group)!, pending)) {
      if ('reason' in set) {
        stuck.push(...set.pods.map((p) => ({pending: p.metadata?.name ?? '', hold: 'multi-host' as const, reason: set.reason})));
        continue;
      }
      const template = workerGroupTemplate(state.rayCluster.spec, group)!;
      const worker = remoteWorker(set.pods[0]!, template, state.claims);
      const shape = podShape(worker.spec);
      const {open} = joinable(state, group, template, targetsFor(group), givingUp);
      const within = set.cluster ? open.filter((t) => t.snapshot!.id === set.cluster) : open;
      const target = within.find((t) => !quota(t)?.check(worker.spec, set.pods.length) && roomIn(t).fitAll(shape, set.pods.length));
      const nodes = target ? set.pods.map(() => bindPlaceholder()) : [];
      if (!target || nodes.some((n) => n === undefined)) {
        const began = within[0]?.client.context;
        const where = !set.cluster
          ? `no other cluster of the fleet has room for all ${set.pods.length} hosts of a replica`
          : began
            ? `the cluster its replica began in (${began}) has no room for the rest of it`
            : `its replica began in cluster ${set.cluster}, which this run may not move workers to`;
        stuck.push(...set.pods.map((p) => ({pending: p.metadata?.name ?? '', hold: 'multi-host' as const, reason: target ? `no Ready node in ${state.home.client.context} has room for the placeholders of a replica's hosts` : `worker group ${group} is multi-host (numOfHosts ${hosts.get(group)}), and ${where}`})));
        continue;
      }
      quota(target)?.take(worker.spec, set.pods.length);
      set.pods.forEach((p, i) => move(p, target, nodes[i]!, worker.leftOut));
    }
  }
  // Copies stay in the clusters that workers are about to move to.
  const all = moves.length > 0 ? repairs(groupView(state, moves.map((m) => m.cluster), placeholderRoom(state), options.copySecrets)) : first;
  return {repairs: all, moves, stuck, skipped};
}

/**
 * The targets a worker group's remote workers may still be sent to: not those where one did not
 * join under its current template (joins.ts), which are `barred`, each said in a line.
 */
export function joinable(state: GroupState, group: string, template: WorkerGroupTemplate, targets: ObservedCluster[], givingUp = new Set<string>()): {open: ObservedCluster[]; barred: string[]} {
  const record = notJoinedOf(state.object);
  const hash = templateHash(template);
  const open: ObservedCluster[] = [];
  const barred: string[] = [];
  for (const t of targets) {
    const entry = notJoinedThere(record, group, t.snapshot!.id, hash);
    if (entry) barred.push(`${t.client.context}: a remote worker of group ${group} did not join there at ${entry.at} (${entry.reason}), and it is not tried again until the group's template changes`);
    else if (givingUp.has(`${group}@${t.snapshot!.id}`)) barred.push(`${t.client.context}: a remote worker of group ${group} is given up on there in this pass`);
    else open.push(t);
  }
  return {open, barred};
}

/** The clusters a pass may move workers to, most preferred first: every other one that answered, or only `to`. */
function spanTargets(state: GroupState, to?: string): ObservedCluster[] {
  return state.fleet.filter((o) => o !== state.home && o.snapshot && (!to || o.client.context === to)).sort((a, b) => b.snapshot!.priority - a.snapshot!.priority);
}

/**
 * The preflight of every cluster a pass could move workers to (preflight.ts), for the workers that
 * wait to move (one per worker group); undefined when none waits. `dryRunCreate`: also ask each
 * cluster's admission, which a read-only command (status) does not.
 */
export async function targetChecks(state: GroupState, options: {to?: string; copySecrets: boolean; signal?: AbortSignal; dryRunCreate: boolean}): Promise<TargetChecks | undefined> {
  const candidates = spannable(state, repairs(groupView(state, [], placeholderRoom(state), options.copySecrets)));
  const byGroup = new Map<string, Pod>();
  for (const pod of candidates) {
    const group = pod.metadata?.labels?.[RAY_GROUP_LABEL] ?? '';
    const template = workerGroupTemplate(state.rayCluster.spec, group);
    if (template && !byGroup.has(group)) byGroup.set(group, remoteWorkerPod(pod, template, pod.metadata?.name ?? group, swapContext(state, '')));
  }
  if (byGroup.size === 0) return undefined;
  return preflightTargets(subjectOf(state), byGroup, spanTargets(state, options.to), options);
}

/**
 * planPass, with every cluster the pass could move workers to checked first: one that may take none
 * is skipped, and the quota of each is taken worker by worker. A pass that would move nothing anyway
 * (no room anywhere) checks nothing: watch makes one on every event, and a worker waiting for room
 * would otherwise cost each cluster its reads and a dry-run create every time.
 */
export async function checkedPass(state: GroupState, options: {to?: string; random?: () => number; copySecrets: boolean; signal?: AbortSignal}): Promise<Pass> {
  const unchecked = planPass(state, options);
  if (unchecked.moves.length === 0) return unchecked;
  const checks = await targetChecks(state, {...options, dryRunCreate: true});
  return planPass(state, {...options, ...(checks ? {checks} : {})});
}

/** Hosts of a multi-host replica that move together, to `cluster` when a replica began there; or why they stay. */
type ReplicaSet = {pods: Pod[]; cluster?: string} | {pods: Pod[]; reason: string};

/**
 * The Pending hosts of a multi-host worker group, in the sets that may move: the hosts of a
 * replica (a TPU slice) work only together, so they go to one cluster, all of them, or stay.
 * KubeRay without RayMultiHostIndexing does not say which pods make a replica, so a replica is
 * counted: hosts running at home first complete the replicas begun there, a cluster holding an
 * incomplete replica (a run stopped between its swaps) is completed next, and the rest go by
 * whole replicas. With RayMultiHostIndexing, KubeRay replaces a replica whole when one of its hosts
 * fails, which a swap is to it: none is moved.
 */
export function replicaSets(state: GroupState, group: string, numOfHosts: number, pending: Pod[]): ReplicaSet[] {
  const sorted = [...pending].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const ofGroup = (p: Pod) => p.metadata?.labels?.[RAY_GROUP_LABEL] === group && !p.metadata?.deletionTimestamp;
  if (state.homePods.some((p) => ofGroup(p) && p.metadata?.labels?.[REPLICA_NAME_LABEL])) {
    return [{pods: sorted, reason: `worker group ${group} is multi-host with KubeRay's RayMultiHostIndexing, which replaces a replica whole when one host is swapped, so its hosts stay at home`}];
  }
  const out: ReplicaSet[] = [];
  const take = (n: number) => sorted.splice(0, Math.min(n, sorted.length));
  const incomplete = (n: number) => (numOfHosts - (n % numOfHosts)) % numOfHosts;
  const atHome = state.homePods.filter((p) => ofGroup(p) && !p.metadata?.labels?.[ROLE_LABEL] && p.spec?.nodeName).length;
  const home = take(incomplete(atHome));
  if (home.length > 0) out.push({pods: home, reason: `worker group ${group} is multi-host (numOfHosts ${numOfHosts}), and the other hosts of its replica run at home`});
  for (const side of state.remotes) {
    if (!side.observed) continue;
    const id = side.cluster.snapshot?.id ?? side.cluster.status.clusterId ?? side.cluster.client.context;
    const there = side.workers.filter(ofGroup).length + state.homePods.filter((p) => ofGroup(p) && isInSwap(p) && swapTargetOf(p)?.cluster === id).length;
    const rest = take(incomplete(there));
    if (rest.length > 0) out.push({pods: rest, cluster: id});
  }
  while (sorted.length >= numOfHosts) out.push({pods: take(numOfHosts)});
  if (sorted.length > 0) out.push({pods: take(sorted.length), reason: `worker group ${group} is multi-host (numOfHosts ${numOfHosts}), and the other hosts of its replica are not Pending yet`});
  return out;
}

export function describeMove(m: Pass['moves'][number]): SpanMove {
  return {pending: m.pod.metadata?.name ?? '', workerGroup: m.workerGroup, name: m.name, to: m.to, ...(m.leftOut.length > 0 ? {leftOut: m.leftOut} : {})};
}

export function describeRepair(state: GroupState | UnstartedGroup, r: Repair): SpanResult['repairs'][number] {
  const context = (id: string) => state.fleet.find((o) => o.snapshot?.id === id)?.client.context ?? id;
  const rayCluster = 'rayCluster' in state ? state.rayCluster.metadata.name : (state.named ?? '');
  switch (r.do) {
    case 'delete-remote':
      return {action: r.do, object: `pod/${r.pod.metadata?.name}`, context: context(r.cluster), why: r.why};
    case 'give-up':
      return {action: r.do, object: `pod/${r.remote.metadata?.name}`, context: context(r.cluster), why: r.why};
    case 'delete-copy':
    case 'close-copy':
    case 'update-copy':
    case 'update-endpoints':
      return {action: r.do, object: `${r.object.kind?.toLowerCase()}/${r.object.metadata?.name}`, context: context(r.cluster), why: r.why};
    case 'clear-workers-to-delete':
      return {action: r.do, object: `raycluster/${rayCluster}`, context: state.home.client.context, why: r.why};
    case 'make-budget':
    case 'delete-budget':
      return {action: r.do, object: `poddisruptionbudget/${placeholderBudgetName(rayCluster)}`, context: state.home.client.context, why: r.why};
    case 'make-head-local':
      return {action: r.do, object: `service/${r.service}`, context: state.home.client.context, why: r.why};
    default:
      return {action: r.do, object: `pod/${r.pod.metadata?.name}`, context: state.home.client.context, why: r.why};
  }
}

/** Repairs as an Event says them: each with its object, its cluster and why. */
function repairsTold(state: GroupState | UnstartedGroup, repairs: Repair[]): string {
  return repairs
    .map((r) => {
      const d = describeRepair(state, r);
      return `${d.action} ${d.object} in ${d.context}: ${d.why}`;
    })
    .join('; ');
}

/** The workers a pass brings to other clusters: its moves, and swaps resumed at their remote step. */
function arrivals(pass: Pass): Array<{pod: Pod; cluster: string}> {
  return [
    ...pass.moves.map((m) => ({pod: m.pod, cluster: m.cluster})),
    ...pass.repairs.flatMap((r) => (r.do === 'swap' && r.steps.includes('remote') ? [{pod: r.pod, cluster: r.target.cluster}] : [])),
  ];
}

/**
 * What can refuse a pass (a Secret missing where workers go, a foreign Service in the way), run
 * before its first write, the Lease's included; actOnPass reads it again under the Lease.
 */
export async function checkPass(state: GroupState, pass: Pass, options: {copySecrets: boolean; signal?: AbortSignal}): Promise<void> {
  await checkTargets(state, arrivals(pass), options);
}

/**
 * Acts on one pass: checks every target first (so bad input changes nothing), makes them ready,
 * repairs, then swaps. Returns the writes made.
 */
export async function actOnPass(state: GroupState, pass: Pass, options: {copySecrets: boolean; signal?: AbortSignal}): Promise<Actor> {
  const readiness = await checkTargets(state, arrivals(pass), options);
  const actor = new Actor(state, options.signal);
  await actor.makeReady(readiness);
  for (const r of pass.repairs) await actor.repair(r);
  await actor.swaps(pass.moves.map((m) => ({pod: m.pod, target: {name: m.name, cluster: m.cluster}, steps: ALL_STEPS, node: m.node, why: `${m.pod.metadata?.name} does not fit at home`})));
  return actor;
}

/** The moves of a pass that its actor made: only these were spanned, and are said and recorded so. */
export function movesMade(pass: Pass, actor: Actor): Pass['moves'] {
  return pass.moves.filter((m) => actor.swapped.has(m.pod.metadata?.name ?? ''));
}

/** The Spanned event of one move, the same whichever command made it. */
export function tellSpanned(state: GroupState, m: Pass['moves'][number], warnings: string[], signal?: AbortSignal): Promise<void> {
  const of = state.kind === 'RayCluster' ? '' : ` of RayCluster ${state.rayCluster.metadata.name}`;
  return tell(state, 'Spanned', `worker ${m.pod.metadata?.name} of group ${m.workerGroup}${of} did not fit here; it runs in ${m.to} as ${m.name}, with a placeholder here`, warnings, signal);
}

/**
 * Records a significant step on the group's top Ray object, not on its RayCluster: KubeRay deletes a
 * RayService's or RayJob's RayClusters, their Events with them, and `kubectl describe` of the Ray
 * object the user made should tell the whole story (an upgrade's, a retry's). A failure to record
 * becomes a warning.
 */
export async function tell(state: Pick<GroupState, 'home' | 'object'>, reason: string, message: string, warnings: string[], signal?: AbortSignal): Promise<void> {
  const failed = await recordEvent(state.home.client, state.object, reason, message, signal);
  if (failed) warnings.push(`the ${reason} event was not recorded: ${failed}`);
}

/**
 * Moves the group's workers that the home cluster's scheduler could not place to other clusters,
 * by the swap of docs/design.md §4, after repairing whatever an interrupted run left. KubeRay's count is
 * right at every step. Everything is checked before the first write, so bad input changes nothing.
 */
export async function spanGroup(fleet: Fleet, options: SpanOptions): Promise<SpanResult> {
  if (options.to) fleet.cluster(options.to);
  const {signal} = options;
  const look = await lookAtGroup(fleet, options.group, options.namespace, signal);
  if ('unstarted' in look) return removeLeftovers(fleet, look, options);
  let state = look;
  if (options.to && (options.to === state.home.client.context || !state.fleet.some((o) => o.client.context === options.to && o.snapshot))) {
    throw new InputError(`context "${options.to}" cannot take workers: it is the home of "${state.name}" or did not answer`, 'pick another cluster of the fleet with --to');
  }
  const result: SpanResult = {
    group: state.name,
    kind: state.kind,
    namespace: state.namespace,
    home: state.home.client.context,
    rayCluster: state.rayCluster.metadata.name,
    moves: [],
    stuck: [],
    repairs: [],
    steps: [],
    dryRun: options.dryRun,
    warnings: [],
  };
  const slot: LeaseSlot = {};
  try {
    if (state.relocation && !options.dryRun) {
      // An earlier run was moving the group whole: finish that, then span from where it now lives.
      await holdLease(slot, state, {signal, onWait: options.onWait});
      await finishRelocation(state, {signal, say: () => undefined});
      state = await observeGroup(fleet, options.group, options.namespace, signal);
    }
    await spanRayCluster(fleet, state, options, slot, result);
    // A RayService upgrading brings up a second RayCluster at the app's full size, when home is
    // full already: it is spanned like any growth, so that KubeRay can switch to it.
    for (const name of rayClusterNames(state.kind, state.object).slice(1)) {
      const pending = await lookAtGroup(fleet, options.group, options.namespace, signal, {rayCluster: name});
      if (!('unstarted' in pending)) await spanRayCluster(fleet, pending, options, slot, result, name);
    }
    if (options.wait && !options.dryRun) await settleGroup(fleet, options, slot, result, notReadyYet, 'is spanned');
  } finally {
    await slot.lease?.release();
  }
  return result;
}

/** The passes of span over one RayCluster of the group (`rayCluster`: one not the live one). */
async function spanRayCluster(fleet: Fleet, first: GroupState, options: SpanOptions, slot: LeaseSlot, result: SpanResult, rayCluster?: string): Promise<void> {
  const {signal} = options;
  const again = () => observeGroup(fleet, options.group, options.namespace, signal, rayCluster ? {rayCluster} : {});
  let state = first;
  const movedBefore = result.moves.length;
  // Each RayCluster's passes replace only what the last look of that one saw wait.
  const stuckBefore = rayCluster ? [...result.stuck] : [];
  // Waiting for another run's lease, or a swap backed out, calls for a fresh look; a few rounds suffice.
  for (let round = 0; round < 4; round++) {
    const pass = await checkedPass(state, options);
    // Refused before anything is written, or said as a warning: after a write (an earlier round, the
    // live RayCluster's pass) or beside repairs that are due, which go ahead.
    const untouched = round === 0 && !rayCluster && result.steps.length === 0 && pass.repairs.length === 0;
    for (const refused of [pass.refused, pass.noTarget]) {
      if (!refused) continue;
      if ((options.onRefusal ?? 'refuse') === 'refuse' && untouched) throw new InputError(refused.message, refused === pass.noTarget ? `${refused.fix}; nothing was changed` : refused.fix);
      const warning = `${refused.pending.join(', ')} not spanned: ${refused.message} (${refused.fix})`;
      if (!result.warnings.includes(warning)) result.warnings.push(warning);
    }
    result.skipped = pass.skipped;
    // What waits is what the last look saw wait: a worker a later round moved is not stuck.
    const stuck = pass.stuck.filter((s) => !result.moves.slice(movedBefore).some((m) => m.pending === s.pending));
    result.stuck = [...stuckBefore, ...stuck];
    if (options.dryRun) {
      result.moves.push(...pass.moves.map(describeMove));
      result.repairs.push(...pass.repairs.map((r) => describeRepair(state, r)));
      if (pass.repairs.length > 0 || pass.moves.length > 0) await checkPass(state, pass, options);
      return;
    }
    if (pass.repairs.length === 0 && pass.moves.length === 0) return;
    await checkPass(state, pass, options);
    if (await holdLease(slot, state, {signal, onWait: options.onWait, waitMs: options.leaseWaitMs})) {
      state = await again();
      continue;
    }
    result.repairs.push(...pass.repairs.map((r) => describeRepair(state, r)));
    const actor = await actOnPass(state, pass, options);
    const made = movesMade(pass, actor);
    result.moves.push(...made.map(describeMove));
    result.steps.push(...actor.steps);
    result.warnings.push(...actor.warnings);
    for (const m of made) await tellSpanned(state, m, result.warnings, signal);
    // The budget comes and goes with the span itself: not a repair worth an event.
    // A worker that did not join has an event of its own (NotJoined).
    const repaired = pass.repairs.filter((r) => r.do !== 'make-budget' && r.do !== 'delete-budget' && r.do !== 'give-up');
    if (repaired.length > 0) {
      await tell(state, 'Repaired', repairsTold(state, repaired), result.warnings, signal);
    }
    // A swap backed out, or one that met a write of someone else's, leaves its Pending worker to be
    // spanned afresh, by the next look.
    if (!pass.repairs.some((r) => r.do === 'unlock') && made.length === pass.moves.length) return;
    state = await again();
  }
}

/**
 * A Ray object without its RayCluster: what the tool made for a RayCluster that is gone goes (a
 * RayJob's remote workers once KubeRay deletes its cluster). With nothing left, there is nothing
 * to do until KubeRay makes one.
 */
async function removeLeftovers(fleet: Fleet, first: UnstartedGroup, options: SpanOptions): Promise<SpanResult> {
  const planFor = (look: UnstartedGroup) => leftoverRepairs({homePods: look.homePods, remotes: remoteViews(look), rayClusters: look.rayClusters}, look.named ? `its RayCluster ${look.named} is gone` : `${look.kind.toLowerCase()}/${look.name} has no RayCluster`);
  let look = first;
  let plan = planFor(look);
  if (plan.length === 0) throw new UnstartedError(`${look.unstarted}; try again once KubeRay has made it`, look.kind);
  const result: SpanResult = {group: look.name, kind: look.kind, namespace: look.namespace, home: look.home.client.context, rayCluster: look.named ?? '', moves: [], stuck: [], repairs: [], steps: [], dryRun: options.dryRun, warnings: []};
  if (options.dryRun) {
    result.repairs.push(...plan.map((r) => describeRepair(look, r)));
    return result;
  }
  const slot: LeaseSlot = {};
  try {
    if (await holdLease(slot, look, {signal: options.signal, onWait: options.onWait, waitMs: options.leaseWaitMs})) {
      // Another run had the group meanwhile: act on what is left now. A RayCluster made since is the next pass's.
      const again = await lookAtGroup(fleet, options.group, options.namespace, options.signal);
      if (!('unstarted' in again)) return result;
      look = again;
      plan = planFor(look);
    }
    result.repairs.push(...plan.map((r) => describeRepair(look, r)));
    const actor = new Actor(look, options.signal);
    for (const r of plan) await actor.repair(r);
    result.steps.push(...actor.steps);
    await tell(look, 'Collected', repairsTold(look, plan), result.warnings, options.signal);
  } finally {
    await slot.lease?.release();
  }
  return result;
}

/** What a spanned group still waits for before KubeRay counts every worker of it as ready. */
export function notReadyYet(state: GroupState): string[] {
  const swapping = state.homePods.filter(isInSwap).map((p) => p.metadata?.name ?? '');
  const unready = state.homePods.filter((p) => p.metadata?.labels?.[ROLE_LABEL] === 'placeholder' && !p.metadata.deletionTimestamp && !isPodReady(p)).map((p) => p.metadata?.name ?? '');
  return [...(swapping.length > 0 ? [`the swap of ${swapping.join(', ')}`] : []), ...(unready.length > 0 ? [`placeholder(s) ${unready.join(', ')} to be Ready (their remote workers)`] : [])];
}

