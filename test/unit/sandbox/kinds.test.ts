import * as http from 'node:http';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {ClusterClient} from '../../../src/kube/client.js';
import {KubeError} from '../../../src/kube/errors.js';
import {RESOURCES, type ResourceType} from '../../../src/kube/resources.js';
import type {KubeObject} from '../../../src/kube/types.js';
import {route, SandboxApiServer} from '../../../src/sandbox/apiserver.js';
import {SandboxCluster} from '../../../src/sandbox/cluster.js';
import type {JsonMap} from '../../../src/sandbox/json.js';
import {authorize, BOOTSTRAP_POLICY, requestAttributes, resourceRequest} from '../../../src/sandbox/rbac.js';
import {SANDBOX_RESOURCES} from '../../../src/sandbox/resources.js';
import {Store, type StoredObject} from '../../../src/sandbox/store.js';
import {toTable} from '../../../src/sandbox/table.js';
import {FAST_RETRY} from '../../support/client.js';
import {waitFor} from '../../support/poll.js';

const NS = 'ml';
const TYPES = {
  priorityclasses: {group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', kind: 'PriorityClass', namespaced: false},
  runtimeclasses: {group: 'node.k8s.io', version: 'v1', resource: 'runtimeclasses', kind: 'RuntimeClass', namespaced: false},
  resourcequotas: {group: '', version: 'v1', resource: 'resourcequotas', kind: 'ResourceQuota', namespaced: true},
  persistentvolumeclaims: {group: '', version: 'v1', resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', namespaced: true},
  networkpolicies: {group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true},
} satisfies Record<string, ResourceType>;

const claim = (name: string): JsonMap => ({apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {name}, spec: {accessModes: ['ReadWriteOnce'], resources: {requests: {storage: '1Gi'}}}});
const OBJECTS: Record<keyof typeof TYPES, JsonMap> = {
  priorityclasses: {apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: 'batch'}, value: 100, description: 'batch jobs'},
  runtimeclasses: {apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: {name: 'gvisor'}, handler: 'runsc', overhead: {podFixed: {cpu: '250m'}}},
  resourcequotas: {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'compute'}, spec: {hard: {pods: '10', 'requests.cpu': '4'}}},
  persistentvolumeclaims: claim('data'),
  networkpolicies: {apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: {name: 'deny'}, spec: {podSelector: {matchLabels: {app: 'ray'}}}},
};

async function failure(p: Promise<unknown>): Promise<KubeError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeError) return err;
    throw err;
  }
  throw new Error('expected a KubeError');
}

