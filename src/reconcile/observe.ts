import type {ClusterClient} from '../kube/client.js';
import {normaliseError} from '../kube/errors.js';
import type {Fleet} from '../kube/fleet.js';
import {clusterSnapshot, nodeSnapshot, podSnapshots, roomlessSnapshot, unreadParts, type ClusterSnapshot, type RoomPart} from '../placement/snapshot.js';
import {observeClusterState, observeRoom, problemOf, refuseSharedClusters, stateAfter, type ClusterStatus} from './fleet-status.js';

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
 * never a GET per pod. Fleet priority is the order of the fleet, most preferred first. With `room:
 * false`, only who each cluster is: its snapshot is roomless until readRoom.
 */
export async function observeFleet(fleet: Fleet, signal?: AbortSignal, options: {room?: boolean} = {}): Promise<ObservedCluster[]> {
  const count = fleet.clusters.length;
  const observed = await Promise.all(
    fleet.clusters.map(async (client, index) => {
      const {status, nodes, pods} = await observeClusterState(client, signal, options);
      const meta = {id: status.clusterId!, name: client.context, priority: count - index};
      const usable = status.state === 'Ready' && status.clusterId && (options.room === false || (nodes && pods));
      return {
        client,
        status,
        snapshot: !usable ? undefined : options.room === false ? roomlessSnapshot(meta) : clusterSnapshot(meta, nodes!, pods!),
      };
    }),
  );
  refuseSharedClusters(observed.map((o) => o.status));
  return observed;
}

/**
 * Reads one part of the room (nodes or pods) of every cluster observed without it, in place. A
 * cluster where that read fails now takes the state that says why, and drops out of decisions as if
 * it had failed observeFleet.
 */
export async function readRoom(observed: ObservedCluster[], part: RoomPart, signal?: AbortSignal): Promise<void> {
  await Promise.all(
    observed.map(async (o) => {
      const was = o.snapshot;
      const unread = was ? unreadParts(was) : [];
      if (!was || !unread.includes(part)) return;
      try {
        const [nodes, pods] = observeRoom(o.client, signal, part);
        const known = {
          ...(unread.includes('nodes') ? {} : {nodes: was.nodes}),
          ...(unread.includes('pods') ? {} : {pods: was.pods}),
          ...(nodes ? {nodes: (await nodes).items.map(nodeSnapshot)} : {}),
          ...(pods ? {pods: podSnapshots((await pods).items)} : {}),
        };
        o.snapshot = roomlessSnapshot(was, known);
      } catch (err) {
        signal?.throwIfAborted();
        const error = normaliseError(err, {context: o.client.context});
        const state = stateAfter(error);
        o.snapshot = undefined;
        o.status = {...o.status, state, problems: state === 'Degraded' ? [...o.status.problems, problemOf(error)] : [problemOf(error)]};
      }
    }),
  );
}
