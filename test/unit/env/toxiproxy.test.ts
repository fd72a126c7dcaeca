import type {ChildProcess} from 'node:child_process';
import {EventEmitter} from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type {AddressInfo} from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {PassThrough} from 'node:stream';
import yaml from 'js-yaml';
import {afterEach, describe, expect, it} from 'vitest';
import {throughToxiproxy, Toxiproxy} from '../../support/toxiproxy.js';

/**
 * A stand-in for Toxiproxy's REST API, answering as v2.5.0 does, that records what it was asked:
 * the client is tested without the Go binary.
 */
async function standIn(): Promise<{url: string; seen: Array<{method: string; url: string; body: unknown}>; close: () => Promise<void>}> {
  const seen: Array<{method: string; url: string; body: unknown}> = [];
  const proxies = new Map<string, {name: string; listen: string; upstream: string; enabled: boolean}>();
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      const body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
      seen.push({method: req.method ?? '', url: req.url ?? '', body});
      const answer = (status: number, value?: unknown) => {
        res.writeHead(status, {'content-type': 'application/json'});
        res.end(value === undefined ? '' : JSON.stringify(value));
      };
      const [, first, name, sub] = (req.url ?? '').split('/');
      if (first !== 'proxies') return answer(404, {error: 'not found', status: 404});
      if (req.method === 'POST' && !name) {
        const proxy = {name: String(body!.name), listen: String(body!.listen), upstream: String(body!.upstream), enabled: body!.enabled !== false};
        proxies.set(proxy.name, proxy);
        return answer(201, {...proxy, toxics: []});
      }
      const proxy = proxies.get(name ?? '');
      if (!proxy) return answer(404, {error: 'proxy not found', status: 404});
      if (req.method === 'POST' && sub === 'toxics') return answer(200, {name: `${String(body!.type)}_${String(body!.stream ?? 'downstream')}`, stream: 'downstream', toxicity: 1, ...body});
      if (req.method === 'POST') return answer(200, Object.assign(proxy, body));
      if (req.method === 'DELETE') return answer(204);
      return answer(405);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve()))};
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function setUp() {
  const api = await standIn();
  stops.push(api.close);
  return {api, toxiproxy: new Toxiproxy(api.url)};
}