describe('the kinds a preflight reads, through the tool\'s own client', () => {
  const server = new SandboxApiServer(new Store(), {});
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

  it('are in discovery, with the short names, scope and subresources of a real server', async () => {
    type Listed = {resources: Array<{name: string; namespaced: boolean; shortNames?: string[]; kind: string}>};
    const names = async (path: string) => (await client.request<Listed>({path})).resources.map((r) => [r.name, r.namespaced, r.shortNames ?? [], r.kind]);
    expect(await names('/api/v1')).toEqual(
      expect.arrayContaining([
        ['persistentvolumeclaims', true, ['pvc'], 'PersistentVolumeClaim'],
        ['persistentvolumeclaims/status', true, [], 'PersistentVolumeClaim'],
        ['resourcequotas', true, ['quota'], 'ResourceQuota'],
        ['resourcequotas/status', true, [], 'ResourceQuota'],
      ]),
    );
    expect(await names('/apis/scheduling.k8s.io/v1')).toEqual([['priorityclasses', false, ['pc'], 'PriorityClass']]);
    expect(await names('/apis/node.k8s.io/v1')).toEqual([['runtimeclasses', false, [], 'RuntimeClass']]);
    expect(await names('/apis/networking.k8s.io/v1')).toEqual([['networkpolicies', true, ['netpol'], 'NetworkPolicy']]);
    const groups = await client.request<{groups: Array<{name: string; preferredVersion: {groupVersion: string}}>}>({path: '/apis'});
    expect(groups.groups.map((g) => g.preferredVersion.groupVersion)).toEqual(expect.arrayContaining(['scheduling.k8s.io/v1', 'node.k8s.io/v1', 'networking.k8s.io/v1']));
  });

  it.each(Object.keys(TYPES) as Array<keyof typeof TYPES>)('%s: create, get, list, patch, watch and delete', async (key) => {
    const type = TYPES[key];
    const namespace = type.namespaced ? NS : undefined;
    const name = String((OBJECTS[key].metadata as JsonMap).name);
    const list = await client.list<KubeObject>(type, {namespace});
    const abort = new AbortController();
    const seen: string[] = [];
    const events = client.watch<KubeObject>(type, {namespace, resourceVersion: list.metadata!.resourceVersion!, signal: abort.signal, timeoutSeconds: 5});
    const done = (async () => {
      for await (const e of events) {
        if (e.object.metadata?.name !== name) continue;
        seen.push(e.type);
        if (e.type === 'DELETED') abort.abort();
      }
    })().catch(() => undefined);

    await client.create(type, OBJECTS[key] as KubeObject, {namespace});
    expect((await client.get<KubeObject>(type, name, namespace)).metadata?.uid).toBeDefined();
    expect((await client.list<KubeObject>(type, {namespace})).items.map((o) => o.metadata?.name)).toContain(name);
    const patched = await client.patch<KubeObject>(type, name, namespace, {metadata: {labels: {team: 'vision'}}}, 'merge');
    expect(patched.metadata?.labels).toEqual({team: 'vision'});
    await client.delete(type, name, namespace);
    // A claim waits for its protection finalizer, which the controller-manager takes off: here, the test.
    if (await client.find(type, name, namespace)) await client.patch(type, name, namespace, {metadata: {finalizers: null}}, 'merge');
    expect(await client.find(type, name, namespace)).toBeUndefined();
    await done;
    expect([seen[0], seen[1], seen.at(-1)]).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('gives a claim its defaults and its protection finalizer, and status only through /status', async () => {
    const created = (await client.create(TYPES.persistentvolumeclaims, claim('cache') as KubeObject, {namespace: NS})) as KubeObject & {spec: JsonMap; status: JsonMap};
    expect([created.spec.volumeMode, created.status, created.metadata?.finalizers]).toEqual(['Filesystem', {phase: 'Pending'}, ['kubernetes.io/pvc-protection']]);
    const bound = {status: {phase: 'Bound', capacity: {storage: '1Gi'}, accessModes: ['ReadWriteOnce']}};
    await client.request({method: 'PATCH', path: `/api/v1/namespaces/${NS}/persistentvolumeclaims/cache/status`, body: bound, contentType: 'application/merge-patch+json'});
    expect((await client.get<KubeObject & {status: JsonMap}>(TYPES.persistentvolumeclaims, 'cache', NS)).status.phase).toBe('Bound');
    const refused = await failure(client.create(TYPES.persistentvolumeclaims, {apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {name: 'bad'}, spec: {}} as KubeObject, {namespace: NS}));
    expect([refused.code, refused.detail]).toEqual([422, 'PersistentVolumeClaim "bad" is invalid: [spec.accessModes: Required value: at least 1 access mode is required, spec.resources[storage]: Required value]']);
  });

  it('defaults a NetworkPolicy as the server does', async () => {
    const egress = {apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: {name: 'out'}, spec: {egress: [{ports: [{port: 443}]}]}};
    const created = (await client.create(TYPES.networkpolicies, egress as KubeObject, {namespace: NS})) as KubeObject & {spec: JsonMap};
    expect(created.spec).toEqual({podSelector: {}, egress: [{ports: [{port: 443, protocol: 'TCP'}]}], policyTypes: ['Ingress', 'Egress']});
    // An update is defaulted too: a port an apply sends without its protocol stays TCP.
    const patched = await client.patch<KubeObject & {spec: JsonMap}>(TYPES.networkpolicies, 'out', NS, {spec: {egress: [{ports: [{port: 8443}]}]}}, 'merge');
    expect(patched.spec.egress).toEqual([{ports: [{port: 8443, protocol: 'TCP'}]}]);
  });

  it('refuses what the real server refuses of PriorityClasses: changes of value or policy, and deleting the system\'s', async () => {
    await client.create(TYPES.priorityclasses, {apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: 'fixed'}, value: 10} as KubeObject);
    const value = await failure(client.patch(TYPES.priorityclasses, 'fixed', undefined, {value: 11}, 'merge'));
    expect([value.code, value.detail]).toEqual([422, 'PriorityClass.scheduling.k8s.io "fixed" is invalid: value: Forbidden: may not be changed in an update.']);
    const policy = await failure(client.patch(TYPES.priorityclasses, 'fixed', undefined, {preemptionPolicy: 'Never'}, 'merge'));
    expect([policy.code, policy.detail]).toEqual([422, 'PriorityClass.scheduling.k8s.io "fixed" is invalid: preemptionPolicy: Invalid value: "Never": field is immutable']);
    // A description may change.
    await client.patch(TYPES.priorityclasses, 'fixed', undefined, {description: 'ten'}, 'merge');
    const system = await failure(client.delete(TYPES.priorityclasses, 'system-cluster-critical'));
    expect([system.code, system.detail]).toEqual([403, 'priorityclasses.scheduling.k8s.io "system-cluster-critical" is forbidden: this is a system priority class and cannot be deleted']);
    const handler = await client.create(TYPES.runtimeclasses, {apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: {name: 'kata'}, handler: 'kata'} as KubeObject);
    expect(handler.metadata?.name).toBe('kata');
    const moved = await failure(client.patch(TYPES.runtimeclasses, 'kata', undefined, {handler: 'runc'}, 'merge'));
    expect([moved.code, moved.detail]).toEqual([422, 'RuntimeClass.node.k8s.io "kata" is invalid: handler: Invalid value: "runc": field is immutable']);
  });

  it('lists quotas with their status, which follows the pods the API server admits and deletes', async () => {
    await client.create(TYPES.resourcequotas, {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'pods'}, spec: {hard: {pods: '1', 'limits.memory': '1Gi'}}} as KubeObject, {namespace: NS});
    const used = async () => (await client.list<KubeObject & {status: {used: JsonMap}}>(TYPES.resourcequotas, {namespace: NS})).items.find((q) => q.metadata?.name === 'pods')!.status.used;
    const worker = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'worker'}, spec: {containers: [{name: 'ray', image: 'ray', resources: {limits: {cpu: '1', memory: '512Mi'}}}]}};
    await client.create(RESOURCES.pods, worker as KubeObject, {namespace: NS});
    expect(await used()).toEqual({'limits.memory': '512Mi', pods: '1'});
    const second = await failure(client.create(RESOURCES.pods, {...worker, metadata: {name: 'second'}} as KubeObject, {namespace: NS}));
    expect([second.code, second.detail]).toEqual([403, 'pods "second" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1']);
    await client.delete(RESOURCES.pods, 'worker', NS);
    expect(await used()).toEqual({'limits.memory': '0', pods: '0'});
    // A dry run is admitted or refused as the real create would be, and counts for nothing.
    await client.create(RESOURCES.pods, worker as KubeObject, {namespace: NS, dryRun: true});
    expect(await used()).toEqual({'limits.memory': '0', pods: '0'});
    const tooBig = {...worker, spec: {containers: [{name: 'ray', image: 'ray', resources: {limits: {memory: '2Gi'}}}]}};
    const dry = await failure(client.create(RESOURCES.pods, tooBig as KubeObject, {namespace: NS, dryRun: true}));
    expect([dry.code, dry.detail]).toEqual([403, 'pods "worker" is forbidden: exceeded quota: pods, requested: limits.memory=2Gi, used: limits.memory=0, limited: limits.memory=1Gi']);
  });

  it('keeps the priority admission set when an update leaves it out, as the Priority plugin does', async () => {
    await client.create(TYPES.priorityclasses, {apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: {name: 'workers'}, value: 500, preemptionPolicy: 'Never'} as KubeObject);
    // Out of the way of the quotas above.
    await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'prio'}});
    const prio = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'prio'}, spec: {priorityClassName: 'workers', containers: [{name: 'c', image: 'pause'}]}};
    const created = (await client.create(RESOURCES.pods, prio as KubeObject, {namespace: 'prio'})) as KubeObject & {spec: JsonMap};
    expect([created.spec.priority, created.spec.preemptionPolicy]).toEqual([500, 'Never']);
    const {priority: _p, preemptionPolicy: _pp, ...spec} = created.spec;
    const put = await client.request<KubeObject & {spec: JsonMap}>({method: 'PUT', path: '/api/v1/namespaces/prio/pods/prio', body: {...created, metadata: {...created.metadata, labels: {put: 'yes'}}, spec}});
    expect([put.metadata?.labels, put.spec.priority, put.spec.preemptionPolicy]).toEqual([{put: 'yes'}, 500, 'Never']);
  });
});

