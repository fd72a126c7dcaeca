import {describe, expect, it} from 'vitest';
import {SANDBOX_ADMIN, serviceAccountUser} from '../../../src/sandbox/authn.js';
import type {JsonMap} from '../../../src/sandbox/json.js';
import {authorize, BOOTSTRAP_POLICY, checkGrant, forbidden, impersonated, requestAttributes, resourceRequest, selfSubjectAccessReview, selfSubjectRulesReview, type Attributes} from '../../../src/sandbox/rbac.js';
import {Store} from '../../../src/sandbox/store.js';

const RBAC = 'rbac.authorization.k8s.io';
const url = (path: string) => new URL(path, 'http://sandbox');

describe('the attributes of a request', () => {
  const cases: Array<[string, string, Partial<Attributes>]> = [
    ['GET', '/api/v1/namespaces/ml/pods', {verb: 'list', resource: 'pods', namespace: 'ml', name: ''}],
    ['GET', '/api/v1/namespaces/ml/pods?watch=true', {verb: 'watch', resource: 'pods', namespace: 'ml'}],
    ['GET', '/api/v1/namespaces/ml/pods?fieldSelector=metadata.name%3Dhead', {verb: 'list', resource: 'pods', name: 'head'}],
    ['GET', '/api/v1/pods', {verb: 'list', resource: 'pods', namespace: ''}],
    ['POST', '/api/v1/namespaces/ml/pods/p/binding', {verb: 'create', resource: 'pods', name: 'p', subresource: 'binding'}],
    ['POST', '/api/v1/namespaces/ml/serviceaccounts/sa/token', {verb: 'create', resource: 'serviceaccounts', name: 'sa', subresource: 'token'}],
    ['PATCH', '/apis/ray.io/v1/namespaces/ml/rayclusters/app/status', {verb: 'patch', apiGroup: 'ray.io', resource: 'rayclusters', name: 'app', subresource: 'status'}],
    ['DELETE', '/api/v1/namespaces/ml/configmaps', {verb: 'deletecollection', resource: 'configmaps'}],
    ['PUT', '/api/v1/namespaces/ml/finalize', {verb: 'update', resource: 'namespaces', name: 'ml', namespace: 'ml', subresource: 'finalize'}],
    ['GET', '/api/v1/namespaces/kube-system', {verb: 'get', resource: 'namespaces', name: 'kube-system', namespace: 'kube-system'}],
    ['GET', '/apis/ray.io/v1', {verb: 'get', resourceRequest: false, path: '/apis/ray.io/v1'}],
    ['GET', '/version', {verb: 'get', resourceRequest: false, path: '/version'}],
    ['HEAD', '/api/v1/namespaces/ml/pods/p', {verb: 'get', name: 'p'}],
    ['PUT', '/api/v1/namespaces/ml/pods', {verb: 'update', name: ''}],
    // Only a selector that parses, and requires the name exactly, names the request's object.
    ['GET', '/api/v1/namespaces/ml/secrets?fieldSelector=metadata.namespace!%3D(%2Cmetadata.name%3Dcoredns%2C)', {verb: 'list', resource: 'secrets', name: ''}],
    ['GET', '/api/v1/namespaces/ml/secrets?fieldSelector=metadata.name!%3Dcoredns', {verb: 'list', name: ''}],
    ['GET', '/api/v1/namespaces/ml/secrets?watch=1&fieldSelector=type%3Dx,metadata.name%3D%3Dcoredns', {verb: 'watch', name: 'coredns'}],
  ];
  it.each(cases)('%s %s', (method, path, expected) => {
    expect(requestAttributes(method, url(path))).toMatchObject({resourceRequest: true, apiGroup: '', subresource: '', ...expected});
  });
});

