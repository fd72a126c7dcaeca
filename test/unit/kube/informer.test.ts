import * as http from 'node:http';
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest';
import {ClusterClient} from '../../../src/kube/client.js';
import {KubeError} from '../../../src/kube/errors.js';
import {ClusterCache} from '../../../src/kube/informer.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../../src/kube/types.js';
import {informerSpecs, NON_TERMINAL, REMEMBERED} from '../../../src/reconcile/informed.js';
import {SandboxApiServer} from '../../../src/sandbox/apiserver.js';
import {Store} from '../../../src/sandbox/store.js';
import {sendJson, sendStatus, TestApiServer} from '../../support/api-server.js';
import {clientFor, FAST_RETRY} from '../../support/client.js';
import {waitFor} from '../../support/poll.js';

const NS = 'ml';
const rayPod = (name: string, labels: Record<string, string> = {}, extra: Partial<Pod> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name, labels: {'ray.io/node-type': 'worker', 'ray.io/cluster': 'rc', ...labels}},
  spec: {containers: [{name: 'ray-worker', image: 'rayproject/ray', resources: {requests: {cpu: '1', memory: '1Gi'}}}]},
  ...extra,
});

describe('the watch cache of one cluster', () => {
  const store = new Store();
  const server = new SandboxApiServer(store, {});
  let client: ClusterClient;
  let cache: ClusterCache;
  const stop = new AbortController();
  /** The requests the client sent, as "VERB path?labelSelector": what the cache spared the server. */
  const sent: string[] = [];

  beforeAll(async () => {
    const port = await server.listen();
    const agent = new http.Agent({keepAlive: true});
    client = new ClusterClient({context: 'home', server: `http://127.0.0.1:${port}`, credentials: {prepare: async () => ({agent, headers: {}})}, retry: FAST_RETRY});
    await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}});
    await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'kube-system'}});
    await client.create(RESOURCES.namespaces, {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'other'}});
    await client.create(RESOURCES.pods, rayPod('w-0'), {namespace: NS});
    await client.create(RESOURCES.pods, {...rayPod('bystander'), metadata: {name: 'bystander', labels: {app: 'web'}}, spec: {nodeName: 'n1', containers: [{name: 'web', resources: {requests: {cpu: '2'}}}]}}, {namespace: 'other'});
    cache = new ClusterCache(client, informerSpecs(NS), REMEMBERED);
    client.cache = cache;
    // kube-system is read once, then kept.
    await client.get(RESOURCES.namespaces, 'kube-system');
    const original = client.request.bind(client);
    client.request = (req) => {
      sent.push(`${req.method ?? 'GET'} ${req.path}${req.query?.labelSelector ? `?${req.query.labelSelector}` : ''}`);
      return original(req);
    };
    await cache.start(stop.signal).listed;
    sent.length = 0;
  });
  afterEach(() => {
    sent.length = 0;
  });
  afterAll(async () => {
    stop.abort();
    client.cache = undefined;
    await server.close();
  });

  it('answers lists and gets it holds without asking the server', async () => {
    const pods = await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/cluster=rc'});
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(['w-0']);
    expect((await client.get(RESOURCES.namespaces, 'kube-system')).metadata?.uid).toBeTruthy();
    expect(await client.find(RESOURCES.rayclusters, 'nope', NS)).toBeUndefined();
    // Every non-terminal pod of the cluster, in any namespace, kept for its room only.
    const room = await client.list<Pod>(RESOURCES.pods, {fieldSelector: NON_TERMINAL});
    expect(room.items.map((p) => p.metadata?.name).sort()).toEqual(['bystander', 'w-0']);
    const bystander = room.items.find((p) => p.metadata?.name === 'bystander')!;
    // Admission's defaults (tolerations) stay: they decide where a pod may go. The rest is not kept.
    expect(Object.keys(bystander.spec!).sort()).toEqual(['containers', 'nodeName', 'tolerations']);
    expect(bystander.spec?.containers).toEqual([{name: 'web', resources: {requests: {cpu: '2'}}}]);
    expect(Object.isFrozen(bystander.spec)).toBe(true);
    expect(sent).toEqual([]);
  });

  it('hands out copies of whole objects, so that a caller changing one changes nothing kept', async () => {
    const first = await client.get<Pod>(RESOURCES.pods, 'w-0', NS);
    first.metadata!.labels!['ray.io/cluster'] = 'changed';
    expect((await client.get<Pod>(RESOURCES.pods, 'w-0', NS)).metadata?.labels?.['ray.io/cluster']).toBe('rc');
  });

  it('sends to the server what it does not hold: another selector, another namespace, a Service by name', async () => {
    await client.list(RESOURCES.pods, {namespace: NS, labelSelector: 'app=web'});
    await client.list(RESOURCES.pods, {namespace: 'other', labelSelector: 'ray.io/cluster=rc'});
    await client.find(RESOURCES.services, 'rc-head-svc', NS);
    await client.list(RESOURCES.pods, {namespace: NS});
    expect(sent).toEqual([
      `GET /api/v1/namespaces/${NS}/pods?app=web`,
      'GET /api/v1/namespaces/other/pods?ray.io/cluster=rc',
      `GET /api/v1/namespaces/${NS}/services/rc-head-svc`,
      `GET /api/v1/namespaces/${NS}/pods`,
    ]);
  });

  it('reads back what this process just wrote: a create, a patch and a delete, each seen by the very next read', async () => {
    await client.create(RESOURCES.pods, rayPod('w-1'), {namespace: NS});
    expect((await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/cluster=rc'})).items.map((p) => p.metadata?.name)).toEqual(['w-0', 'w-1']);
    await client.patch(RESOURCES.pods, 'w-1', NS, {metadata: {labels: {marked: 'yes'}}}, 'merge');
    expect((await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/cluster=rc,marked=yes'})).items.map((p) => p.metadata?.name)).toEqual(['w-1']);
    await client.delete(RESOURCES.pods, 'w-1', NS);
    const after = (await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/cluster=rc'})).items;
    expect(after.filter((p) => p.metadata?.name === 'w-1' && !p.metadata.deletionTimestamp)).toEqual([]);
    // Only the three writes went to the server: the reads waited for the watch instead.
    expect(sent.map((s) => s.split(' ')[0])).toEqual(['POST', 'PATCH', 'DELETE']);
  });

  it('follows changes others make, and drops a pod from the room once it has ended', async () => {
    await client.create(RESOURCES.pods, rayPod('done', {}, {spec: {nodeName: 'n1', containers: [{name: 'c'}]}}), {namespace: NS});
    await client.patch(RESOURCES.pods, 'done', NS, {status: {phase: 'Succeeded'}}, 'merge', {subresource: 'status'});
    const room = await client.list<Pod>(RESOURCES.pods, {fieldSelector: NON_TERMINAL});
    expect(room.items.map((p) => p.metadata?.name)).not.toContain('done');
    // The Ray pods keep it, in every phase: a remote worker that ended is repaired, not forgotten.
    const rayPods = await client.list<Pod>(RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/node-type=worker'});
    expect(rayPods.items.find((p) => p.metadata?.name === 'done')?.status?.phase).toBe('Succeeded');
    expect(sent.map((s) => s.split(' ')[0])).toEqual(['POST', 'PATCH']);
  });
});

describe('the watch cache when a watch fails', () => {
  const servers: TestApiServer[] = [];
  /** A client of `server` whose cache keeps the ConfigMaps labelled superskyray.io/managed-by=x of NS, not yet started. */
  const cachedConfigMaps = (server: TestApiServer) => {
    servers.push(server);
    const client = clientFor(server);
    const cache = new ClusterCache(client, [{type: RESOURCES.configmaps, namespace: NS, labelSelector: 'superskyray.io/managed-by=x'}]);
    client.cache = cache;
    return {client, cache, stop: new AbortController()};
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('sends reads of a kind whose watch is refused to the server, and reads of the others from the cache', async () => {
    const server = await TestApiServer.start((req, res) => {
      if (req.path.endsWith('/secrets')) return sendStatus(res, 403, 'Forbidden', 'secrets is forbidden');
      if (req.query.get('watch')) {
        res.writeHead(200, {'content-type': 'application/json'});
        return; // open, quiet
      }
      sendJson(res, 200, {metadata: {resourceVersion: '1'}, items: []});
    });
    servers.push(server);
    const client = clientFor(server);
    const cache = new ClusterCache(client, [
      {type: RESOURCES.secrets, namespace: NS, labelSelector: 'superskyray.io/managed-by=x'},
      {type: RESOURCES.configmaps, namespace: NS, labelSelector: 'superskyray.io/managed-by=x'},
    ]);
    const stopped: Error[] = [];
    cache.informers[0]!.listen({stopped: (err) => stopped.push(err)});
    client.cache = cache;
    const stop = new AbortController();
    await cache.start(stop.signal).listed;
    expect(stopped.map((e) => (e as KubeError).code)).toEqual([403]);
    const before = server.requests.length;
    await expect(client.list(RESOURCES.secrets, {namespace: NS, labelSelector: 'superskyray.io/managed-by=x'})).rejects.toMatchObject({code: 403});
    expect((await client.list(RESOURCES.configmaps, {namespace: NS, labelSelector: 'superskyray.io/managed-by=x,a=b'})).items).toEqual([]);
    // Reads, not the configmaps watch, which may open just after its list.
    expect(server.requests.slice(before).filter((r) => !r.query.get('watch')).map((r) => r.path)).toEqual([`/api/v1/namespaces/${NS}/secrets`]);
    stop.abort();
  });

  it('has a read made while the first list is in flight wait for it, not list a second time', async () => {
    const server = await TestApiServer.start(async (req, res) => {
      if (req.query.get('watch')) {
        res.writeHead(200, {'content-type': 'application/json'});
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      sendJson(res, 200, {metadata: {resourceVersion: '1'}, items: [{metadata: {name: 'cm', namespace: NS, labels: {'superskyray.io/managed-by': 'x'}}}]});
    });
    const {client, cache, stop} = cachedConfigMaps(server);
    void cache.start(stop.signal);
    const list = await client.list(RESOURCES.configmaps, {namespace: NS, labelSelector: 'superskyray.io/managed-by=x'});
    expect(list.items.map((o: KubeObject) => o.metadata?.name)).toEqual(['cm']);
    expect(server.requests.filter((r) => !r.query.get('watch'))).toHaveLength(1);
    stop.abort();
  });

  it('sends reads to the server while the watch is failing, and back to the cache once it has listed again', async () => {
    let down = false;
    const server = await TestApiServer.start((req, res) => {
      if (down) return sendStatus(res, 503, 'ServiceUnavailable', 'down');
      if (req.query.get('watch')) {
        res.writeHead(200, {'content-type': 'application/json'});
        res.end(); // closed at once: resumed from where it was
        return;
      }
      sendJson(res, 200, {metadata: {resourceVersion: '1'}, items: [{metadata: {name: 'cm', namespace: NS, labels: {'superskyray.io/managed-by': 'x'}}}]});
    });
    const {client, cache, stop} = cachedConfigMaps(server);
    await cache.start(stop.signal).listed;
    const informer = cache.informers[0]!;
    down = true;
    await waitFor('the watch to fail', () => informer.failing ?? undefined, {timeoutMs: 10_000});
    await expect(client.list(RESOURCES.configmaps, {namespace: NS, labelSelector: 'superskyray.io/managed-by=x'})).rejects.toMatchObject({code: 503});
    down = false;
    await waitFor('the watch to recover', () => informer.usable || undefined, {timeoutMs: 10_000});
    const before = server.requests.length;
    expect((await client.list(RESOURCES.configmaps, {namespace: NS, labelSelector: 'superskyray.io/managed-by=x'})).items.map((o: KubeObject) => o.metadata?.name)).toEqual(['cm']);
    expect(server.requests.slice(before).filter((r) => !r.query.get('watch'))).toEqual([]);
    stop.abort();
  });

  it('drops a stream its cluster went out of reach behind, reads from the server until the watch is taken again, and has the new one replay what the old never carried', async () => {
    const cm = (name: string, rv: string) => ({metadata: {name, namespace: NS, resourceVersion: rv, labels: {'superskyray.io/managed-by': 'x'}}});
    let release!: () => void;
    const taken = new Promise<void>((resolve) => (release = resolve));
    const watchedFrom: string[] = [];
    const server = await TestApiServer.start(async (req, res) => {
      if (!req.query.get('watch')) return sendJson(res, 200, {metadata: {resourceVersion: '1'}, items: [cm('cm', '1')]});
      watchedFrom.push(req.query.get('resourceVersion') ?? '');
      // The first stream stays open and carries nothing, as a half-open connection does; cm2 is
      // made meanwhile, and only a new watch from resourceVersion 1 is told.
      if (watchedFrom.length === 1) {
        res.writeHead(200, {'content-type': 'application/json'});
        return;
      }
      await taken;
      res.writeHead(200, {'content-type': 'application/json'});
      res.write(`${JSON.stringify({type: 'ADDED', object: cm('cm2', '2')})}\n`);
    });
    const {client, cache, stop} = cachedConfigMaps(server);
    await cache.start(stop.signal).listed;
    await waitFor('the first watch open', () => (watchedFrom.length === 1 ? true : undefined), {timeoutMs: 5000, intervalMs: 10});
    const names = async () => (await client.list(RESOURCES.configmaps, {namespace: NS, labelSelector: 'superskyray.io/managed-by=x'})).items.map((o: KubeObject) => o.metadata?.name);
    const reads = () => server.requests.filter((r) => !r.query.get('watch')).length;
    expect(await names()).toEqual(['cm']);
    expect(reads()).toBe(1);

    cache.suspect();
    expect(cache.informers[0]!.usable).toBe(false);
    // Not from the store, which may be stale: from the server, which says cm too (its list is fixed).
    expect(await names()).toEqual(['cm']);
    expect(reads()).toBe(2);
    await waitFor('the stream dropped and the watch asked again', () => (watchedFrom.length === 2 ? true : undefined), {timeoutMs: 5000, intervalMs: 10});
    release();
    await waitFor('the store to hold what the dead stream never carried', async () => (cache.informers[0]!.usable && (await names()).includes('cm2') ? true : undefined), {timeoutMs: 5000, intervalMs: 10});
    expect(reads()).toBe(2);
    // Resumed from where it was: nothing relisted, nothing replayed twice.
    expect(watchedFrom).toEqual(['1', '1']);
    stop.abort();
  });
});

describe('which reads the watch cache answers', () => {
  const client = new ClusterClient({context: 'c', server: 'http://127.0.0.1:1', credentials: {prepare: async () => ({agent: new http.Agent(), headers: {}})}});
  const cache = new ClusterCache(client, informerSpecs(NS));
  const who = (type: (typeof RESOURCES)[keyof typeof RESOURCES], options: {namespace?: string; labelSelector?: string; fieldSelector?: string}) => {
    const i = cache.informers.find((informer) => informer.answers(type, options));
    return i ? `${i.spec.type.resource}${i.spec.labelSelector ? `[${i.spec.labelSelector}]` : ''}${i.spec.fieldSelector ? '[room]' : ''}` : 'the API';
  };
  const managed = 'superskyray.io/managed-by=kubectl-superskyray';
  it.each([
    ['a group\'s home pods', RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/cluster=rc'}, 'pods[ray.io/node-type]'],
    ['remote workers of a group', RESOURCES.pods, {namespace: NS, labelSelector: 'superskyray.io/group=app,superskyray.io/home-cluster=u'}, 'pods[ray.io/node-type]'],
    ['what garbage collection looks for', RESOURCES.pods, {namespace: NS, labelSelector: `${managed},superskyray.io/role in (remote-worker, head-service-copy)`}, 'pods[ray.io/node-type]'],
    ['every worker, for locked ones', RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/node-type=worker'}, 'pods[ray.io/node-type]'],
    ['the room of the cluster', RESOURCES.pods, {fieldSelector: NON_TERMINAL}, 'pods[room]'],
    ['pods excluded by a label only', RESOURCES.pods, {namespace: NS, labelSelector: 'superskyray.io/role notin (placeholder)'}, 'the API'],
    ['every pod of the namespace, any phase', RESOURCES.pods, {namespace: NS}, 'the API'],
    ['Ray pods of another namespace', RESOURCES.pods, {namespace: 'other', labelSelector: 'ray.io/cluster=rc'}, 'the API'],
    ['every pod of the cluster, any phase', RESOURCES.pods, {}, 'the API'],
    ['the nodes', RESOURCES.nodes, {}, 'nodes'],
    ['head-Service copies', RESOURCES.services, {namespace: NS, labelSelector: `${managed},superskyray.io/group=app`}, `services[${managed}]`],
    ['every Service', RESOURCES.services, {namespace: NS}, 'the API'],
    ['the RayClusters of the namespace', RESOURCES.rayclusters, {namespace: NS}, 'rayclusters'],
    ['the tool\'s RayServices', RESOURCES.rayservices, {namespace: NS, labelSelector: managed}, 'rayservices'],
    ['quotas (the preflight)', RESOURCES.resourcequotas, {namespace: NS}, 'resourcequotas'],
    ['network policies (doctor)', RESOURCES.networkpolicies, {namespace: NS}, 'the API'],
  ])('%s: %s', (_what, type, options, expected) => {
    expect(who(type, options)).toBe(expected);
  });
});

describe('a cache loaded once (status -A)', () => {
  const servers: TestApiServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('answers every read from one list per kind, fails the reads of a kind whose list failed with its error, and lists a refused kind again per namespace', async () => {
    const server = await TestApiServer.start((req, res) => {
      // RBAC that grants Services only per namespace, and no Secrets at all.
      if (req.path === '/api/v1/services' || req.path.endsWith('/secrets')) return sendStatus(res, 403, 'Forbidden', 'forbidden');
      if (req.path === '/api/v1/pods') return sendJson(res, 200, {metadata: {resourceVersion: '5'}, items: [rayPod('w-0', {'superskyray.io/managed-by': 'kubectl-superskyray'}, {metadata: {name: 'w-0', namespace: NS, labels: {'ray.io/cluster': 'rc', 'superskyray.io/managed-by': 'kubectl-superskyray'}}})]});
      if (req.path === `/api/v1/namespaces/${NS}/services`) return sendJson(res, 200, {metadata: {resourceVersion: '6'}, items: [{metadata: {name: 'rc-head-svc', namespace: NS}}]});
      sendJson(res, 200, {metadata: {resourceVersion: '1'}, items: []});
    });
    servers.push(server);
    const client = clientFor(server);
    const cache = new ClusterCache(client, [{type: RESOURCES.pods}, {type: RESOURCES.services}, {type: RESOURCES.secrets, labelSelector: 'superskyray.io/managed-by=kubectl-superskyray'}]);
    client.cache = cache;
    const stop = new AbortController();
    await cache.load(stop.signal);
    expect(server.requests.map((r) => r.path).sort()).toEqual(['/api/v1/pods', '/api/v1/secrets', '/api/v1/services']);
    expect(server.requests.every((r) => !r.query.get('watch'))).toBe(true);

    const services = cache.informers[1]!;
    await cache.narrow(services, [NS], stop.signal);
    const before = server.requests.length;
    expect((await client.list(RESOURCES.pods, {namespace: NS, labelSelector: 'ray.io/cluster=rc'})).items.map((p) => p.metadata?.name)).toEqual(['w-0']);
    expect((await client.get(RESOURCES.services, 'rc-head-svc', NS)).metadata?.name).toBe('rc-head-svc');
    expect(await client.find(RESOURCES.services, 'gone', NS)).toBeUndefined();
    await expect(client.list(RESOURCES.secrets, {namespace: NS, labelSelector: 'superskyray.io/managed-by=kubectl-superskyray'})).rejects.toMatchObject({code: 403});
    // Asked again by nobody: the loaded lists answered, and the refused kind failed as its list did.
    expect(server.requests.slice(before).map((r) => r.path)).toEqual([]);
    client.cache = undefined;
  });
});