describe('the kinds in kubectl get\'s tables', () => {
  const at = '2020-01-01T00:00:00Z';
  const of = (kind: string, o: JsonMap): StoredObject => ({apiVersion: 'v1', kind, ...o, metadata: {uid: 'u', resourceVersion: '1', creationTimestamp: at, ...(o.metadata as JsonMap)}}) as StoredObject;
  const PVC = ['Name', 'Status', 'Volume', 'Capacity', 'Access Modes', 'StorageClass', 'VolumeAttributesClass', 'Age', 'VolumeMode'];
  // The cells of every column but Age.
  const cases: Array<[string, JsonMap, string[], unknown[]]> = [
    ['PriorityClass', {metadata: {name: 'batch'}, value: 100, globalDefault: true, preemptionPolicy: 'Never'}, ['Name', 'Value', 'Global-Default', 'Age', 'PreemptionPolicy'], ['batch', 100, true, 'Never']],
    ['RuntimeClass', {metadata: {name: 'gvisor'}, handler: 'runsc'}, ['Name', 'Handler', 'Age'], ['gvisor', 'runsc']],
    [
      'ResourceQuota',
      {metadata: {name: 'compute'}, status: {hard: {pods: '10', 'requests.cpu': '4', 'limits.memory': '8Gi'}, used: {pods: '2', 'requests.cpu': '1500m', 'limits.memory': '1Gi'}}},
      ['Name', 'Request', 'Limit', 'Age'],
      ['compute', 'pods: 2/10, requests.cpu: 1500m/4', 'limits.memory: 1Gi/8Gi'],
    ],
    [
      'PersistentVolumeClaim',
      {metadata: {name: 'data'}, spec: {storageClassName: 'standard', volumeMode: 'Filesystem', volumeName: 'pv-1'}, status: {phase: 'Bound', capacity: {storage: '1024Mi'}, accessModes: ['ReadWriteMany', 'ReadWriteOnce']}},
      PVC,
      ['data', 'Bound', 'pv-1', '1Gi', 'RWO,RWX', 'standard', '<unset>', 'Filesystem'],
    ],
    ['PersistentVolumeClaim', {metadata: {name: 'new'}, spec: {}, status: {phase: 'Pending'}}, PVC, ['new', 'Pending', '', '', '', '', '<unset>', '<unset>']],
    ['PersistentVolumeClaim', {metadata: {name: 'old', deletionTimestamp: at}, spec: {}, status: {phase: 'Pending'}}, PVC, ['old', 'Terminating', '', '', '', '', '<unset>', '<unset>']],
    [
      'NetworkPolicy',
      {metadata: {name: 'deny'}, spec: {podSelector: {matchLabels: {app: 'ray'}, matchExpressions: [{key: 'tier', operator: 'NotIn', values: ['b', 'a']}, {key: 'canary', operator: 'DoesNotExist'}]}}},
      ['Name', 'Pod-Selector', 'Age'],
      ['deny', 'app=ray,!canary,tier notin (a,b)'],
    ],
    ['NetworkPolicy', {metadata: {name: 'all'}, spec: {podSelector: {}}}, ['Name', 'Pod-Selector', 'Age'], ['all', '<none>']],
  ];
  it.each(cases)('%s %j', (kind, object, columns, cells) => {
    const resource = SANDBOX_RESOURCES.find((r) => r.kind === kind)!;
    const table = toTable(resource, [of(kind, object)], '1', false) as {columnDefinitions: Array<{name: string; priority: number}>; rows: Array<{cells: unknown[]}>};
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(columns);
    expect(table.rows[0]!.cells.filter((_, i) => columns[i] !== 'Age')).toEqual(cells);
  });

  it('shows a PriorityClass\'s policy and a claim\'s volume mode only with -o wide', () => {
    const wide = (kind: string) => (toTable(SANDBOX_RESOURCES.find((r) => r.kind === kind)!, [], '1', false) as {columnDefinitions: Array<{name: string; priority: number}>}).columnDefinitions.filter((c) => c.priority > 0).map((c) => c.name);
    expect([wide('PriorityClass'), wide('PersistentVolumeClaim')]).toEqual([['PreemptionPolicy'], ['VolumeMode']]);
  });
});

