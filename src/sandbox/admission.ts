/**
 * What the API server does to an object before it stores it: defaults, the admission plugins (a
 * pod's priority, RuntimeClass and quota; a claim's protection finalizer), validation, and the
 * immutability rules for what the tool and KubeRay send (a pod's spec, a Service's clusterIP, a
 * PriorityClass's value).
 */
import {isMap, list, map, type Json, type JsonMap} from './json.js';
import {admitPriority, admitRuntimeClass, checkGlobalDefault, checkPriorityClassDelete, HIGHEST_USER_PRIORITY, SYSTEM_PRIORITY_CLASSES, validateRuntimeClass} from './pod-admission.js';
import {parseQuantity, QUANTITY_SYNTAX} from './quantity.js';
import {checkPodQuota, quotaStatus} from './quota.js';
import type {SandboxResource} from './resources.js';
import {ApiError, type NewObject, type Store, type StoredObject} from './store.js';


const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kinds whose names must be DNS labels (they become host names). */
const LABEL_NAMED = new Set(['Namespace', 'Service']);

function invalid(kind: string, name: string, field: string, message: string): ApiError {
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${field}: ${message}`, {name, kind, causes: [{reason: 'FieldValueInvalid', message, field}]});
}

/** A field error as validation reports it: which field, the cause's reason, and its words. */
interface FieldError {
  field: string;
  reason: string;
  message: string;
}

/** The 422 for every error validation found, one in brackets when there are several, as the server lists them. */
function invalidAll(kind: string, name: string, errors: FieldError[]): ApiError | undefined {
  if (errors.length === 0) return undefined;
  const each = errors.map((e) => `${e.field}: ${e.message}`);
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${each.length === 1 ? each[0] : `[${each.join(', ')}]`}`, {
    name,
    kind,
    causes: errors.map((e) => ({reason: e.reason, message: e.message, field: e.field})),
  });
}

/** How validation names a kind: with its group, but for the core group. */
const kindOf = (r: SandboxResource) => (r.group === '' ? r.kind : `${r.kind}.${r.group}`);

let nextServiceIp = 1;
/** Service IPs, like every address of the sandbox, are loopback addresses. */
let nextNodePort = 30000;

/** The next port of the default node-port range (30000-32767). */
function allocateNodePort(): number {
  const port = nextNodePort;
  nextNodePort = nextNodePort >= 32767 ? 30000 : nextNodePort + 1;
  return port;
}

function allocateClusterIp(): string {
  const n = nextServiceIp++;
  return `127.60.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
}

/**
 * SetDefaults_Pod: a limit without a request makes the request the limit. Quota and the scheduler
 * count the requests, so a container that states only limits is counted as a real server counts it.
 */
function requestsFromLimits(c: Json): Json {
  if (!isMap(c) || !isMap(c.resources) || !isMap(c.resources.limits)) return c;
  const requests = {...c.resources.limits, ...map(c.resources.requests)};
  return Object.keys(requests).length === 0 ? c : {...c, resources: {...c.resources, requests}};
}

function defaultPod(pod: JsonMap): JsonMap {
  const spec: JsonMap = isMap(pod.spec) ? {...pod.spec} : {};
  const containers = (Array.isArray(spec.containers) ? spec.containers : []).map((c) =>
    requestsFromLimits(isMap(c) ? {terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent', resources: {}, ...c} : c),
  );
  spec.containers = containers;
  if (Array.isArray(spec.initContainers)) spec.initContainers = spec.initContainers.map(requestsFromLimits);
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.serviceAccountName ??= 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
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
  // The API server gives NodePort and LoadBalancer Services a node port per port, from its range.
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
    spec.externalTrafficPolicy ??= 'Cluster';
    if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
    if (Array.isArray(spec.ports)) spec.ports = spec.ports.map((p) => (isMap(p) && p.nodePort === undefined ? {...p, nodePort: allocateNodePort()} : p));
  }
  return {...service, spec, status: {loadBalancer: {}}};
}

/** Kinds whose names need only be usable in a URL path, as RBAC's are (system:discovery). */
const PATH_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

function checkName(resource: SandboxResource, name: string): void {
  if (PATH_NAMED.has(resource.kind)) {
    if (name === '.' || name === '..' || /[/%]/.test(name)) throw invalid(kindOf(resource), name, 'metadata.name', `Invalid value: "${name}": may not be '.' or '..', or contain '/' or '%'`);
    return;
  }
  const pattern = LABEL_NAMED.has(resource.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
  if (name.length > (LABEL_NAMED.has(resource.kind) ? 63 : 253) || !pattern.test(name)) {
    throw invalid(kindOf(resource), name, 'metadata.name', `Invalid value: "${name}": a lowercase RFC 1123 ${LABEL_NAMED.has(resource.kind) ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
  }
}

