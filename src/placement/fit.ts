import type {Taint, Toleration} from '../kube/types.js';
import type {ClusterSnapshot, NodeSelectorRequirement, NodeSnapshot, PodShape} from './snapshot.js';
import type {ResourceAmounts} from './quantity.js';

/** Why one node cannot take one pod. */
export type NodeMiss =
  | {kind: 'not-ready'}
  | {kind: 'unschedulable'}
  | {kind: 'taint'; taint: Taint}
  | {kind: 'node-selector'; key: string; want: string}
  | {kind: 'affinity'}
  | {kind: 'insufficient'; resource: string; needs: number; free: number};

function tolerates(tolerations: Toleration[], taint: Taint): boolean {
  return tolerations.some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (!t.key) return t.operator === 'Exists';
    if (t.key !== taint.key) return false;
    return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
  });
}

function requirementHolds(req: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const have = Number.parseInt(value ?? '', 10);
      const bound = Number.parseInt(values[0] ?? '', 10);
      if (Number.isNaN(have) || Number.isNaN(bound)) return false;
      return req.operator === 'Gt' ? have > bound : have < bound;
    }
    default:
      return false;
  }
}

/**
 * The scheduler's filters that do not depend on what else runs on the node: readiness,
 * cordoning, taints (NoSchedule and NoExecute), nodeSelector and required node affinity.
 */
