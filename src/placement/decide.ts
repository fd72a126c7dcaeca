import type {PodGroupDemand, RayDemand} from '../kuberay/demand.js';
import {RAY_CLUSTER_LABEL, RAY_GROUP_LABEL, RAY_NODE_TYPE_LABEL, ROLE_LABEL} from '../kuberay/labels.js';
import {ClusterRoom, heavierFirst} from './fit.js';
import {NODES_SHOWN, type Reason} from './reasons.js';
import {podShape, type ClusterSnapshot, type PodShape, type PodSnapshot} from './snapshot.js';

export interface PlacementPolicy {
  /** if-fits: move the whole group to another cluster that fits it (downtime). never: always span. */
  relocate: 'if-fits' | 'never';
}

/** The live RayCluster whose pods KubeRay counts. */
export interface GroupKey {
  namespace: string;
  rayCluster: string;
}

/** New pods for one cluster: the head (on placement or relocation) and workers per worker group. */
export interface ClusterPods {
  cluster: string;
  head: boolean;
  workers: Record<string, number>;
}

export interface Decision {
  /** place: a new group. fits: growth fits at home. relocate: move whole. span: extra workers go remote. */
  action: 'place' | 'fits' | 'relocate' | 'span';
  /** The cluster id of the home: where the head is, or will be. */
  home: string;
  assignments: ClusterPods[];
  /** Workers per group that fit nowhere and will stay Pending. */
  unplaced: Record<string, number>;
  reasons: Reason[];
}

interface Want {
  group: string;
  head: boolean;
  shape: PodShape;
  count: number;
}

/**
 * The pods that must run in the home cluster: the head, and a RayJob's submitter, which KubeRay
 * starts beside it. Both count as "the head" in assignments.
 */
function homeGroups(demand: RayDemand): PodGroupDemand[] {
  const submitter = demand.submitter && demand.submitter.count > 0 ? [{role: 'head' as const, group: 'submitter', count: demand.submitter.count, spec: demand.submitter.spec}] : [];
  return [demand.head, ...submitter];
}

function wants(groups: PodGroupDemand[]): Want[] {
  return groups
    .filter((g) => g.count > 0)
    .map((g) => ({group: g.group, head: g.role === 'head', shape: podShape(g.spec), count: g.count}))
    .sort((a, b) => heavierFirst(a.shape, b.shape));
}

/** "1 worker of group cpu", "3 workers of group cpu". */
function workersOf(n: number, group: string): string {
  return `${n} worker${n === 1 ? '' : 's'} of group ${group}`;
}

/** What of `want` found no room: "the head", "2 workers of group cpu", "1 of 3 workers of group cpu". */
function label(want: Want, missing: number): string {
  if (want.head) return want.group === 'submitter' ? 'the job submitter' : 'the head';
  return missing === want.count ? workersOf(missing, want.group) : `${missing} of ${want.count} workers of group ${want.group}`;
}

interface Attempt {
  cluster: ClusterSnapshot;
  room: ClusterRoom;
  placed: Map<Want, number>;
  reasons: Reason[];
}

/** Fits what it can of `list`, heaviest first, into `room`, noting what did not fit and why. */
function attempt(cluster: ClusterSnapshot, room: ClusterRoom, list: Want[]): Attempt {
  const placed = new Map<Want, number>();
  const reasons: Reason[] = [];
  for (const want of list) {
    const n = room.fit(want.shape, want.count);
    placed.set(want, n);
    if (n < want.count) {
      const misses = room.misses(want.shape);
      reasons.push({
        kind: 'no-fit',
        cluster: cluster.name,
        what: label(want, want.count - n),
        count: want.count - n,
        nodes: misses.slice(0, NODES_SHOWN),
        moreNodes: Math.max(0, misses.length - NODES_SHOWN),
      });
    }
  }
  return {cluster, room, placed, reasons};
}

function complete(a: Attempt, list: Want[]): boolean {
  return list.every((w) => (a.placed.get(w) ?? 0) === w.count);
}

function resourcesOf(list: Want[]): string[] {
  return [...new Set(list.flatMap((w) => Object.keys(w.shape.requests)))];
}

/** Fleet priority, then least room left over, then name: the order docs/design.md §4 gives. */
function better(a: Attempt, b: Attempt, resources: string[]): {first: Attempt; by: 'priority' | 'leftover' | 'name'} {
  if (a.cluster.priority !== b.cluster.priority) return {first: a.cluster.priority > b.cluster.priority ? a : b, by: 'priority'};
  const la = a.room.leftover(resources);
  const lb = b.room.leftover(resources);
  if (la !== lb) return {first: la < lb ? a : b, by: 'leftover'};
  return {first: a.cluster.name <= b.cluster.name ? a : b, by: 'name'};
}

function byPriority(fleet: ClusterSnapshot[]): ClusterSnapshot[] {
  return [...fleet].sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
}

function allWorkers(list: Want[], counts: (w: Want) => number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of list) if (!w.head && counts(w) > 0) out[w.group] = (out[w.group] ?? 0) + counts(w);
  return out;
}

