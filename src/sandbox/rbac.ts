/**
 * Authorization as a real cluster does it with RBAC: what a request asks (its attributes, read off
 * the URL before anything is routed), the Roles and ClusterRoles bound to the user, and the policy
 * every cluster starts with (cluster-admin for system:masters, discovery and self-review for
 * everyone authenticated).
 */
import {serviceAccountUser, type UserInfo} from './authn.js';
import {isMap, list, map, type Json, type JsonMap} from './json.js';
import {ApiError, type Store, type StoredObject} from './store.js';

/** What a request asks, in the authorizer's terms. */
export interface Attributes {
  verb: string;
  resourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** Subresources of a namespace, which /namespaces/<ns>/<x> can name instead of a resource inside it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** The attributes of a request, as the API server's request-info parsing gives them. */
export function requestAttributes(method: string, url: URL): Attributes {
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const nonResource: Attributes = {verb: method.toLowerCase(), resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path};
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  let apiGroup = '';
  if (parts[0] === 'api' && parts.length >= 3) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 4) [apiGroup, rest] = [parts[1]!, parts.slice(3)];
  else return nonResource;
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  const [resource = '', name = '', subresource = ''] = rest;
  const q = url.searchParams;
  const watching = q.get('watch') === 'true' || q.get('watch') === '1';
  const collectionVerb = {GET: watching ? 'watch' : 'list', POST: 'create', DELETE: 'deletecollection'}[method];
  const objectVerb = {GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete'}[method];
  const verb = (name ? objectVerb : collectionVerb) ?? method.toLowerCase();
  // A list or watch narrowed to one name by a field selector is a request for that name.
  const selected = (verb === 'list' || verb === 'watch') && !name ? /(?:^|,)metadata\.name==?([^,]+)/.exec(q.get('fieldSelector') ?? '')?.[1] : undefined;
  return {verb, resourceRequest: true, apiGroup, resource, subresource, namespace, name: name || selected || '', path};
}

const matchesAny = (rule: string[], value: string) => rule.includes('*') || rule.includes(value);

function resourceMatches(rule: string[], a: Attributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return rule.some((r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`));
}

function urlMatches(rule: string[], path: string): boolean {
  return rule.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

const strings = (v: Json | undefined): string[] => list(v).filter((s): s is string => typeof s === 'string');

function ruleAllows(rule: JsonMap, a: Attributes): boolean {
  if (!matchesAny(strings(rule.verbs), a.verb)) return false;
  if (!a.resourceRequest) return urlMatches(strings(rule.nonResourceURLs), a.path);
  if (!matchesAny(strings(rule.apiGroups), a.apiGroup) || !resourceMatches(strings(rule.resources), a)) return false;
  const names = strings(rule.resourceNames);
  return names.length === 0 || names.includes(a.name);
}

/** How RBAC names a subject in its reasons: ServiceAccount "name/namespace", User "name". */
function describeSubject(subject: JsonMap, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount') return `ServiceAccount "${String(subject.name)}/${String(subject.namespace || bindingNamespace)}"`;
  return `${String(subject.kind)} "${String(subject.name)}"`;
}

function appliesTo(subject: JsonMap, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return typeof subject.name === 'string' && user.groups.includes(subject.name);
    case 'ServiceAccount':
      return user.username === `system:serviceaccount:${String(subject.namespace || bindingNamespace)}:${String(subject.name)}`;
    default:
      return false;
  }
}

/** The RBAC authorizer's decision for `user` asking `a`. system:masters may do anything. */
export function authorize(store: Store, user: UserInfo, a: Attributes): Decision {
  if (user.groups.includes('system:masters')) return {allowed: true, reason: ''};
  const bindings: Array<{binding: StoredObject; role: StoredObject | undefined; what: string}> = [];
  for (const binding of store.list(`clusterrolebindings.${RBAC_GROUP}`)) {
    const ref = map(binding.roleRef);
    bindings.push({binding, role: ref.kind === 'ClusterRole' ? store.get({resource: `clusterroles.${RBAC_GROUP}`, name: String(ref.name)}) : undefined, what: `ClusterRoleBinding "${binding.metadata.name}"`});
  }
  if (a.resourceRequest && a.namespace !== '') {
    for (const binding of store.list(`rolebindings.${RBAC_GROUP}`, a.namespace)) {
      const ref = map(binding.roleRef);
      const role =
        ref.kind === 'ClusterRole'
          ? store.get({resource: `clusterroles.${RBAC_GROUP}`, name: String(ref.name)})
          : ref.kind === 'Role'
            ? store.get({resource: `roles.${RBAC_GROUP}`, namespace: a.namespace, name: String(ref.name)})
            : undefined;
      bindings.push({binding, role, what: `RoleBinding "${binding.metadata.name}/${a.namespace}"`});
    }
  }
  for (const {binding, role, what} of bindings) {
    if (!role) continue;
    const namespace = binding.metadata.namespace ?? '';
    const subject = list(binding.subjects).find((s): s is JsonMap => isMap(s) && appliesTo(s, user, namespace));
    if (!subject || !list(role.rules).some((rule) => isMap(rule) && ruleAllows(rule, a))) continue;
    return {allowed: true, reason: `RBAC: allowed by ${what} of ${String(map(binding.roleRef).kind)} "${String(map(binding.roleRef).name)}" to ${describeSubject(subject, namespace)}`};
  }
  return {allowed: false, reason: ''};
}

/** The 403 a denied request gets, worded as the API server words it. */
export function forbidden(user: UserInfo, a: Attributes): ApiError {
  if (!a.resourceRequest) return new ApiError(403, 'Forbidden', `forbidden: User "${user.username}" cannot ${a.verb} path "${a.path}"`);
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return new ApiError(403, 'Forbidden', `${qualified}${a.name ? ` "${a.name}"` : ''} is forbidden: User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`, {
    ...(a.name ? {name: a.name} : {}),
    group: a.apiGroup,
    kind: a.resource,
  });
}

/**
 * Who a request acts as: the user of its Impersonate-User and Impersonate-Group headers (kubectl's
 * --as and --as-group), when the requester may impersonate them; otherwise the requester.
 */
export function impersonated(store: Store, requester: UserInfo, headers: Record<string, string[] | undefined>): UserInfo {
  const [asUser] = headers['impersonate-user'] ?? [];
  const asGroups = headers['impersonate-group'] ?? [];
  if (asUser === undefined) {
    if (asGroups.length > 0) throw new ApiError(400, 'BadRequest', `requested [${asGroups.join(' ')}] without impersonating a user`);
    return requester;
  }
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(asUser);
  const asked = (resource: string, name: string, namespace = ''): Attributes => ({verb: 'impersonate', resourceRequest: true, apiGroup: '', resource, subresource: '', namespace, name, path: ''});
  const checks = [account ? asked('serviceaccounts', account[2]!, account[1]!) : asked('users', asUser), ...asGroups.map((g) => asked('groups', g))];
  for (const check of checks) {
    if (!authorize(store, requester, check).allowed) throw forbidden(requester, check);
  }
  const groups = asGroups.length > 0 || !account ? [...asGroups] : serviceAccountUser(account[1]!, account[2]!).groups;
  if (!groups.includes('system:authenticated') && !groups.includes('system:unauthenticated')) groups.push('system:authenticated');
  return {username: asUser, groups};
}

/** Answers a SelfSubjectAccessReview: may the requesting user do what its spec asks? */
export function selfSubjectAccessReview(store: Store, user: UserInfo, review: Json): JsonMap {
  const spec = map(map(review).spec);
  const resource = isMap(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  const nonResource = isMap(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
  if ((resource === undefined) === (nonResource === undefined)) {
    const message = 'exactly one of nonResourceAttributes or resourceAttributes must be specified';
    throw new ApiError(422, 'Invalid', `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": ${message}`, {
      group: 'authorization.k8s.io',
      kind: 'SelfSubjectAccessReview',
      causes: [{reason: 'FieldValueInvalid', message, field: 'spec.resourceAttributes'}],
    });
  }
  const text = (o: JsonMap, key: string) => (typeof o[key] === 'string' ? o[key] : '');
  const a: Attributes = resource
    ? {verb: text(resource, 'verb'), resourceRequest: true, apiGroup: text(resource, 'group'), resource: text(resource, 'resource'), subresource: text(resource, 'subresource'), namespace: text(resource, 'namespace'), name: text(resource, 'name'), path: ''}
    : {verb: text(nonResource!, 'verb'), resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: text(nonResource!, 'path')};
  const decision = authorize(store, user, a);
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: {creationTimestamp: null},
    spec,
    status: {allowed: decision.allowed, ...(decision.reason ? {reason: decision.reason} : {})},
  };
}