describe('RBAC', () => {
  const store = new Store();
  for (const {resource, object} of BOOTSTRAP_POLICY) store.create(resource, object as never);
  const put = (resource: string, object: JsonMap) => store.create(`${resource}.${RBAC}`, {apiVersion: `${RBAC}/v1`, ...object} as never);
  put('roles', {kind: 'Role', metadata: {name: 'reader', namespace: 'ml'}, rules: [{apiGroups: [''], resources: ['pods', 'pods/status'], verbs: ['get', 'list', 'watch']}]});
  put('rolebindings', {kind: 'RoleBinding', metadata: {name: 'reader', namespace: 'ml'}, roleRef: {apiGroup: RBAC, kind: 'Role', name: 'reader'}, subjects: [{kind: 'ServiceAccount', name: 'reader'}]});
  put('clusterroles', {kind: 'ClusterRole', metadata: {name: 'ray'}, rules: [{apiGroups: ['ray.io'], resources: ['*'], verbs: ['*']}]});
  put('rolebindings', {kind: 'RoleBinding', metadata: {name: 'ray', namespace: 'ml'}, roleRef: {apiGroup: RBAC, kind: 'ClusterRole', name: 'ray'}, subjects: [{kind: 'Group', name: 'team'}]});
  put('roles', {kind: 'Role', metadata: {name: 'one', namespace: 'kube-system'}, rules: [{apiGroups: [''], resources: ['configmaps'], resourceNames: ['coredns'], verbs: ['get']}]});
  put('rolebindings', {kind: 'RoleBinding', metadata: {name: 'one', namespace: 'kube-system'}, roleRef: {apiGroup: RBAC, kind: 'Role', name: 'one'}, subjects: [{kind: 'User', name: 'alice'}]});
  put('clusterroles', {kind: 'ClusterRole', metadata: {name: 'status-reader'}, rules: [{apiGroups: ['*'], resources: ['*/status'], verbs: ['get']}]});
  put('clusterrolebindings', {kind: 'ClusterRoleBinding', metadata: {name: 'status-reader'}, roleRef: {apiGroup: RBAC, kind: 'ClusterRole', name: 'status-reader'}, subjects: [{kind: 'User', name: 'alice'}]});

  const reader = serviceAccountUser('ml', 'reader');
  const alice = {username: 'alice', groups: ['team', 'system:authenticated']};
  const ask = (verb: string, resource: string, namespace = '', extra: Partial<Attributes> = {}): Attributes => resourceRequest({verb, resource, namespace, ...extra});
  const cases: Array<[string, typeof alice, Attributes, boolean]> = [
    ['a Role, through a RoleBinding to a ServiceAccount of its namespace', reader, ask('list', 'pods', 'ml'), true],
    ['not a verb the Role lacks', reader, ask('create', 'pods', 'ml'), false],
    ['not in another namespace', reader, ask('list', 'pods', 'other'), false],
    ['not across the cluster', reader, ask('list', 'pods'), false],
    ['a subresource the Role names', reader, ask('get', 'pods', 'ml', {subresource: 'status', name: 'p'}), true],
    ['not a subresource it does not name', reader, ask('create', 'serviceaccounts', 'ml', {subresource: 'token', name: 'reader'}), false],
    ['a ClusterRole bound in one namespace, to a group', alice, ask('patch', 'rayclusters', 'ml', {apiGroup: 'ray.io', name: 'app'}), true],
    ['that ClusterRole nowhere else', alice, ask('patch', 'rayclusters', 'other', {apiGroup: 'ray.io', name: 'app'}), false],
    ['a named resource', alice, ask('get', 'configmaps', 'kube-system', {name: 'coredns'}), true],
    ['not another name', alice, ask('get', 'configmaps', 'kube-system', {name: 'cilium-config'}), false],
    ['not a list, which names nothing', alice, ask('list', 'configmaps', 'kube-system'), false],
    ['*/status', alice, ask('get', 'rayclusters', 'x', {apiGroup: 'ray.io', subresource: 'status', name: 'app'}), true],
    ['discovery for everyone authenticated', reader, {...ask('get', ''), resourceRequest: false, path: '/apis/ray.io/v1'}, true],
    ['not another path', reader, {...ask('get', ''), resourceRequest: false, path: '/metrics'}, false],
    ['access reviews for everyone authenticated', reader, ask('create', 'selfsubjectaccessreviews', '', {apiGroup: 'authorization.k8s.io'}), true],
    ['anything for system:masters', SANDBOX_ADMIN, ask('delete', 'nodes', '', {name: 'n'}), true],
  ];
  it.each(cases)('allows %s', (_, user, attributes, allowed) => {
    expect(authorize(store, user, attributes).allowed).toBe(allowed);
  });

  it('says which binding allowed a request, and words a denial as the API server does', () => {
    expect(authorize(store, reader, ask('list', 'pods', 'ml')).reason).toBe('RBAC: allowed by RoleBinding "reader/ml" of Role "reader" to ServiceAccount "reader/ml"');
    expect(forbidden(reader, ask('create', 'pods', 'ml')).message).toBe('pods is forbidden: User "system:serviceaccount:ml:reader" cannot create resource "pods" in API group "" in the namespace "ml"');
    expect(forbidden(alice, ask('get', 'rayclusters', '', {apiGroup: 'ray.io', name: 'app', subresource: 'status'})).message).toBe(
      'rayclusters.ray.io "app" is forbidden: User "alice" cannot get resource "rayclusters/status" in API group "ray.io" at the cluster scope',
    );
    expect(forbidden(reader, {...ask('get', ''), resourceRequest: false, path: '/metrics'}).message).toBe('forbidden: User "system:serviceaccount:ml:reader" cannot get path "/metrics"');
  });

  it('answers a SelfSubjectAccessReview for the user asking, and refuses one that asks nothing', () => {
    const review = (spec: JsonMap) => selfSubjectAccessReview(store, reader, {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec});
    expect(review({resourceAttributes: {verb: 'watch', resource: 'pods', namespace: 'ml'}}).status).toEqual({allowed: true, reason: 'RBAC: allowed by RoleBinding "reader/ml" of Role "reader" to ServiceAccount "reader/ml"'});
    expect(review({resourceAttributes: {verb: 'delete', resource: 'pods', namespace: 'ml'}}).status).toEqual({allowed: false});
    expect(review({nonResourceAttributes: {verb: 'get', path: '/version'}}).status).toMatchObject({allowed: true});
    expect(() => review({})).toThrow(/exactly one of nonResourceAttributes or resourceAttributes/);
  });

  it('lists the rules a user holds in a namespace for a SelfSubjectRulesReview', () => {
    const rules = (namespace: string) => selfSubjectRulesReview(store, reader, {spec: {namespace}}).status as {resourceRules: unknown[]; nonResourceRules: unknown[]};
    expect(rules('ml').resourceRules).toContainEqual({verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/status']});
    expect(rules('other').resourceRules).not.toContainEqual(expect.objectContaining({resources: ['pods', 'pods/status']}));
    expect(rules('other').nonResourceRules).toContainEqual(expect.objectContaining({nonResourceURLs: expect.arrayContaining(['/version'])}));
  });

  it('acts as the user of Impersonate-User and Impersonate-Group (kubectl --as), for a requester who may', () => {
    expect(impersonated(store, SANDBOX_ADMIN, {'impersonate-user': ['system:serviceaccount:ml:reader']})).toEqual(reader);
    expect(impersonated(store, SANDBOX_ADMIN, {'impersonate-user': ['alice'], 'impersonate-group': ['team']})).toEqual({username: 'alice', groups: ['team', 'system:authenticated']});
    expect(impersonated(store, reader, {})).toBe(reader);
    expect(() => impersonated(store, reader, {'impersonate-user': ['alice']})).toThrow(
      'users "alice" is forbidden: User "system:serviceaccount:ml:reader" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    expect(() => impersonated(store, SANDBOX_ADMIN, {'impersonate-group': ['team']})).toThrow(expect.objectContaining({code: 400}));
    expect(impersonated(store, SANDBOX_ADMIN, {'impersonate-user': ['system:anonymous']}).groups).toEqual(['system:unauthenticated']);
    expect(impersonated(store, SANDBOX_ADMIN, {'impersonate-user': ['alice'], 'impersonate-uid': ['1234']})).toEqual({username: 'alice', uid: '1234', groups: ['system:authenticated']});
    expect(() => impersonated(store, alice, {'impersonate-user': ['alice'], 'impersonate-uid': ['1234']})).toThrow(/cannot impersonate resource "users"/);
  });

  it('lets a Role be written, or a binding made, only by who holds what it grants, or may escalate or bind it', () => {
    put('roles', {kind: 'Role', metadata: {name: 'binder', namespace: 'ml'}, rules: [{apiGroups: [RBAC], resources: ['rolebindings', 'roles'], verbs: ['create']}, {apiGroups: [''], resources: ['pods', 'pods/status'], verbs: ['get', 'list', 'watch']}]});
    put('rolebindings', {kind: 'RoleBinding', metadata: {name: 'binder', namespace: 'ml'}, roleRef: {apiGroup: RBAC, kind: 'Role', name: 'binder'}, subjects: [{kind: 'User', name: 'bob'}]});
    const bob = {username: 'bob', groups: ['system:authenticated']};
    const binding = (role: JsonMap) => ({apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: {name: 'b', namespace: 'ml'}, roleRef: {apiGroup: RBAC, ...role}, subjects: [{kind: 'User', name: 'bob'}]});
    // What bob holds himself he may grant; cluster-admin he may not.
    expect(() => checkGrant(store, bob, binding({kind: 'Role', name: 'reader'}))).not.toThrow();
    expect(() => checkGrant(store, bob, binding({kind: 'ClusterRole', name: 'cluster-admin'}))).toThrow(
      'rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    );
    const role = (rules: JsonMap[]) => ({apiVersion: `${RBAC}/v1`, kind: 'Role', metadata: {name: 'r', namespace: 'ml'}, rules});
    expect(() => checkGrant(store, bob, role([{apiGroups: [''], resources: ['pods'], verbs: ['list']}]))).not.toThrow();
    expect(() => checkGrant(store, bob, role([{apiGroups: [''], resources: ['pods'], verbs: ['*']}]))).toThrow(/not currently held:\n\{APIGroups:\[""\], Resources:\["pods"\], Verbs:\["\*"\]\}$/);
    // The bind verb on a role lets one bind it without holding it.
    put('clusterroles', {kind: 'ClusterRole', metadata: {name: 'bind-admin'}, rules: [{apiGroups: [RBAC], resources: ['clusterroles'], resourceNames: ['cluster-admin'], verbs: ['bind']}]});
    put('clusterrolebindings', {kind: 'ClusterRoleBinding', metadata: {name: 'bind-admin'}, roleRef: {apiGroup: RBAC, kind: 'ClusterRole', name: 'bind-admin'}, subjects: [{kind: 'User', name: 'bob'}]});
    expect(() => checkGrant(store, bob, binding({kind: 'ClusterRole', name: 'cluster-admin'}))).not.toThrow();
    expect(() => checkGrant(store, SANDBOX_ADMIN, role([{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]))).not.toThrow();
  });
});