/**
 * Quantities are read when the body is decoded: text that is not one is a 400 before anything else,
 * and a negative one fails validation.
 */
function quantityErrors(resource: SandboxResource, field: string, quantities: Json | undefined): FieldError[] {
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(map(quantities))) {
    const q = typeof value === 'string' || typeof value === 'number' ? parseQuantity(value) : undefined;
    if (!q) throw new ApiError(400, 'BadRequest', `${resource.kind} in version "${resource.version}" cannot be handled as a ${resource.kind}: ${QUANTITY_SYNTAX}`);
    if (q.nanos < 0n) errors.push({field: `${field}[${name}]`, reason: 'FieldValueInvalid', message: `Invalid value: "${String(value)}": must be greater than or equal to 0`});
  }
  return errors;
}

const SYSTEM_PREFIX = 'system-';
const PREEMPTION_POLICIES = ['PreemptLowerPriority', 'Never'];

/** ValidatePriorityClass: system- names only for the system's own classes, and a user class's value at most 1e9. */
function priorityClassErrors(pc: JsonMap & {metadata: {name: string}}): FieldError[] {
  const errors: FieldError[] = [];
  const name = pc.metadata.name;
  const value = Number(pc.value ?? 0);
  if (name.startsWith(SYSTEM_PREFIX)) {
    const known = SYSTEM_PRIORITY_CLASSES.find((spc) => map(spc.metadata).name === name);
    const why = !known ? `${name} is not a known system priority class` : known.value !== value ? `value of ${name} PriorityClass must be ${String(known.value)}` : pc.globalDefault === true ? `globalDefault of ${name} PriorityClass must be false` : undefined;
    if (why) errors.push({field: 'metadata.name', reason: 'FieldValueForbidden', message: `Forbidden: priority class names with '${SYSTEM_PREFIX}' prefix are reserved for system use only. error: ${why}`});
  } else if (value > HIGHEST_USER_PRIORITY) {
    errors.push({field: 'value', reason: 'FieldValueForbidden', message: `Forbidden: maximum allowed value of a user defined priority is ${HIGHEST_USER_PRIORITY}`});
  }
  if (!PREEMPTION_POLICIES.includes(String(pc.preemptionPolicy))) {
    errors.push({field: 'preemptionPolicy', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(pc.preemptionPolicy)}: supported values: ${PREEMPTION_POLICIES.map((p) => `"${p}"`).join(', ')}`});
  }
  return errors;
}

const HANDLER_FORMAT = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

function runtimeClassErrors(resource: SandboxResource, rc: JsonMap): FieldError[] {
  const handler = typeof rc.handler === 'string' ? rc.handler : '';
  const errors = quantityErrors(resource, 'overhead.podFixed', map(rc.overhead).podFixed);
  if (handler.length > 63 || !DNS_LABEL.test(handler)) errors.unshift({field: 'handler', reason: 'FieldValueInvalid', message: `Invalid value: "${handler}": ${HANDLER_FORMAT}`});
  return errors;
}

const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];

function claimErrors(pvc: JsonMap): FieldError[] {
  const spec = map(pvc.spec);
  const modes = list(spec.accessModes);
  const errors: FieldError[] = [];
  if (modes.length === 0) errors.push({field: 'spec.accessModes', reason: 'FieldValueRequired', message: 'Required value: at least 1 access mode is required'});
  for (const mode of modes.filter((m) => !ACCESS_MODES.includes(String(m)))) {
    errors.push({field: 'spec.accessModes', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(mode)}: supported values: ${ACCESS_MODES.map((m) => `"${m}"`).join(', ')}`});
  }
  if (map(map(spec.resources).requests).storage === undefined) errors.push({field: 'spec.resources[storage]', reason: 'FieldValueRequired', message: 'Required value'});
  return errors;
}

