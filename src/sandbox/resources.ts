/**
 * The API a simulated cluster serves: what discovery lists, so that kubectl finds every kind, and
 * what each resource supports (scope, subresources, field selectors).
 */
import {ApiError} from './store.js';

export interface SandboxResource {
  group: string;
  version: string;
  /** Plural, as in URLs. */
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Subresources the server handles: status, binding, token. */
  subresources?: string[];
  /** Fields a fieldSelector may name, beyond metadata.name and metadata.namespace. */
  fields?: string[];
  /** Only create: a review, answered and not stored. */
  createOnly?: boolean;
  categories?: string[];
}

const core = (resource: string, kind: string, namespaced: boolean, extra: Partial<SandboxResource> = {}): SandboxResource => ({group: '', version: 'v1', resource, kind, namespaced, ...extra});

export const SANDBOX_RESOURCES: SandboxResource[] = [
  core('namespaces', 'Namespace', false, {shortNames: ['ns'], subresources: ['status', 'finalize'], fields: ['status.phase']}),
  core('nodes', 'Node', false, {shortNames: ['no'], subresources: ['status'], fields: ['spec.unschedulable']}),
  core('pods', 'Pod', true, {shortNames: ['po'], subresources: ['status', 'binding'], fields: ['spec.nodeName', 'status.phase', 'spec.schedulerName'], categories: ['all']}),
  core('services', 'Service', true, {shortNames: ['svc'], subresources: ['status'], categories: ['all']}),
  core('configmaps', 'ConfigMap', true, {shortNames: ['cm']}),
  core('secrets', 'Secret', true, {fields: ['type']}),
  core('serviceaccounts', 'ServiceAccount', true, {shortNames: ['sa'], subresources: ['token']}),
  core('events', 'Event', true, {shortNames: ['ev'], fields: ['involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace', 'involvedObject.uid', 'reason', 'type', 'source']}),
  core('persistentvolumeclaims', 'PersistentVolumeClaim', true, {shortNames: ['pvc'], subresources: ['status']}),
  core('resourcequotas', 'ResourceQuota', true, {shortNames: ['quota'], subresources: ['status']}),
  {group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', kind: 'EndpointSlice', namespaced: true},
  {group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true},
  {group: 'policy', version: 'v1', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true, shortNames: ['pdb'], subresources: ['status']},
  {group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true, shortNames: ['netpol']},
  {group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', kind: 'PriorityClass', namespaced: false, shortNames: ['pc']},
  {group: 'node.k8s.io', version: 'v1', resource: 'runtimeclasses', kind: 'RuntimeClass', namespaced: false},
  {group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, createOnly: true},
  {group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', namespaced: false, createOnly: true},
  {group: 'authentication.k8s.io', version: 'v1', resource: 'selfsubjectreviews', kind: 'SelfSubjectReview', namespaced: false, createOnly: true},
  {group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false},
  {group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false},
  {group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'roles', kind: 'Role', namespaced: true},
  {group: 'rbac.authorization.k8s.io', version: 'v1', resource: 'rolebindings', kind: 'RoleBinding', namespaced: true},
  {group: 'ray.io', version: 'v1', resource: 'rayclusters', kind: 'RayCluster', namespaced: true, subresources: ['status'], categories: ['all']},
  {group: 'ray.io', version: 'v1', resource: 'rayservices', kind: 'RayService', namespaced: true, subresources: ['status'], categories: ['all']},
  {group: 'ray.io', version: 'v1', resource: 'rayjobs', kind: 'RayJob', namespaced: true, subresources: ['status'], categories: ['all']},
];

/** The store's name of a resource: the plural, with its group when it has one. */
export function storeName(r: SandboxResource): string {
  return r.group === '' ? r.resource : `${r.resource}.${r.group}`;
}

export function apiVersionOf(r: SandboxResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** Subresources that take a kind of their own, and only create. */
const SUBRESOURCE_KINDS: Record<string, {group?: string; version?: string; kind: string; verbs: string[]}> = {
  binding: {kind: 'Binding', verbs: ['create']},
  token: {group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create']},
};

/** Discovery: the APIResourceList of one group version. */
export function resourceList(group: string, version: string, resources = SANDBOX_RESOURCES): unknown {
  const mine = resources.filter((r) => r.group === group && r.version === version);
  const verbs = (r: SandboxResource) => (r.createOnly ? ['create'] : ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group === '' ? version : `${group}/${version}`,
    resources: mine.flatMap((r) => [
      {
        name: r.resource,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: verbs(r),
        ...(r.shortNames ? {shortNames: r.shortNames} : {}),
        ...(r.categories ? {categories: r.categories} : {}),
      },
      ...(r.subresources ?? []).map((sub) => ({
        name: `${r.resource}/${sub}`,
        singularName: '',
        namespaced: r.namespaced,
        ...(SUBRESOURCE_KINDS[sub] ?? {kind: r.kind, verbs: ['get', 'patch', 'update']}),
      })),
    ]),
  };
}

/** Discovery: the API groups besides the core one. */
export function groupList(resources = SANDBOX_RESOURCES): unknown {
  const groups = [...new Set(resources.filter((r) => r.group !== '').map((r) => r.group))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const version = resources.find((r) => r.group === name)!.version;
      const gv = {groupVersion: `${name}/${version}`, version};
      return {name, versions: [gv], preferredVersion: gv};
    }),
  };
}

const gvPath = (group: string, version: string) => (group === '' ? `api/${version}` : `apis/${group}/${version}`);

/** OpenAPI v3 discovery: one document per group version. */
export function openApiPaths(resources = SANDBOX_RESOURCES): unknown {
  const gvs = new Map(resources.map((r) => [gvPath(r.group, r.version), r]));
  return {paths: Object.fromEntries([...gvs.keys()].map((gv) => [gv, {serverRelativeURL: `/openapi/v3/${gv}?hash=sandbox`}]))};
}

/**
 * One group version's OpenAPI v3 document, without schemas: only the PATCH operation of each kind,
 * which says that the server validates fields itself (fieldValidation), all kubectl apply and
 * create look up. Without strategic merge patch among its types kubectl computes apply's patches
 * from its own built-in types, or as a merge patch for KubeRay's.
 */
export function openApiDocument(group: string, version: string, resources = SANDBOX_RESOURCES): unknown {
  const paths: Record<string, unknown> = {};
  for (const r of resources.filter((x) => x.group === group && x.version === version && !x.createOnly)) {
    const content = Object.fromEntries(['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'].map((type) => [type, {schema: {type: 'object'}}]));
    paths[`/${gvPath(group, version)}/${r.namespaced ? 'namespaces/{namespace}/' : ''}${r.resource}/{name}`] = {
      patch: {
        operationId: `patch${r.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': {group, version, kind: r.kind},
        parameters: ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map((name) => ({name, in: 'query', schema: {type: name === 'force' ? 'boolean' : 'string'}})),
        requestBody: {content, required: true},
        responses: {'200': {description: 'OK'}},
      },
    };
  }
  return {openapi: '3.0.0', info: {title: 'Kubernetes', version: 'v1.37.0-sandbox'}, paths, components: {schemas: {}}};
}

/** What a request path names, read as the API server reads it before anything is routed. */
export interface ResourcePath {
  group: string;
  version: string;
  /** '' when the path names none; for /api/v1/namespaces/<ns>, <ns>. */
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  /** Segments after the subresource: no route has them. */
  extra: boolean;
}

/** Subresources of a namespace, which /namespaces/<ns>/<x> can name instead of a resource inside it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** The resource a path names, or undefined for one that names none (discovery, /version, /healthz). */
export function resourcePath(pathname: string): ResourcePath | undefined {
  let parts: string[];
  try {
    parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new ApiError(400, 'BadRequest', `the path ${JSON.stringify(pathname)} is not valid percent-encoding`);
  }
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) [version, rest] = [parts[1]!, parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
  else return undefined;
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  const [resource = '', name = '', subresource = ''] = rest;
  return {group, version, namespace, resource, name, subresource, extra: rest.length > 3};
}