/** The single cluster that fits the whole of `list`, or undefined; with the reasons either way. */
function bestSingle(fleet: ClusterSnapshot[], list: Want[], reasons: Reason[]): Attempt | undefined {
  const resources = resourcesOf(list);
  let best: Attempt | undefined;
  for (const cluster of byPriority(fleet)) {
    const a = attempt(cluster, ClusterRoom.afterPending(cluster), list);
    if (!complete(a, list)) {
      reasons.push(...a.reasons);
      continue;
    }
    if (!best) {
      best = a;
      continue;
    }
    const {first, by} = better(best, a, resources);
    const second = first === best ? a : best;
    reasons.push({kind: 'preferred', cluster: first.cluster.name, over: second.cluster.name, by});
    best = first;
  }
  return best;
}

/** Spreads the remaining workers over `clusters` in order, counting down `remaining`. */
function spread(clusters: ClusterSnapshot[], list: Want[], remaining: Map<Want, number>, reasons: Reason[]): ClusterPods[] {
  const out: ClusterPods[] = [];
  for (const cluster of clusters) {
    const todo = list.filter((w) => (remaining.get(w) ?? 0) > 0);
    if (todo.length === 0) break;
    const asked = todo.map((w) => ({...w, count: remaining.get(w) ?? 0}));
    const a = attempt(cluster, ClusterRoom.afterPending(cluster), asked);
    reasons.push(...a.reasons);
    const workers: Record<string, number> = {};
    asked.forEach((ask, i) => {
      const n = a.placed.get(ask) ?? 0;
      const want = todo[i]!;
      remaining.set(want, (remaining.get(want) ?? 0) - n);
      if (n > 0) workers[want.group] = (workers[want.group] ?? 0) + n;
    });
    if (Object.keys(workers).length > 0) {
      reasons.push({kind: 'fits', cluster: cluster.name, what: describeCounts(workers)});
      out.push({cluster: cluster.id, head: false, workers});
    }
  }
  return out;
}

function describeCounts(workers: Record<string, number>): string {
  return Object.entries(workers)
    .map(([group, n]) => workersOf(n, group))
    .join(', ');
}

function leftOver(list: Want[], remaining: Map<Want, number>): Record<string, number> {
  return allWorkers(list, (w) => remaining.get(w) ?? 0);
}

function wholeGroupOn(action: 'place' | 'relocate', cluster: ClusterSnapshot, list: Want[], reasons: Reason[]): Decision {
  return {
    action,
    home: cluster.id,
    assignments: [{cluster: cluster.id, head: true, workers: allWorkers(list, (w) => w.count)}],
    unplaced: {},
    reasons,
  };
}

/**
 * Where a new group goes: the one cluster that fits all of it (fleet priority, then least left over),
 * or else home = the cluster that takes the head and the most workers, with the rest spread over the
 * other clusters in fleet order.
 */
export function decidePlace(demand: RayDemand, fleet: ClusterSnapshot[]): Decision {
  const list = wants([...homeGroups(demand), ...demand.workers]);
  const reasons: Reason[] = [];
  const single = bestSingle(fleet, list, reasons);
  if (single) {
    reasons.push({kind: 'fits', cluster: single.cluster.name, what: 'the whole group'});
    return wholeGroupOn('place', single.cluster, list, reasons);
  }

  const atHome = list.filter((w) => w.head);
  const workers = list.filter((w) => !w.head);
  let home: Attempt | undefined;
  let homeWorkers = -1;
  for (const cluster of byPriority(fleet)) {
    const room = ClusterRoom.afterPending(cluster);
    if (!atHome.every((w) => room.fit(w.shape, w.count) === w.count)) continue;
    const a = attempt(cluster, room, workers);
    const n = [...a.placed.values()].reduce((s, v) => s + v, 0);
    if (n > homeWorkers) {
      home = a;
      homeWorkers = n;
    }
  }
  if (!home) {
    const everywhere = fleet.map((cluster) => attempt(cluster, ClusterRoom.afterPending(cluster), atHome));
    reasons.push(...everywhere.flatMap((a) => a.reasons));
    return {action: 'place', home: '', assignments: [], unplaced: allWorkers(list, (w) => w.count), reasons};
  }
  reasons.push({kind: 'home', cluster: home.cluster.name, workers: homeWorkers});
  const remaining = new Map(workers.map((w) => [w, w.count - (home.placed.get(w) ?? 0)]));
  const assignments: ClusterPods[] = [{cluster: home.cluster.id, head: true, workers: allWorkers(workers, (w) => home.placed.get(w) ?? 0)}];
  const others = byPriority(fleet).filter((c) => c !== home.cluster);
  assignments.push(...spread(others, workers, remaining, reasons));
  return {action: 'place', home: home.cluster.id, assignments, unplaced: leftOver(workers, remaining), reasons};
}

function isOwnPod(key: GroupKey) {
  return (pod: PodSnapshot) => pod.namespace === key.namespace && pod.labels[RAY_CLUSTER_LABEL] === key.rayCluster;
}