describe('Toxiproxy client', () => {
  it('refuses an upstream that is not host:port on the loopback address, and asks the server nothing', async () => {
    const {api, toxiproxy} = await setUp();
    for (const upstream of ['10.1.2.3:6443', 'example.com:443', '192.168.0.1:443', '127.0.0.1']) {
      await expect(toxiproxy.createProxy('cloud', upstream)).rejects.toThrow(/not host:port on the loopback address/);
    }
    expect(api.seen).toEqual([]);
  });

  it('makes a proxy on 127.0.0.1 to a loopback upstream, and sends toxics, partitions and removals where Toxiproxy takes them', async () => {
    const {api, toxiproxy} = await setUp();
    const proxy = await toxiproxy.createProxy('cloud', '127.0.0.1:6443');
    expect(proxy.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(proxy.upstream).toBe('127.0.0.1:6443');
    await toxiproxy.createProxy('ipv6', '[::1]:6443', {port: 23456});
    const toxic = await toxiproxy.addToxic('cloud', {type: 'reset_peer', stream: 'upstream', attributes: {timeout: 0}});
    expect(toxic.name).toBe('reset_peer_upstream');
    await toxiproxy.removeToxic('cloud', toxic.name);
    expect((await toxiproxy.setEnabled('cloud', false)).enabled).toBe(false);
    expect((await toxiproxy.setEnabled('cloud', true)).enabled).toBe(true);
    await toxiproxy.deleteProxy('cloud');
    expect(api.seen.map((r) => [r.method, r.url, r.body])).toEqual([
      ['POST', '/proxies', {name: 'cloud', listen: proxy.listen, upstream: '127.0.0.1:6443', enabled: true}],
      ['POST', '/proxies', {name: 'ipv6', listen: '127.0.0.1:23456', upstream: '[::1]:6443', enabled: true}],
      ['POST', '/proxies/cloud/toxics', {type: 'reset_peer', stream: 'upstream', attributes: {timeout: 0}}],
      ['DELETE', '/proxies/cloud/toxics/reset_peer_upstream', undefined],
      ['POST', '/proxies/cloud', {enabled: false}],
      ['POST', '/proxies/cloud', {enabled: true}],
      ['DELETE', '/proxies/cloud', undefined],
    ]);
  });

  it('says what the server refused', async () => {
    const {toxiproxy} = await setUp();
    await expect(toxiproxy.addToxic('nowhere', {type: 'latency', attributes: {latency: 300}})).rejects.toThrow(/POST \/proxies\/nowhere\/toxics: HTTP 404: .*proxy not found/);
  });

  it('counts the connections a proxy took and those that ended, from the server log', async () => {
    const child = Object.assign(new EventEmitter(), {stdout: new PassThrough(), stderr: new PassThrough()});
    const toxiproxy = new Toxiproxy('http://127.0.0.1:1', child as unknown as ChildProcess);
    // Lines as toxiproxy-server v2.5.0 writes them (trimmed), one chunk split in the middle of a line.
    const log = [
      {level: 'info', name: 'cloud', message: 'Started proxy'},
      {level: 'info', name: 'cloud', client: '127.0.0.1:49888', message: 'Accepted client'},
      {level: 'info', name: 'onprem', client: '127.0.0.1:49890', message: 'Accepted client'},
      {level: 'trace', name: 'cloud', link: '127.0.0.1:49888upstream', message: 'Remove link 127.0.0.1:49888upstream from ToxicCollection'},
      {level: 'trace', name: 'cloud', link: '127.0.0.1:49888downstream', message: 'Remove link 127.0.0.1:49888downstream from ToxicCollection'},
      {level: 'info', name: 'cloud', client: '127.0.0.1:49896', message: 'Accepted client'},
    ]
      .map((l) => JSON.stringify(l))
      .join('\n');
    child.stdout.write(log.slice(0, 100));
    child.stdout.write(`${log.slice(100)}\nnot json\n`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(toxiproxy.connections('cloud')).toEqual({accepted: 2, ended: 1});
    expect(toxiproxy.connections('onprem')).toEqual({accepted: 1, ended: 0});
  });
});

describe('throughToxiproxy', () => {
  it('points one context at the proxy on 127.0.0.1, keeps the CA (made absolute) and the other contexts as they were', async () => {
    const {api, toxiproxy} = await setUp();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssr-toxi-'));
    stops.push(async () => fs.rmSync(dir, {recursive: true, force: true}));
    const original = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {name: 'onprem', cluster: {server: 'https://127.0.0.1:6443', 'certificate-authority': 'certs/onprem.crt'}},
        {name: 'cloud', cluster: {server: 'https://localhost', 'certificate-authority': 'certs/cloud.crt'}},
      ],
      users: [{name: 'admin', user: {token: 't'}}],
      contexts: [
        {name: 'onprem', context: {cluster: 'onprem', user: 'admin'}},
        {name: 'cloud', context: {cluster: 'cloud', user: 'admin'}},
      ],
      'current-context': 'onprem',
    };
    const file = path.join(dir, 'kubeconfig');
    fs.writeFileSync(file, yaml.dump(original));

    const routed = await throughToxiproxy(toxiproxy, file, 'cloud', {dir});
    // No port in the URL: the one https means.
    expect(api.seen[0]?.body).toMatchObject({name: 'cloud', upstream: 'localhost:443'});
    const config = yaml.load(fs.readFileSync(routed.kubeconfig, 'utf8')) as typeof original;
    expect(config.clusters[1]).toEqual({name: 'cloud', cluster: {server: `https://${routed.proxy.listen}`, 'certificate-authority': path.join(dir, 'certs/cloud.crt')}});
    expect(routed.proxy.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(config.clusters[0]).toEqual(original.clusters[0]);
    expect({...config, clusters: []}).toEqual({...original, clusters: []});
    expect(fs.statSync(routed.kubeconfig).mode & 0o777).toBe(0o600);
  });

  it('names a context that is not in the kubeconfig', async () => {
    const {api, toxiproxy} = await setUp();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssr-toxi-'));
    stops.push(async () => fs.rmSync(dir, {recursive: true, force: true}));
    const file = path.join(dir, 'kubeconfig');
    fs.writeFileSync(file, yaml.dump({clusters: [], contexts: []}));
    await expect(throughToxiproxy(toxiproxy, file, 'cloud', {dir})).rejects.toThrow(/no context "cloud"/);
    expect(api.seen).toEqual([]);
  });
});