export function staticMiss(node: NodeSnapshot, shape: PodShape): NodeMiss | undefined {
  if (!node.ready) return {kind: 'not-ready'};
  if (node.unschedulable && !tolerates(shape.tolerations, {key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule'})) {
    return {kind: 'unschedulable'};
  }
  for (const taint of node.taints) {
    if (taint.effect === 'PreferNoSchedule') continue;
    if (!tolerates(shape.tolerations, taint)) return {kind: 'taint', taint};
  }
  for (const [key, want] of Object.entries(shape.nodeSelector)) {
    if (node.labels[key] !== want) return {kind: 'node-selector', key, want};
  }
  if (shape.affinity.length > 0) {
    const anyTerm = shape.affinity.some(
      (term) =>
        (term.matchExpressions ?? []).every((req) => requirementHolds(req, node.labels[req.key])) &&
        (term.matchFields ?? []).every((req) => requirementHolds(req, req.key === 'metadata.name' ? node.name : undefined)),
    );
    if (!anyTerm) return {kind: 'affinity'};
  }
  return undefined;
}

/** The first resource the node lacks for the pod, counting the pod itself against `pods`. */
export function shortfall(free: ResourceAmounts, requests: ResourceAmounts): NodeMiss | undefined {
  if ((free.pods ?? 0) < 1) return {kind: 'insufficient', resource: 'pods', needs: 1, free: free.pods ?? 0};
  for (const [resource, needs] of Object.entries(requests)) {
    if (needs <= 0) continue;
    const have = free[resource] ?? 0;
    if (have < needs) return {kind: 'insufficient', resource, needs, free: have};
  }
  return undefined;
}

function take(free: ResourceAmounts, requests: ResourceAmounts): void {
  free.pods = (free.pods ?? 0) - 1;
  for (const [resource, amount] of Object.entries(requests)) free[resource] = (free[resource] ?? 0) - amount;
}

/**
 * What is free on each node of one cluster: allocatable less what bound pods request. Fits are
 * always decided node by node against this, never against pooled totals.
 */
export class ClusterRoom {
  readonly free: ResourceAmounts[];

  private constructor(
    readonly cluster: ClusterSnapshot,
    free: ResourceAmounts[],
  ) {
    this.free = free;
  }

  /** `leaveOut` drops pods from the count (a group's own pods, when asking where all of it would fit). */
  static of(cluster: ClusterSnapshot, leaveOut?: (pod: ClusterSnapshot['pods'][number]) => boolean): ClusterRoom {
    const index = new Map<string, number>();
    const free = cluster.nodes.map((node, i) => {
      index.set(node.name, i);
      return {...node.allocatable};
    });
    for (const pod of cluster.pods) {
      if (!pod.node || leaveOut?.(pod)) continue;
      const i = index.get(pod.node);
      if (i !== undefined) take(free[i]!, pod.shape.requests);
    }
    return new ClusterRoom(cluster, free);
  }

  /**
   * The room left once the cluster's Pending pods have taken theirs: they were there first. `isOwn`
   * leaves out the pods of the group being placed, which are what is being decided.
   */
  static afterPending(cluster: ClusterSnapshot, isOwn: (pod: ClusterSnapshot['pods'][number]) => boolean = () => false): ClusterRoom {
    const room = ClusterRoom.of(cluster);
    for (const pod of cluster.pods) if (!pod.node && !isOwn(pod)) room.fit(pod.shape, 1);
    return room;
  }

  /**
   * Places up to `count` identical pods, first fit over the nodes in order, taking their room.
   * Returns how many found a node. Identical pods make first fit a single pass: a node that cannot
   * take one cannot take the next either.
   */
  fit(shape: PodShape, count: number): number {
    let placed = 0;
    const nodes = this.cluster.nodes;
    for (let i = 0; i < nodes.length && placed < count; i++) {
      if (staticMiss(nodes[i]!, shape)) continue;
      const free = this.free[i]!;
      while (placed < count && !shortfall(free, shape.requests)) {
        take(free, shape.requests);
        placed++;
      }
    }
    return placed;
  }

  /**
   * Places `count` identical pods only if every one of them finds a node (the hosts of a multi-host
   * replica, which go together or not at all); otherwise takes no room.
   */
  fitAll(shape: PodShape, count: number): boolean {
    const before = this.free.map((f) => ({...f}));
    if (this.fit(shape, count) === count) return true;
    this.free.forEach((f, i) => {
      for (const key of Object.keys(f)) delete f[key];
      Object.assign(f, before[i]);
    });
    return false;
  }

  /**
   * The first node that takes one such pod (Ready, not cordoned, no taint it does not tolerate,
   * room left), its room taken: for a pod bound by name, which no scheduler checks. Undefined when
   * none can.
   */
  bind(shape: PodShape): string | undefined {
    const nodes = this.cluster.nodes;
    for (let i = 0; i < nodes.length; i++) {
      if (staticMiss(nodes[i]!, shape) || shortfall(this.free[i]!, shape.requests)) continue;
      take(this.free[i]!, shape.requests);
      return nodes[i]!.name;
    }
    return undefined;
  }

  /** Why no node can take one more such pod now: the miss on every node, in node order. */
  misses(shape: PodShape): Array<{node: string; miss: NodeMiss}> {
    const out: Array<{node: string; miss: NodeMiss}> = [];
    this.cluster.nodes.forEach((node, i) => {
      const miss = staticMiss(node, shape) ?? shortfall(this.free[i]!, shape.requests);
      if (miss) out.push({node: node.name, miss});
    });
    return out;
  }

  /** Free amounts summed over nodes, for a tie-break only (never for a fit). */
  leftover(resources: string[]): number {
    let score = 0;
    for (const resource of resources) {
      let free = 0;
      let total = 0;
      this.cluster.nodes.forEach((node, i) => {
        free += Math.max(0, this.free[i]![resource] ?? 0);
        total += node.allocatable[resource] ?? 0;
      });
      if (total > 0) score += free / total;
    }
    return score;
  }
}

/** Heaviest first: scarce extended resources (GPUs), then cpu, then memory. */
export function heavierFirst(a: PodShape, b: PodShape): number {
  const extended = (s: PodShape) =>
    Object.entries(s.requests).reduce((sum, [name, v]) => (name.includes('/') ? sum + v : sum), 0);
  return (
    extended(b) - extended(a) ||
    (b.requests.cpu ?? 0) - (a.requests.cpu ?? 0) ||
    (b.requests.memory ?? 0) - (a.requests.memory ?? 0)
  );
}