const bootstrap = {'kubernetes.io/bootstrapping': 'rbac-defaults'};
const autoupdate = {'rbac.authorization.kubernetes.io/autoupdate': 'true'};
const clusterRole = (name: string, rules: JsonMap[]): JsonMap => ({apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: {name, labels: bootstrap, annotations: autoupdate}, rules});
const groupBinding = (name: string, groups: string[]): JsonMap => ({
  apiVersion: `${RBAC_GROUP}/v1`,
  kind: 'ClusterRoleBinding',
  metadata: {name, labels: bootstrap, annotations: autoupdate},
  roleRef: {apiGroup: RBAC_GROUP, kind: 'ClusterRole', name},
  subjects: groups.map((g) => ({apiGroup: RBAC_GROUP, kind: 'Group', name: g})),
});

/**
 * The policy a new cluster has, as the API server's bootstrap writes it, for what the sandbox serves:
 * the ClusterRoles and their bindings, by store resource.
 */
export const BOOTSTRAP_POLICY: Array<{resource: string; object: JsonMap}> = [
  ...[
    clusterRole('cluster-admin', [
      {apiGroups: ['*'], resources: ['*'], verbs: ['*']},
      {nonResourceURLs: ['*'], verbs: ['*']},
    ]),
    clusterRole('system:discovery', [{nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'], verbs: ['get']}]),
    clusterRole('system:basic-user', [
      {apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create']},
      {apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create']},
    ]),
    clusterRole('system:public-info-viewer', [{nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get']}]),
  ].map((object) => ({resource: `clusterroles.${RBAC_GROUP}`, object})),
  ...[
    groupBinding('cluster-admin', ['system:masters']),
    groupBinding('system:discovery', ['system:authenticated']),
    groupBinding('system:basic-user', ['system:authenticated']),
    groupBinding('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  ].map((object) => ({resource: `clusterrolebindings.${RBAC_GROUP}`, object})),
];
