/**
 * What the API server does to an object before it stores it: defaults, validation, and the
 * immutability rules for what the tool and KubeRay send (a pod's spec, a Service's clusterIP).
 */
import {isMap, type Json, type JsonMap} from './json.js';
import type {SandboxResource} from './resources.js';
import {ApiError, type NewObject, type Store, type StoredObject} from './store.js';


const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kinds whose names must be DNS labels (they become host names). */
const LABEL_NAMED = new Set(['Namespace', 'Service']);

function invalid(kind: string, name: string, field: string, message: string): ApiError {
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${field}: ${message}`, {name, kind, causes: [{reason: 'FieldValueInvalid', message, field}]});
}

let nextServiceIp = 1;
/** Service IPs, like every address of the sandbox, are loopback addresses. */
function allocateClusterIp(): string {
  const n = nextServiceIp++;
  return `127.60.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
}

function defaultPod(pod: JsonMap): JsonMap {
  const spec: JsonMap = isMap(pod.spec) ? {...pod.spec} : {};
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  spec.containers = containers.map((c) => (isMap(c) ? {terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent', resources: {}, ...c} : c));
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.serviceAccountName ??= 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  spec.priority ??= 0;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.tolerations ??= [
    {key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300},
    {key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300},
  ];
  return {...pod, spec, status: {phase: 'Pending', qosClass: qosClass(containers)}};
}

function qosClass(containers: Json[]): string {
  const resources = containers.map((c) => (isMap(c) && isMap(c.resources) ? c.resources : {}));
  if (resources.every((r) => !isMap(r.requests) && !isMap(r.limits))) return 'BestEffort';
  const guaranteed = resources.every((r) => {
    const limits = isMap(r.limits) ? r.limits : {};
    const requests = isMap(r.requests) ? r.requests : limits;
    return ['cpu', 'memory'].every((k) => limits[k] !== undefined && String(requests[k]) === String(limits[k]));
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function defaultService(service: JsonMap): JsonMap {
  const spec: JsonMap = isMap(service.spec) ? {...service.spec} : {};
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = allocateClusterIp();
  spec.clusterIPs ??= [spec.clusterIP];
  spec.ipFamilies ??= ['IPv4'];
  spec.ipFamilyPolicy ??= 'SingleStack';
  spec.internalTrafficPolicy ??= 'Cluster';
  if (Array.isArray(spec.ports)) {
    spec.ports = spec.ports.map((p) => (isMap(p) ? {protocol: 'TCP', targetPort: p.port ?? null, ...p} : p));
  }
  return {...service, spec, status: {loadBalancer: {}}};
}

/** Kinds whose names need only be usable in a URL path, as RBAC's are (system:discovery). */
const PATH_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

function checkName(resource: SandboxResource, name: string): void {
  if (PATH_NAMED.has(resource.kind)) {
    if (name === '.' || name === '..' || /[/%]/.test(name)) throw invalid(resource.kind, name, 'metadata.name', `Invalid value: "${name}": may not be '.' or '..', or contain '/' or '%'`);
    return;
  }
  const pattern = LABEL_NAMED.has(resource.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
  if (name.length > (LABEL_NAMED.has(resource.kind) ? 63 : 253) || !pattern.test(name)) {
    throw invalid(resource.kind, name, 'metadata.name', `Invalid value: "${name}": a lowercase RFC 1123 ${LABEL_NAMED.has(resource.kind) ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
  }
}

/** Defaults and validates a new object of `resource`. */
export function admit(resource: SandboxResource, object: NewObject, _store: Store): NewObject {
  checkName(resource, object.metadata.name);
  switch (resource.kind) {
    case 'Pod': {
      const containers = isMap(object.spec) && Array.isArray(object.spec.containers) ? object.spec.containers : [];
      if (containers.length === 0) throw invalid('Pod', object.metadata.name, 'spec.containers', 'Required value');
      return defaultPod(object) as NewObject;
    }
    case 'Service':
      return defaultService(object) as NewObject;
    case 'Namespace':
      return {...object, spec: {finalizers: ['kubernetes']}, status: {phase: 'Active'}};
    case 'Secret':
      return {...object, type: object.type ?? 'Opaque'};
    default:
      return object;
  }
}

const MUTABLE_POD_SPEC = ['activeDeadlineSeconds', 'tolerations', 'terminationGracePeriodSeconds', 'schedulingGates'];

function withoutImages(containers: Json | undefined): Json | undefined {
  return Array.isArray(containers) ? containers.map((c) => (isMap(c) ? {...c, image: null} : c)) : containers;
}

/** The rules an update must keep, as the API server's validation states them. */
export function checkUpdate(resource: SandboxResource, live: StoredObject, next: StoredObject): void {
  const name = live.metadata.name;
  if (resource.kind === 'Pod') {
    const a = isMap(live.spec) ? {...live.spec} : {};
    const b = isMap(next.spec) ? {...next.spec} : {};
    for (const k of MUTABLE_POD_SPEC) {
      delete a[k];
      delete b[k];
    }
    a.containers = withoutImages(a.containers) ?? null;
    b.containers = withoutImages(b.containers) ?? null;
    a.initContainers = withoutImages(a.initContainers) ?? null;
    b.initContainers = withoutImages(b.initContainers) ?? null;
    if (JSON.stringify(sorted(a)) !== JSON.stringify(sorted(b))) {
      throw invalid(
        'Pod',
        name,
        'spec',
        'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      );
    }
  }
  if ((resource.kind === 'RoleBinding' || resource.kind === 'ClusterRoleBinding') && JSON.stringify(sorted(live.roleRef ?? null)) !== JSON.stringify(sorted(next.roleRef ?? null))) {
    throw invalid(`${resource.kind}.rbac.authorization.k8s.io`, name, 'roleRef', `Invalid value: ${JSON.stringify(next.roleRef ?? null)}: cannot change roleRef`);
  }
  if (resource.kind === 'Service') {
    const before = isMap(live.spec) ? live.spec.clusterIP : undefined;
    const after = isMap(next.spec) ? next.spec.clusterIP : undefined;
    if (before !== after && !(after === undefined || after === '')) throw invalid('Service', name, 'spec.clusterIP', 'Invalid value: field is immutable');
    if (isMap(next.spec) && (after === undefined || after === '')) next.spec.clusterIP = before ?? null;
  }
}

function sorted(v: Json): Json {
  if (Array.isArray(v)) return v.map(sorted);
  if (isMap(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k]!)]));
  return v;
}
