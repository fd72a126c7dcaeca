/**
 * API objects as they travel on the wire: plain JSON, timestamps as strings. Only the fields this
 * tool reads are spelled out; everything else passes through untouched.
 */

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: ListMeta;
  items: T[];
}

export type ResourceQuantities = Record<string, string | number>;

export interface ResourceRequirements {
  requests?: ResourceQuantities;
  limits?: ResourceQuantities;
}

export interface Container {
  name: string;
  image?: string;
  resources?: ResourceRequirements;
  /** `Always` on an init container makes it a sidecar that runs beside the app containers. */
  restartPolicy?: string;
  [field: string]: unknown;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: '' | 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface PodSpec {
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  containers: Container[];
  initContainers?: Container[];
  overhead?: ResourceQuantities;
  tolerations?: Toleration[];
  affinity?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface Pod extends KubeObject {
  spec?: PodSpec;
  status?: {
    phase?: string;
    podIP?: string;
    /** The node the scheduler means to run this pod on (after preempting others, or a delayed bind). */
    nominatedNodeName?: string;
    conditions?: Array<{type: string; status: string; reason?: string; message?: string}>;
    [field: string]: unknown;
  };
}

export interface Node extends KubeObject {
  spec?: {unschedulable?: boolean; taints?: Taint[]; [field: string]: unknown};
  status?: {
    capacity?: ResourceQuantities;
    allocatable?: ResourceQuantities;
    conditions?: Array<{type: string; status: string; reason?: string; message?: string}>;
    [field: string]: unknown;
  };
}

/** What GET /version answers. */
export interface ServerVersion {
  major?: string;
  minor?: string;
  gitVersion: string;
  platform?: string;
}

/** The body of an ERROR watch event and of every failed request. */
export interface Status extends KubeObject {
  code?: number;
  reason?: string;
  message?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}
