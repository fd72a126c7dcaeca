import type {KubeObject, PodSpec} from '../kube/types.js';

/** The Ray objects the tool manages: the top object of a group. */
export type RayKind = 'RayCluster' | 'RayService' | 'RayJob';

/**
 * One kind of pod a Ray app needs: the head, or the workers of one worker group. Resource
 * arithmetic is left to src/placement, which reads requests, node selectors, affinity and
 * tolerations from `spec` the way the scheduler does.
 */
export interface PodGroupDemand {
  role: 'head' | 'worker';
  /** The worker group's groupName; 'head' for the head. */
  group: string;
  /** Pods wanted: 1 for the head; for workers replicas clamped to [minReplicas, maxReplicas] times numOfHosts. */
  count: number;
  /** The pod spec from the group's template, as the pods will be created. */
  spec: PodSpec;
}

/** What a Ray app asks of a cluster. */
export interface RayDemand {
  kind: RayKind;
  /** The top object's name and namespace. */
  name: string;
  namespace: string;
  /**
   * Whether the in-tree Ray autoscaler owns the worker counts (enableInTreeAutoscaling). The tool
   * then never writes replicas or workersToDelete.
   */
  autoscaling: boolean;
  head: PodGroupDemand;
  workers: PodGroupDemand[];
}

/** A group as a user applies it: the Ray object plus the objects it needs. */
export interface GroupManifest {
  ray: KubeObject & {kind: RayKind};
  /** ConfigMaps, Secrets, Services and ServiceAccounts, in the order they came. */
  dependencies: KubeObject[];
}
