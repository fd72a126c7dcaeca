/**
 * Authorization as a real cluster does it with RBAC: what a request asks (its attributes, read off
 * the URL before anything is routed), the Roles and ClusterRoles bound to the user, and the policy
 * every cluster starts with (cluster-admin for system:masters, discovery and self-review for
 * everyone authenticated).
 */
import {serviceAccountUser, type UserInfo} from './authn.js';
import {isMap, list, map, strings, type Json, type JsonMap} from './json.js';
import {resourcePath} from './resources.js';
import {exactMatch} from '../kube/selectors.js';
import {ApiError, type Store, type StoredObject} from './store.js';

/** What a request asks, in the authorizer's terms. */
export interface Attributes {
  verb: string;
  resourceRequest: boolean;
  apiGroup: string;
  version: string;
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

const COLLECTION_VERBS: Record<string, string> = {POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'deletecollection'};
const OBJECT_VERBS: Record<string, string> = {GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete'};

/** The attributes of a request, as the API server's request-info parsing gives them. */
export function requestAttributes(method: string, url: URL): Attributes {
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const p = resourcePath(path);
  const verbOf = (verbs: Record<string, string>) => verbs[method] ?? method.toLowerCase();
  if (!p) return {...resourceRequest({verb: verbOf(OBJECT_VERBS), path}), resourceRequest: false};
  const q = url.searchParams;
  const watching = q.get('watch') === 'true' || q.get('watch') === '1';
  const verb = p.name ? verbOf(OBJECT_VERBS) : method === 'GET' || method === 'HEAD' ? (watching ? 'watch' : 'list') : verbOf(COLLECTION_VERBS);
  // A list or watch narrowed to one name by a field selector is a request for that name.
  const selected = (verb === 'list' || verb === 'watch') && !p.name ? exactMatch(q.get('fieldSelector') ?? undefined, 'metadata.name') : undefined;
  const name = p.name || (selected && !/[/%]/.test(selected) && selected !== '.' && selected !== '..' ? selected : '');
  return resourceRequest({verb, apiGroup: p.group, version: p.version, resource: p.resource, subresource: p.subresource, namespace: p.namespace, name, path});
}

const matchesAny = (rule: string[], value: string) => rule.includes('*') || rule.includes(value);

function resourceMatches(rule: string[], a: Attributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return rule.some((r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`));
}

function urlMatches(rule: string[], path: string): boolean {
  return rule.some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}


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

/** A role bound to a user: by which binding, to which of its subjects, and the role's rules. */
interface Grant {
  binding: StoredObject;
  subject: JsonMap;
  rules: JsonMap[];
  /** How RBAC names the binding in a reason: ClusterRoleBinding "x", RoleBinding "x/ns". */
  what: string;
}

/** The roles bound to `user` cluster-wide, and in `namespace` when one is given. */
function grantsOf(store: Store, user: UserInfo, namespace: string): Grant[] {
  const role = (ref: JsonMap, ns: string) =>
    ref.kind === 'ClusterRole'
      ? store.get({resource: `clusterroles.${RBAC_GROUP}`, name: String(ref.name)})
      : ref.kind === 'Role' && ns !== ''
        ? store.get({resource: `roles.${RBAC_GROUP}`, namespace: ns, name: String(ref.name)})
        : undefined;
  const bindings = [
    ...store.list(`clusterrolebindings.${RBAC_GROUP}`).map((b) => ({binding: b, what: `ClusterRoleBinding "${b.metadata.name}"`})),
    ...(namespace !== '' ? store.list(`rolebindings.${RBAC_GROUP}`, namespace).map((b) => ({binding: b, what: `RoleBinding "${b.metadata.name}/${namespace}"`})) : []),
  ];
  return bindings.flatMap(({binding, what}) => {
    const bindingNamespace = binding.metadata.namespace ?? '';
    const subject = list(binding.subjects).find((s): s is JsonMap => isMap(s) && appliesTo(s, user, bindingNamespace));
    const bound = subject && role(map(binding.roleRef), bindingNamespace);
    return subject && bound ? [{binding, subject, rules: list(bound.rules).filter(isMap), what}] : [];
  });
}

/** The RBAC authorizer's decision for `user` asking `a`. system:masters may do anything. */
export function authorize(store: Store, user: UserInfo, a: Attributes): Decision {
  if (user.groups.includes('system:masters')) return {allowed: true, reason: ''};
  const grant = grantsOf(store, user, a.resourceRequest ? a.namespace : '').find((g) => g.rules.some((rule) => ruleAllows(rule, a)));
  if (!grant) return {allowed: false, reason: ''};
  const ref = map(grant.binding.roleRef);
  return {allowed: true, reason: `RBAC: allowed by ${grant.what} of ${String(ref.kind)} "${String(ref.name)}" to ${describeSubject(grant.subject, grant.binding.metadata.namespace ?? '')}`};
}

/** Answers a SelfSubjectRulesReview (kubectl auth can-i --list): the rules the user holds in a namespace. */
export function selfSubjectRulesReview(store: Store, user: UserInfo, review: Json): JsonMap {
  const spec = map(map(review).spec);
  const namespace = typeof spec.namespace === 'string' ? spec.namespace : '';
  const rules = grantsOf(store, user, namespace).flatMap((g) => g.rules);
  const pick = (rule: JsonMap, keys: string[]) => Object.fromEntries(keys.filter((k) => strings(rule[k]).length > 0).map((k) => [k, strings(rule[k])]));
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: {creationTimestamp: null},
    spec,
    status: {
      resourceRules: rules.filter((r) => strings(r.nonResourceURLs).length === 0).map((r) => pick(r, ['verbs', 'apiGroups', 'resources', 'resourceNames'])),
      nonResourceRules: rules.filter((r) => strings(r.nonResourceURLs).length > 0).map((r) => pick(r, ['verbs', 'nonResourceURLs'])),
      incomplete: false,
    },
  };
}

/** Every request a rule allows, with its wildcards taken literally: holding them is holding the rule. */
function requestsOf(rule: JsonMap, namespace: string): Attributes[] {
  const verbs = strings(rule.verbs);
  if (strings(rule.nonResourceURLs).length > 0) return verbs.flatMap((verb) => strings(rule.nonResourceURLs).map((path) => ({...resourceRequest({verb, path}), resourceRequest: false})));
  const names = strings(rule.resourceNames).length > 0 ? strings(rule.resourceNames) : [''];
  return verbs.flatMap((verb) =>
    strings(rule.apiGroups).flatMap((apiGroup) =>
      strings(rule.resources).flatMap((combined) => {
        const [resource = '', subresource = ''] = combined.split('/', 2);
        return names.map((name) => resourceRequest({verb, apiGroup, resource, subresource, namespace, name}));
      }),
    ),
  );
}

const describeRule = (rule: JsonMap) =>
  `{${[['APIGroups', rule.apiGroups], ['Resources', rule.resources], ['ResourceNames', rule.resourceNames], ['NonResourceURLs', rule.nonResourceURLs], ['Verbs', rule.verbs]]
    .filter(([, v]) => strings(v as Json).length > 0)
    .map(([k, v]) => `${k as string}:[${strings(v as Json).map((x) => JSON.stringify(x)).join(', ')}]`)
    .join(', ')}}`;

/**
 * RBAC's guard against escalation: a Role or ClusterRole may be written, and a binding made, only by
 * a user who holds every permission it grants, or who may escalate (roles) or bind (bindings) it.
 */
export function checkGrant(store: Store, user: UserInfo, object: JsonMap): void {
  if (user.groups.includes('system:masters')) return;
  const meta = map(object.metadata);
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  const name = String(meta.name ?? '');
  const kind = String(object.kind);
  let rules: Json[];
  let waiver: Attributes;
  if (kind === 'Role' || kind === 'ClusterRole') {
    rules = list(object.rules);
    waiver = resourceRequest({verb: 'escalate', apiGroup: RBAC_GROUP, resource: kind === 'Role' ? 'roles' : 'clusterroles', namespace, name});
  } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
    const ref = map(object.roleRef);
    const roleResource = ref.kind === 'Role' ? 'roles' : 'clusterroles';
    waiver = resourceRequest({verb: 'bind', apiGroup: RBAC_GROUP, resource: roleResource, namespace: ref.kind === 'Role' ? namespace : '', name: String(ref.name ?? '')});
    if (authorize(store, user, waiver).allowed) return;
    const role = store.get({resource: `${roleResource}.${RBAC_GROUP}`, ...(ref.kind === 'Role' ? {namespace} : {}), name: String(ref.name ?? '')});
    if (!role) throw new ApiError(403, 'Forbidden', `${kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings'}.${RBAC_GROUP} "${name}" is forbidden: ${roleResource}.${RBAC_GROUP} "${String(ref.name)}" not found`);
    rules = list(role.rules);
  } else {
    return;
  }
  if (authorize(store, user, waiver).allowed) return;
  const missing = rules.filter((rule): rule is JsonMap => isMap(rule) && !requestsOf(rule, namespace).every((a) => authorize(store, user, a).allowed));
  if (missing.length === 0) return;
  const plural = `${kind.toLowerCase()}s.${RBAC_GROUP}`;
  throw new ApiError(
    403,
    'Forbidden',
    `${plural} "${name}" is forbidden: user "${user.username}" (groups=[${user.groups.map((g) => JSON.stringify(g)).join(' ')}]) is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join('\n')}`,
    {name, group: RBAC_GROUP, kind: `${kind.toLowerCase()}s`},
  );
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

/** Attributes of a resource request: what is not given is empty. */
export const resourceRequest = (a: Partial<Attributes>): Attributes => ({verb: '', resourceRequest: true, apiGroup: '', version: '', resource: '', subresource: '', namespace: '', name: '', path: '', ...a});

/**
 * Who a request acts as: the user of its Impersonate-* headers (kubectl's --as, --as-group and
 * --as-uid), when the requester may impersonate each of them; otherwise the requester.
 */
export function impersonated(store: Store, requester: UserInfo, headers: Record<string, string[] | undefined>): UserInfo {
  const [asUser] = headers['impersonate-user'] ?? [];
  const asGroups = headers['impersonate-group'] ?? [];
  const [asUid] = headers['impersonate-uid'] ?? [];
  const extras = Object.entries(headers).filter(([h]) => h.startsWith('impersonate-extra-'));
  if (asUser === undefined) {
    if (asGroups.length > 0 || asUid !== undefined || extras.length > 0) throw new ApiError(400, 'BadRequest', `requested [${[...asGroups, ...(asUid ? [asUid] : [])].join(' ')}] without impersonating a user`);
    return requester;
  }
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(asUser);
  const impersonate = (a: Partial<Attributes>) => resourceRequest({verb: 'impersonate', ...a});
  const checks = [
    account ? impersonate({resource: 'serviceaccounts', namespace: account[1], name: account[2]}) : impersonate({resource: 'users', name: asUser}),
    ...asGroups.map((name) => impersonate({resource: 'groups', name})),
    ...(asUid !== undefined ? [impersonate({apiGroup: 'authentication.k8s.io', resource: 'uids', name: asUid})] : []),
    ...extras.flatMap(([header, values]) => (values ?? []).map((name) => impersonate({apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: decodeURIComponent(header.slice('impersonate-extra-'.length)), name}))),
  ];
  for (const check of checks) {
    if (!authorize(store, requester, check).allowed) throw forbidden(requester, check);
  }
  const groups = asGroups.length > 0 || !account ? [...asGroups] : serviceAccountUser(account[1]!, account[2]!).groups;
  // As the real filter: system:authenticated for a named user, system:unauthenticated for system:anonymous.
  const implied = asUser === 'system:anonymous' ? 'system:unauthenticated' : 'system:authenticated';
  if (!groups.includes('system:authenticated') && !groups.includes('system:unauthenticated')) groups.push(implied);
  return {username: asUser, ...(asUid !== undefined ? {uid: asUid} : {}), groups};
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
    ? resourceRequest({verb: text(resource, 'verb'), apiGroup: text(resource, 'group'), version: text(resource, 'version'), resource: text(resource, 'resource'), subresource: text(resource, 'subresource'), namespace: text(resource, 'namespace'), name: text(resource, 'name')})
    : {...resourceRequest({verb: text(nonResource!, 'verb'), path: text(nonResource!, 'path')}), resourceRequest: false};
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
