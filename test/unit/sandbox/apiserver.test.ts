import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {ClusterClient} from '../../../src/kube/client.js';
import {KubeError} from '../../../src/kube/errors.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {route, SandboxApiServer} from '../../../src/sandbox/apiserver.js';
import {AuditLog} from '../../../src/sandbox/audit.js';
import {Store} from '../../../src/sandbox/store.js';
import {FAST_RETRY} from '../../support/client.js';

const NS = 'ml';
const pod = (name: string, labels: Record<string, string> = {}): Pod => ({apiVersion: 'v1', kind: 'Pod', metadata: {name, labels}, spec: {containers: [{name: 'c', image: 'pause'}]}});

async function failure(p: Promise<unknown>): Promise<KubeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeError) return err;
    throw err;
  }
  throw new Error('expected a KubeError');
}

describe('the sandbox API server, through the tool\'s own client', () => {
  const store = new Store();
  const server = new SandboxApiServer(store, {});
  let client: ClusterClient;

  beforeAll(async () => {
    const port = await server.listen();
    const agent = new http.Agent({keepAlive: true});
    client = new ClusterClient({context: 'sandbox', server: `http://127.0.0.1:${port}`, credentials: {prepare: async () => ({agent, headers: {}})}, retry: FAST_RETRY});
    await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}});
  });
  afterAll(async () => {
    await server.close();
  });

  it('serves its version and discovery', async () => {
    expect((await client.version()).gitVersion).toMatch(/^v1\.\d+\.\d+/);
    const core = await client.request<{resources: Array<{name: string; namespaced: boolean}>}>({path: '/api/v1'});
    expect(core.resources).toContainEqual(expect.objectContaining({name: 'pods', namespaced: true}));
    expect(core.resources).toContainEqual(expect.objectContaining({name: 'pods/binding'}));
    const ray = await client.request<{resources: Array<{name: string}>}>({path: '/apis/ray.io/v1'});
    expect(ray.resources.map((r) => r.name)).toEqual(expect.arrayContaining(['rayclusters', 'rayservices', 'rayjobs']));
  });

  it('creates with generateName, gives uid, creationTimestamp and a rising resourceVersion, and refuses a duplicate name', async () => {
    const a = await client.create<Pod>(RESOURCES.pods, {...pod(''), metadata: {generateName: 'app-cpu-worker-'}}, {namespace: NS});
    expect(a.metadata?.name).toMatch(/^app-cpu-worker-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.status?.phase).toBe('Pending');
    const b = await client.create<Pod>(RESOURCES.pods, pod('fixed'), {namespace: NS});
    expect(Number(b.metadata?.resourceVersion)).toBeGreaterThan(Number(a.metadata?.resourceVersion));
    expect((await failure(client.create(RESOURCES.pods, pod('fixed'), {namespace: NS}))).code).toBe(409);
    expect((await failure(client.create(RESOURCES.pods, pod('x'), {namespace: 'nowhere'}))).code).toBe(404);
  });

  it('lists by label and field selector, in pages', async () => {
    for (const [name, group] of [['sel-a', 'cpu'], ['sel-b', 'gpu'], ['sel-c', 'cpu']] as const) {
      await client.create(RESOURCES.pods, pod(name, {'ray.io/group': group, app: 'sel'}), {namespace: NS});
    }
    const names = async (labelSelector: string, fieldSelector?: string) => (await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector, fieldSelector})).items.map((p) => p.metadata?.name);
    expect(await names('app=sel,ray.io/group=cpu')).toEqual(['sel-a', 'sel-c']);
    expect(await names('app=sel,ray.io/group notin (cpu)')).toEqual(['sel-b']);
    expect(await names('app=sel', 'metadata.name!=sel-a')).toEqual(['sel-b', 'sel-c']);
    expect(await names('app=sel', 'spec.nodeName=')).toEqual(['sel-a', 'sel-b', 'sel-c']);
    // One item per page: the client follows continue to the end.
    expect((await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector: 'app=sel', limit: 1})).items).toHaveLength(3);
    expect((await failure(client.list(RESOURCES.pods, {namespace: NS, fieldSelector: 'spec.containers=x'}))).code).toBe(400);
  });

  it('patches: merge, JSON patch with a failing test, strategic directives, and a resourceVersion precondition', async () => {
    const live = await client.create<Pod>(RESOURCES.pods, {...pod('patched', {a: '1'}), metadata: {name: 'patched', labels: {a: '1'}, finalizers: ['x/keep', 'x/drop']}}, {namespace: NS});
    const merged = await client.patch<Pod>(RESOURCES.pods, 'patched', NS, {metadata: {labels: {a: null, b: '2'}}}, 'merge');
    expect(merged.metadata?.labels).toEqual({b: '2'});
    const test = await failure(client.patch(RESOURCES.pods, 'patched', NS, [{op: 'test', path: '/metadata/labels/b', value: '3'}], 'json'));
    expect(test.code).toBe(409);
    const strategic = await client.patch<Pod>(RESOURCES.pods, 'patched', NS, {metadata: {'$deleteFromPrimitiveList/finalizers': ['x/drop'], labels: {c: '3'}}}, 'strategic');
    expect(strategic.metadata?.finalizers).toEqual(['x/keep']);
    expect(strategic.metadata?.labels).toEqual({b: '2', c: '3'});
    const stale = await failure(client.patch(RESOURCES.pods, 'patched', NS, {metadata: {resourceVersion: live.metadata?.resourceVersion, labels: {d: '4'}}}, 'merge'));
    expect(stale.code).toBe(409);
    // A pod's spec is immutable but for a few fields.
    const spec = await failure(client.patch(RESOURCES.pods, 'patched', NS, {spec: {restartPolicy: 'Never'}}, 'merge'));
    expect(spec.code).toBe(422);
    await client.patch(RESOURCES.pods, 'patched', NS, {metadata: {finalizers: null}}, 'merge');
  });

  it('applies server-side: creates, owns fields, reports a conflict with another manager unless forced', async () => {
    const cm = (data: Record<string, string>) => ({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'applied', namespace: NS}, data});
    const created = await client.patch<KubeObject & {data?: Record<string, string>}>(RESOURCES.configmaps, 'applied', NS, cm({a: '1', b: '2'}), 'apply');
    expect(created.data).toEqual({a: '1', b: '2'});
    // Another manager changes a: applying a different a is a conflict.
    await client.request({method: 'PATCH', path: `/api/v1/namespaces/${NS}/configmaps/applied`, query: {fieldManager: 'someone-else'}, body: {data: {a: 'theirs'}}, contentType: 'application/merge-patch+json'});
    const conflict = await failure(client.patch(RESOURCES.configmaps, 'applied', NS, cm({a: 'mine', b: '2'}), 'apply'));
    expect(conflict.code).toBe(409);
    const forced = await client.patch<KubeObject & {data?: Record<string, string>}>(RESOURCES.configmaps, 'applied', NS, cm({a: 'mine'}), 'apply', {force: true});
    // b is no longer applied by its only owner: it goes.
    expect(forced.data).toEqual({a: 'mine'});
  });

  it('keys field owners by manager and operation, as the real server does: an apply conflicts with its own manager\'s patch', async () => {
    const cm = (data: Record<string, string>) => ({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'twice', namespace: NS}, data});
    await client.patch(RESOURCES.configmaps, 'twice', NS, cm({a: '1', b: '1'}), 'apply');
    // The same field manager, by patch: an Update entry of its own.
    await client.patch(RESOURCES.configmaps, 'twice', NS, {data: {a: '2'}}, 'merge');
    const live = await client.get<KubeObject & {metadata: {managedFields?: Array<{manager: string; operation: string}>}}>(RESOURCES.configmaps, 'twice', NS);
    expect(live.metadata.managedFields?.map((e) => `${e.manager}/${e.operation}`).sort()).toEqual(['kubectl-superskyray/Apply', 'kubectl-superskyray/Update']);
    const conflict = await failure(client.patch(RESOURCES.configmaps, 'twice', NS, cm({a: '1', b: '1'}), 'apply'));
    expect([conflict.code, conflict.detail]).toEqual([409, 'Apply failed with 1 conflict: conflict with "kubectl-superskyray" using v1: .data.a']);
  });

  it('deletes with preconditions, and keeps an object with finalizers until they are gone', async () => {
    const live = await client.create<Pod>(RESOURCES.pods, {...pod('doomed'), metadata: {name: 'doomed', finalizers: ['x/hold']}}, {namespace: NS});
    expect((await failure(client.delete(RESOURCES.pods, 'doomed', NS, {uid: 'not-its-uid'}))).code).toBe(409);
    await client.delete(RESOURCES.pods, 'doomed', NS, {uid: live.metadata?.uid});
    const held = await client.get<Pod>(RESOURCES.pods, 'doomed', NS);
    expect(held.metadata?.deletionTimestamp).toBeDefined();
    await client.patch(RESOURCES.pods, 'doomed', NS, {metadata: {finalizers: null}}, 'merge');
    expect(await client.find(RESOURCES.pods, 'doomed', NS)).toBeUndefined();
  });

  it('watches from a resourceVersion, and answers 410 for one older than its history', async () => {
    const list = await client.list<KubeObject>(RESOURCES.configmaps, {namespace: NS});
    const abort = new AbortController();
    const seen: string[] = [];
    const events = client.watch<KubeObject>(RESOURCES.configmaps, {namespace: NS, resourceVersion: list.metadata!.resourceVersion!, signal: abort.signal, timeoutSeconds: 5});
    const done = (async () => {
      for await (const e of events) {
        seen.push(`${e.type} ${e.object.metadata?.name}`);
        if (seen.length === 3) abort.abort();
      }
    })().catch(() => undefined);
    await client.create(RESOURCES.configmaps, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'w1'}}, {namespace: NS});
    await client.patch(RESOURCES.configmaps, 'w1', NS, {data: {x: '1'}}, 'merge');
    await client.delete(RESOURCES.configmaps, 'w1', NS);
    await done;
    expect(seen).toEqual(['ADDED w1', 'MODIFIED w1', 'DELETED w1']);

    for (let i = 0; i < 5100; i++) store.create('configmaps', {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: `churn-${i}`, namespace: NS}});
    const stale = client.watch<KubeObject>(RESOURCES.configmaps, {namespace: NS, resourceVersion: list.metadata!.resourceVersion!, signal: AbortSignal.timeout(5000)});
    const gone = await stale.next().then(
      () => undefined,
      (err: KubeError) => err.code,
    );
    expect(gone).toBe(410);
  });

  it('issues ServiceAccount tokens, and lets each one do only what RBAC grants it', async () => {
    const rbac = (resource: string, kind: string, namespaced: boolean) => ({group: 'rbac.authorization.k8s.io', version: 'v1', resource, kind, namespaced});
    const sa = await client.create<KubeObject>(RESOURCES.serviceaccounts, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'reader'}}, {namespace: NS});
    const tokenFor = (expirationSeconds: number) =>
      client.request<{status: {token: string}}>({method: 'POST', path: `/api/v1/namespaces/${NS}/serviceaccounts/reader/token`, body: {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {expirationSeconds}}});
    expect((await failure(tokenFor(60))).code).toBe(422);
    const {token} = (await tokenFor(600)).status;
    const agent = new http.Agent();
    const as = (bearer: string) => new ClusterClient({context: 'reader', server: client.server, credentials: {prepare: async () => ({agent, headers: {authorization: `Bearer ${bearer}`}})}, retry: FAST_RETRY});
    const reader = as(token);

    // Discovery and access reviews are everyone's; pods are not, until a Role says so.
    expect((await reader.version()).gitVersion).toMatch(/^v1\./);
    const denied = await failure(reader.list(RESOURCES.pods, {namespace: NS}));
    expect(denied.code).toBe(403);
    const review = () =>
      reader.create<KubeObject & {status?: {allowed?: boolean}}>(RESOURCES.selfsubjectaccessreviews, {apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {resourceAttributes: {verb: 'list', resource: 'pods', namespace: NS}}} as KubeObject);
    expect((await review()).status?.allowed).toBe(false);
    await client.create(rbac('roles', 'Role', true), {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: {name: 'reader'}, rules: [{apiGroups: [''], resources: ['pods'], verbs: ['list']}]} as KubeObject, {namespace: NS});
    await client.create(rbac('rolebindings', 'RoleBinding', true), {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name: 'reader'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader'}, subjects: [{kind: 'ServiceAccount', name: 'reader', namespace: NS}]} as KubeObject, {namespace: NS});
    expect((await review()).status?.allowed).toBe(true);
    expect((await reader.list(RESOURCES.pods, {namespace: NS})).items.length).toBeGreaterThan(0);
    expect((await failure(reader.create(RESOURCES.pods, pod('not-mine'), {namespace: NS}))).code).toBe(403);
    // A binding's role is fixed once made.
    const moved = await failure(client.patch(rbac('rolebindings', 'RoleBinding', true), 'reader', NS, {roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin'}}, 'merge'));
    expect(moved.code).toBe(422);

    // A forged token, one for another audience, or one whose ServiceAccount is gone, proves nothing.
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {sub: string};
    const forged = Buffer.from(JSON.stringify({...claims, sub: 'system:serviceaccount:kube-system:admin'})).toString('base64url');
    for (const bad of [`${header}.${forged}.${signature}`, `${token}.extra`, `${header}.${payload}.${signature}x`]) {
      expect((await failure(as(bad).list(RESOURCES.pods, {namespace: NS}))).code).toBe(401);
    }
    const vault = await client.request<{spec: {audiences: string[]}; status: {token: string}}>({method: 'POST', path: `/api/v1/namespaces/${NS}/serviceaccounts/reader/token`, body: {apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {audiences: ['vault']}}});
    expect(vault.spec.audiences).toEqual(['vault']);
    expect((await failure(as(vault.status.token).list(RESOURCES.pods, {namespace: NS}))).code).toBe(401);
    await client.delete(RESOURCES.serviceaccounts, 'reader', NS, {uid: sa.metadata?.uid});
    expect((await failure(reader.list(RESOURCES.pods, {namespace: NS}))).code).toBe(401);
  });
});

describe('which served resource a path names', () => {
  const cases: Array<[string, string | undefined]> = [
    ['/api/v1/namespaces/ml/pods/p/status', 'pods ml p status'],
    ['/api/v1/namespaces/ml/serviceaccounts/bot/token', 'serviceaccounts ml bot token'],
    ['/api/v1/namespaces/ml', 'namespaces - ml -'],
    ['/api/v1/namespaces/ml/finalize', 'namespaces - ml finalize'],
    ['/api/v1/pods', 'pods - - -'],
    ['/apis/ray.io/v1/namespaces/ml/rayclusters', 'rayclusters ml - -'],
    // Each of these is a 404 on a real server, and must not fall back to something else.
    ['/api/v1/namespaces/ml/rayclusters', undefined],
    ['/api/v1/namespaces/ml/pods/p/log', undefined],
    ['/apis/ray.io/v1/namespaces/ml/rayclusters/x/scale', undefined],
    ['/api/v1/pods/p', undefined],
    ['/api/v1/namespaces/ml/nodes/n', undefined],
    ['/api/v1/namespaces/ml/pods/p/status/more', undefined],
  ];
  it.each(cases)('%s', (path, expected) => {
    const r = route(path);
    expect(r && [r.resource.resource, r.namespace ?? '-', r.name ?? '-', r.subresource ?? '-'].join(' ')).toBe(expected);
  });

  it('answers a path that is not valid percent-encoding with 400', () => {
    expect(() => route('/api/v1/namespaces/%E0%A4%A/pods')).toThrow(expect.objectContaining({code: 400}));
  });
});

describe('the audit log', () => {
  it('records who asked what, and a request whose path cannot be read, and the server stays up', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-audit-')), 'audit.log');
    const server = new SandboxApiServer(new Store(), {audit: new AuditLog(file)});
    const port = await server.listen();
    try {
      const bad = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/%E0%A4%A/pods`, {headers: {connection: 'close'}});
      expect(bad.status).toBe(400);
      const ok = await fetch(`http://127.0.0.1:${port}/api/v1/namespaces/default/pods?watch=false`, {headers: {connection: 'close', 'impersonate-user': 'system:serviceaccount:default:bot'}});
      expect(ok.status).toBe(403);
      const events = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(events[0]).toMatchObject({verb: 'get', responseStatus: {code: 400}, user: {username: 'sandbox-admin'}});
      expect(events[0]).not.toHaveProperty('objectRef');
      expect(events[1]).toMatchObject({
        verb: 'list',
        user: {username: 'sandbox-admin'},
        impersonatedUser: {username: 'system:serviceaccount:default:bot'},
        objectRef: {resource: 'pods', namespace: 'default', apiGroup: '', apiVersion: 'v1'},
        responseStatus: {code: 403},
      });
    } finally {
      await server.close();
    }
  });
});