/** The finalizer the StorageObjectInUseProtection plugin puts on every claim: it goes once no pod uses the claim. */
export const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

/** SetDefaults_NetworkPolicy: Ingress always, Egress when it has egress rules; ports are TCP unless said. */
function defaultNetworkPolicy(np: JsonMap): JsonMap {
  const spec = map(np.spec);
  const tcp = (rules: Json | undefined) => list(rules).map((rule) => (isMap(rule) && Array.isArray(rule.ports) ? {...rule, ports: rule.ports.map((p) => (isMap(p) ? {protocol: 'TCP', ...p} : p))} : rule));
  const policyTypes = list(spec.policyTypes).length > 0 ? spec.policyTypes! : ['Ingress', ...(list(spec.egress).length > 0 ? ['Egress'] : [])];
  return {
    ...np,
    spec: {...spec, podSelector: spec.podSelector ?? {}, ...(spec.ingress !== undefined ? {ingress: tcp(spec.ingress)} : {}), ...(spec.egress !== undefined ? {egress: tcp(spec.egress)} : {}), policyTypes},
  };
}

/**
 * The defaults of a kind's own fields, which the server applies to every object it decodes, an
 * update's too: a field left out of a PUT or an apply comes back.
 */
export function withFieldDefaults<T extends JsonMap>(resource: SandboxResource, object: T): T {
  switch (resource.kind) {
    case 'PriorityClass': {
      // A protobuf body leaves a zero value out: the decoded class has value 0. A false globalDefault is not written.
      const out: JsonMap = {...object, value: object.value ?? 0, preemptionPolicy: object.preemptionPolicy ?? 'PreemptLowerPriority'};
      if (out.globalDefault !== true) delete out.globalDefault;
      return out as T;
    }
    case 'PersistentVolumeClaim':
      return {...object, spec: {volumeMode: 'Filesystem', ...map(object.spec)}};
    case 'NetworkPolicy':
      return defaultNetworkPolicy(object) as T;
    default:
      return object;
  }
}

/** Defaulting, as the API server does it when it decodes a new object, and what a new object starts as. */
function withDefaults(resource: SandboxResource, object: NewObject): NewObject {
  switch (resource.kind) {
    case 'Pod':
      return defaultPod(object) as NewObject;
    case 'Service':
      return defaultService(object) as NewObject;
    case 'Namespace':
      return {...object, spec: {finalizers: ['kubernetes']}, status: {phase: 'Active'}};
    case 'Secret':
      return {...object, type: object.type ?? 'Opaque'};
    case 'PersistentVolumeClaim':
      return {...withFieldDefaults(resource, object), status: {phase: 'Pending'}};
    default:
      return withFieldDefaults(resource, object);
  }
}

/** Mutating admission: what the plugins that read other objects set, before the object has its name. */
function mutate(resource: SandboxResource, object: NewObject, store: Store): NewObject {
  const name = object.metadata.name || String(object.metadata.generateName ?? '');
  switch (resource.kind) {
    case 'Pod': {
      // The plugins' order in kube-apiserver: Priority, then RuntimeClass.
      const spec = admitRuntimeClass(store, admitPriority(store, map(object.spec), name), name);
      return {...object, spec};
    }
    case 'PersistentVolumeClaim': {
      const finalizers = list(object.metadata.finalizers);
      return finalizers.includes(PVC_PROTECTION) ? object : {...object, metadata: {...object.metadata, finalizers: [...finalizers, PVC_PROTECTION]}};
    }
    default:
      return object;
  }
}

