import {afterEach, describe, expect, it} from 'vitest';
import {KubeError} from '../../../src/kube/errors.js';
import {RESOURCES} from '../../../src/kube/resources.js';
import {sendJson, sendStatus, TestApiServer} from '../../support/api-server.js';
import {clientFor} from '../../support/client.js';

const servers: TestApiServer[] = [];
async function serve(handler: Parameters<typeof TestApiServer.start>[0]): Promise<TestApiServer> {
  const server = await TestApiServer.start(handler);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

/** Answers with the given failures in turn, then with success. */
function failThenSucceed(failures: Array<{code: number; reason: string; headers?: Record<string, string>}>) {
  let calls = 0;
  return (_req: unknown, res: import('node:http').ServerResponse) => {
    const failure = failures[calls++];
    if (failure) sendStatus(res, failure.code, failure.reason, `${failure.reason} on purpose`, failure.headers);
    else sendJson(res, 200, {kind: 'Pod', metadata: {name: 'p', namespace: 'ml'}});
  };
}

async function failure(promise: Promise<unknown>): Promise<KubeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KubeError);
  return err as KubeError;
}

describe('ClusterClient retries', () => {
  it.each([
    {name: '429', code: 429, reason: 'TooManyRequests'},
    {name: '503', code: 503, reason: 'ServiceUnavailable'},
    {name: '500', code: 500, reason: 'InternalError'},
    {name: '504', code: 504, reason: 'Timeout'},
  ])('retries a GET after $name and returns the answer', async ({code, reason}) => {
    const server = await serve(failThenSucceed([{code, reason}, {code, reason}]));
    const pod = await clientFor(server).get(RESOURCES.pods, 'p', 'ml');
    expect(pod.metadata?.name).toBe('p');
    expect(server.requests).toHaveLength(3);
  });

  it.each([
    {code: 400, reason: 'BadRequest'},
    {code: 401, reason: 'Unauthorized'},
    {code: 403, reason: 'Forbidden'},
    {code: 404, reason: 'NotFound'},
    {code: 409, reason: 'Conflict'},
    {code: 422, reason: 'Invalid'},
  ])('does not retry $code', async ({code, reason}) => {
    const server = await serve(failThenSucceed([{code, reason}]));
    const err = await failure(clientFor(server).get(RESOURCES.pods, 'p', 'ml'));
    expect([err.code, err.reason, err.context, err.object]).toEqual([code, reason, 'test', 'pods "p" in namespace "ml"']);
    expect(server.requests).toHaveLength(1);
  });

  it('gives up after the last attempt with the last error', async () => {
    const server = await serve(failThenSucceed(Array.from({length: 10}, () => ({code: 503, reason: 'ServiceUnavailable'}))));
    const err = await failure(clientFor(server).get(RESOURCES.pods, 'p', 'ml'));
    expect(err.code).toBe(503);
    expect(server.requests).toHaveLength(4);
  });

  it('honours Retry-After', async () => {
    const server = await serve(failThenSucceed([{code: 429, reason: 'TooManyRequests', headers: {'retry-after': '1'}}]));
    const started = Date.now();
    await clientFor(server).get(RESOURCES.pods, 'p', 'ml');
    expect(server.requests).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('retries a create with a fixed name after a 503, but never a create with generateName', async () => {
    const named = await serve(failThenSucceed([{code: 503, reason: 'ServiceUnavailable'}]));
    await clientFor(named).create(RESOURCES.pods, {metadata: {name: 'p', namespace: 'ml'}});
    expect(named.requests).toHaveLength(2);

    const generated = await serve(failThenSucceed([{code: 503, reason: 'ServiceUnavailable'}]));
    const err = await failure(clientFor(generated).create(RESOURCES.pods, {metadata: {generateName: 'w-', namespace: 'ml'}}));
    expect(err.code).toBe(503);
    expect(generated.requests).toHaveLength(1);
  });

  it('retries a create with generateName after a 429, which the server did not act on', async () => {
    const server = await serve(failThenSucceed([{code: 429, reason: 'TooManyRequests'}]));
    await clientFor(server).create(RESOURCES.pods, {metadata: {generateName: 'w-', namespace: 'ml'}});
    expect(server.requests).toHaveLength(2);
  });

  it('retries a GET whose connection was reset', async () => {
    let calls = 0;
    const server = await serve((_req, res) => {
      if (calls++ === 0) res.socket?.destroy();
      else sendJson(res, 200, {kind: 'Pod', metadata: {name: 'p'}});
    });
    const pod = await clientFor(server).get(RESOURCES.pods, 'p', 'ml');
    expect(pod.metadata?.name).toBe('p');
    expect(server.requests).toHaveLength(2);
  });

  it('tells its listeners each time a request\'s last try could not reach the cluster, not a try a retry made good, nor a probe', async () => {
    let flaky = 0;
    const server = await serve((req, res) => {
      if (req.path.endsWith('/dead') || req.path === '/version' || (req.path.endsWith('/flaky') && flaky++ < 2)) res.socket?.destroy();
      else sendJson(res, 200, {kind: 'Pod', metadata: {name: 'p'}});
    });
    const client = clientFor(server);
    const heard: string[] = [];
    client.onUnreachable((err) => heard.push(`${err.reason} ${err.object}`));
    expect((await client.get(RESOURCES.pods, 'flaky', 'ml')).metadata?.name).toBe('p');
    expect(heard).toEqual([]);
    expect((await failure(client.get(RESOURCES.pods, 'dead', 'ml'))).reason).toBe('ConnectionReset');
    expect((await failure(client.get(RESOURCES.pods, 'dead', 'ml'))).reason).toBe('ConnectionReset');
    await failure(client.probe());
    expect(heard).toEqual(['ConnectionReset pods "dead" in namespace "ml"', 'ConnectionReset pods "dead" in namespace "ml"']);
    // Refused or reset, the cluster answered nothing: requests still go to it, unlike a silent one.
    expect(client.silent).toBe(false);
  });

  it('times a request out without sending it again, then fails fast until a probe gets an answer', async () => {
    let silent = true;
    const server = await serve((req, res) => {
      if (!silent) sendJson(res, 200, req.path === '/version' ? {gitVersion: 'v1.37.0'} : {kind: 'Pod', metadata: {name: 'p'}});
    });
    const client = clientFor(server, {requestTimeoutMs: 100});
    const heard: string[] = [];
    client.onUnreachable((err) => heard.push(err.reason));
    const started = Date.now();
    const first = await failure(client.get(RESOURCES.pods, 'p', 'ml'));
    expect([first.code, first.reason, first.unreachable, first.detail]).toEqual([undefined, 'Timeout', true, 'no answer within 0.1s (--request-timeout)']);
    expect(server.requests).toHaveLength(1);
    expect(client.silent).toBe(true);

    // Another request to the silent cluster costs nothing: it is not sent.
    const second = await failure(client.get(RESOURCES.pods, 'q', 'ml'));
    expect([second.reason, second.unreachable]).toEqual(['Timeout', true]);
    expect(second.detail).toMatch(/^the cluster did not answer within the request timeout \(pods "p" in namespace "ml", \d+s ago\); it is not asked again until it answers$/);
    expect(server.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1000);
    // Said once, when it went silent, not for every request refused after.
    expect(heard).toEqual(['Timeout']);

    // A probe is sent anyway; once it is answered, requests go to the cluster again.
    await failure(client.probe());
    expect(server.requests).toHaveLength(2);
    silent = false;
    expect((await client.probe()).gitVersion).toBe('v1.37.0');
    expect(client.silent).toBe(false);
    expect((await client.get(RESOURCES.pods, 'p', 'ml')).metadata?.name).toBe('p');
    // Silent again: said again.
    silent = true;
    await failure(client.get(RESOURCES.pods, 'p', 'ml'));
    expect(heard).toEqual(['Timeout', 'Timeout']);
  });

  it('leaves no abort listener behind on a long-lived signal, and a caller\'s own time limit is no Timeout of the cluster', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {kind: 'Pod', metadata: {name: 'p'}}));
    const client = clientFor(server);
    const controller = new AbortController();
    const added: string[] = [];
    const removed: string[] = [];
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((type: string, ...rest: [never]) => (added.push(type), add(type, ...rest))) as typeof add;
    controller.signal.removeEventListener = ((type: string, ...rest: [never]) => (removed.push(type), remove(type, ...rest))) as typeof remove;
    for (let i = 0; i < 20; i++) await client.get(RESOURCES.pods, 'p', 'ml', controller.signal);
    expect(added.length).toBeGreaterThanOrEqual(20);
    expect(removed).toHaveLength(added.length);

    const hung = await serve(() => undefined);
    const slow = clientFor(hung, {requestTimeoutMs: 5000});
    const err = await failure(slow.get(RESOURCES.pods, 'p', 'ml', AbortSignal.timeout(50)));
    expect(err.reason).toBe('Aborted');
    expect(slow.silent).toBe(false);
  });

  it('reports a refused connection as unreachable, naming the context', async () => {
    const server = await serve(() => undefined);
    const url = server.url;
    await server.stop();
    servers.pop();
    const client = clientFor({url} as TestApiServer);
    const err = await failure(client.version());
    expect([err.reason, err.unreachable]).toEqual(['ConnectionRefused', true]);
    expect(err.message).toMatch(/^context "test": server version: connection refused/);
  });

  it('stops retrying when the caller aborts', async () => {
    const server = await serve(failThenSucceed(Array.from({length: 10}, () => ({code: 429, reason: 'TooManyRequests', headers: {'retry-after': '30'}}))));
    const controller = new AbortController();
    const pending = clientFor(server).get(RESOURCES.pods, 'p', 'ml', controller.signal);
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const err = await failure(pending);
    expect(err.reason).toBe('Aborted');
    expect(server.requests).toHaveLength(1);
  });
});