/** Per worker group: workers that already have a node (or a remote twin, through a placeholder). */
export function settledWorkers(home: ClusterSnapshot, key: GroupKey): Record<string, number> {
  const own = isOwnPod(key);
  const out: Record<string, number> = {};
  for (const pod of home.pods) {
    if (!own(pod) || pod.labels[RAY_NODE_TYPE_LABEL] !== 'worker') continue;
    if (!pod.node && pod.labels[ROLE_LABEL] !== 'placeholder') continue;
    const group = pod.labels[RAY_GROUP_LABEL] ?? '';
    out[group] = (out[group] ?? 0) + 1;
  }
  return out;
}

/**
 * A running group wants more workers than it has. They fit at home; or, when they do not and the
 * policy allows, the whole group moves to one other cluster that fits it; or else the workers that
 * do not fit at home go to the other clusters in fleet order (span). Running pods never move in a span.
 */
export function decideGrowth(demand: RayDemand, fleet: ClusterSnapshot[], homeId: string, key: GroupKey, policy: PlacementPolicy): Decision {
  const home = fleet.find((c) => c.id === homeId);
  if (!home) throw new Error(`home cluster ${homeId} is not in the fleet snapshot`);
  const settled = settledWorkers(home, key);
  const need = wants(demand.workers.map((g) => ({...g, count: Math.max(0, g.count - (settled[g.group] ?? 0))})));
  const reasons: Reason[] = [];
  if (need.length === 0) {
    reasons.push({kind: 'nothing-to-place', cluster: home.name});
    return {action: 'fits', home: homeId, assignments: [], unplaced: {}, reasons};
  }

  const atHome = attempt(home, ClusterRoom.afterPending(home, isOwnPod(key)), need);
  if (complete(atHome, need)) {
    reasons.push({kind: 'fits', cluster: home.name, what: describeCounts(allWorkers(need, (w) => w.count))});
    return {action: 'fits', home: homeId, assignments: [{cluster: homeId, head: false, workers: allWorkers(need, (w) => w.count)}], unplaced: {}, reasons};
  }
  reasons.push(...atHome.reasons);

  if (policy.relocate === 'if-fits') {
    const whole = wants([...homeGroups(demand), ...demand.workers]);
    const others = fleet.filter((c) => c.id !== homeId);
    const target = bestSingle(others, whole, reasons);
    if (target) {
      reasons.push({kind: 'policy', relocate: 'if-fits', detail: `${target.cluster.name} fits the whole group, so it moves there`});
      return wholeGroupOn('relocate', target.cluster, whole, reasons);
    }
    reasons.push({kind: 'policy', relocate: 'if-fits', detail: 'no other cluster fits the whole group, so it spans'});
  } else {
    reasons.push({kind: 'policy', relocate: 'never', detail: 'the group spans instead of moving'});
  }

  const remaining = new Map(need.map((w) => [w, w.count - (atHome.placed.get(w) ?? 0)]));
  const assignments: ClusterPods[] = [];
  const stay = allWorkers(need, (w) => atHome.placed.get(w) ?? 0);
  if (Object.keys(stay).length > 0) assignments.push({cluster: homeId, head: false, workers: stay});
  assignments.push(...spread(byPriority(fleet).filter((c) => c.id !== homeId), need, remaining, reasons));
  return {action: 'span', home: homeId, assignments, unplaced: leftOver(need, remaining), reasons};
}

/** A worker as shrinking sees it. */
export interface WorkerRef {
  name: string;
  group: string;
  /** remote: runs in another cluster (its placeholder is what KubeRay counts). */
  where: 'remote' | 'pending' | 'local';
  /** The fleet priority of the cluster it runs in. */
  clusterPriority: number;
  /** creationTimestamp, RFC 3339. */
  created: string;
}

const SHRINK_CLASS: Record<WorkerRef['where'], number> = {remote: 0, pending: 1, local: 2};

/**
 * Which `count` workers go first when a group shrinks: remote ones (from the least preferred
 * cluster first), then Pending ones, then local ones; within each, the newest first.
 */
export function shrinkOrder(workers: WorkerRef[], count: number): WorkerRef[] {
  return [...workers]
    .sort(
      (a, b) =>
        SHRINK_CLASS[a.where] - SHRINK_CLASS[b.where] ||
        a.clusterPriority - b.clusterPriority ||
        b.created.localeCompare(a.created) ||
        a.name.localeCompare(b.name),
    )
    .slice(0, Math.max(0, count));
}

/**
 * Whether the group is back on one cluster: no remote workers anywhere and no placeholders at home.
 * Lists the clusters that still hold remote workers of it.
 */
export function collapseState(fleet: ClusterSnapshot[], homeId: string, key: GroupKey): {collapsed: boolean; remoteIn: string[]} {
  const own = isOwnPod(key);
  const remoteIn = fleet
    .filter((c) => c.id !== homeId && c.pods.some((p) => own(p) && p.labels[ROLE_LABEL] === 'remote-worker'))
    .map((c) => c.id);
  const home = fleet.find((c) => c.id === homeId);
  const placeholders = home?.pods.some((p) => own(p) && p.labels[ROLE_LABEL] === 'placeholder') ?? false;
  return {collapsed: remoteIn.length === 0 && !placeholders, remoteIn};
}
