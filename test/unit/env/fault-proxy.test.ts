import * as http from 'node:http';
import type {AddressInfo} from 'node:net';
import {afterEach, describe, expect, it} from 'vitest';
import {FaultProxy, isLoopback, requestKind, seeded, type FaultRule} from '../../support/fault-proxy.js';

/**
 * An upstream that answers every request 200 with what it was asked, and counts them. A watch from a
 * resourceVersion sends no event until `quiet` is released: as a real API server does, it sends its
 * headers at once.
 */
async function upstream(): Promise<{url: string; seen: string[]; close: () => Promise<void>; release: () => void}> {
  const seen: string[] = [];
  let release = () => {};
  const quiet = new Promise<void>((resolve) => (release = resolve));
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.includes('watch=true') && req.url.includes('resourceVersion=')) {
      res.writeHead(200, {'content-type': 'application/json'});
      res.flushHeaders();
      void quiet.then(() => res.end());
      return;
    }
    if (req.url?.includes('watch=true')) {
      res.writeHead(200, {'content-type': 'application/json'});
      res.write('{"type":"ADDED","object":{}}\n');
      setTimeout(() => res.end('{"type":"DELETED","object":{}}\n'), 20);
      return;
    }
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(JSON.stringify({method: req.method, url: req.url}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, release, close: () => new Promise((resolve) => server.close(() => resolve()))};
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function setUp(rules: FaultRule[], seed = 7) {
  const up = await upstream();
  const proxy = await FaultProxy.start({upstream: up.url, seed, rules});
  stops.push(() => proxy.stop(), up.close);
  return {up, proxy};
}

describe('requestKind', () => {
  it.each([
    ['GET', '/api/v1/namespaces/ml/pods', 'list', 'pods'],
    ['GET', '/api/v1/namespaces/ml/pods/w-1', 'get', 'pods'],
    ['GET', '/api/v1/pods?watch=true&resourceVersion=5', 'watch', 'pods'],
    ['POST', '/api/v1/namespaces/ml/pods', 'create', 'pods'],
    ['PATCH', '/api/v1/namespaces/ml/pods/w-1/status', 'patch', 'pods/status'],
    ['PUT', '/apis/ray.io/v1/namespaces/ml/rayclusters/app', 'update', 'rayclusters'],
    ['DELETE', '/api/v1/namespaces/ml/services/app-head-svc', 'delete', 'services'],
    ['DELETE', '/api/v1/namespaces/ml/pods', 'deletecollection', 'pods'],
    ['GET', '/api/v1/nodes', 'list', 'nodes'],
    ['GET', '/api/v1/namespaces/kube-system', 'get', 'namespaces'],
  ])('%s %s is %s of %s', (method, url, verb, resource) => {
    expect(requestKind(method, url)).toEqual({verb, resource});
  });
});

describe('FaultProxy', () => {
  it('forwards only to the loopback address', async () => {
    expect([isLoopback('127.0.0.1'), isLoopback('localhost'), isLoopback('[::1]'), isLoopback('10.0.0.1'), isLoopback('example.com')]).toEqual([true, true, true, false, false]);
    await expect(FaultProxy.start({upstream: 'http://10.1.2.3:6443'})).rejects.toThrow(/not on the loopback address/);
  });

  it('fails the first `times` matching requests with a Status and Retry-After, and passes the rest to the server', async () => {
    const {up, proxy} = await setUp([{verbs: ['list'], resources: ['pods'], status: 429, retryAfterSeconds: 2, times: 2}]);
    const answers = [];
    for (const path of ['/api/v1/namespaces/ml/pods', '/api/v1/namespaces/ml/services', '/api/v1/namespaces/ml/pods', '/api/v1/namespaces/ml/pods']) {
      const res = await fetch(`${proxy.url}${path}`);
      answers.push([res.status, res.headers.get('retry-after'), ((await res.json()) as {reason?: string}).reason ?? 'passed']);
    }
    expect(answers).toEqual([
      [429, '2', 'TooManyRequests'],
      [200, null, 'passed'],
      [429, '2', 'TooManyRequests'],
      [200, null, 'passed'],
    ]);
    // The refused ones never reached the server.
    expect(up.seen).toEqual(['GET /api/v1/namespaces/ml/services', 'GET /api/v1/namespaces/ml/pods']);
    expect(proxy.injected.map((i) => `${i.verb} ${i.resource} ${i.status}`)).toEqual(['list pods 429', 'list pods 429']);
  });

  it('fails a write after the server took it: the server saw it, the client gets the fault', async () => {
    const {up, proxy} = await setUp([{verbs: ['create'], status: 500, times: 1, after: true}]);
    const res = await fetch(`${proxy.url}/api/v1/namespaces/ml/pods`, {method: 'POST', body: '{}', headers: {'content-type': 'application/json'}});
    expect(res.status).toBe(500);
    expect(up.seen).toEqual(['POST /api/v1/namespaces/ml/pods']);
  });

  it('draws a rate from its seed: the same seed fails the same requests', async () => {
    const run = async (seed: number) => {
      const {proxy} = await setUp([{verbs: ['get'], status: 503, rate: 0.3}], seed);
      const codes: number[] = [];
      for (let i = 0; i < 40; i++) codes.push((await fetch(`${proxy.url}/api/v1/namespaces/ml/pods/p-${i}`)).status);
      return codes;
    };
    const first = await run(3);
    expect(await run(3)).toEqual(first);
    expect(first.filter((c) => c === 503).length).toBeGreaterThan(4);
    expect(first.filter((c) => c === 503).length).toBeLessThan(24);
    expect(await run(4)).not.toEqual(first);
    expect(Array.from({length: 3}, seeded(9))).toEqual(Array.from({length: 3}, seeded(9)));
  });

  it('holds back each event of a watch that a delay rule matches, in order', async () => {
    const {proxy} = await setUp([{verbs: ['watch'], delayMs: 300}]);
    const started = Date.now();
    const res = await fetch(`${proxy.url}/api/v1/pods?watch=true`);
    expect((await res.text()).trim().split('\n').map((l) => (JSON.parse(l) as {type: string}).type)).toEqual(['ADDED', 'DELETED']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(proxy.injected.map((i) => `${i.verb} ${i.status}`)).toEqual(['watch 0']);
  });

  it('streams a watch through as the server sends it', async () => {
    const {proxy} = await setUp([]);
    const res = await fetch(`${proxy.url}/api/v1/pods?watch=true`);
    expect((await res.text()).trim().split('\n').map((l) => (JSON.parse(l) as {type: string}).type)).toEqual(['ADDED', 'DELETED']);
  });

  it("passes a quiet watch's headers on at once, before any event: a client waits for them within its request timeout", async () => {
    const {up, proxy} = await setUp([]);
    // Answered while the server still holds the watch open with nothing to say.
    const res = await fetch(`${proxy.url}/api/v1/pods?watch=true&resourceVersion=5`);
    expect(res.status).toBe(200);
    up.release();
    expect(await res.text()).toBe('');
  });
});
