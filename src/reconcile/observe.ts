import type {ClusterClient} from '../kube/client.js';
import type {Fleet} from '../kube/fleet.js';
import {clusterSnapshot, type ClusterSnapshot} from '../placement/snapshot.js';
import {observeClusterState, refuseSharedClusters, type ClusterStatus} from './fleet-status.js';

/** One fleet cluster as a decision sees it. */
export interface ObservedCluster {
  client: ClusterClient;
  status: ClusterStatus;
  /**
   * Present only when the cluster answered every question. A cluster without one takes no part in
   * decisions, and nothing of it is ever taken to be missing.
   */
  snapshot?: ClusterSnapshot;
}

/**
 * Looks at every fleet cluster at once, with one list of nodes and one of non-terminal pods each:
 * never a GET per pod. Fleet priority is the order of the fleet, most preferred first.
 */
export async function observeFleet(fleet: Fleet, signal?: AbortSignal): Promise<ObservedCluster[]> {
  const count = fleet.clusters.length;
  const observed = await Promise.all(
    fleet.clusters.map(async (client, index) => {
      const {status, nodes, pods} = await observeClusterState(client, signal);
      const usable = status.state === 'Ready' && status.clusterId && nodes && pods;
      return {
        client,
        status,
        snapshot: usable ? clusterSnapshot({id: status.clusterId!, name: client.context, priority: count - index}, nodes, pods) : undefined,
      };
    }),
  );
  refuseSharedClusters(observed.map((o) => o.status));
  return observed;
}
