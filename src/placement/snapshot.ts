import type {Node, Pod, PodSpec, Taint, Toleration} from '../kube/types.js';
import {isNodeReady, isTerminal, PerFrozenLists, podRequests} from './capacity.js';
import {parseResources, type ResourceAmounts} from './quantity.js';

/** A required node-affinity term: its expressions must all hold (terms are ORed). */
export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** What the scheduler looks at to place one pod. */
export interface PodShape {
  /** cpu in millicores, the rest in whole units; `pods` is added by the fit. */
  requests: ResourceAmounts;
  nodeSelector: Record<string, string>;
  /** requiredDuringSchedulingIgnoredDuringExecution terms; empty means no constraint. */
  affinity: NodeSelectorTerm[];
  tolerations: Toleration[];
}

export interface NodeSnapshot {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  ready: boolean;
  allocatable: ResourceAmounts;
}

export interface PodSnapshot {
  name: string;
  namespace: string;
  /** The node it is bound to; absent while Pending. */
  node?: string;
  /** Set for pods that wait for a node: they take room before anything new. */
  shape: PodShape;
  labels: Record<string, string>;
}

/** One fleet cluster as placement sees it. */
export interface ClusterSnapshot {
  /** The kube-system Namespace UID. */
  id: string;
  /** The context name, for messages. */
  name: string;
  /** Higher is preferred. */
  priority: number;
  nodes: NodeSnapshot[];
  /** Non-terminal pods: bound ones use room, Pending ones will take room first. */
  pods: PodSnapshot[];
}

export function podShape(spec: PodSpec): PodShape {
  const affinity = (spec.affinity as {nodeAffinity?: {requiredDuringSchedulingIgnoredDuringExecution?: {nodeSelectorTerms?: NodeSelectorTerm[]}}} | undefined)
    ?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return {
    requests: podRequests(spec),
    nodeSelector: spec.nodeSelector ?? {},
    affinity: affinity ?? [],
    tolerations: spec.tolerations ?? [],
  };
}

export function nodeSnapshot(node: Node): NodeSnapshot {
  return {
    name: node.metadata?.name ?? '',
    labels: node.metadata?.labels ?? {},
    taints: node.spec?.taints ?? [],
    unschedulable: node.spec?.unschedulable === true,
    ready: isNodeReady(node),
    allocatable: parseResources(node.status?.allocatable),
  };
}

/**
 * Builds a snapshot from what the API returned. Terminal pods are left out: they hold nothing. One
 * built from watch's frozen lists is kept, frozen, for every pass until they change.
 */
export function clusterSnapshot(meta: {id: string; name: string; priority: number}, nodes: Node[], pods: Pod[]): ClusterSnapshot {
  const frozen = Object.isFrozen(nodes) && Object.isFrozen(pods);
  return snapshots.of(
    nodes,
    pods,
    () => {
      const built = buildSnapshot(meta, nodes, pods);
      if (!frozen) return built;
      Object.freeze(built.nodes);
      Object.freeze(built.pods);
      return Object.freeze(built);
    },
    (kept) => kept.id === meta.id && kept.name === meta.name && kept.priority === meta.priority,
  );
}

const snapshots = new PerFrozenLists<ClusterSnapshot>();

export type RoomPart = 'nodes' | 'pods';

/** Part of a cluster's room was not read: thrown by a roomless snapshot when anything asks for that part. */
export class RoomUnread extends Error {
  override readonly name = 'RoomUnread';

  constructor(
    readonly cluster: string,
    readonly part: RoomPart,
  ) {
    super(`the ${part} of ${cluster} were not read`);
  }
}

/**
 * A cluster known by its identity, and by whichever part of its room has been read. A part not read
 * throws RoomUnread instead of reading as none, so nothing can be decided from a room that was never
 * read. For a read that needs the room only now and then (status of a group with nothing to place):
 * it reads the part when this throws, and looks again.
 */
export function roomlessSnapshot(meta: {id: string; name: string; priority: number}, known: {nodes?: NodeSnapshot[]; pods?: PodSnapshot[]} = {}): ClusterSnapshot {
  const part = (name: RoomPart): PropertyDescriptor =>
    known[name]
      ? {value: known[name], enumerable: true}
      : {
          get: () => {
            throw new RoomUnread(meta.name, name);
          },
        };
  return Object.defineProperties({id: meta.id, name: meta.name, priority: meta.priority}, {nodes: part('nodes'), pods: part('pods')}) as ClusterSnapshot;
}

/** The parts of a snapshot's room that were not read: none, but for roomlessSnapshot's. */
export function unreadParts(snapshot: ClusterSnapshot): RoomPart[] {
  return (['nodes', 'pods'] as const).filter((part) => Object.getOwnPropertyDescriptor(snapshot, part)?.get !== undefined);
}

function buildSnapshot(meta: {id: string; name: string; priority: number}, nodes: Node[], pods: Pod[]): ClusterSnapshot {
  return {...meta, nodes: nodes.map(nodeSnapshot), pods: podSnapshots(pods)};
}

/** The pods that hold or wait for room: terminal ones hold nothing. */
export function podSnapshots(pods: Pod[]): PodSnapshot[] {
  return pods
    .filter((pod) => !isTerminal(pod) && pod.spec)
    .map((pod) => ({
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
      node: pod.spec?.nodeName || undefined,
      shape: podShape(pod.spec as PodSpec),
      labels: pod.metadata?.labels ?? {},
    }));
}