describe('the paths of the new kinds', () => {
  const cases: Array<[string, string | undefined]> = [
    ['/apis/scheduling.k8s.io/v1/priorityclasses/high', 'priorityclasses - high'],
    ['/apis/node.k8s.io/v1/runtimeclasses', 'runtimeclasses - -'],
    ['/api/v1/namespaces/ml/resourcequotas/q/status', 'resourcequotas ml q'],
    ['/api/v1/namespaces/ml/persistentvolumeclaims/data', 'persistentvolumeclaims ml data'],
    ['/apis/networking.k8s.io/v1/namespaces/ml/networkpolicies', 'networkpolicies ml -'],
    // Cluster-scoped kinds live in no namespace; RuntimeClasses and NetworkPolicies have no status.
    ['/apis/scheduling.k8s.io/v1/namespaces/ml/priorityclasses/high', undefined],
    ['/apis/node.k8s.io/v1/runtimeclasses/gvisor/status', undefined],
    ['/apis/networking.k8s.io/v1/namespaces/ml/networkpolicies/deny/status', undefined],
  ];
  it.each(cases)('%s', (path, expected) => {
    const r = route(path);
    expect(r && [r.resource.resource, r.namespace ?? '-', r.name ?? '-'].join(' ')).toBe(expected);
  });

  it('are authorized by RBAC as a real server authorizes them', () => {
    const RBAC = 'rbac.authorization.k8s.io';
    const store = new Store();
    for (const {resource, object} of BOOTSTRAP_POLICY) store.create(resource, object as never);
    const put = (resource: string, object: JsonMap) => store.create(`${resource}.${RBAC}`, {apiVersion: `${RBAC}/v1`, ...object} as never);
    put('clusterroles', {kind: 'ClusterRole', metadata: {name: 'preflight'}, rules: [{apiGroups: ['scheduling.k8s.io', 'node.k8s.io'], resources: ['priorityclasses', 'runtimeclasses'], verbs: ['get']}]});
    put('clusterrolebindings', {kind: 'ClusterRoleBinding', metadata: {name: 'preflight'}, roleRef: {apiGroup: RBAC, kind: 'ClusterRole', name: 'preflight'}, subjects: [{kind: 'User', name: 'tool'}]});
    put('roles', {kind: 'Role', metadata: {name: 'preflight', namespace: NS}, rules: [{apiGroups: [''], resources: ['resourcequotas', 'persistentvolumeclaims'], verbs: ['get', 'list']}, {apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list']}]});
    put('rolebindings', {kind: 'RoleBinding', metadata: {name: 'preflight', namespace: NS}, roleRef: {apiGroup: RBAC, kind: 'Role', name: 'preflight'}, subjects: [{kind: 'User', name: 'tool'}]});
    const tool = {username: 'tool', groups: ['system:authenticated']};
    const asks = (method: string, path: string) => authorize(store, tool, requestAttributes(method, new URL(path, 'http://sandbox'))).allowed;
    expect(requestAttributes('GET', new URL('/apis/scheduling.k8s.io/v1/priorityclasses/high', 'http://sandbox'))).toEqual(
      resourceRequest({verb: 'get', apiGroup: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses', name: 'high', path: '/apis/scheduling.k8s.io/v1/priorityclasses/high'}),
    );
    expect(asks('GET', '/apis/scheduling.k8s.io/v1/priorityclasses/high')).toBe(true);
    expect(asks('GET', '/apis/node.k8s.io/v1/runtimeclasses/gvisor')).toBe(true);
    expect(asks('GET', '/apis/scheduling.k8s.io/v1/priorityclasses')).toBe(false);
    expect(asks('GET', `/api/v1/namespaces/${NS}/resourcequotas`)).toBe(true);
    expect(asks('GET', '/api/v1/namespaces/other/resourcequotas')).toBe(false);
    expect(asks('GET', `/api/v1/namespaces/${NS}/persistentvolumeclaims/data`)).toBe(true);
    expect(asks('GET', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`)).toBe(true);
    expect(asks('DELETE', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/deny`)).toBe(false);
  });
});

describe('the controller-manager, for quotas and claims', () => {
  let cluster: SandboxCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('recounts quota usage when the cluster\'s components end or delete pods, and lets a claim go once no pod uses it', async () => {
    cluster = new SandboxCluster('c', 0, {nodes: [{name: 'n', cpu: '8', memory: '16Gi'}]});
    await cluster.start();
    const {server, store} = cluster;
    server.createAs('test', 'namespaces', {apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}});
    server.createAs('test', 'resourcequotas', {apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'q', namespace: NS}, spec: {hard: {pods: '5'}}});
    server.createAs('test', 'persistentvolumeclaims', {...claim('data'), metadata: {name: 'data', namespace: NS}});
    const user = (name: string) => ({apiVersion: 'v1', kind: 'Pod', metadata: {name, namespace: NS}, spec: {containers: [{name: 'c', image: 'pause'}], volumes: [{name: 'd', persistentVolumeClaim: {claimName: 'data'}}]}});
    server.createAs('test', 'pods', user('a'));
    server.createAs('test', 'pods', user('b'));
    const used = () => String((store.get({resource: 'resourcequotas', namespace: NS, name: 'q'})!.status as {used: JsonMap}).used.pods);
    expect(used()).toBe('2');

    // A pod that finished, and one deleted by a component, no longer count.
    const a = store.get({resource: 'pods', namespace: NS, name: 'a'})!;
    store.update('pods', {...a, status: {...(a.status as JsonMap), phase: 'Succeeded'}});
    await waitFor('a finished and uncounted', () => (used() === '1' ? true : undefined), {timeoutMs: 5000});
    store.delete({resource: 'pods', namespace: NS, name: 'b'});
    await waitFor('b gone and uncounted', () => (used() === '0' ? true : undefined), {timeoutMs: 5000});

    // The claim waits for the last pod that uses it: a, though finished, uses it no more.
    server.createAs('test', 'pods', {...user('c'), spec: {...user('c').spec, nodeName: 'c-n-0'}});
    store.delete({resource: 'persistentvolumeclaims', namespace: NS, name: 'data'});
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(store.get({resource: 'persistentvolumeclaims', namespace: NS, name: 'data'})?.metadata.deletionTimestamp).toBeDefined();
    store.delete({resource: 'pods', namespace: NS, name: 'c'});
    await waitFor('the claim gone', () => (store.get({resource: 'persistentvolumeclaims', namespace: NS, name: 'data'}) ? undefined : true), {timeoutMs: 5000});
  });
});