/** The registry names an object that asked for a generated name, after mutating admission. */
function named(resource: SandboxResource, object: NewObject, store: Store): NewObject {
  if (object.metadata.name) return object;
  if (typeof object.metadata.generateName !== 'string') {
    throw new ApiError(422, 'Invalid', `${resource.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, {
      kind: resource.kind,
      causes: [{reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name'}],
    });
  }
  return {...object, metadata: {...object.metadata, name: store.generateName(object.metadata.generateName)}};
}

/** Validation of a new object: its name, and what each kind requires. */
function validate(resource: SandboxResource, object: NewObject): void {
  const name = object.metadata.name;
  checkName(resource, name);
  const kind = kindOf(resource);
  let errors: FieldError[] = [];
  switch (resource.kind) {
    case 'Pod': {
      const containers = isMap(object.spec) && Array.isArray(object.spec.containers) ? object.spec.containers : [];
      if (containers.length === 0) throw invalid(kind, name, 'spec.containers', 'Required value');
      break;
    }
    case 'PriorityClass':
      errors = priorityClassErrors(object);
      break;
    case 'RuntimeClass':
      errors = runtimeClassErrors(resource, object);
      break;
    case 'ResourceQuota':
      errors = quantityErrors(resource, 'spec.hard', map(object.spec).hard);
      break;
    case 'PersistentVolumeClaim':
      errors = claimErrors(object);
      break;
  }
  const failed = invalidAll(kind, name, errors);
  if (failed) throw failed;
}

/** Validating admission, last: the plugins that may still refuse what validation passed. */
function validateAdmission(resource: SandboxResource, object: NewObject, store: Store): NewObject {
  switch (resource.kind) {
    case 'Pod':
      validateRuntimeClass(store, map(object.spec), object.metadata.name);
      // ResourceQuota is the last plugin of all.
      checkPodQuota(store, object);
      return object;
    case 'PriorityClass':
      checkGlobalDefault(store, object);
      return object;
    case 'ResourceQuota':
      // The quota controller's first count, done at once: a quota is in force from its creation.
      return {...object, status: quotaStatus(object, store.list('pods', object.metadata.namespace))};
    default:
      return object;
  }
}

/**
 * A new object of `resource` as the API server stores it, in its order: defaults, mutating
 * admission, a generated name, validation, then validating admission. Each refuses with the
 * server's status and words.
 */
export function admit(resource: SandboxResource, object: NewObject, store: Store): NewObject {
  const ready = named(resource, mutate(resource, withDefaults(resource, object), store), store);
  validate(resource, ready);
  return validateAdmission(resource, ready, store);
}

const MUTABLE_POD_SPEC = ['activeDeadlineSeconds', 'tolerations', 'terminationGracePeriodSeconds', 'schedulingGates'];

function withoutImages(containers: Json | undefined): Json | undefined {
  return Array.isArray(containers) ? containers.map((c) => (isMap(c) ? {...c, image: null} : c)) : containers;
}

/** The rules an update must keep, as the API server's validation (and the Priority plugin) state them. */
export function checkUpdate(resource: SandboxResource, live: StoredObject, next: StoredObject, store: Store): void {
  const name = live.metadata.name;
  const immutable = (field: string, before: Json | undefined, after: Json | undefined): FieldError[] =>
    JSON.stringify(before ?? null) === JSON.stringify(after ?? null) ? [] : [{field, reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(after ?? null)}: field is immutable`}];
  let errors: FieldError[] = [];
  if (resource.kind === 'PriorityClass') {
    errors = [
      ...priorityClassErrors(next),
      ...(Number(live.value ?? 0) !== Number(next.value ?? 0) ? [{field: 'value', reason: 'FieldValueForbidden', message: 'Forbidden: may not be changed in an update.'}] : []),
      ...immutable('preemptionPolicy', live.preemptionPolicy, next.preemptionPolicy),
    ];
  }
  if (resource.kind === 'RuntimeClass') errors = [...runtimeClassErrors(resource, next), ...immutable('handler', live.handler, next.handler)];
  if (resource.kind === 'ResourceQuota') errors = quantityErrors(resource, 'spec.hard', map(next.spec).hard);
  const failed = invalidAll(kindOf(resource), name, errors);
  if (failed) throw failed;
  if (resource.kind === 'PriorityClass') checkGlobalDefault(store, next);
  if (resource.kind === 'Pod' && isMap(live.spec) && isMap(next.spec)) {
    // The Priority plugin keeps what it set at creation when an update leaves it out.
    for (const k of ['priority', 'preemptionPolicy']) if (next.spec[k] === undefined && live.spec[k] !== undefined) next.spec[k] = live.spec[k]!;
  }
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

/** What a delete must keep: the system's PriorityClasses stay. */
export function checkDelete(resource: SandboxResource, live: StoredObject): void {
  if (resource.kind === 'PriorityClass') checkPriorityClassDelete(live.metadata.name);
}