describe('ClusterClient concurrency', () => {
  it('keeps at most maxInFlight requests open against one cluster', async () => {
    let open = 0;
    let peak = 0;
    const server = await serve((_req, res) => {
      open++;
      peak = Math.max(peak, open);
      setTimeout(() => {
        open--;
        sendJson(res, 200, {kind: 'Namespace', metadata: {name: 'x'}});
      }, 30);
    });
    const client = clientFor(server, {maxInFlight: 3});
    await Promise.all(Array.from({length: 12}, (_, i) => client.get(RESOURCES.namespaces, `ns-${i}`)));
    expect(server.requests).toHaveLength(12);
    expect(peak).toBe(3);
  });
});

describe('ClusterClient requests', () => {
  it('sends patches with their content type, the field manager, and the body', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {kind: 'RayCluster', metadata: {name: 'rc'}}));
    const client = clientFor(server);
    await client.patch(RESOURCES.rayclusters, 'rc', 'ml', {spec: {x: 1}}, 'merge');
    await client.patch(RESOURCES.rayclusters, 'rc', 'ml', {apiVersion: 'ray.io/v1', kind: 'RayCluster'}, 'apply', {force: true});
    const [merge, apply] = server.requests;
    expect(merge?.path).toBe('/apis/ray.io/v1/namespaces/ml/rayclusters/rc');
    expect(merge?.headers['content-type']).toBe('application/merge-patch+json');
    expect(merge?.query.get('fieldManager')).toBe('kubectl-superskyray');
    expect(JSON.parse(merge?.body ?? '')).toEqual({spec: {x: 1}});
    expect(apply?.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(apply?.query.get('force')).toBe('true');
  });

  it('patches the status subresource when asked', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {kind: 'Pod', metadata: {name: 'w-1'}}));
    await clientFor(server).patch(RESOURCES.pods, 'w-1', 'ml', {status: {phase: 'Failed'}}, 'merge', {subresource: 'status'});
    expect(server.requests[0]?.path).toBe('/api/v1/namespaces/ml/pods/w-1/status');
  });

  it('sends delete preconditions', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {kind: 'Status', status: 'Success'}));
    await clientFor(server).delete(RESOURCES.pods, 'w-1', 'ml', {uid: 'abc'});
    expect(server.requests[0]?.method).toBe('DELETE');
    expect(JSON.parse(server.requests[0]?.body ?? '')).toMatchObject({preconditions: {uid: 'abc'}});
  });

  it('says so when the server is not a Kubernetes API server', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, {'content-type': 'text/html'});
      res.end('<html>login</html>');
    });
    const err = await failure(clientFor(server).version());
    expect([err.reason, err.detail]).toEqual([
      'BadResponse',
      'the server answered with something that is not JSON (text/html); is the server URL of this context a Kubernetes API server?',
    ]);
    expect(server.requests).toHaveLength(1);
  });

  it('keeps a path prefix of the server URL', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, {gitVersion: 'v1.35.0'}));
    const client = clientFor(server, {server: `${server.url}/k8s/clusters/c-1/`});
    expect((await client.version()).gitVersion).toBe('v1.35.0');
    expect(server.requests[0]?.path).toBe('/k8s/clusters/c-1/version');
  });
});
