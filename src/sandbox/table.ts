/**
 * Server-side printing, as kubectl get asks for it (Accept: application/json;as=Table;g=meta.k8s.io):
 * the columns the real API server (and KubeRay's CRD) give pods, nodes, Services, RayClusters, the
 * RBAC kinds, PriorityClasses, RuntimeClasses, ResourceQuotas, PersistentVolumeClaims and
 * NetworkPolicies.
 */
import type {SandboxResource} from './resources.js';
import type {StoredObject} from './store.js';
import {type Json, type JsonMap, isMap, list, map} from './json.js';
import {formatQuantity, parseQuantity} from './quantity.js';
import {age} from '../ui/units.js';


interface Column {
  name: string;
  type?: string;
  priority?: number;
  cell: (o: StoredObject) => Json;
}

const NAME: Column = {name: 'Name', cell: (o) => o.metadata.name};
const AGE: Column = {name: 'Age', cell: (o) => age(o.metadata.creationTimestamp)};

function podStatus(o: StoredObject): string {
  if (o.metadata.deletionTimestamp !== undefined) return 'Terminating';
  return String(map(o.status).reason ?? map(o.status).phase ?? 'Unknown');
}

const CREATED_AT: Column = {name: 'Created At', type: 'date', cell: (o) => o.metadata.creationTimestamp};
const subjectsOf = (kind: string) => (o: StoredObject) =>
  list(o.subjects)
    .map(map)
    .filter((s) => s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${String(s.namespace ?? o.metadata.namespace ?? '')}/${String(s.name)}` : String(s.name)))
    .join(', ');
const BINDING: Column[] = [
  NAME,
  {name: 'Role', cell: (o) => `${String(map(o.roleRef).kind)}/${String(map(o.roleRef).name)}`},
  AGE,
  {name: 'Users', priority: 1, cell: subjectsOf('User')},
  {name: 'Groups', priority: 1, cell: subjectsOf('Group')},
  {name: 'ServiceAccounts', priority: 1, cell: subjectsOf('ServiceAccount')},
];

/** A quantity as the server prints it back: canonical, whatever text it was written in. */
function quantityText(v: Json | undefined): string {
  const q = typeof v === 'string' || typeof v === 'number' ? parseQuantity(v) : undefined;
  return q ? formatQuantity(q) : '0';
}

/** The Request or Limit column of a quota: `name: used/hard` for each of its hard limits, sorted. */
const quotaColumn = (limits: boolean) => (o: StoredObject) => {
  const status = map(o.status);
  return Object.keys(map(status.hard))
    .sort()
    .filter((k) => k.startsWith('limits.') === limits)
    .map((k) => `${k}: ${quantityText(map(status.used)[k])}/${quantityText(map(status.hard)[k])}`)
    .join(', ');
};

const ACCESS_MODES: Array<[string, string]> = [
  ['ReadWriteOnce', 'RWO'],
  ['ReadOnlyMany', 'ROX'],
  ['ReadWriteMany', 'RWX'],
  ['ReadWriteOncePod', 'RWOP'],
];

/** A claim's capacity and access modes show once it is bound to a volume. */
const bound = (o: StoredObject) => Boolean(map(o.spec).volumeName);

/** metav1.FormatLabelSelector: requirements sorted by key, `<none>` for an empty selector. */
function formatSelector(selector: JsonMap): string {
  const parts: Array<[string, string]> = Object.entries(map(selector.matchLabels)).map(([k, v]) => [k, `${k}=${String(v)}`]);
  for (const e of list(selector.matchExpressions).filter(isMap)) {
    const key = String(e.key);
    const values = `(${list(e.values).map(String).sort().join(',')})`;
    const text = {In: `${key} in ${values}`, NotIn: `${key} notin ${values}`, Exists: key, DoesNotExist: `!${key}`}[String(e.operator)];
    if (text) parts.push([key, text]);
  }
  return (
    parts
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, text]) => text)
      .join(',') || '<none>'
  );
}

const COLUMNS: Record<string, Column[]> = {
  Role: [NAME, CREATED_AT],
  ClusterRole: [NAME, CREATED_AT],
  RoleBinding: BINDING,
  ClusterRoleBinding: BINDING,
  Pod: [
    NAME,
    {name: 'Ready', cell: (o) => `${list(map(o.status).containerStatuses).filter((c) => map(c).ready === true).length}/${list(map(o.spec).containers).length}`},
    {name: 'Status', cell: podStatus},
    {name: 'Restarts', type: 'integer', cell: () => 0},
    AGE,
    {name: 'IP', priority: 1, cell: (o) => map(o.status).podIP ?? '<none>'},
    {name: 'Node', priority: 1, cell: (o) => map(o.spec).nodeName ?? '<none>'},
    {name: 'Nominated Node', priority: 1, cell: () => '<none>'},
    {name: 'Readiness Gates', priority: 1, cell: () => '<none>'},
  ],
  Node: [
    NAME,
    {name: 'Status', cell: (o) => (list(map(o.status).conditions).some((c) => map(c).type === 'Ready' && map(c).status === 'True') ? 'Ready' : 'NotReady') + (map(o.spec).unschedulable ? ',SchedulingDisabled' : '')},
    {name: 'Roles', cell: () => '<none>'},
    AGE,
    {name: 'Version', cell: (o) => map(map(o.status).nodeInfo).kubeletVersion ?? ''},
    {name: 'Internal-IP', priority: 1, cell: (o) => list(map(o.status).addresses).map(map).find((a) => a.type === 'InternalIP')?.address ?? '<none>'},
  ],
  Service: [
    NAME,
    {name: 'Type', cell: (o) => map(o.spec).type ?? 'ClusterIP'},
    {name: 'Cluster-IP', cell: (o) => map(o.spec).clusterIP ?? '<none>'},
    {name: 'External-IP', cell: () => '<none>'},
    {name: 'Port(s)', cell: (o) => list(map(o.spec).ports).map((p) => `${String(map(p).port)}/${String(map(p).protocol ?? 'TCP')}`).join(',') || '<none>'},
    AGE,
    {name: 'Selector', priority: 1, cell: (o) => Object.entries(map(map(o.spec).selector)).map(([k, v]) => `${k}=${String(v)}`).join(',') || '<none>'},
  ],
  PriorityClass: [
    NAME,
    {name: 'Value', type: 'integer', cell: (o) => o.value ?? 0},
    {name: 'Global-Default', type: 'boolean', cell: (o) => o.globalDefault === true},
    AGE,
    {name: 'PreemptionPolicy', priority: 1, cell: (o) => o.preemptionPolicy ?? ''},
  ],
  RuntimeClass: [NAME, {name: 'Handler', cell: (o) => o.handler ?? ''}, AGE],
  ResourceQuota: [NAME, {name: 'Request', cell: quotaColumn(false)}, {name: 'Limit', cell: quotaColumn(true)}, AGE],
  PersistentVolumeClaim: [
    NAME,
    {name: 'Status', cell: (o) => (o.metadata.deletionTimestamp !== undefined ? 'Terminating' : (map(o.status).phase ?? ''))},
    {name: 'Volume', cell: (o) => map(o.spec).volumeName ?? ''},
    {name: 'Capacity', cell: (o) => (bound(o) ? quantityText(map(map(o.status).capacity).storage) : '')},
    {name: 'Access Modes', cell: (o) => (bound(o) ? ACCESS_MODES.filter(([mode]) => list(map(o.status).accessModes).includes(mode)).map(([, short]) => short).join(',') : '')},
    {name: 'StorageClass', cell: (o) => map(o.metadata.annotations)['volume.beta.kubernetes.io/storage-class'] ?? map(o.spec).storageClassName ?? ''},
    {name: 'VolumeAttributesClass', cell: (o) => map(o.spec).volumeAttributesClassName || '<unset>'},
    AGE,
    {name: 'VolumeMode', priority: 1, cell: (o) => map(o.spec).volumeMode ?? '<unset>'},
  ],
  NetworkPolicy: [NAME, {name: 'Pod-Selector', cell: (o) => formatSelector(map(map(o.spec).podSelector))}, AGE],
  RayCluster: [
    NAME,
    {name: 'Desired Workers', type: 'integer', cell: (o) => map(o.status).desiredWorkerReplicas ?? 0},
    {name: 'Available Workers', type: 'integer', cell: (o) => map(o.status).availableWorkerReplicas ?? 0},
    {name: 'Status', cell: (o) => map(o.status).state ?? ''},
    AGE,
    {name: 'Head Pod IP', priority: 1, cell: (o) => map(map(o.status).head).podIP ?? ''},
    {name: 'Head Service IP', priority: 1, cell: (o) => map(map(o.status).head).serviceIP ?? ''},
  ],
};

/** A meta.k8s.io/v1 Table of the objects; the row objects carry their metadata, or all of them when asked. */
export function toTable(resource: SandboxResource, objects: StoredObject[], resourceVersion: string, includeObject: boolean): JsonMap {
  const columns = COLUMNS[resource.kind] ?? [NAME, AGE];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {resourceVersion},
    columnDefinitions: columns.map((c) => ({name: c.name, type: c.type ?? 'string', format: c.name === 'Name' ? 'name' : '', description: c.name, priority: c.priority ?? 0})),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      object: includeObject ? o : {kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata},
    })),
  };
}
