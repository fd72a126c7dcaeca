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

function buildSnapshot(meta: {id: string; name: string; priority: number}, nodes: Node[], pods: Pod[]): ClusterSnapshot {
  return {
    ...meta,
    nodes: nodes.map(nodeSnapshot),
    pods: pods
      .filter((pod) => !isTerminal(pod) && pod.spec)
      .map((pod) => ({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        node: pod.spec?.nodeName || undefined,
        shape: podShape(pod.spec as PodSpec),
        labels: pod.metadata?.labels ?? {},
      })),
  };
}
