import {afterEach, describe, expect, it} from 'vitest';
import type {ServerResponse} from 'node:http';
import {RESOURCES} from '../../../src/kube/resources.js';
import type {KubeObject, WatchEvent} from '../../../src/kube/types.js';
import {watchResource} from '../../../src/kube/watch.js';
import {sendJson, sendStatus, TestApiServer, type RecordedRequest} from '../../support/api-server.js';
import {waitFor} from '../../support/poll.js';
import {clientFor} from '../../support/client.js';

const servers: TestApiServer[] = [];
async function serve(handler: (req: RecordedRequest, res: ServerResponse) => void): Promise<TestApiServer> {
  const server = await TestApiServer.start(handler);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const pod = (name: string, resourceVersion: string): KubeObject => ({kind: 'Pod', metadata: {name, namespace: 'ml', resourceVersion}});

describe('list pagination', () => {
  it('follows continue tokens to the end, with the selectors on every page', async () => {
    const pages: Record<string, {items: KubeObject[]; next?: string; rv: string}> = {
      '': {items: [pod('a', '10'), pod('b', '10')], next: 'page2', rv: '10'},
      page2: {items: [pod('c', '10'), pod('d', '10')], next: 'page3', rv: '10'},
      page3: {items: [pod('e', '10')], rv: '10'},
    };
    const server = await serve((req, res) => {
      const page = pages[req.query.get('continue') ?? ''];
      if (!page) return sendStatus(res, 400, 'BadRequest', 'bad token');
      sendJson(res, 200, {kind: 'PodList', metadata: {resourceVersion: page.rv, continue: page.next}, items: page.items});
    });
    const list = await clientFor(server).list(RESOURCES.pods, {namespace: 'ml', labelSelector: 'ray.io/cluster=rc', limit: 2});
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(list.metadata?.resourceVersion).toBe('10');
    expect(server.requests.map((r) => [r.path, r.query.get('limit'), r.query.get('labelSelector'), r.query.get('continue')])).toEqual([
      ['/api/v1/namespaces/ml/pods', '2', 'ray.io/cluster=rc', null],
      ['/api/v1/namespaces/ml/pods', '2', 'ray.io/cluster=rc', 'page2'],
      ['/api/v1/namespaces/ml/pods', '2', 'ray.io/cluster=rc', 'page3'],
    ]);
  });

  it.each([
    ['page by page', false],
    ['after a fallback to one whole list', true],
  ])('keeps what `keep` makes of each object, %s', async (_how, expire) => {
    const server = await serve((req, res) => {
      if (req.query.get('continue')) {
        if (expire) return sendStatus(res, 410, 'Expired', 'The provided continue parameter is too old');
        return sendJson(res, 200, {metadata: {resourceVersion: '5'}, items: [pod('b', '5')]});
      }
      if (req.query.get('limit')) return sendJson(res, 200, {metadata: {resourceVersion: '5', continue: 'next'}, items: [pod('a', '5')]});
      sendJson(res, 200, {metadata: {resourceVersion: '9'}, items: [pod('a', '9'), pod('b', '9')]});
    });
    const keep = (o: KubeObject): KubeObject => ({metadata: {name: o.metadata?.name}});
    const list = await clientFor(server).list(RESOURCES.pods, {namespace: 'ml', limit: 1, keep});
    expect(list.items).toEqual([{metadata: {name: 'a'}}, {metadata: {name: 'b'}}]);
  });

  it('falls back to one whole list when a continue token has expired', async () => {
    const server = await serve((req, res) => {
      if (req.query.get('continue')) return sendStatus(res, 410, 'Expired', 'The provided continue parameter is too old');
      if (req.query.get('limit')) return sendJson(res, 200, {metadata: {resourceVersion: '5', continue: 'old'}, items: [pod('a', '5')]});
      sendJson(res, 200, {metadata: {resourceVersion: '9'}, items: [pod('a', '9'), pod('b', '9')]});
    });
    const list = await clientFor(server).list(RESOURCES.pods, {namespace: 'ml', limit: 1});
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect(list.metadata?.resourceVersion).toBe('9');
    expect(server.requests.at(-1)?.query.has('limit')).toBe(false);
  });
});

/** Writes watch events as the API server does: one JSON object per line, then (optionally) ends. */
function stream(res: ServerResponse, events: Array<{type: string; object: unknown}>, end = true): void {
  res.writeHead(200, {'content-type': 'application/json'});
  for (const event of events) res.write(JSON.stringify(event) + '\n');
  if (end) res.end();
}

function recorder() {
  const syncs: Array<{names: string[]; rv: string}> = [];
  const events: Array<[string, string]> = [];
  return {
    syncs,
    events,
    handlers: {
      onSync: (items: KubeObject[], rv: string) => {
        syncs.push({names: items.map((i) => i.metadata?.name ?? ''), rv});
      },
      onEvent: (e: WatchEvent) => {
        events.push([e.type, e.object.metadata?.name ?? '']);
      },
    },
  };
}

describe('watchResource', () => {
  it('resumes a closed watch from the last resourceVersion it saw, bookmarks included', async () => {
    const watchRvs: string[] = [];
    const server = await serve((req, res) => {
      if (req.query.get('watch') !== 'true') return sendJson(res, 200, {metadata: {resourceVersion: '100'}, items: [pod('a', '90')]});
      const rv = req.query.get('resourceVersion') ?? '';
      watchRvs.push(rv);
      if (rv === '100') return stream(res, [{type: 'ADDED', object: pod('b', '101')}, {type: 'BOOKMARK', object: {kind: 'Pod', metadata: {resourceVersion: '105'}}}]);
      if (rv === '105') return stream(res, [{type: 'DELETED', object: pod('a', '106')}], false);
      stream(res, [], false);
    });
    const controller = new AbortController();
    const seen = recorder();
    const done = watchResource(clientFor(server), RESOURCES.pods, {namespace: 'ml', signal: controller.signal}, seen.handlers);
    await waitFor('two events', () => (seen.events.length === 2 ? true : undefined), {timeoutMs: 5000, intervalMs: 10});
    controller.abort();
    await done;

    expect(seen.syncs).toEqual([{names: ['a'], rv: '100'}]);
    expect(seen.events).toEqual([
      ['ADDED', 'b'],
      ['DELETED', 'a'],
    ]);
    expect(watchRvs).toEqual(['100', '105']);
    const watches = server.requests.filter((r) => r.query.get('watch') === 'true');
    expect(watches[0]?.query.get('allowWatchBookmarks')).toBe('true');
  });

  it.each([
    {name: 'an ERROR event with code 410', gone: (res: ServerResponse) => stream(res, [{type: 'ERROR', object: {kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version'}}])},
    {name: 'an HTTP 410', gone: (res: ServerResponse) => sendStatus(res, 410, 'Gone', 'too old resource version')},
  ])('relists and hands over the whole set after $name', async ({gone}) => {
    let lists = 0;
    const server = await serve((req, res) => {
      if (req.query.get('watch') !== 'true') {
        lists++;
        return lists === 1
          ? sendJson(res, 200, {metadata: {resourceVersion: '100'}, items: [pod('a', '90'), pod('b', '95')]})
          : sendJson(res, 200, {metadata: {resourceVersion: '500'}, items: [pod('b', '95'), pod('c', '480')]});
      }
      if (req.query.get('resourceVersion') === '100') return gone(res);
      stream(res, [{type: 'MODIFIED', object: pod('c', '501')}], false);
    });
    const controller = new AbortController();
    const seen = recorder();
    const done = watchResource(clientFor(server), RESOURCES.pods, {namespace: 'ml', signal: controller.signal}, seen.handlers);
    await waitFor('the event after the relist', () => (seen.events.length === 1 ? true : undefined), {timeoutMs: 5000, intervalMs: 10});
    controller.abort();
    await done;

    expect(seen.syncs).toEqual([
      {names: ['a', 'b'], rv: '100'},
      {names: ['b', 'c'], rv: '500'},
    ]);
    expect(seen.events).toEqual([['MODIFIED', 'c']]);
    const watchRvs = server.requests.filter((r) => r.query.get('watch') === 'true').map((r) => r.query.get('resourceVersion'));
    expect(watchRvs).toEqual(['100', '500']);
  });

  it('keeps going through a failing connection, reporting it, and ends on Forbidden', async () => {
    let watches = 0;
    const server = await serve((req, res) => {
      if (req.query.get('watch') !== 'true') return sendJson(res, 200, {metadata: {resourceVersion: '1'}, items: []});
      watches++;
      if (watches === 1) return sendStatus(res, 503, 'ServiceUnavailable', 'etcd is down');
      sendStatus(res, 403, 'Forbidden', 'pods is forbidden');
    });
    const errors: string[] = [];
    const seen = recorder();
    const outcome = await watchResource(clientFor(server), RESOURCES.pods, {signal: new AbortController().signal}, {
      ...seen.handlers,
      onError: (err) => errors.push(err.reason),
    }).then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    expect(errors).toEqual(['ServiceUnavailable']);
    expect(outcome).toMatch(/pods is forbidden/);
  });
});
