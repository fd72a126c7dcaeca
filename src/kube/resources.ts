/** A kind of API object and where it lives on the API server. */
export interface ResourceType {
  /** API group; '' is the core group. */
  group: string;
  version: string;
  /** The plural resource name used in URLs. */
  resource: string;
  kind: string;
  namespaced: boolean;
}

function core(resource: string, kind: string, namespaced: boolean): ResourceType {
  return {group: '', version: 'v1', resource, kind, namespaced};
}

export const RESOURCES = {
  namespaces: core('namespaces', 'Namespace', false),
  nodes: core('nodes', 'Node', false),
  pods: core('pods', 'Pod', true),
  services: core('services', 'Service', true),
  configmaps: core('configmaps', 'ConfigMap', true),
  secrets: core('secrets', 'Secret', true),
  serviceaccounts: core('serviceaccounts', 'ServiceAccount', true),
  events: core('events', 'Event', true),
  endpointslices: {group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', namespaced: true},
  leases: {group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true},
  poddisruptionbudgets: {group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true},
  resourcequotas: core('resourcequotas', 'ResourceQuota', true),
  persistentvolumeclaims: core('persistentvolumeclaims', 'PersistentVolumeClaim', true),
  networkpolicies: {group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true},
  priorityclasses: {group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', kind: 'PriorityClass', namespaced: false},
  runtimeclasses: {group: 'node.k8s.io', version: 'v1', resource: 'runtimeclasses', kind: 'RuntimeClass', namespaced: false},
  selfsubjectaccessreviews: {
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    namespaced: false,
  },
  rayclusters: {group: 'ray.io', version: 'v1', resource: 'rayclusters', kind: 'RayCluster', namespaced: true},
  rayservices: {group: 'ray.io', version: 'v1', resource: 'rayservices', kind: 'RayService', namespaced: true},
  rayjobs: {group: 'ray.io', version: 'v1', resource: 'rayjobs', kind: 'RayJob', namespaced: true},
} as const satisfies Record<string, ResourceType>;

/** The collection URL path, e.g. /api/v1/namespaces/ml/pods or /apis/ray.io/v1/rayclusters. */
export function collectionPath(type: ResourceType, namespace?: string): string {
  const root = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  if (type.namespaced && namespace !== undefined) {
    return `${root}/namespaces/${encodeURIComponent(namespace)}/${type.resource}`;
  }
  return `${root}/${type.resource}`;
}

export function objectPath(type: ResourceType, name: string, namespace?: string): string {
  if (type.namespaced && namespace === undefined) {
    throw new Error(`${type.kind} "${name}" needs a namespace`);
  }
  return `${collectionPath(type, namespace)}/${encodeURIComponent(name)}`;
}

/** How errors and messages name an object, the way kubectl does: pods "x" in namespace "y". */
export function describeObject(type: ResourceType, name?: string, namespace?: string): string {
  const what = name === undefined ? type.resource : `${type.resource} "${name}"`;
  return type.namespaced && namespace !== undefined ? `${what} in namespace "${namespace}"` : what;
}

const BY_KIND: Record<string, ResourceType> = Object.fromEntries(Object.values(RESOURCES).map((type) => [type.kind, type]));

/** The resource type of a kind the tool handles, or undefined. */
export function resourceForKind(kind: string | undefined): ResourceType | undefined {
  return kind === undefined ? undefined : BY_KIND[kind];
}

/** A kind as kubectl takes it on the command line: raycluster, rayclusters or RayCluster. */
export function resourceForName(kindOrResource: string): ResourceType | undefined {
  const lower = kindOrResource.toLowerCase();
  return Object.values(RESOURCES).find((t) => t.kind.toLowerCase() === lower || t.resource === lower);
}
