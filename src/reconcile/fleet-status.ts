import type {ClusterClient} from '../kube/client.js';
import {InputError} from '../errors.js';
import {KubeError, normaliseError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {RESOURCES} from '../kube/resources.js';
import type {KubeObject, Node, Pod} from '../kube/types.js';
import {summariseCapacity, type CapacitySummary} from '../placement/capacity.js';

/**
 * Ready: every question answered. Degraded: reachable, but some of it could not be read (RBAC, say).
 * Unreachable: no answer at all. Unauthorized: the server refused our credentials.
 */
export type ClusterState = 'Ready' | 'Degraded' | 'Unreachable' | 'Unauthorized';

export interface ClusterProblem {
  reason: string;
  message: string;
  fix?: string;
}

export interface ClusterStatus {
  context: string;
  server: string;
  state: ClusterState;
  /** Why the cluster is not Ready; the first problem decides the state. */
  problems: ClusterProblem[];
  version?: string;
  /** The UID of the kube-system Namespace: the same cluster whatever a context calls it. */
  clusterId?: string;
  capacity?: CapacitySummary;
}

export interface FleetStatus {
  clusters: ClusterStatus[];
}

export const KUBE_SYSTEM = 'kube-system';

/** What an error that stops a read of a cluster says of the cluster: Degraded unless it did not answer or refused us. */
export function stateAfter(err: KubeError): ClusterState {
  if (err.unreachable) return 'Unreachable';
  return err.code === 401 ? 'Unauthorized' : 'Degraded';
}

export function problemOf(err: KubeError): ClusterProblem {
  return {reason: err.reason, message: err.detail, fix: err.fix};
}

/** What one look at a cluster gives: its status, and the nodes and non-terminal pods when readable. */
export interface ClusterLook {
  status: ClusterStatus;
  nodes?: Node[];
  pods?: Pod[];
}

/** Asks one cluster who it is and how full it is. Never throws: every failure is part of the answer. */
export async function observeCluster(client: ClusterClient, signal?: AbortSignal): Promise<ClusterStatus> {
  return (await observeClusterState(client, signal)).status;
}

/**
 * observeCluster, keeping the nodes and pods it listed for placement. Without `room`, who the
 * cluster is and nothing of its nodes and pods (no capacity either).
 */
export async function observeClusterState(client: ClusterClient, signal?: AbortSignal, options: {room?: boolean} = {}): Promise<ClusterLook> {
  const status: ClusterStatus = {context: client.context, server: client.server, state: 'Ready', problems: []};
  const settle = <T>(p: Promise<T>) =>
    p.then(
      (value) => ({value, error: undefined}),
      (err: unknown) => ({value: undefined, error: normaliseError(err, {context: client.context})}),
    );
  const room = options.room === false ? undefined : observeRoom(client, signal);
  const [version, kubeSystem, nodes, pods] = await Promise.all([
    settle(client.version(signal)),
    settle(client.get<KubeObject>(RESOURCES.namespaces, KUBE_SYSTEM, undefined, signal)),
    room && settle(room[0]!),
    room && settle(room[1]!),
  ]);
  // A run that was stopped learnt nothing about the cluster: it must not look unreachable.
  signal?.throwIfAborted();

  const first = version.error ?? kubeSystem.error ?? nodes?.error ?? pods?.error;
  if (first && stateAfter(first) !== 'Degraded') return {status: {...status, state: stateAfter(first), problems: [problemOf(first)]}};
  for (const result of [version, kubeSystem, nodes, pods]) {
    if (result?.error) status.problems.push(problemOf(result.error));
  }
  if (status.problems.length > 0) status.state = 'Degraded';
  status.version = version.value?.gitVersion;
  status.clusterId = kubeSystem.value?.metadata?.uid;
  if (nodes?.value && pods?.value) status.capacity = summariseCapacity(nodes.value.items, pods.value.items);
  return {status, nodes: nodes?.value?.items, pods: pods?.value?.items};
}

/** The reads of a cluster's room (or of one part of it): all its nodes, and its pods that still hold or wait for room. */
export function observeRoom(client: ClusterClient, signal?: AbortSignal, only?: 'nodes' | 'pods'): [Promise<{items: Node[]}> | undefined, Promise<{items: Pod[]}> | undefined] {
  return [
    only === 'pods' ? undefined : client.list<Node>(RESOURCES.nodes, {signal}),
    only === 'nodes' ? undefined : client.list<Pod>(RESOURCES.pods, {fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed', signal}),
  ];
}

/**
 * Observes every cluster of the fleet at once. One slow or dead cluster does not hold up the report
 * of the others beyond its timeout. Two contexts that reach one cluster are refused (see
 * refuseSharedClusters); doctor, which reports them, observes without this.
 */
export async function fleetStatus(fleet: Fleet, signal?: AbortSignal): Promise<FleetStatus> {
  const clusters = await Promise.all(fleet.clusters.map((client) => observeCluster(client, signal)));
  refuseSharedClusters(clusters);
  return {clusters};
}

/**
 * Two contexts of the fleet that reach the same cluster (one kube-system UID) would make every
 * decision wrong: a worker "spanned" to the other context runs where it was, and one object looks
 * like two copies. Every command refuses such a fleet, with doctor's words.
 */
export function refuseSharedClusters(clusters: Array<{context: string; clusterId?: string}>): void {
  const seen = new Map<string, string>();
  for (const c of clusters) {
    if (!c.clusterId) continue;
    const first = seen.get(c.clusterId);
    if (first !== undefined) {
      throw new InputError(
        `contexts "${first}" and "${c.context}" reach the same cluster (kube-system ${c.clusterId})`,
        'keep one context per cluster in the fleet; "kubectl superskyray doctor" checks this',
      );
    }
    seen.set(c.clusterId, c.context);
  }
}
