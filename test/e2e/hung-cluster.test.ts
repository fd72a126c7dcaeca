import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest';
import type {Fleet} from '../../src/kube/fleet.js';
import {RESOURCES} from '../../src/kube/resources.js';
import type {KubeObject, Pod} from '../../src/kube/types.js';
import {auditLog} from '../support/backend.js';
import {cli, REPO, RUN_JS} from '../support/cli.js';
import {fixture, freshNamespace, removeNamespace, testFleet, auditEntries, isDryRun, remoteWorkerOf} from '../support/e2e.js';
import {tempDir, writeKubeconfig} from '../support/kubeconfig.js';
import {waitFor} from '../support/poll.js';

type RayClusterObject = KubeObject & {metadata: {name: string}; spec: {workerGroupSpecs: Array<{replicas: number; template: {spec: {containers: Array<{resources: unknown}>}}}>}};

/** A cluster that accepts connections and never answers: a listener on 127.0.0.1 that reads and says nothing. */
async function silentListener(): Promise<{url: string; accepted: () => number; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const audit = (cluster: string) => auditEntries(auditLog(cluster));

describe('a fleet cluster that accepts connections and never answers', () => {
  const kubeconfig = inject('kubeconfig');
  let fleet: Fleet;
  let namespace: string;
  let hung: Awaited<ReturnType<typeof silentListener>>;
  let args: string[];

  beforeAll(async () => {
    fleet = testFleet(kubeconfig);
    namespace = await freshNamespace(fleet, 'hung');
    hung = await silentListener();
    const hungKubeconfig = writeKubeconfig([{name: 'hung', server: hung.url, token: 'never-sent-anywhere-else'}]);
    args = ['--kubeconfig', `${kubeconfig}:${hungKubeconfig}`, '--context', 'onprem', '--context', 'cloud', '--context', 'hung', '--request-timeout', '3s'];
  });
  afterAll(async () => {
    await hung.close();
    await removeNamespace(fleet, namespace);
  });

  it('status ends within --request-timeout + 2 s, shows the other two, and names the silent one unreachable', async () => {
    const started = Date.now();
    const table = await cli(['status', ...args]);
    const tableMs = Date.now() - started;
    expect(hung.accepted()).toBeGreaterThan(0);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^onprem\s+Ready\s/m);
    expect(table.stdout).toMatch(/^cloud\s+Ready\s/m);
    expect(table.stdout).toMatch(/^hung\s+Unreachable\s/m);
    expect(table.stderr).toMatch(/^warning: context "hung" is unreachable: no answer within 3s \(--request-timeout\); check that the cluster of context "hung" is up and reachable from here$/m);
    expect(tableMs).toBeLessThan(5000);

    const json = await cli(['status', '-o', 'json', ...args]);
    const clusters = (JSON.parse(json.stdout) as {clusters: Array<{context: string; state: string}>}).clusters;
    expect(clusters.map((c) => [c.context, c.state])).toEqual([['onprem', 'Ready'], ['cloud', 'Ready'], ['hung', 'Unreachable']]);
    console.log(`status with a silent cluster: ${tableMs} ms (--request-timeout 3s)`);
  });

  it('scale spans to a healthy cluster within a request timeout of the silent one, and blames no healthy cluster', async () => {
    const app = fixture<RayClusterObject>('raycluster-small.yaml');
    app.metadata.name = 'beside';
    const file = path.join(tempDir(), 'beside.yaml');
    fs.writeFileSync(file, yaml.dump(app));
    const placed = await cli(['place', '-f', file, '-n', namespace, '--skip-capacity-relocate', '--kubeconfig', kubeconfig, '--context', 'onprem', '--context', 'cloud']);
    expect(placed.code, placed.stderr).toBe(0);
    const started = Date.now();
    // onprem has 8 cpus: the head and 3 two-cpu workers fit, the 4th does not.
    const scaled = await cli(['scale', 'beside', '--replicas', '4', '-n', namespace, ...args]);
    const ms = Date.now() - started;
    expect(scaled.stderr).not.toMatch(/context "(onprem|cloud)"[^\n]*(timed out|no answer|did not answer)/);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toMatch(/^beside-cpu-worker-\S+\s+cpu\s+beside-cpu-worker-\S+\s+cloud$/m);
    const remote = await fleet.cluster('cloud').list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'superskyray.io/group=beside'});
    expect(remote.items).toHaveLength(1);
    console.log(`scale with a silent cluster in the fleet: ${ms} ms`);
  });

  it('watch keeps reconciling the other two: a Pending worker is spanned within 2 s', async () => {
    const onprem = fleet.cluster('onprem');
    const child = spawn(process.execPath, [RUN_JS, 'watch', '--no-tui', '-o', 'json', '-n', namespace, ...args], {cwd: REPO, env: {PATH: process.env.PATH, HOME: process.env.HOME}, stdio: ['ignore', 'pipe', 'pipe']});
    const lines: string[] = [];
    child.stdout.on('data', (c: Buffer) => lines.push(...c.toString('utf8').split('\n').filter(Boolean)));
    child.stderr.on('data', (c: Buffer) => lines.push(`stderr: ${c.toString('utf8').trim()}`));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    type Line = {type: string; context?: string; state?: string; groups?: Array<{key: string}>};
    const parsed = () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    try {
      await waitFor('watch watching the group', () => (parsed().some((l) => l.type === 'groups' && l.groups?.some((g) => g.key === `${namespace}/raycluster/beside`)) ? true : undefined), {
        giveUp: () => (child.exitCode !== null ? `watch exited: ${lines.join('\n')}` : undefined),
      });
      await waitFor('the silent cluster marked degraded', () => (parsed().some((l) => l.type === 'cluster' && l.context === 'hung' && l.state === 'Degraded') ? true : undefined));
      const since = new Date().toISOString();
      await onprem.patch(RESOURCES.rayclusters, 'beside', namespace, [{op: 'replace', path: '/spec/workerGroupSpecs/0/replicas', value: 5}], 'json');
      // The 5th worker may be swapped before a look here sees it Pending: its placeholder names it.
      const placeholder = await waitFor('a placeholder for the 5th worker', async () => {
        const pods = (await onprem.list<Pod>(RESOURCES.pods, {namespace, labelSelector: 'ray.io/cluster=beside,superskyray.io/role=placeholder'})).items;
        return pods.find((p) => Date.parse(p.metadata?.creationTimestamp ?? '') >= Date.parse(since) - 1000);
      }, {timeoutMs: 30_000});
      const name = placeholder.metadata?.annotations?.['superskyray.io/replaces'] ?? '';
      await waitFor('its remote worker created in cloud', async () => ((await remoteWorkerOf(onprem, fleet.cluster('cloud'), namespace, name)) ? true : undefined), {timeoutMs: 30_000});
      const verdict = audit('onprem').find((e) => e.objectRef?.name === name && e.objectRef.subresource === 'status' && (e.userAgent ?? '').startsWith('kube-scheduler/'));
      const created = audit('cloud').find((e) => e.verb === 'create' && !isDryRun(e) && e.objectRef?.resource === 'pods' && e.objectRef.namespace === namespace && Date.parse(e.requestReceivedTimestamp) >= Date.parse(since));
      expect(verdict).toBeDefined();
      expect(created).toBeDefined();
      const latency = Date.parse(created!.requestReceivedTimestamp) - Date.parse(verdict!.requestReceivedTimestamp);
      console.log(`watch with a silent cluster: ${latency} ms from the scheduler's verdict on ${name} to its remote worker's create`);
      expect(latency).toBeLessThan(2000);
      // The healthy clusters were never taken for degraded: --request-timeout does not bound watch streams.
      expect(parsed().filter((l) => l.type === 'cluster' && l.context !== 'hung' && l.state === 'Degraded')).toEqual([]);
      // One abort listener per request in flight, none left behind.
      expect(lines.filter((l) => l.includes('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
